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

    /// The prepared helm home of this version (the [`super::DEFAULT_REPOS`] added and updated).
    /// Tests copy it (see [`TestNs::helm_home`]) instead of writing to it.
    pub fn template_home(self) -> PathBuf {
        env().path(match self {
            Helm::V3 => "HELM3_HOME",
            Helm::V4 => "HELM4_HOME",
        })
    }

    /// Flags that make a release write (`install`, `upgrade`, `rollback`) apply
    /// client-side. Nothing is passed by default: Helm 3 applies client-side, Helm 4
    /// server-side (field manager "helm"; `upgrade` keeps the method the release was
    /// installed with), as on a user's machine. A test that needs a Helm 4 release applied
    /// client-side asks for these (e.g. `Install::client_side_apply`).
    pub fn client_side_apply(self) -> &'static [&'static str] {
        match self {
            Helm::V3 => &[],
            Helm::V4 => &["--server-side=false"],
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
/// helm home, and this helm's defaults (Helm 4 writes releases with server-side apply).
pub fn helm_cmd(helm: Helm, ns: &TestNs, args: &[&str]) -> Command {
    let mut cmd = Command::new(helm.bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", ns.helm_home(helm))
        .env("KUBECONFIG", env().kubeconfig(User::Admin))
        .envs(helm_home_env(&ns.helm_home(helm)))
        .args(args)
        .args(["--namespace", ns.name()]);
    cmd
}

/// A `helm install` of a chart from the test's helm home, by default `zilliztech/milvus`
/// (the Milvus chart), with this helm's default apply method.
///
/// ```ignore
/// Install::new(Helm::V4, &ns, "rel", "4.2.8").set("image.all.tag", "v2.4.9-gpu").run();
/// Install::new(Helm::V4, &ns, "b", "16.1.0").chart("bitnami/milvus").try_run();
/// ```
pub struct Install<'a> {
    helm: Helm,
    ns: &'a TestNs,
    release: String,
    chart: String,
    version: String,
    args: Vec<String>,
}

impl<'a> Install<'a> {
    pub fn new(helm: Helm, ns: &'a TestNs, release: &str, chart_version: &str) -> Self {
        Install {
            helm,
            ns,
            release: release.to_string(),
            chart: "zilliztech/milvus".to_string(),
            version: chart_version.to_string(),
            args: Vec::new(),
        }
    }

    /// Another chart reference (`bitnami/milvus`, `milvus/milvus`, a path).
    pub fn chart(mut self, chart: &str) -> Self {
        self.chart = chart.to_string();
        self
    }

    /// `--set key=value`.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.args
            .extend(["--set".to_string(), format!("{key}={value}")]);
        self
    }

    /// `--set` for each pair.
    pub fn sets(self, sets: &[(&str, &str)]) -> Self {
        sets.iter().fold(self, |install, (k, v)| install.set(k, v))
    }

    /// Any other flag.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Applies client-side (Helm 4: `--server-side=false`; nothing for Helm 3).
    pub fn client_side_apply(self) -> Self {
        let flags = self.helm.client_side_apply();
        flags.iter().fold(self, |install, f| install.arg(f))
    }

    /// Runs `helm install`; returns helm's output (success or not), does not wait.
    pub fn try_run(&self) -> Output {
        let mut args = vec![
            "install",
            &self.release,
            &self.chart,
            "--version",
            &self.version,
        ];
        args.extend(self.args.iter().map(String::as_str));
        helm_cmd(self.helm, self.ns, &args)
            .output()
            .expect("run helm")
    }

    /// Installs (panics with helm's stderr on failure) and waits until every Deployment
    /// of the release is available (rollout complete).
    pub fn run(&self) {
        let out = self.try_run();
        assert!(
            out.status.success(),
            "{} install {} {} {} failed:\n{}",
            self.helm.name(),
            self.release,
            self.chart,
            self.version,
            String::from_utf8_lossy(&out.stderr)
        );
        wait_release_available(self.ns.name(), &self.release, TIMEOUT);
    }
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
    Install::new(helm, ns, release, chart_version)
        .sets(sets)
        .try_run()
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
    Install::new(helm, ns, release, chart_version)
        .sets(sets)
        .run();
}

/// One revision of `helm history`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Revision {
    pub revision: u32,
    pub status: String,
    pub chart: String,
    pub app_version: String,
    pub description: String,
}

/// `helm <args>` (for `ns`, as [`helm_cmd`]) that prints JSON (`-o json` in `args`),
/// parsed; panics with helm's stderr when it fails.
pub fn helm_json<T: serde::de::DeserializeOwned>(helm: Helm, ns: &TestNs, args: &[&str]) -> T {
    let out = helm_cmd(helm, ns, args).output().expect("run helm");
    let what = format!("{} {}", helm.name(), args.join(" "));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

/// `helm history RELEASE`, oldest revision first.
pub fn release_history(helm: Helm, ns: &TestNs, release: &str) -> Vec<Revision> {
    helm_json(helm, ns, &["history", release, "-o", "json"])
}

/// Panics unless the release's newest revision is `deployed`: a `helm upgrade` that
/// failed (e.g. server-side apply conflicts) leaves a `failed` revision whose values
/// `helm get values` still shows.
pub fn assert_release_deployed(helm: Helm, ns: &TestNs, release: &str) {
    let history = release_history(helm, ns, release);
    let newest = history.last().expect("a revision");
    assert_eq!(
        newest.status, "deployed",
        "{release}: newest revision {} is {}: {}",
        newest.revision, newest.status, newest.description
    );
}
