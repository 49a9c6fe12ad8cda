//! The plugin installed the way users install it, `helm plugin install <repo path>`, into
//! Helm 3 and Helm 4 (temporary helm homes), and run THROUGH helm: helm's `-n` and
//! `--kube-context` reach the plugin; completion, NO_COLOR, --debug, and status showing a
//! held upgrade lock. The install hook's sources: a given binary, `dist/`, the release
//! archive from a loopback release location (built by `scripts/release`, checksums
//! verified, curl or wget, through a proxy), cargo, else an error naming them all.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};
use support::{
    audit, block_on, client, env, install_release, outcome, path_without, FileServer, Helm,
    Outcome, TestNs, User,
};

const RELEASE: &str = "inst";
const SECRET: &str = "s3cr3t-minio-key-install-test";
const BIN: &str = env!("CARGO_BIN_EXE_helm-milvus-upgrade");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const DOWNLOAD_URL: &str = "HELM_MILVUS_UPGRADE_DOWNLOAD_URL";

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
                .env("HELM_MILVUS_UPGRADE_BINARY", BIN),
        );
        out.assert_code(0);
        out.assert_stdout_has(&["Installed plugin: milvus-upgrade"]);
        let list = ph.run(&["plugin", "list"]);
        list.assert_code(0);
        list.assert_stdout_has(&["milvus-upgrade", VERSION]);
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
    let bin = BIN;
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
/// `git clone` names it), so this installs from such a clone (see [`PluginRepo`]).
fn update_reruns_the_hook(helm: Helm) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = PluginRepo::new(tmp.path());
    let ph = PluginHelm::bare(helm, tmp.path());
    let install = outcome(
        ph.cmd(&["plugin", "install"])
            .arg(&repo.clone)
            .env("HELM_MILVUS_UPGRADE_BINARY", BIN),
    );
    install.assert_code(0);
    std::fs::remove_file(repo.clone.join("bin/helm-milvus-upgrade")).unwrap();
    let update = outcome(
        ph.cmd(&["plugin", "update", "milvus-upgrade"])
            .env("HELM_MILVUS_UPGRADE_BINARY", BIN),
    );
    update.assert_code(0);
    update.assert_stdout_has(&[
        "(HELM_MILVUS_UPGRADE_BINARY)",
        "Updated plugin: milvus-upgrade",
    ]);
    let version = ph.run(&["milvus-upgrade", "--version"]);
    version.assert_code(0);
    version.assert_stdout_has(&[&format!("helm milvus-upgrade {VERSION}")]);
}

#[test]
fn plugin_update_reruns_the_install_hook_helm3() {
    update_reruns_the_hook(Helm::V3);
}

#[test]
fn plugin_update_reruns_the_install_hook_helm4() {
    update_reruns_the_hook(Helm::V4);
}

// ---------------------------------------------------------------- release downloads

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `scripts/release ARGS --out DIR`.
fn release(dir: &Path, args: &[&str]) -> Outcome {
    outcome(
        Command::new(repo_path("scripts/release"))
            .args(args)
            .arg("--out")
            .arg(dir),
    )
}

/// Once per test process, below cargo's tmp dir for tests: a stripped copy of the test's
/// binary (a release binary is stripped; packing 185 MB of debug info takes long).
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-install");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("helm-milvus-upgrade");
        outcome(Command::new("strip").arg("-o").arg(&bin).arg(BIN)).assert_code(0);
        dir
    })
}

/// The binary the release files hold.
fn released_binary() -> PathBuf {
    cache_dir().join("helm-milvus-upgrade")
}

/// The release files of `version` in `dir`, made by `scripts/release` from
/// [`released_binary`] (once per version and test process): this platform's archive, the
/// plugin package, and checksums.txt of all of `dir`.
fn release_files(dir: &Path, version: &str) {
    static MAKING: Mutex<()> = Mutex::new(());
    let made = cache_dir().join(format!("release-{version}"));
    {
        let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
        if !made.exists() {
            let partial = made.with_extension("partial");
            let bin = released_binary();
            let args = ["--binary", bin.to_str().unwrap(), "--version", version];
            release(&partial, &args).assert_code(0);
            std::fs::rename(&partial, &made).unwrap();
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    for file in std::fs::read_dir(&made).unwrap().flatten() {
        if file.file_name() != "checksums.txt" {
            std::fs::copy(file.path(), dir.join(file.file_name())).unwrap();
        }
    }
    release(dir, &["checksums"]).assert_code(0);
}

/// This platform as the install hook names it.
fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

/// This platform's release archive of `version`.
fn archive_name(version: &str) -> String {
    let (os, arch) = platform();
    format!("helm-milvus-upgrade_{version}_{os}_{arch}.tar.gz")
}

/// The lines `tar`/`unzip` (`args`) list for `file`, sorted.
fn listing(program: &str, args: &[&str], file: &Path) -> Vec<String> {
    let out = outcome(Command::new(program).args(args).arg(file));
    out.assert_code(0);
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// `scripts/release` makes the archive of every platform the release workflow builds, the
/// Helm 4 plugin package and checksums.txt, in the layout the install hook reads; and it
/// refuses a tag that is not the version.
#[test]
fn release_files_for_every_platform() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("release");
    let out = out.as_path();
    // What is packed does not matter here.
    let stand_in = dir.path().join("helm-milvus-upgrade");
    std::fs::write(&stand_in, "#!/bin/sh\necho stand-in\n").unwrap();
    let stand_in = stand_in.to_str().unwrap();
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        release(out, &["archive", "--binary", stand_in, "--target", target]).assert_code(0);
    }
    release(out, &["plugin"]).assert_code(0);
    release(out, &["checksums"]).assert_code(0);

    let unix = ["README.md", "helm-milvus-upgrade"];
    for platform in ["linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"] {
        let file = out.join(format!("helm-milvus-upgrade_{VERSION}_{platform}.tar.gz"));
        assert_eq!(listing("tar", &["-tzf"], &file), unix, "{}", file.display());
    }
    let zip = out.join(format!("helm-milvus-upgrade_{VERSION}_windows_amd64.zip"));
    let windows = ["README.md", "helm-milvus-upgrade.exe"];
    assert_eq!(listing("unzip", &["-Z1"], &zip), windows);
    let package = listing(
        "tar",
        &["-tzf"],
        &out.join(format!("milvus-upgrade-{VERSION}.tgz")),
    );
    for file in [
        "plugin.yaml",
        "completion.yaml",
        "scripts/install-binary.sh",
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
    ] {
        let file = format!("milvus-upgrade/{file}");
        assert!(package.contains(&file), "the plugin package lacks {file}");
    }

    let sums = std::fs::read_to_string(out.join("checksums.txt")).unwrap();
    assert_eq!(sums.lines().count(), 6, "checksums.txt:\n{sums}");
    let check = outcome(
        Command::new("sha256sum")
            .args(["--check", "--strict", "checksums.txt"])
            .current_dir(out),
    );
    check.assert_code(0);

    let script = repo_path("scripts/release");
    let tag = outcome(Command::new(&script).args(["check-version", &format!("v{VERSION}")]));
    tag.assert_code(0);
    let wrong = outcome(Command::new(&script).args(["check-version", "v0.0.0-not-it"]));
    wrong.assert_code(1);
    wrong.assert_stderr_has(&["'v0.0.0-not-it' is not v"]);
}

/// A plugin directory as Helm leaves it (plugin.yaml, the hook, Cargo.toml for its cargo
/// fallback), to run the hook alone.
struct HookDir(tempfile::TempDir);

impl HookDir {
    fn new() -> HookDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
        for file in ["plugin.yaml", "scripts/install-binary.sh", "Cargo.toml"] {
            std::fs::copy(repo_path(file), dir.path().join(file)).unwrap();
        }
        HookDir(dir)
    }

    fn bin(&self) -> PathBuf {
        self.0.path().join("bin/helm-milvus-upgrade")
    }

    /// Runs the hook with PATH `path` and `vars` as its only variables.
    fn run(&self, path: &Path, vars: &[(&str, &str)]) -> Outcome {
        let mut cmd = Command::new("bash");
        cmd.arg(self.0.path().join("scripts/install-binary.sh"))
            .env_clear()
            .env("PATH", path)
            .env("HELM_PLUGIN_DIR", self.0.path())
            .envs(vars.iter().copied());
        outcome(&mut cmd)
    }

    /// The hook installed the test's binary.
    fn assert_installed(&self, out: &Outcome) {
        out.assert_code(0);
        let same = std::fs::read(self.bin()).ok() == std::fs::read(released_binary()).ok();
        assert!(
            same,
            "bin/ does not hold the released binary:\n{}",
            out.stdout
        );
    }
}

/// The hook downloads this platform's archive of plugin.yaml's version from the release
/// location and checks its sha256, with curl or, without curl, wget; each also through an
/// HTTP proxy from the environment (the mirror's host does not resolve; the proxy answers).
#[test]
fn install_hook_downloads_and_verifies_with_curl_or_wget() {
    let releases = ReleaseLocation::new();
    let server = &releases.server;
    let (url, archive) = (server.url(), archive_name(VERSION));
    let verified = format!("installed {archive} (sha256 verified)");
    for (tool, other, proxy_var) in [
        ("curl", "wget", "http_proxy"),
        ("wget", "curl", "HTTP_PROXY"),
    ] {
        let path = path_without(&["cargo", other]);
        let found = path.path().join(tool).exists();
        assert!(
            found,
            "{tool} is not installed (scripts/testenv install installs it)"
        );
        let hook = HookDir::new();
        let direct = hook.run(path.path(), &[(DOWNLOAD_URL, &url)]);
        hook.assert_installed(&direct);
        direct.assert_stdout_has(&[&verified]);
        let asked = server.requests();
        assert!(asked.contains(&format!("/{archive}")), "{tool}: {asked:?}");
        assert!(
            asked.contains(&"/checksums.txt".to_string()),
            "{tool}: {asked:?}"
        );

        let hook = HookDir::new();
        let mirror = "http://mirror.invalid";
        let proxied = hook.run(path.path(), &[(DOWNLOAD_URL, mirror), (proxy_var, &url)]);
        hook.assert_installed(&proxied);
        let asked = server.requests();
        assert!(
            asked.contains(&format!("{mirror}/{archive}")),
            "{tool}: {asked:?}"
        );
    }
}

/// A checksum that does not match, an archive checksums.txt does not list, or no
/// checksums.txt: the download is refused with the reason, and the hook goes on to the next
/// source (cargo, here a stand-in that "builds" the test's binary), else fails.
#[test]
fn install_hook_refuses_a_bad_or_missing_checksum() {
    let releases = ReleaseLocation::new();
    let url = releases.server.url();
    let vars = [(DOWNLOAD_URL, url.as_str())];
    let archive = archive_name(VERSION);
    let sums = releases.dir.path().join("checksums.txt");
    let good = std::fs::read_to_string(&sums).unwrap();
    // checksums.txt with this platform's archive's line changed, or left out.
    let with_line = |line: Option<String>| -> Option<String> {
        let other = good
            .lines()
            .filter(|l| !l.ends_with(&format!("  {archive}")));
        Some(
            other
                .map(str::to_string)
                .chain(line)
                .map(|l| l + "\n")
                .collect(),
        )
    };
    let no_cargo = &releases.no_cargo;
    let with_cargo = path_without(&["cargo"]);
    let cargo = with_cargo.path().join("cargo");
    let fake = format!(
        "#!/bin/sh\necho \"stand-in cargo $*\"\nmkdir -p target/release\ncp {} target/release/helm-milvus-upgrade\n",
        released_binary().display()
    );
    std::fs::write(&cargo, fake).unwrap();
    let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&cargo, exec).unwrap();

    let mismatch = format!("sha256 mismatch, refusing {archive}");
    let unlisted = format!("refusing {archive}: {url}/checksums.txt does not list it");
    let missing = format!("refusing {archive} without checksums.txt to verify it");
    let cases = [
        (
            mismatch,
            with_line(Some(format!("{}  {archive}", "0".repeat(64)))),
        ),
        (unlisted, with_line(None)),
        (missing, None),
    ];
    for (reason, checksums) in &cases {
        match checksums {
            Some(text) => std::fs::write(&sums, text).unwrap(),
            None => std::fs::remove_file(&sums).unwrap(),
        }
        let hook = HookDir::new();
        let refused = hook.run(no_cargo.path(), &vars);
        refused.assert_code(1);
        refused.assert_stderr_has(&[reason.as_str(), "no cargo on PATH", "https://rustup.rs"]);
        assert!(!hook.bin().exists(), "{reason}: a binary was installed");

        let built = hook.run(with_cargo.path(), &vars);
        hook.assert_installed(&built);
        built.assert_stderr_has(&["download failed, trying the next source", reason.as_str()]);
        built.assert_stdout_has(&[
            "stand-in cargo build --release --locked",
            "installed binary built by cargo",
        ]);
    }
}

/// A 404 (no release for this platform) or a network error falls back; with no cargo the
/// hook fails naming every way to get the binary. A prebuilt binary for this platform in
/// dist/ comes before any download.
#[test]
fn install_hook_404_or_offline_fails_naming_what_to_do_else_prebuilt() {
    let empty = tempfile::tempdir().unwrap();
    let server = FileServer::start(empty.path());
    let url = server.url();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let no_cargo = path_without(&["cargo"]);
    let (os, arch) = platform();
    let hook = HookDir::new();
    for (base, reason) in [(&url, "HTTP 404"), (&closed, "Failed to connect")] {
        let failed = hook.run(no_cargo.path(), &[(DOWNLOAD_URL, base)]);
        failed.assert_code(1);
        failed.assert_stderr_has(&[
            "ERROR: no helm-milvus-upgrade binary",
            reason,
            &format!("dist/{os}-{arch}/helm-milvus-upgrade"),
            "no cargo on PATH",
            "HELM_MILVUS_UPGRADE_BINARY=",
            "HELM_MILVUS_UPGRADE_DOWNLOAD_URL=",
            "https://rustup.rs",
            &archive_name(VERSION),
        ]);
        assert!(!hook.bin().exists());
    }

    let dist = hook.0.path().join(format!("dist/{os}-{arch}"));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::copy(released_binary(), dist.join("helm-milvus-upgrade")).unwrap();
    let asked = server.requests().len();
    let prebuilt = hook.run(no_cargo.path(), &[(DOWNLOAD_URL, &url)]);
    hook.assert_installed(&prebuilt);
    prebuilt.assert_stdout_has(&["installed prebuilt binary"]);
    assert_eq!(server.requests().len(), asked, "downloaded despite dist/");
}

/// A git repository of the plugin as this working tree has it (what a release tag holds),
/// and a clone of it named like its origin, as `git clone` names it: what
/// `helm plugin install <clone>` and `helm plugin update` work on.
struct PluginRepo {
    origin: PathBuf,
    clone: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = outcome(
        Command::new("git")
            .args(["-c", "user.name=e2e", "-c", "user.email=e2e@localhost"])
            .args(args)
            .current_dir(dir),
    );
    out.assert_code(0);
    out.stdout
}

impl PluginRepo {
    fn new(dir: &Path) -> PluginRepo {
        let root = repo_path("");
        let origin = dir.join("upstream/helm-milvus-upgrade");
        let files = git(
            &root,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        );
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            let (from, to) = (root.join(file), origin.join(file));
            if from.is_file() {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&from, &to).unwrap();
            }
        }
        git(&origin, &["init", "-q"]);
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "the plugin"]);
        let clone = dir.join("src/helm-milvus-upgrade");
        std::fs::create_dir_all(clone.parent().unwrap()).unwrap();
        let (o, c) = (origin.to_str().unwrap(), clone.to_str().unwrap());
        git(dir, &["clone", "-q", o, c]);
        PluginRepo { origin, clone }
    }

    /// The origin moves on to `version` (plugin.yaml, committed): what an update pulls.
    fn set_version(&self, version: &str) {
        let file = self.origin.join("plugin.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text.replace(
            &format!("version: \"{VERSION}\""),
            &format!("version: \"{version}\""),
        );
        std::fs::write(&file, text).unwrap();
        git(
            &self.origin,
            &["commit", "-q", "-am", &format!("version {version}")],
        );
    }
}

impl PluginHelm {
    /// A helm with empty homes below `dir` (no repositories: for plugin commands).
    fn bare(helm: Helm, dir: &Path) -> PluginHelm {
        PluginHelm {
            helm,
            home: dir.join("home"),
            kubeconfig: env().kubeconfig(User::Admin),
        }
    }
}

/// A release location on loopback (release files made by `scripts/release`), and helm
/// run as by a user without Rust: no cargo on PATH, downloading from there.
struct ReleaseLocation {
    dir: tempfile::TempDir,
    server: FileServer,
    no_cargo: tempfile::TempDir,
}

impl ReleaseLocation {
    /// Serving the release files of VERSION.
    fn new() -> ReleaseLocation {
        let dir = tempfile::tempdir().unwrap();
        release_files(dir.path(), VERSION);
        let server = FileServer::start(dir.path());
        let no_cargo = path_without(&["cargo"]);
        ReleaseLocation {
            dir,
            server,
            no_cargo,
        }
    }

    /// Also serving the release files of `version`.
    fn publish(&self, version: &str) {
        release_files(self.dir.path(), version);
    }

    /// `helm ARGS` through `ph` without cargo, downloading from `base` below the server.
    fn helm_from(&self, base: &str, ph: &PluginHelm, args: &[&str]) -> Outcome {
        let mut cmd = ph.cmd(args);
        cmd.env("PATH", self.no_cargo.path())
            .env(DOWNLOAD_URL, format!("{}{base}", self.server.url()));
        outcome(&mut cmd)
    }

    fn helm(&self, ph: &PluginHelm, args: &[&str]) -> Outcome {
        self.helm_from("", ph, args)
    }
}

/// `out` (helm saying `done`) installed the release binary of `version`, downloaded and
/// verified, and the plugin runs through helm.
fn assert_downloaded(ph: &PluginHelm, out: &Outcome, version: &str, done: &str) {
    out.assert_code(0);
    let installed = format!("installed {} (sha256 verified)", archive_name(version));
    out.assert_stdout_has(&[&installed, done]);
    let run = ph.run(&["milvus-upgrade", "--version"]);
    run.assert_code(0);
    run.assert_stdout_has(&[&format!("helm milvus-upgrade {VERSION}")]);
}

/// `helm plugin install <clone>` on a PATH without cargo downloads the release binary for
/// this platform from the release location (nothing there: it fails naming what to do);
/// after the origin moves on to a new version, `helm plugin update` downloads that one's.
fn downloads_on_install_and_update(helm: Helm) {
    let tmp = tempfile::tempdir().unwrap();
    let releases = ReleaseLocation::new();
    let repo = PluginRepo::new(tmp.path());
    let ph = PluginHelm::bare(helm, tmp.path());
    let clone = repo.clone.to_str().unwrap();

    let nothing = releases.helm_from("/nothing-here", &ph, &["plugin", "install", clone]);
    assert_ne!(nothing.code, 0, "installed:\n{}", nothing.stdout);
    nothing.assert_stderr_has(&[
        "HTTP 404",
        "HELM_MILVUS_UPGRADE_BINARY=",
        "https://rustup.rs",
    ]);
    ph.run(&["plugin", "uninstall", "milvus-upgrade"]);

    let started = Instant::now();
    let install = releases.helm(&ph, &["plugin", "install", clone]);
    let took = started.elapsed();
    assert_downloaded(&ph, &install, VERSION, "Installed plugin: milvus-upgrade");
    eprintln!("{}: plugin install, download path: {took:?}", helm.name());

    let next = "99.0.0";
    repo.set_version(next);
    releases.publish(next);
    let update = releases.helm(&ph, &["plugin", "update", "milvus-upgrade"]);
    assert_downloaded(&ph, &update, next, "Updated plugin: milvus-upgrade");
    ph.run(&["plugin", "list"])
        .assert_stdout_has(&["milvus-upgrade", next]);
}

#[test]
fn downloads_the_release_binary_on_install_and_update_helm3() {
    downloads_on_install_and_update(Helm::V3);
}

#[test]
fn downloads_the_release_binary_on_install_and_update_helm4() {
    downloads_on_install_and_update(Helm::V4);
}

/// Helm 4 installs the release's plugin package (a tarball of the plugin directory) from
/// the release location; its hook downloads the binary.
#[test]
fn helm4_installs_the_plugin_package() {
    let tmp = tempfile::tempdir().unwrap();
    let releases = ReleaseLocation::new();
    let ph = PluginHelm::bare(Helm::V4, tmp.path());
    let package = format!("{}/milvus-upgrade-{VERSION}.tgz", releases.server.url());
    let install = releases.helm(&ph, &["plugin", "install", &package, "--verify=false"]);
    assert_downloaded(&ph, &install, VERSION, "Installed plugin: milvus-upgrade");
}
