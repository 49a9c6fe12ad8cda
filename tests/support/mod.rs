//! Support for end-to-end tests against the local test environment (`scripts/testenv`):
//! a real kube-apiserver 1.20 (with ServiceAccount, ResourceQuota and LimitRanger
//! admission), kube-controller-manager, the node stand-in, Helm 3 and Helm 4 (each with
//! its default apply method: Helm 4 server-side), and loopback chart repositories of
//! Milvus-shaped charts plus another vendor's chart named `milvus` (see [`repos`]).
//!
//! Use from an integration test with `mod support;`.
#![allow(dead_code, unused_imports)]

pub mod audit;
mod cluster;
mod helm;
mod http;
mod ns;
mod outcome;
mod plugin;
mod process;
pub mod repos;
mod wait;
mod webhook;

pub use cluster::{
    create, create_hpa, create_limit_range, create_resource_quota, default_storage_class,
    dry_run_create, get_opt, hpa_spec, scale_writes, wait_service_account,
    without_default_storage_class, NamespacedObject, TestStorageClass,
};
pub use helm::{
    assert_release_deployed, helm_cmd, helm_json, install_release, release_history,
    try_install_release, Helm, Install, Revision,
};
pub use http::{path_without, FileServer};
pub use ns::TestNs;
pub use outcome::{
    assert_no_writes, dry_runs_since, outcome, run_plugin, upgrade_args, writes_since, Outcome,
};
pub use plugin::{client_side_apply, plugin_cmd, plugin_cmd_as, spawn_plugin};
pub use process::kill_9;
pub use repos::{ChartRepo, DEFAULT_REPOS, WITH_BITNAMI};
pub use wait::{
    deployment_complete, first_image, release_deployments, release_images, release_selector,
    wait_deployments, wait_pod, wait_pods, wait_release_available,
};
pub use webhook::FlakyWebhook;

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// User agent of the plugin's requests (prefix; the version follows the slash).
pub const PLUGIN_USER_AGENT: &str = "helm-milvus-upgrade/";
/// User agent of the node stand-in's requests.
pub const NODE_STANDIN_USER_AGENT: &str = "node-standin";
/// Default timeout for waits on the cluster.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// The chart's fullname: the release name when it contains "milvus", else `REL-milvus`.
pub fn fullname(release: &str) -> String {
    fullname_with(release, "", "")
}

/// The chart's fullname with `nameOverride`/`fullnameOverride` values ("" = unset), as the
/// Milvus chart's helper: the override, else the release name when it contains the name
/// (`nameOverride` or "milvus"), else `REL-<name>`; at most 63 characters, no trailing "-".
pub fn fullname_with(release: &str, name_override: &str, fullname_override: &str) -> String {
    let name = if name_override.is_empty() {
        "milvus"
    } else {
        name_override
    };
    let full = if !fullname_override.is_empty() {
        fullname_override.to_string()
    } else if release.contains(name) {
        release.to_string()
    } else {
        format!("{release}-{name}")
    };
    full.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The running test environment: the variables of `$TESTENV_DIR/env`.
#[derive(Debug)]
pub struct TestEnv {
    vars: HashMap<String, String>,
}

/// Which identity talks to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// `admin`, in `system:masters`.
    Admin,
    /// `viewer`, bound to ClusterRole `view`.
    Viewer,
    /// `team`: may list namespaces, nothing else; a test grants it RoleBindings.
    Team,
}

impl TestEnv {
    /// A variable of the env file (panics if missing).
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the testenv env file"))
    }

    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.var(key))
    }

    pub fn kubeconfig(&self, user: User) -> PathBuf {
        match user {
            User::Admin => self.path("KUBECONFIG_ADMIN"),
            User::Viewer => self.path("KUBECONFIG_VIEWER"),
            User::Team => self.path("KUBECONFIG_TEAM"),
        }
    }

    pub fn audit_log(&self) -> PathBuf {
        self.path("AUDIT_LOG")
    }

    /// URL of the current chart repository (all versions; added as `zilliztech`).
    pub fn chart_repo_url(&self) -> &str {
        self.var("CHART_REPO_URL")
    }

    /// URL of the archived-like repository (charts <= 4.0.31; added as `milvus`).
    pub fn old_chart_repo_url(&self) -> &str {
        self.var("OLD_CHART_REPO_URL")
    }

    /// URL of the other vendor's `milvus` chart (see [`repos`]; not added by default).
    pub fn bitnami_chart_repo_url(&self) -> &str {
        self.var("BITNAMI_CHART_REPO_URL")
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_file() -> PathBuf {
    let dir = std::env::var_os("TESTENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".testenv"));
    dir.join("env")
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn apiserver_answers(vars: &HashMap<String, String>) -> bool {
    let addr = vars
        .get("KUBE_APISERVER_URL")
        .and_then(|u| u.strip_prefix("https://"))
        .and_then(|a| a.parse::<SocketAddr>().ok());
    addr.is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn read_env() -> Option<HashMap<String, String>> {
    let vars = parse_env(&std::fs::read_to_string(env_file()).ok()?);
    apiserver_answers(&vars).then_some(vars)
}

/// Runs `scripts/testenv up` (it takes a file lock, so parallel test binaries queue up
/// and all but the first find the environment running).
fn testenv_up() {
    let lock_dir = env_file()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    std::fs::create_dir_all(&lock_dir).ok();
    let status = Command::new(repo_root().join("scripts/testenv"))
        .arg("up")
        .stdout(File::create(lock_dir.join("testenv-up.out")).expect("create testenv-up.out"))
        .status();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match status {
        Ok(s) if s.success() => {}
        _ if ci => panic!("CI: `scripts/testenv up` failed ({status:?}); see its stderr above"),
        _ => panic!(
            "the e2e test environment is not running and `scripts/testenv up` failed \
             ({status:?}). Run `scripts/testenv up` yourself and look at its output."
        ),
    }
}

/// The test environment, started with `scripts/testenv up` if it is not running.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let vars = read_env().unwrap_or_else(|| {
            testenv_up();
            read_env().expect("scripts/testenv up succeeded but its env file is unusable")
        });
        TestEnv { vars }
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Runs a future on the support runtime and waits for it. Works from plain `#[test]`s and
/// from inside other runtimes (the future runs on the support runtime's threads).
pub fn block_on<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    futures::executor::block_on(runtime().spawn(f)).expect("support task panicked")
}

/// A kube client for `user` (user agent `e2e-tests`), bound to the support runtime.
pub fn client(user: User) -> Client {
    static CLIENTS: OnceLock<[Client; 3]> = OnceLock::new();
    let clients = CLIENTS.get_or_init(|| {
        let paths = [User::Admin, User::Viewer, User::Team].map(|u| env().kubeconfig(u));
        block_on(async move {
            let [a, v, t] = paths;
            [
                make_client(&a).await,
                make_client(&v).await,
                make_client(&t).await,
            ]
        })
    });
    clients[user as usize].clone()
}

async fn make_client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    let ua = ("user-agent".parse().unwrap(), "e2e-tests".parse().unwrap());
    config.headers.push(ua);
    Client::try_from(config).expect("kube client")
}
