//! Running the plugin and judging what it did: exit code, output, audit log.

use serde_json::Value;

use super::audit::{Events, Mark};
use super::{plugin_cmd, Helm, TestNs, PLUGIN_USER_AGENT};

/// A finished run of the plugin.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }

    pub fn assert_stdout_has(&self, needles: &[&str]) {
        for n in needles {
            assert!(
                self.stdout.contains(n),
                "stdout lacks {n:?}:\n{}",
                self.stdout
            );
        }
    }

    pub fn assert_stderr_has(&self, needles: &[&str]) {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
    }

    pub fn assert_never_printed(&self, secret: &str) {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "secret printed"
        );
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `RELEASE --to TO --yes` without minReadySeconds and with a 2 minute limit.
pub fn upgrade_args<'a>(release: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        release,
        "--to",
        to,
        "--yes",
        "--min-ready-seconds",
        "0",
        "--timeout",
        "120s",
    ]
}

/// Runs the plugin as Helm would (admin kubeconfig) and waits for it.
pub fn run_plugin(helm: Helm, ns: &TestNs, args: &[&str]) -> Outcome {
    outcome(plugin_cmd(helm, ns).args(args))
}

pub fn outcome(cmd: &mut std::process::Command) -> Outcome {
    let out = cmd.output().expect("run helm-milvus-upgrade");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes by the plugin or the helm it runs since `mark`, in `ns` or
/// cluster-wide (other tests write in their own namespaces meanwhile).
/// Access reviews and server-side dry runs (`dryRun=All`) are questions, not writes.
pub fn writes_since(mark: &Mark, ns: &str) -> Events {
    mark.events()
        .writes()
        .filter(|e| e.resource != "selfsubjectaccessreviews")
        .filter(|e| !e.request_uri.contains("dryRun=All"))
        .filter(|e| e.namespace == ns || e.namespace.is_empty())
        .filter(|e| {
            e.user_agent.starts_with(PLUGIN_USER_AGENT) || e.user_agent.starts_with("Helm/")
        })
}

/// The plugin's server-side dry runs since `mark` in `ns`, as `resource/name`.
pub fn dry_runs_since(mark: &Mark, ns: &str) -> Vec<String> {
    mark.events()
        .in_namespace(ns)
        .by_user_agent(PLUGIN_USER_AGENT)
        .filter(|e| e.request_uri.contains("dryRun=All"))
        .iter()
        .map(|e| format!("{}/{}", e.resource, e.name))
        .collect()
}

pub fn assert_no_writes(mark: &Mark, ns: &str) {
    let writes = writes_since(mark, ns);
    assert!(
        writes.is_empty(),
        "expected no writes, saw: {:#?}",
        writes.0
    );
}
