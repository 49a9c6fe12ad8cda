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
