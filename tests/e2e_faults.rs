//! The fault suite: break things on purpose on the real test cluster and prove nothing
//! is lost. kill -9 at every phase of both executors (triggered from audit-log evidence,
//! never by sleeping), an API server restart during a rollout wait, a target that never
//! gets ready with --no-rollback, secrets never printed, and scale.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;
use support::audit::{self, Events, Mark};
use support::{
    get_opt, helm_cmd, install_release, kill_9, plugin_cmd, release_deployments, run_plugin,
    spawn_plugin, try_install_release, upgrade_args, wait_release_available, Helm, Outcome, TestNs,
    PLUGIN_USER_AGENT,
};

const WAIT: Duration = Duration::from_secs(180);

/// The API server restart takes the cluster away from every test of this binary:
/// it holds this exclusively, the others share it.
static APISERVER: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    APISERVER.read().unwrap_or_else(|e| e.into_inner())
}

/// The plugin's requests; its pre-flight server-side dry runs are not writes.
fn plugin_events(events: &Events, ns: &str) -> Events {
    events
        .clone()
        .in_namespace(ns)
        .by_user_agent(PLUGIN_USER_AGENT)
        .filter(|e| !e.request_uri.contains("dryRun=All"))
}

fn helm_events(events: &Events, ns: &str) -> Events {
    events.clone().in_namespace(ns).by_user_agent("Helm/")
}

/// Deployments the plugin patched (main resource), in order, repeats kept.
fn plugin_patches(events: &Events, ns: &str) -> Vec<String> {
    plugin_events(events, ns)
        .verb("patch")
        .resource("deployments")
        .iter()
        .filter(|e| e.subresource.is_empty())
        .map(|e| e.name.clone())
        .collect()
}

/// Helm's secret writes (create of the new revision, updates of statuses).
fn helm_secret_writes(events: &Events, ns: &str) -> Vec<(String, usize)> {
    helm_events(events, ns)
        .resource("secrets")
        .writes()
        .iter()
        .enumerate()
        .map(|(i, e)| (e.verb.clone(), i))
        .collect()
}

/// Where in a run to kill the plugin, as evidence in the audit log.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// The Lease is created, no Deployment patched yet.
    LockTaken,
    /// The Nth Deployment patch is in, its rollout not complete.
    AfterPatch(usize),
    /// The Nth Deployment is patched and recorded done; the next not yet patched.
    BetweenDeployments(usize),
    /// Helm created the Nth new release revision (secret) of the run.
    HelmUpgrade(usize),
    /// The first helm upgrade finished and the plugin recorded progress after it.
    BetweenHops,
}

impl KillAt {
    fn reached(self, events: &Events, ns: &str, release: &str) -> bool {
        let plugin = plugin_events(events, ns);
        match self {
            KillAt::LockTaken => {
                !plugin.clone().verb("create").resource("leases").is_empty()
                    || !plugin.verb("update").resource("leases").is_empty()
            }
            KillAt::AfterPatch(n) => plugin_patches(events, ns).len() >= n,
            KillAt::BetweenDeployments(n) => {
                // After the Nth deployment patch: "patched" and "done" recorded.
                let all: Vec<_> = plugin.iter().collect();
                let Some(at) = all
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| {
                        e.verb == "patch" && e.resource == "deployments" && e.subresource.is_empty()
                    })
                    .nth(n - 1)
                    .map(|(i, _)| i)
                else {
                    return false;
                };
                let state = format!("{release}-milvus-upgrade-state");
                all[at..]
                    .iter()
                    .filter(|e| e.resource == "configmaps" && e.name == state)
                    .count()
                    >= 2
            }
            KillAt::HelmUpgrade(n) => {
                helm_secret_writes(events, ns)
                    .iter()
                    .filter(|(v, _)| v == "create")
                    .count()
                    >= n
            }
            KillAt::BetweenHops => {
                let all: Vec<_> = events.clone().in_namespace(ns).0;
                let last_helm = all.iter().rposition(|e| {
                    e.user_agent.starts_with("Helm/") && e.resource == "secrets" && e.is_write()
                });
                let Some(last_helm) = last_helm else {
                    return false;
                };
                let state = format!("{release}-milvus-upgrade-state");
                all[last_helm..].iter().any(|e| {
                    e.user_agent.starts_with(PLUGIN_USER_AGENT)
                        && e.resource == "configmaps"
                        && e.name == state
                        && e.verb == "patch"
                })
            }
        }
    }
}

fn spawn_and_kill(helm: Helm, ns: &TestNs, args: &[&str], release: &str, at: KillAt) -> Mark {
    let mark = audit::mark();
    let mut child = spawn_plugin(helm, ns, args);
    let start = Instant::now();
    loop {
        if at.reached(&mark.events(), ns.name(), release) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("plugin finished ({status}) before {at:?}");
        }
        assert!(start.elapsed() < WAIT, "{at:?} not reached");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_9(child);
    mark
}

fn state_cm(ns: &TestNs, release: &str) -> Option<ConfigMap> {
    get_opt(ns.name(), &format!("{release}-milvus-upgrade-state"))
}

fn lease(ns: &TestNs, release: &str) -> Option<Lease> {
    get_opt(ns.name(), &format!("{release}-milvus-upgrade-lock"))
}

/// (chart, status) of every helm revision, oldest first.
fn history(helm: Helm, ns: &TestNs, release: &str) -> Vec<(String, String)> {
    let out = helm_cmd(helm, ns, &["history", release, "-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("helm history json");
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["chart"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every Milvus Deployment runs `image` and is rolled out.
fn assert_all_on(ns: &TestNs, release: &str, image: &str) {
    let deployments = release_deployments(ns.name(), release);
    assert!(!deployments.is_empty());
    for (name, d) in &deployments {
        if name.ends_with("-attu") {
            continue;
        }
        let spec = d.spec.template.spec.as_ref().unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some(image), "{name}");
        assert!(support::deployment_complete(d), "{name} not complete");
    }
}

fn assert_clean(ns: &TestNs, release: &str) {
    assert!(state_cm(ns, release).is_none(), "state ConfigMap left");
    assert!(lease(ns, release).is_none(), "lock Lease left");
}

// ------------------------------------------------------------------ 1. kill -9

struct KillCase {
    name: &'static str,
    chart: &'static str,
    to: &'static str,
    at: KillAt,
    /// Charts of `helm history` at the end: one revision per hop (or the sync).
    revisions: &'static [&'static str],
    /// Deployments the plugin patches in the whole upgrade (rolling), each once.
    patches: usize,
}

const KILLS: &[KillCase] = &[
    KillCase {
        name: "rolling-lock-taken",
        chart: "4.2.8",
        to: "2.5.0",
        at: KillAt::LockTaken,
        revisions: &["milvus-4.2.8", "milvus-4.2.8"],
        patches: 5,
    },
    KillCase {
        name: "rolling-after-patch",
        chart: "4.2.8",
        to: "2.5.0",
        at: KillAt::AfterPatch(2),
        revisions: &["milvus-4.2.8", "milvus-4.2.8"],
        patches: 5,
    },
    KillCase {
        name: "rolling-between-deployments",
        chart: "4.2.8",
        to: "2.5.0",
        at: KillAt::BetweenDeployments(3),
        revisions: &["milvus-4.2.8", "milvus-4.2.8"],
        patches: 5,
    },
    KillCase {
        name: "rolling-last-patch",
        chart: "4.2.8",
        to: "2.5.0",
        at: KillAt::AfterPatch(5),
        revisions: &["milvus-4.2.8", "milvus-4.2.8"],
        patches: 5,
    },
    KillCase {
        name: "rolling-helm-sync",
        chart: "4.2.8",
        to: "2.5.0",
        at: KillAt::HelmUpgrade(1),
        revisions: &["milvus-4.2.8", "milvus-4.2.8"],
        patches: 5,
    },
    KillCase {
        name: "helm-hop1-upgrade",
        chart: "4.2.0",
        to: "2.6.1",
        at: KillAt::HelmUpgrade(1),
        revisions: &["milvus-4.2.0", "milvus-4.2.58", "milvus-5.0.2"],
        patches: 0,
    },
    KillCase {
        name: "helm-between-hops",
        chart: "4.2.0",
        to: "2.6.1",
        at: KillAt::BetweenHops,
        revisions: &["milvus-4.2.0", "milvus-4.2.58", "milvus-5.0.2"],
        patches: 0,
    },
];

fn killed_then_rerun(case: &KillCase) {
    let helm = Helm::V3;
    let release = "k";
    let ns = TestNs::new(&format!("kill-{}", case.name));
    install_release(helm, &ns, release, case.chart, &[]);
    let args = upgrade_args(release, case.to);
    let mark = spawn_and_kill(helm, &ns, &args, release, case.at);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(0);
    assert!(!out.stderr.contains("another upgrade"), "{}", out.stderr);
    assert_all_on(&ns, release, &format!("milvusdb/milvus:v{}", case.to));
    let patches = plugin_patches(&mark.events(), ns.name());
    let mut unique = patches.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        patches.len(),
        unique.len(),
        "{}: a Deployment was patched twice: {patches:?}",
        case.name
    );
    assert_eq!(patches.len(), case.patches, "{}: {patches:?}", case.name);
    let charts: Vec<String> = history(helm, &ns, release)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(charts, case.revisions, "{}: helm history", case.name);
    assert_clean(&ns, release);
    eprintln!(
        "{}: killed at {:?}; rerun exit 0; plugin writes {}, helm writes {}",
        case.name,
        case.at,
        plugin_events(&mark.events(), ns.name()).writes().len(),
        helm_events(&mark.events(), ns.name()).writes().len()
    );
}

#[test]
fn kill_9_at_every_phase_then_rerun_finishes() {
    let _cluster = shared();
    let only = std::env::var("FAULT_CASE").ok();
    for case in KILLS {
        // FAULT_CASE=name,name runs only those.
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == case.name))
        {
            continue;
        }
        killed_then_rerun(case);
    }
}

// ------------------------------------------------------------------ 2. API server restart

fn restart_apiserver() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/testenv"))
        .arg("restart-apiserver")
        .output()
        .expect("scripts/testenv restart-apiserver");
    assert!(
        out.status.success(),
        "restart-apiserver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd`, restarts the API server once the audit log shows `reached`, and
/// returns how the run ended.
fn restart_when(cmd: &mut Command, reached: impl Fn(&Events) -> bool) -> (Mark, Outcome) {
    let mark = audit::mark();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    mark.wait_for(WAIT, reached);
    restart_apiserver();
    let out = child.wait_with_output().unwrap();
    let out = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (mark, out)
}

#[test]
fn api_server_restart_during_a_rollout_wait() {
    let _cluster = APISERVER.write().unwrap_or_else(|e| e.into_inner());
    let helm = Helm::V3;
    let ns = TestNs::new("fault-apiserver");
    install_release(helm, &ns, "ar", "4.2.8", &[]);
    let (mark, out) = restart_when(
        plugin_cmd(helm, &ns).args(upgrade_args("ar", "2.5.0")),
        |e| !plugin_patches(e, ns.name()).is_empty(),
    );
    out.assert_code(0);
    assert_all_on(&ns, "ar", "milvusdb/milvus:v2.5.0");
    assert_clean(&ns, "ar");
    let patches = plugin_patches(&mark.events(), ns.name());
    assert_eq!(patches.len(), 5, "{patches:?}");
}

/// The plugin's state saves after its first Deployment patch: in a migration the
/// first is the `sessions` stage, written once every Milvus pod is gone.
fn state_saved_after_stopping(events: &Events, ns: &str, release: &str) -> bool {
    let plugin: Vec<_> = plugin_events(events, ns).0;
    let state = format!("{release}-milvus-upgrade-state");
    plugin
        .iter()
        .position(|e| e.verb == "patch" && e.resource == "deployments")
        .is_some_and(|at| {
            plugin[at..]
                .iter()
                .any(|e| e.resource == "configmaps" && e.name == state)
        })
}

/// A 2.1.4 release `mr` migrating to 2.2.0 with `extra` flags; the API server
/// restarts while the run waits for etcd sessions to expire, so the backup stage's
/// first requests find it down.
fn migration_through_an_api_server_restart(
    helm: Helm,
    ns: &TestNs,
    extra: &[&str],
) -> (Mark, Outcome) {
    install_release(helm, ns, "mr", "3.2.18", &[]);
    let mut cmd = plugin_cmd(helm, ns);
    cmd.args(["mr", "--to", "2.2.0", "--yes", "--session-wait", "1s"])
        .args(extra);
    restart_when(&mut cmd, |e| state_saved_after_stopping(e, ns.name(), "mr"))
}

fn assert_not_rolled_back(mark: &Mark, ns: &TestNs, out: &Outcome) {
    assert!(!out.stderr.contains("rolling back"), "{}", out.stderr);
    let rollback_pod = plugin_events(&mark.events(), ns.name())
        .verb("create")
        .named("milvus-meta-migration-rollback-mr");
    assert!(rollback_pod.is_empty(), "rolled back: {:?}", rollback_pod.0);
}

/// Requests that find the API server down are retried with backoff, and the run
/// finishes without a rollback.
fn api_server_restart_during_a_migration(helm: Helm, prefix: &str) {
    let _cluster = APISERVER.write().unwrap_or_else(|e| e.into_inner());
    let ns = TestNs::new(prefix);
    let (mark, out) = migration_through_an_api_server_restart(helm, &ns, &[]);
    out.assert_code(0);
    out.assert_stderr_has(&["Kubernetes API: ", "retrying in"]);
    assert_not_rolled_back(&mark, &ns, &out);
    assert_all_on(&ns, "mr", "milvusdb/milvus:v2.2.0");
    assert_clean(&ns, "mr");
}

#[test]
fn api_server_restart_during_a_migration_helm3() {
    api_server_restart_during_a_migration(Helm::V3, "fault-apiserver-mig3");
}

#[test]
fn api_server_restart_during_a_migration_helm4() {
    api_server_restart_during_a_migration(Helm::V4, "fault-apiserver-mig4");
}

/// Down for longer than the progress deadline (3 s against a restart of many):
/// the run stops without a rollback, exit 7, progress kept; once the API server is
/// back the same command resumes and finishes.
#[test]
fn an_api_server_down_past_the_progress_deadline_stops_the_run_resumable() {
    let _cluster = APISERVER.write().unwrap_or_else(|e| e.into_inner());
    let helm = Helm::V3;
    let ns = TestNs::new("fault-apiserver-down");
    let extra = ["--progress-deadline", "3s", "--min-ready-seconds", "0"];
    let (mark, out) = migration_through_an_api_server_restart(helm, &ns, &extra);
    out.assert_code(7);
    out.assert_stderr_has(&[
        "did not answer for the progress deadline",
        "nothing was rolled back and the progress is kept",
        "run the same command again to resume",
    ]);
    assert_not_rolled_back(&mark, &ns, &out);
    assert!(state_cm(&ns, "mr").is_some(), "progress kept");
    let mut again = vec!["mr", "--to", "2.2.0", "--yes", "--session-wait", "1s"];
    again.extend(extra);
    let resumed = run_plugin(helm, &ns, &again);
    resumed.assert_code(0);
    assert_all_on(&ns, "mr", "milvusdb/milvus:v2.2.0");
    assert_clean(&ns, "mr");
}

// ------------------------------------------------------------------ 3. never ready, --no-rollback

struct BrokenCase {
    name: &'static str,
    chart: &'static str,
    to: &'static str,
}

const BROKEN: &[BrokenCase] = &[
    BrokenCase {
        name: "rolling",
        chart: "4.2.8",
        to: "2.5.0",
    },
    BrokenCase {
        name: "helm",
        chart: "4.0.6",
        to: "2.4.9",
    },
];

fn broken_then_good(case: &BrokenCase) {
    let helm = Helm::V3;
    let ns = TestNs::new(&format!("broken-nr-{}", case.name));
    install_release(helm, &ns, "b", case.chart, &[]);
    let mut args = upgrade_args("b", case.to);
    args.retain(|a| *a != "120s" && *a != "--timeout");
    args.extend([
        "--timeout",
        "15s",
        "--no-rollback",
        "--image",
        "milvusdb/milvus-broken",
    ]);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(9);
    out.assert_stderr_has(&["--no-rollback"]);
    assert!(state_cm(&ns, "b").is_some(), "{}: state kept", case.name);
    assert!(lease(&ns, "b").is_none(), "{}: lock released", case.name);
    let status = run_plugin(helm, &ns, &["status", "b", "-o", "json"]);
    status.assert_code(0);
    let s = status.json();
    assert_ne!(s["upgrade"], Value::Null, "{}: status: {s}", case.name);
    let text = run_plugin(helm, &ns, &["status", "b"]);
    assert!(
        text.stdout.contains("resume") || text.stdout.contains("progress"),
        "{}: {}",
        case.name,
        text.stdout
    );
    // The same target with the good image (named, as the broken one was): resumes
    // and finishes.
    let mut good = upgrade_args("b", case.to);
    good.extend(["--image", "milvusdb/milvus"]);
    let out = run_plugin(helm, &ns, &good);
    out.assert_code(0);
    assert_all_on(&ns, "b", &format!("milvusdb/milvus:v{}", case.to));
    assert_clean(&ns, "b");
}

#[test]
fn a_target_that_never_gets_ready_with_no_rollback_keeps_state_and_resumes() {
    let _cluster = shared();
    for case in BROKEN {
        broken_then_good(case);
    }
}

// ------------------------------------------------------------------ 4. secrets

const SECRETS: [&str; 4] = [
    "minio-test-secret-key-DO-NOT-PRINT",
    "externals3-test-secret-DO-NOT-PRINT",
    "user-minio-secret-DO-NOT-PRINT",
    "user-s3-secret-DO-NOT-PRINT",
];

fn assert_no_secret(what: &str, out: &Outcome) {
    for s in SECRETS {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "{what} printed {s}:\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn secrets_in_values_are_never_printed() {
    let _cluster = shared();
    let helm = Helm::V3;
    let ns = TestNs::new("fault-secrets");
    install_release(
        helm,
        &ns,
        "s",
        "4.2.8",
        &[
            ("minio.secretKey", SECRETS[2]),
            ("externalS3.secretKey", SECRETS[3]),
        ],
    );
    let debug = |args: &[&str]| {
        support::outcome(
            plugin_cmd(helm, &ns)
                .env("HELM_DEBUG", "true")
                .args(args)
                .arg("--debug"),
        )
    };
    let cases: Vec<(&str, Outcome, i32)> = vec![
        (
            "dry run",
            run_plugin(helm, &ns, &["s", "--to", "2.5.0", "--dry-run"]),
            0,
        ),
        (
            "dry run json",
            run_plugin(
                helm,
                &ns,
                &["s", "--to", "2.5.0", "--dry-run", "-o", "json"],
            ),
            0,
        ),
        (
            "dry run helm path debug",
            debug(&["s", "--to", "2.5.0", "--dry-run", "--path", "helm"]),
            0,
        ),
        ("versions", run_plugin(helm, &ns, &["versions", "s"]), 0),
        (
            "versions json",
            run_plugin(helm, &ns, &["versions", "s", "-o", "json"]),
            0,
        ),
        ("status", debug(&["status", "s"]), 0),
        (
            "status json",
            run_plugin(helm, &ns, &["status", "s", "-o", "json"]),
            0,
        ),
        (
            "failing helm hop, debug",
            debug(&[
                "s",
                "--to",
                "2.5.0",
                "--yes",
                "--path",
                "helm",
                "--timeout",
                "10s",
                "--image",
                "milvusdb/milvus-broken",
            ]),
            8,
        ),
        (
            "rolling upgrade, debug, progress",
            debug(&upgrade_args("s", "2.5.0")),
            0,
        ),
        (
            "rolling upgrade json",
            run_plugin(helm, &ns, &["s", "--to", "2.5.16", "--yes", "-o", "json"]),
            0,
        ),
    ];
    for (what, out, code) in &cases {
        assert_eq!(
            out.code, *code,
            "{what}: exit\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        assert_no_secret(what, out);
    }
    eprintln!("secrets: {} outputs checked", cases.len());
}

// ------------------------------------------------------------------ 5. scale

struct Measure {
    seconds: f64,
    requests: usize,
    rss_kb: u64,
    code: i32,
}

/// Runs the plugin under /usr/bin/time: wall time, its API requests (audit log, this
/// namespace plus cluster-scoped ones by its user agent) and peak RSS.
fn measure(helm: Helm, ns: &TestNs, args: &[&str]) -> Measure {
    let mark = audit::mark();
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let plugin = plugin_cmd(helm, ns);
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file.path())
        .arg(plugin.get_program())
        .args(args)
        .envs(
            plugin
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        );
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let seconds = start.elapsed().as_secs_f64();
    // The apiserver logs a request when it completes: wait for the last ones.
    let count = || {
        mark.events()
            .filter(|e| e.namespace == ns.name() || e.namespace.is_empty())
            .by_user_agent(PLUGIN_USER_AGENT)
            .len()
    };
    let mut requests = count();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(100));
        requests = count();
    }
    let rss_kb = std::fs::read_to_string(rss_file.path())
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Measure {
        seconds,
        requests,
        rss_kb,
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn scale_status_and_dry_run_stay_fast() {
    let _cluster = shared();
    let helm = Helm::V3;
    let mut rows = Vec::new();
    let mut record = |label: &str, ns: &TestNs, release: &str| {
        for (what, args) in [
            ("status", vec!["status", release, "-o", "json"]),
            ("dry-run", vec![release, "--to", "2.5.0", "--dry-run"]),
        ] {
            let m = measure(helm, ns, &args);
            assert_eq!(m.code, 0, "{label} {what}");
            assert!(m.rss_kb < 200_000, "{label} {what}: {} KiB", m.rss_kb);
            rows.push(format!(
                "| {label} | {what} | {:.2} s | {} | {} MiB |",
                m.seconds,
                m.requests,
                m.rss_kb / 1024
            ));
        }
    };
    let one = TestNs::new("scale-one");
    install_release(helm, &one, "one", "4.2.8", &[]);
    let many_replicas = TestNs::new("scale-replicas");
    install_release(
        helm,
        &many_replicas,
        "big",
        "4.2.8",
        &[("queryNode.replicas", "100")],
    );
    let crowded = TestNs::new("scale-releases");
    install_many(helm, &crowded, 50);
    record("1 release, 1 replica", &one, "one");
    record("querynode 100 replicas", &many_replicas, "big");
    record("1 of 50 releases", &crowded, "r0");
    eprintln!("| case | command | wall | API requests | peak RSS |\n|---|---|---|---|---|");
    for r in &rows {
        eprintln!("{r}");
    }
}

/// `count` releases `r0..` of chart 4.2.8 in `ns`, five helm installs at a time.
fn install_many(helm: Helm, ns: &TestNs, count: usize) {
    let names: Vec<String> = (0..count).map(|i| format!("r{i}")).collect();
    for batch in names.chunks(5) {
        std::thread::scope(|s| {
            for name in batch {
                s.spawn(move || {
                    let out = try_install_release(helm, ns, name, "4.2.8", &[]);
                    assert!(
                        out.status.success(),
                        "install {name}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                });
            }
        });
    }
    wait_release_available(ns.name(), "r0", WAIT);
}

/// An admission webhook that fails (HTTP 500, as a policy engine does while it
/// restarts) the first create of the release's next revision: the hop's `helm
/// upgrade` fails on the API server's "Internal error occurred: failed calling
/// webhook", runs again (said on stderr) and the upgrade finishes with no rollback
/// and no failed revision in Helm's history.
fn a_flaky_webhook_fails_the_helm_upgrade_once(helm: Helm) {
    let _shared = shared();
    let ns = TestNs::new(&format!("flakywh-{}", helm.name()));
    let release = format!("wh-{}", helm.name());
    install_release(helm, &ns, &release, "4.0.13", &[]);
    let webhook = support::FlakyWebhook::on_helm_revisions(&ns, &release, 1);
    let mut args = upgrade_args(&release, "2.4.9");
    args.extend(["--path", "helm"]);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(0);
    out.assert_stderr_has(&["failed calling webhook", "retrying in"]);
    let revision = format!("sh.helm.release.v1.{release}.v2");
    assert_eq!(
        webhook.calls(),
        [format!("fail {revision}"), format!("allow {revision}")]
    );
    assert_eq!(
        history(helm, &ns, &release),
        [
            ("milvus-4.0.13".to_string(), "superseded".to_string()),
            ("milvus-4.2.8".to_string(), "deployed".to_string()),
        ]
    );
    assert_all_on(&ns, &release, "milvusdb/milvus:v2.4.9");
    assert_clean(&ns, &release);
}

#[test]
fn a_flaky_webhook_fails_the_helm_upgrade_once_helm3() {
    a_flaky_webhook_fails_the_helm_upgrade_once(Helm::V3);
}

#[test]
fn a_flaky_webhook_fails_the_helm_upgrade_once_helm4() {
    a_flaky_webhook_fails_the_helm_upgrade_once(Helm::V4);
}
