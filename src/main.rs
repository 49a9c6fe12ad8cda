//! `helm milvus-upgrade`: upgrades Milvus installed with the Milvus Helm chart.

mod app;
mod chart_history;
mod chart_select;
mod cli;
mod cluster;
mod color;
#[cfg(test)]
mod completion_yaml;
mod component;
mod debug;
mod error;
mod execute;
mod facts;
mod gather;
mod helm;
mod helm_hop;
mod helm_sync;
mod hop_values;
mod kube_config;
mod lock;
mod migrate;
mod plan;
mod preflight;
mod progress;
mod render;
mod rolling;
mod rollout;
mod state;
mod status;
mod version;
mod warnings;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::exit;

fn main() {
    let args = cli::with_default_subcommand(std::env::args().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    color::init(cli.global.no_color);
    debug::enable(cli.global.debug);
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "helm-milvus-upgrade",
            &mut std::io::stdout(),
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(app::run(cli)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("{} {e}", color::err("Error:", color::Colour::Red));
            e.exit_code()
        }
    };
    std::process::exit(code);
}
