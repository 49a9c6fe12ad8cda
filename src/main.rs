//! `helm milvus-upgrade`: upgrades Milvus installed with the Milvus Helm chart.

mod app;
mod cli;
#[cfg(test)]
mod completion_yaml;
mod error;
mod exec;
mod planner;
mod ui;
mod world;

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
    ui::color::init(cli.global.no_color);
    world::trace::enable(cli.global.debug);
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
    let json_progress = cli.global.progress == cli::Progress::Json;
    let code = match runtime.block_on(app::run(cli)) {
        Ok(()) => exit::OK,
        Err(e) if json_progress => {
            eprintln!(
                "{}",
                ui::progress::error_line(&e.to_string(), e.exit_code())
            );
            e.exit_code()
        }
        Err(e) => {
            eprintln!("{} {e}", ui::color::err("Error:", ui::color::Colour::Red));
            e.exit_code()
        }
    };
    std::process::exit(code);
}
