//! Helm 3 and Helm 4 against the test cluster, with per-test isolated helm homes.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::{env, wait_release_available, TestNs, User, TIMEOUT};

/// A Helm major version; both are real binaries (`HELM3`, `HELM4` in the env file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Helm {
    V3,
    V4,
}

impl Helm {
    pub const ALL: [Helm; 2] = [Helm::V3, Helm::V4];

    /// Short name: `helm3` / `helm4`.
    pub fn name(self) -> &'static str {
        match self {
            Helm::V3 => "helm3",
            Helm::V4 => "helm4",
        }
    }

    /// Path of the helm binary.
    pub fn bin(self) -> PathBuf {
        env().path(match self {
            Helm::V3 => "HELM3",
            Helm::V4 => "HELM4",
        })
    }

    /// The prepared helm home of this version (repos `zilliztech` and `milvus` added and
    /// updated). Tests copy it (see [`TestNs::helm_home`]) instead of writing to it.
    pub fn template_home(self) -> PathBuf {
        env().path(match self {
            Helm::V3 => "HELM3_HOME",
            Helm::V4 => "HELM4_HOME",
        })
    }

    /// Flags this helm needs on `install`/`upgrade`/`rollback` against the 1.20 apiserver:
    /// Helm 4 applies server-side by default, which 1.20 rejects for real charts.
    pub fn write_flags(self) -> &'static [&'static str] {
        match self {
            Helm::V3 => &[],
            Helm::V4 => &["--server-side=false"],
        }
    }

    /// `write_flags()` if `subcommand` writes releases, else nothing.
    pub fn flags_for(self, subcommand: &str) -> &'static [&'static str] {
        match subcommand {
            "install" | "upgrade" | "rollback" => self.write_flags(),
            _ => &[],
        }
    }
}

/// The environment variables of an isolated helm home rooted at `home`.
pub(crate) fn helm_home_env(home: &std::path::Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("HELM_CONFIG_HOME", home.join("config")),
        ("HELM_CACHE_HOME", home.join("cache")),
        ("HELM_DATA_HOME", home.join("data")),
        (
            "HELM_REPOSITORY_CONFIG",
            home.join("config/repositories.yaml"),
        ),
        ("HELM_REPOSITORY_CACHE", home.join("cache/repository")),
        ("HELM_PLUGINS", home.join("data/plugins")),
    ]
}

/// `helm <args...>` for `ns`: admin kubeconfig, `--namespace ns`, the test's isolated
/// helm home, and the flags that `args[0]` needs on this helm version.
pub fn helm_cmd(helm: Helm, ns: &TestNs, args: &[&str]) -> Command {
    let mut cmd = Command::new(helm.bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", ns.helm_home(helm))
        .env("KUBECONFIG", env().kubeconfig(User::Admin))
        .envs(helm_home_env(&ns.helm_home(helm)))
        .args(args)
        .args(helm.flags_for(args.first().copied().unwrap_or_default()))
        .args(["--namespace", ns.name()]);
    cmd
}

fn set_args(sets: &[(&str, &str)]) -> Vec<String> {
    sets.iter()
        .flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")])
        .collect()
}

/// `helm install RELEASE zilliztech/milvus --version CHART --set k=v...` from the loopback
/// repository; returns helm's output (success or not), does not wait.
pub fn try_install_release(
    helm: Helm,
    ns: &TestNs,
    release: &str,
    chart_version: &str,
    sets: &[(&str, &str)],
) -> Output {
    let mut args = vec![
        "install",
        release,
        "zilliztech/milvus",
        "--version",
        chart_version,
    ];
    let sets = set_args(sets);
    args.extend(sets.iter().map(String::as_str));
    helm_cmd(helm, ns, &args).output().expect("run helm")
}

/// Installs a release (panics with helm's stderr on failure) and waits until every
/// Deployment of the release is available (rollout complete).
pub fn install_release(
    helm: Helm,
    ns: &TestNs,
    release: &str,
    chart_version: &str,
    sets: &[(&str, &str)],
) {
    let out = try_install_release(helm, ns, release, chart_version, sets);
    assert!(
        out.status.success(),
        "{} install {release} {chart_version} failed:\n{}",
        helm.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_release_available(ns.name(), release, TIMEOUT);
}
