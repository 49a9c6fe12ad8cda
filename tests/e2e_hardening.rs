//! Production-cluster hardening: every object a run creates is submitted as a
//! server-side dry run before the first write, so a ResourceQuota, a LimitRange or
//! a missing StorageClass refuses the meta migration before Milvus is stopped
//! (exit 6, no write in the audit log); migration pods carry limits and inherit
//! the Milvus pods' placement.

mod support;

use serde_json::json;
use support::{
    audit, create_limit_range, create_resource_quota, dry_runs_since, install_release, run_plugin,
    writes_since, Helm, Outcome, TestNs,
};

const OLD_CHART: &str = "3.2.18";
const TARGET: &str = "2.2.0";

/// A 2.1.4 release (meta migration to 2.2.0) in a namespace of its own, shaped by
/// `policy` after the install; then the upgrade with `extra` flags.
fn migrate_under(
    helm: Helm,
    prefix: &str,
    policy: impl FnOnce(&TestNs),
    extra: &[&str],
) -> (TestNs, audit::Mark, Outcome) {
    let ns = TestNs::new(prefix);
    install_release(helm, &ns, "rel", OLD_CHART, &[]);
    policy(&ns);
    let mark = audit::mark();
    let mut args = vec!["rel", "--to", TARGET, "--yes", "--session-wait", "0s"];
    args.extend_from_slice(extra);
    let out = run_plugin(helm, &ns, &args);
    (ns, mark, out)
}

/// Refused at pre-flight: exit 6, the API server's words and the fix shown, the
/// migration's objects dry-run, nothing written (no Deployment scaled, no Lease).
fn assert_refused_before_any_write(ns: &TestNs, mark: &audit::Mark, out: &Outcome, said: &[&str]) {
    out.assert_code(6);
    out.assert_stdout_has(said);
    let writes = writes_since(mark, ns.name());
    assert!(writes.is_empty(), "writes: {:#?}", writes.0);
    let dry_runs = dry_runs_since(mark, ns.name());
    for object in [
        "leases/rel-milvus-upgrade-lock",
        "configmaps/rel-milvus-upgrade-state",
        "persistentvolumeclaims/milvus-meta-migration-backup-rel",
        "configmaps/milvus-meta-migration-config-rel",
        "pods/milvus-meta-migration-backup-rel",
        "pods/milvus-meta-migration-rel",
        "pods/milvus-meta-migration-rollback-rel",
    ] {
        assert!(
            dry_runs.iter().any(|d| d == object),
            "{object} not dry-run: {dry_runs:?}"
        );
    }
}

/// A ResourceQuota `name` with `hard` made after the install refuses the migration.
fn refused_by_quota(helm: Helm, prefix: &str, name: &str, hard: &[(&str, &str)], said: &[&str]) {
    let (ns, mark, out) = migrate_under(
        helm,
        prefix,
        |ns| {
            create_resource_quota(ns.name(), name, hard);
        },
        &[],
    );
    assert_refused_before_any_write(&ns, &mark, &out, said);
}

#[test]
fn a_quota_on_pvcs_refuses_the_migration_before_milvus_stops() {
    refused_by_quota(
        Helm::V3,
        "hard-pvc-quota",
        "no-pvcs",
        &[("persistentvolumeclaims", "0")],
        &[
            "persistentvolumeclaim/milvus-meta-migration-backup-rel refused",
            "exceeded quota: no-pvcs",
            "ResourceQuota",
            "nothing was changed",
        ],
    );
}

#[test]
fn a_quota_on_pods_refuses_the_migration_before_milvus_stops() {
    refused_by_quota(
        Helm::V4,
        "hard-pod-quota",
        "no-pods",
        &[("pods", "0")],
        &[
            "pod/milvus-meta-migration-backup-rel refused",
            "exceeded quota: no-pods",
        ],
    );
}

/// A quota that demands limits refuses pods without them: the migration pods carry
/// small ones, so the plan is ready.
#[test]
fn a_quota_demanding_limits_admits_the_migration_pods() {
    let (ns, mark, out) = migrate_under(
        Helm::V3,
        "hard-limits-quota",
        |ns| {
            create_resource_quota(
                ns.name(),
                "limits",
                &[("limits.cpu", "4"), ("limits.memory", "4Gi")],
            );
        },
        &["--dry-run", "-o", "json"],
    );
    out.assert_code(0);
    let checks = out.json()["checks"].clone();
    let admitted = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cluster admits the objects the upgrade creates")
        .unwrap_or_else(|| panic!("no admission check: {checks:#}"));
    assert_eq!(admitted["ok"], json!(true), "{admitted:#}");
    assert!(writes_since(&mark, ns.name()).is_empty());
}

#[test]
fn a_limit_range_refuses_the_backup_pvc_until_it_fits() {
    let (ns, mark, out) = migrate_under(
        Helm::V3,
        "hard-limitrange",
        |ns| {
            create_limit_range(
                ns.name(),
                "small-claims",
                json!([{"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}}]),
            );
        },
        &[],
    );
    assert_refused_before_any_write(
        &ns,
        &mark,
        &out,
        &[
            "maximum storage usage per PersistentVolumeClaim is 1Gi",
            "LimitRange",
            "--backup-size",
        ],
    );
    let fits = run_plugin(
        Helm::V3,
        &ns,
        &["rel", "--to", TARGET, "--dry-run", "--backup-size", "1Gi"],
    );
    fits.assert_code(0);
}

#[test]
fn a_missing_storage_class_refuses_the_migration_before_milvus_stops() {
    let (ns, mark, out) = migrate_under(
        Helm::V4,
        "hard-no-class",
        |_| {},
        &["--storage-class", "no-such-class"],
    );
    out.assert_code(6);
    out.assert_stdout_has(&[
        "--storage-class no-such-class does not exist",
        "the cluster has: ",
        support::default_storage_class(),
    ]);
    let writes = writes_since(&mark, ns.name());
    assert!(writes.is_empty(), "writes: {:#?}", writes.0);
}

/// Starts the upgrade and returns once it patched its first Deployment.
fn spawn_until_first_patch(helm: Helm, ns: &TestNs, args: &[&str]) -> std::process::Child {
    let mark = audit::mark();
    let child = support::plugin_cmd(helm, ns).args(args).spawn().unwrap();
    mark.wait_for(std::time::Duration::from_secs(60), |e| {
        !e.clone()
            .in_namespace(ns.name())
            .by_user_agent(support::PLUGIN_USER_AGENT)
            .verb("patch")
            .resource("deployments")
            .is_empty()
    });
    child
}

/// SIGTERM (CI runners, `timeout`) stops a run like Ctrl-C: between steps, exit 130,
/// progress recorded; the same command resumes and finishes.
#[test]
fn sigterm_interrupts_like_ctrl_c_and_the_run_resumes() {
    let helm = Helm::V4;
    let ns = TestNs::new("hard-sigterm");
    install_release(helm, &ns, "rel", "4.0.13", &[]);
    let args = support::upgrade_args("rel", "2.4.9");
    let mut child = spawn_until_first_patch(helm, &ns, &args);
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "SIGTERM is an interruption");
    let s = run_plugin(helm, &ns, &["status", "rel", "-o", "json"]).json();
    assert_ne!(
        s["upgrade"],
        serde_json::Value::Null,
        "progress recorded for the resume"
    );
    run_plugin(helm, &ns, &args).assert_code(0);
}

/// Someone takes the Lease mid-run: the next renewal notices (resourceVersion
/// precondition), the run stops before its next write with the state kept
/// (exit 130), and the other holder's Lease is not deleted.
#[test]
fn a_lost_lease_stops_the_run_before_its_next_write() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{Patch, PatchParams};
    let helm = Helm::V3;
    let ns = TestNs::new("hard-lease");
    install_release(helm, &ns, "rel", "4.0.13", &[]);
    // Coordinators wait 30 s each: the run outlives a renewal.
    let args = ["rel", "--to", "2.4.9", "--yes", "--timeout", "300s"];
    let mut child = spawn_until_first_patch(helm, &ns, &args);
    let leases: kube::Api<Lease> =
        kube::Api::namespaced(support::client(support::User::Admin), ns.name());
    let steal = json!({"spec": {"holderIdentity": "other-host/1/0"}});
    support::block_on({
        let leases = leases.clone();
        async move {
            leases
                .patch(
                    "rel-milvus-upgrade-lock",
                    &PatchParams::default(),
                    &Patch::Merge(&steal),
                )
                .await
        }
    })
    .unwrap();
    let stolen = support::audit::mark();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "a lost lock stops the run");
    let after = writes_since(&stolen, ns.name())
        .filter(|e| e.resource == "deployments")
        .len();
    assert!(
        after <= 1,
        "Deployments written after the lease was lost: {after}"
    );
    let lease =
        support::block_on(async move { leases.get("rel-milvus-upgrade-lock").await }).unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("other-host/1/0"),
        "the other holder's lease stays"
    );
    let s = run_plugin(helm, &ns, &["status", "rel", "-o", "json"]).json();
    assert_ne!(
        s["upgrade"],
        serde_json::Value::Null,
        "state kept for the resume"
    );
}

// ------------------------------------------------------------ progress deadlines

/// Short enough that a whole run outlasts it many times over.
const PROGRESS_DEADLINE: &str = "5s";

/// `rel` on chart 4.2.8 (Milvus 2.4.9, mixcoord) to 2.5.0, rolling, with `extra`.
fn roll_with_deadline(helm: Helm, ns: &TestNs, extra: &[&str]) -> (audit::Mark, Outcome) {
    let mut args = vec![
        "rel",
        "--to",
        "2.5.0",
        "--yes",
        "--min-ready-seconds",
        "0",
        "--progress-deadline",
        PROGRESS_DEADLINE,
    ];
    args.extend_from_slice(extra);
    let mark = audit::mark();
    let out = run_plugin(helm, ns, &args);
    (mark, out)
}

/// The Deployment rolls one pod at a time (maxSurge 1, maxUnavailable 0), as many
/// operators set big querynode fleets: slow, but every pod is progress.
fn one_pod_at_a_time(ns: &TestNs, deployment: &str) {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Patch, PatchParams};
    let api: kube::Api<Deployment> =
        kube::Api::namespaced(support::client(support::User::Admin), ns.name());
    let body = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}});
    let name = deployment.to_string();
    support::block_on(async move {
        api.patch(&name, &PatchParams::default(), &Patch::Strategic(&body))
            .await
    })
    .unwrap();
    support::wait_release_available(ns.name(), "rel", std::time::Duration::from_secs(60));
}

/// When the plugin patched each Deployment (its image patches, in order).
fn patched_at(mark: &audit::Mark, ns: &str) -> Vec<(String, k8s_openapi::jiff::Timestamp)> {
    mark.events()
        .in_namespace(ns)
        .by_user_agent(support::PLUGIN_USER_AGENT)
        .verb("patch")
        .resource("deployments")
        .filter(|e| !e.request_uri.contains("dryRun=All"))
        .iter()
        .map(|e| (e.name.clone(), e.stage_timestamp))
        .collect()
}

/// A querynode of 8 replicas rolling one pod at a time takes longer than the
/// progress deadline, and the whole run far longer: it finishes, because every
/// new pod is progress.
fn slow_but_progressing_finishes(helm: Helm, prefix: &str) {
    let ns = TestNs::new(prefix);
    install_release(helm, &ns, "rel", "4.2.8", &[("queryNode.replicas", "8")]);
    let querynode = format!("{}-querynode", support::fullname("rel"));
    one_pod_at_a_time(&ns, &querynode);
    let (mark, out) = roll_with_deadline(helm, &ns, &["-o", "json"]);
    out.assert_code(0);
    let result = out.json();
    assert_eq!(result["outcome"], "upgraded", "{result:#}");
    assert_eq!(result["deadlines"]["progress_deadline_seconds"], json!(5));
    assert_eq!(result["deadlines"]["timeout_seconds"], json!(null));
    // The premise: the querynode's rollout alone (its patch to the next
    // Deployment's) outlasted the deadline.
    let patches = patched_at(&mark, ns.name());
    let at = patches.iter().position(|(n, _)| *n == querynode).unwrap();
    let next = patches[at + 1..]
        .iter()
        .find(|(n, _)| *n != querynode)
        .unwrap_or_else(|| panic!("nothing patched after {querynode}: {patches:?}"));
    let took = next.1.duration_since(patches[at].1).as_secs_f64();
    assert!(
        took > 5.0,
        "the querynode rolled in {took:.1}s: {patches:?}"
    );
    for (name, image) in support::release_images(ns.name(), "rel") {
        assert_eq!(image, "milvusdb/milvus:v2.5.0", "{name}");
    }
}

#[test]
fn a_slow_rollout_that_keeps_progressing_finishes_helm3() {
    slow_but_progressing_finishes(Helm::V3, "hard-slow3");
}

#[test]
fn a_slow_rollout_that_keeps_progressing_finishes_helm4() {
    slow_but_progressing_finishes(Helm::V4, "hard-slow4");
}

/// New pods that never become ready: nothing changes, so the wait fails after the
/// progress deadline (no --timeout given) and the run rolls back.
fn no_progress_rolls_back(helm: Helm, prefix: &str) {
    let ns = TestNs::new(prefix);
    install_release(helm, &ns, "rel", "4.2.8", &[]);
    let (_, out) = roll_with_deadline(helm, &ns, &["--image", "milvusdb/milvus-broken"]);
    out.assert_code(8);
    out.assert_stderr_has(&[
        "no progress for 5s (--progress-deadline)",
        "rolled back",
        "CrashLoopBackOff",
    ]);
    for (name, image) in support::release_images(ns.name(), "rel") {
        assert_eq!(image, "milvusdb/milvus:v2.4.9", "{name}");
    }
}

#[test]
fn a_rollout_without_progress_fails_at_the_deadline_and_rolls_back_helm3() {
    no_progress_rolls_back(Helm::V3, "hard-stall3");
}

#[test]
fn a_rollout_without_progress_fails_at_the_deadline_and_rolls_back_helm4() {
    no_progress_rolls_back(Helm::V4, "hard-stall4");
}

// ------------------------------------------- a release changed between plan and lock

/// The plugin on a terminal (util-linux `script` gives it a pty), stopped at its
/// confirmation prompt: what it printed so far, and the keyboard.
struct AtThePrompt {
    child: std::process::Child,
    keyboard: std::process::ChildStdin,
    screen: std::sync::mpsc::Receiver<String>,
    shown: String,
}

const PROMPT: &str = "Proceed with this upgrade? [y/N]";

impl AtThePrompt {
    fn start(plugin: &std::process::Command) -> Self {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
        let line: Vec<String> = std::iter::once(plugin.get_program())
            .chain(plugin.get_args())
            .map(quote)
            .collect();
        let mut script = Command::new("script");
        script
            .args([
                "--quiet",
                "--return",
                "--command",
                &line.join(" "),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in plugin.get_envs() {
            if let Some(value) = value {
                script.env(key, value);
            }
        }
        let mut child = script.spawn().expect("util-linux script");
        let keyboard = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, screen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0
                    || tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                {
                    break;
                }
            }
        });
        let mut at = AtThePrompt {
            child,
            keyboard,
            screen,
            shown: String::new(),
        };
        at.read_until(|s| s.contains(PROMPT));
        at
    }

    /// Reads the screen until `done` holds of all shown, or the output ends.
    fn read_until(&mut self, done: impl Fn(&str) -> bool) {
        let limit = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !done(&self.shown) {
            let left = limit.saturating_duration_since(std::time::Instant::now());
            match self.screen.recv_timeout(left) {
                Ok(text) => self.shown.push_str(&text),
                Err(_) => panic!("no prompt; the screen shows:\n{}", self.shown),
            }
        }
    }

    /// Types `answer` and Enter; returns the exit code and everything shown.
    fn answer(mut self, answer: &str) -> (i32, String) {
        use std::io::Write;
        writeln!(self.keyboard, "{answer}").unwrap();
        let status = self.child.wait().unwrap();
        self.read_until(|_| true);
        while let Ok(text) = self.screen.recv_timeout(std::time::Duration::from_secs(5)) {
            self.shown.push_str(&text);
        }
        (status.code().unwrap_or(-1), self.shown)
    }
}

/// Someone upgrades the release while the plan waits for its confirmation: the
/// run takes the lock, reads the release again, sees the new revision and stops
/// with exit 6 before any write but the Lease's create and delete.
fn changed_between_plan_and_lock(helm: Helm, prefix: &str) {
    let ns = TestNs::new(prefix);
    install_release(helm, &ns, "rel", "4.2.8", &[]);
    let mut plugin = support::plugin_cmd(helm, &ns);
    plugin.args(["rel", "--to", "2.5.0", "--min-ready-seconds", "0"]);
    let prompt = AtThePrompt::start(&plugin);
    assert!(
        prompt.shown.contains("Upgrade plan for release rel"),
        "{}",
        prompt.shown
    );
    let someone = support::helm_cmd(
        helm,
        &ns,
        &[
            "upgrade",
            "rel",
            "zilliztech/milvus",
            "--version",
            "4.2.8",
            "--reuse-values",
            "--set",
            "proxy.replicas=2",
        ],
    )
    .output()
    .unwrap();
    assert!(
        someone.status.success(),
        "{}",
        String::from_utf8_lossy(&someone.stderr)
    );
    let mark = audit::mark();
    let (code, shown) = prompt.answer("y");
    assert_eq!(code, 6, "{shown}");
    for said in [
        "release 'rel' changed since the plan was shown",
        "revision 1",
        "→ revision 2",
        "nothing was changed",
    ] {
        assert!(shown.contains(said), "{said:?} not shown:\n{shown}");
    }
    let writes: Vec<(String, String)> = writes_since(&mark, ns.name())
        .iter()
        .map(|e| (e.verb.clone(), format!("{}/{}", e.resource, e.name)))
        .collect();
    let lease = "leases/rel-milvus-upgrade-lock".to_string();
    assert_eq!(
        writes,
        [
            ("create".to_string(), lease.clone()),
            ("delete".to_string(), lease)
        ],
        "writes after the confirmation"
    );
}

#[test]
fn a_release_changed_between_plan_and_lock_is_not_touched_helm3() {
    changed_between_plan_and_lock(Helm::V3, "hard-changed3");
}

#[test]
fn a_release_changed_between_plan_and_lock_is_not_touched_helm4() {
    changed_between_plan_and_lock(Helm::V4, "hard-changed4");
}
