//! `completion.yaml` (Helm's static completion for plugins) is generated from the clap
//! command tree, so it cannot drift: `UPDATE_COMPLETION_YAML=1 cargo test completion_yaml`
//! rewrites it; otherwise the test fails when it is stale.

use clap::CommandFactory;

use crate::cli::Cli;

/// Flags helm takes for itself (and completes itself) before calling a plugin.
const HELM_OWN: [&str; 5] = ["namespace", "n", "kube-context", "kubeconfig", "debug"];

fn flags(cmd: &clap::Command) -> Vec<String> {
    let mut out = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
    {
        if let Some(long) = arg.get_long() {
            out.push(long.to_string());
        }
        if let Some(short) = arg.get_short() {
            out.push(short.to_string());
        }
    }
    out.retain(|f| !HELM_OWN.contains(&f.as_str()));
    out
}

fn list(indent: &str, key: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("{indent}{key}: [{}]\n", quoted.join(", "))
}

pub fn generate() -> String {
    let mut root = Cli::command();
    root.build();
    let mut top = flags(&root);
    let subcommands: Vec<&clap::Command> = root.get_subcommands().collect();
    // `helm milvus-upgrade REL --to V` is `upgrade`: its flags complete at the top too.
    if let Some(upgrade) = subcommands.iter().find(|c| c.get_name() == "upgrade") {
        for f in flags(upgrade) {
            if !top.contains(&f) {
                top.push(f);
            }
        }
    }
    let mut out = String::from(
        "# Generated from the clap command tree (src/completion_yaml.rs): do not edit; run\n\
         # `UPDATE_COMPLETION_YAML=1 cargo test completion_yaml`. Helm completes its own -n,\n\
         # --kube-context, --kubeconfig and --debug. Flags are listed without dashes.\n\
         name: milvus-upgrade\n",
    );
    out += &list("", "flags", &top);
    out += "commands:\n";
    for sub in &subcommands {
        out += &format!("  - name: {}\n", sub.get_name());
        out += &list("    ", "flags", &flags(sub));
        let values: Vec<String> = match sub.get_name() {
            "help" => subcommands
                .iter()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect(),
            _ => sub
                .get_arguments()
                .filter(|a| a.is_positional())
                .flat_map(|a| a.get_possible_values())
                .map(|v| v.get_name().to_string())
                .collect(),
        };
        out += &list("    ", "validArgs", &values);
    }
    out
}

#[test]
fn completion_yaml_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completion.yaml");
    let want = generate();
    if std::env::var_os("UPDATE_COMPLETION_YAML").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "completion.yaml is stale: run `UPDATE_COMPLETION_YAML=1 cargo test completion_yaml`"
    );
}
