//! The plugin installed the way users install it, `helm plugin install <repo path>`, into
//! Helm 3 and Helm 4 (temporary helm homes), and run THROUGH helm: helm's `-n` and
//! `--kube-context` reach the plugin; completion, NO_COLOR, --debug, and status showing a
//! held upgrade lock.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};
use support::{
    audit, block_on, client, env, install_release, outcome, Helm, Outcome, TestNs, User,
};

const RELEASE: &str = "inst";
const SECRET: &str = "s3cr3t-minio-key-install-test";

/// A helm with the test's home and the plugin installed from the repository path.
struct PluginHelm {
    helm: Helm,
    home: PathBuf,
    kubeconfig: PathBuf,
}

impl PluginHelm {
    fn install(helm: Helm, ns: &TestNs) -> PluginHelm {
        let home = ns.helm_home(helm);
        let kubeconfig = two_context_kubeconfig(&home, ns.name());
        let ph = PluginHelm {
            helm,
            home,
            kubeconfig,
        };
        let out = outcome(
            ph.cmd(&["plugin", "install", env!("CARGO_MANIFEST_DIR")])
                // A built binary instead of `cargo build --release` in the install hook.
                .env(
                    "HELM_MILVUS_UPGRADE_BINARY",
                    env!("CARGO_BIN_EXE_helm-milvus-upgrade"),
                ),
        );
        out.assert_code(0);
        out.assert_stdout_has(&["Installed plugin: milvus-upgrade"]);
        let list = ph.run(&["plugin", "list"]);
        list.assert_code(0);
        list.assert_stdout_has(&["milvus-upgrade", "0.1.0"]);
        ph
    }

    /// `helm <args>` with only this test's homes and kubeconfig in the environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let data = self.home.join("data");
        let mut cmd = Command::new(self.helm.bin());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            // Helm 4.1 ignores HELM_PLUGINS for `plugin install`: the data home decides.
            .env("HELM_DATA_HOME", &data)
            .env("XDG_DATA_HOME", &data)
            .env("HELM_PLUGINS", data.join("plugins"))
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Outcome {
        outcome(&mut self.cmd(args))
    }
}

/// A copy of the admin kubeconfig whose current context is unusable (a closed port), plus
/// context `second` (the real cluster, default namespace `ns`) and `other` (the real
/// cluster, namespace `default`). Only `--kube-context` reaching the plugin makes it work.
fn two_context_kubeconfig(dir: &Path, ns: &str) -> PathBuf {
    let text = std::fs::read_to_string(env().kubeconfig(User::Admin)).unwrap();
    let mut kc: Value = serde_yaml_ng::from_str(&text).unwrap();
    let cluster = kc["clusters"][0]["cluster"].clone();
    let user = kc["users"][0]["name"].clone();
    let mut broken = cluster.clone();
    broken["server"] = json!("https://127.0.0.1:1");
    kc["clusters"] = json!([
        {"name": "testenv", "cluster": cluster},
        {"name": "nowhere", "cluster": broken},
    ]);
    kc["contexts"] = json!([
        {"name": "second", "context": {"cluster": "testenv", "user": user, "namespace": ns}},
        {"name": "other", "context": {"cluster": "testenv", "user": user, "namespace": "default"}},
        {"name": "broken", "context": {"cluster": "nowhere", "user": user, "namespace": ns}},
    ]);
    kc["current-context"] = json!("broken");
    let path = dir.join("kubeconfig-two-contexts");
    std::fs::write(&path, serde_yaml_ng::to_string(&kc).unwrap()).unwrap();
    path
}

fn installs_and_runs_through_helm(helm: Helm) {
    let ns = TestNs::new(&format!("install-{}", helm.name()));
    install_release(helm, &ns, RELEASE, "4.0.13", &[("minio.secretKey", SECRET)]);
    let ph = PluginHelm::install(helm, &ns);

    let help = ph.run(&["milvus-upgrade", "--help"]);
    help.assert_code(0);
    help.assert_stdout_has(&[
        "helm milvus-upgrade",
        "Examples:",
        "--dry-run",
        "Exit codes",
    ]);

    let versions = ph.run(&["--kube-context", "second", "milvus-upgrade", "versions"]);
    versions.assert_code(0);
    versions.assert_stdout_has(&["4.2.8", "2.4.9"]);

    let mark = audit::mark();
    let dry = [RELEASE, "--to", "2.4.9", "--dry-run"];
    let with = |pre: &[&str]| -> Outcome {
        let mut args: Vec<&str> = pre.to_vec();
        args.push("milvus-upgrade");
        args.extend(dry);
        ph.run(&args)
    };
    // -n and --kube-context given to helm.
    let explicit = with(&["-n", ns.name(), "--kube-context", "second"]);
    explicit.assert_code(0);
    explicit.assert_stdout_has(&["rolling 2.2.5 → 2.4.9", "Dry run: nothing was changed"]);
    // The context's default namespace, via helm's HELM_NAMESPACE.
    with(&["--kube-context", "second"]).assert_code(0);
    // The current context points at a closed port: the plugin must not use it.
    let current = with(&["-n", ns.name()]);
    assert_ne!(current.code, 0, "the broken current context was not used");
    // A namespace without the release: release-not-found, naming where it is.
    let wrong_ns = with(&["-n", "default", "--kube-context", "second"]);
    wrong_ns.assert_code(3);
    wrong_ns.assert_stderr_has(&["not found in namespace 'default'", ns.name()]);
    let other = with(&["--kube-context", "other"]);
    other.assert_code(3);

    // --debug: the helm commands run (values never printed) on stderr.
    let debug = with(&["--debug", "-n", ns.name(), "--kube-context", "second"]);
    debug.assert_code(0);
    debug.assert_stderr_has(&["debug: ", "run: ", "get values inst"]);
    for out in [&explicit, &debug, &wrong_ns] {
        out.assert_never_printed(SECRET);
    }
    // In this namespace only: the other helm's test may be writing a lock meanwhile.
    let writes = support::writes_since(&mark, ns.name()).in_namespace(ns.name());
    assert!(writes.is_empty(), "a dry run wrote: {:#?}", writes.0);

    // Helm's own completion of the plugin, from completion.yaml.
    let complete = ph.run(&["__complete", "milvus-upgrade", ""]);
    complete.assert_code(0);
    complete.assert_stdout_has(&["status", "versions", "upgrade", "completion"]);
    let flags = ph.run(&["__complete", "milvus-upgrade", "--dry"]);
    flags.assert_stdout_has(&["--dry-run"]);
    let shells = ph.run(&["__complete", "milvus-upgrade", "completion", ""]);
    shells.assert_stdout_has(&["bash", "zsh", "fish"]);

    // A held lock shows in status, and stops an upgrade.
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": format!("{RELEASE}-milvus-upgrade-lock")},
        "spec": {
            "holderIdentity": "elsewhere/4242",
            "leaseDurationSeconds": 30,
            "acquireTime": k8s_openapi::jiff::Timestamp::now().to_string(),
            "renewTime": "2099-01-01T00:00:00.000000Z",
        }
    }))
    .unwrap();
    let api: Api<Lease> = Api::namespaced(client(User::Admin), ns.name());
    block_on(async move { api.create(&PostParams::default(), &lease).await }).unwrap();
    let ctx = [
        "-n",
        ns.name(),
        "--kube-context",
        "second",
        "milvus-upgrade",
    ];
    let args =
        |rest: &[&str]| -> Vec<String> { ctx.iter().chain(rest).map(|s| s.to_string()).collect() };
    let status = outcome(ph.cmd(&[]).args(args(&["status", RELEASE])));
    status.assert_code(0);
    status.assert_stdout_has(&[
        "Lock inst-milvus-upgrade-lock held by elsewhere/4242",
        "--take-over",
    ]);
    let json = outcome(ph.cmd(&[]).args(args(&["status", RELEASE, "-o", "json"])));
    let s = json.json();
    assert_eq!(s["schema"], "helm-milvus-upgrade/status/v1");
    assert_eq!(s["lock"]["holder"], "elsewhere/4242");
    assert_eq!(s["lock"]["expired"], false);
    let blocked = outcome(ph.cmd(&[]).args(args(&[RELEASE, "--to", "2.4.9", "--yes"])));
    blocked.assert_code(6);
    blocked.assert_stderr_has(&["elsewhere/4242"]);
}

#[test]
fn installs_from_the_repo_and_runs_through_helm3() {
    installs_and_runs_through_helm(Helm::V3);
}

#[test]
fn installs_from_the_repo_and_runs_through_helm4() {
    installs_and_runs_through_helm(Helm::V4);
}

/// `script` runs the plugin on a pseudo-terminal, where colour would be on.
fn on_terminal(ns: &TestNs, extra_env: &[(&str, &str)], args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_helm-milvus-upgrade");
    let mut cmd = support::plugin_cmd(Helm::V3, ns);
    cmd.env_remove("NO_COLOR").env("TERM", "xterm");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = outcome(cmd_for_script(&mut cmd, &format!("{bin} {args}")));
    out.assert_code(0);
    out.stdout
}

fn cmd_for_script<'a>(cmd: &'a mut Command, line: &str) -> &'a mut Command {
    // Same environment, different program: `script -qec LINE /dev/null`.
    let mut script = Command::new("script");
    script.args(["-qec", line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    *cmd = script;
    cmd
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let ns = TestNs::new("install-colour");
    install_release(Helm::V3, &ns, RELEASE, "4.2.8", &[]);
    let status = format!("status {RELEASE}");
    assert!(
        on_terminal(&ns, &[], &status).contains('\x1b'),
        "no colour on a terminal"
    );
    assert!(!on_terminal(&ns, &[("NO_COLOR", "1")], &status).contains('\x1b'));
    assert!(!on_terminal(&ns, &[], &format!("--no-color {status}")).contains('\x1b'));
    assert!(!on_terminal(&ns, &[("TERM", "dumb")], &status).contains('\x1b'));
    // Not a terminal: no colour whatever the variables say.
    let piped = support::run_plugin(Helm::V3, &ns, &["status", RELEASE]);
    piped.assert_code(0);
    assert!(!piped.stdout.contains('\x1b') && !piped.stderr.contains('\x1b'));
}

#[test]
fn completion_scripts_for_bash_zsh_fish() {
    let ns = TestNs::new("install-completion");
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef"),
        ("fish", "complete -c"),
    ] {
        let out = support::run_plugin(Helm::V3, &ns, &["completion", shell]);
        out.assert_code(0);
        out.assert_stdout_has(&[needle, "dry-run", "status"]);
    }
    let bad = support::run_plugin(Helm::V3, &ns, &["completion", "tcsh"]);
    bad.assert_code(2);
}

/// `helm plugin update` pulls and runs the install hook again. Helm finds a local
/// install's source through git, in a directory named like the clone's origin (as
/// `git clone` names it), so this installs from such a clone of the repository.
fn update_reruns_the_hook(helm: Helm) {
    let ns = TestNs::new(&format!("install-update-{}", helm.name()));
    let home = ns.helm_home(helm);
    let origin = Path::new(env!("CARGO_MANIFEST_DIR"));
    let clone = home.join("src").join(origin.file_name().unwrap());
    let ok = Command::new("git")
        .args(["clone", "-q"])
        .arg(origin)
        .arg(&clone)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "git clone {}", origin.display());
    let ph = PluginHelm {
        helm,
        kubeconfig: env().kubeconfig(User::Admin),
        home,
    };
    let binary = env!("CARGO_BIN_EXE_helm-milvus-upgrade");
    let install = outcome(
        ph.cmd(&["plugin", "install"])
            .arg(&clone)
            .env("HELM_MILVUS_UPGRADE_BINARY", binary),
    );
    install.assert_code(0);
    std::fs::remove_file(clone.join("bin/helm-milvus-upgrade")).unwrap();
    let update = outcome(
        ph.cmd(&["plugin", "update", "milvus-upgrade"])
            .env("HELM_MILVUS_UPGRADE_BINARY", binary),
    );
    update.assert_code(0);
    update.assert_stdout_has(&[
        "(HELM_MILVUS_UPGRADE_BINARY)",
        "Updated plugin: milvus-upgrade",
    ]);
    let version = ph.run(&["milvus-upgrade", "--version"]);
    version.assert_code(0);
    version.assert_stdout_has(&["helm milvus-upgrade 0.1.0"]);
}

#[test]
fn plugin_update_reruns_the_install_hook_helm3() {
    update_reruns_the_hook(Helm::V3);
}

#[test]
fn plugin_update_reruns_the_install_hook_helm4() {
    update_reruns_the_hook(Helm::V4);
}

/// The install hook alone (no cluster): a prebuilt binary for this platform is used; with
/// neither a binary nor cargo it fails loudly, naming what to install.
#[test]
fn install_hook_prebuilt_else_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path();
    std::fs::create_dir_all(plugin.join("scripts")).unwrap();
    let hook = plugin.join("scripts/install-binary.sh");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-binary.sh"),
        &hook,
    )
    .unwrap();
    let run = || {
        let mut cmd = Command::new("bash");
        cmd.arg(&hook)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HELM_PLUGIN_DIR", plugin);
        outcome(&mut cmd)
    };
    let failed = run();
    failed.assert_code(1);
    failed.assert_stderr_has(&["ERROR", "no cargo", "https://rustup.rs"]);
    assert!(!plugin.join("bin/helm-milvus-upgrade").exists());

    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let dist = plugin.join(format!("dist/{}-{arch}", std::env::consts::OS));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_helm-milvus-upgrade"),
        dist.join("helm-milvus-upgrade"),
    )
    .unwrap();
    let prebuilt = run();
    prebuilt.assert_code(0);
    prebuilt.assert_stdout_has(&["installed prebuilt binary"]);
    assert!(plugin.join("bin/helm-milvus-upgrade").exists());
}
