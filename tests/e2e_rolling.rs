//! The rolling executor on a real cluster: dependency order seen in the audit log,
//! rollback of a target that never gets ready, and resume after kill -9.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    audit, helm_cmd, install_release, release_deployments, run_plugin, upgrade_args, Helm, TestNs,
    PLUGIN_USER_AGENT,
};

const SEPARATE_ORDER: [&str; 8] = [
    "indexnode",
    "rootcoord",
    "datacoord",
    "indexcoord",
    "querycoord",
    "querynode",
    "datanode",
    "proxy",
];
const MIXCOORD_ORDER: [&str; 5] = ["indexnode", "mixcoord", "querynode", "datanode", "proxy"];

/// Every Milvus Deployment runs `image` and is rolled out.
fn assert_all_on(ns: &TestNs, release: &str, image: &str) {
    let deployments = release_deployments(ns.name(), release);
    assert!(!deployments.is_empty());
    for (name, d) in &deployments {
        let spec = d.spec.template.spec.as_ref().unwrap();
        if name.ends_with("-attu") {
            continue;
        }
        assert_eq!(spec.containers[0].image.as_deref(), Some(image), "{name}");
        assert!(support::deployment_complete(d), "{name} not complete");
    }
}

/// Deployments the plugin patched, in order, each once.
fn patch_order(mark: &audit::Mark, ns: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in mark
        .events()
        .in_namespace(ns)
        .by_user_agent(PLUGIN_USER_AGENT)
        .verb("patch")
        .resource("deployments")
        .iter()
    {
        if e.subresource.is_empty() && names.last() != Some(&e.name) {
            names.push(e.name.clone());
        }
    }
    names
}

fn rolls(helm: Helm, chart: &str, release: &str, to: &str, order: &[&str]) {
    rolls_with(helm, chart, release, to, order, &[]);
}

fn rolls_with(helm: Helm, chart: &str, release: &str, to: &str, order: &[&str], extra: &[&str]) {
    let ns = TestNs::new(&format!("roll-{}", helm.name()));
    install_release(helm, &ns, release, chart, &[]);
    let mark = audit::mark();
    let mut args = upgrade_args(release, to);
    args.extend(extra);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(0);
    assert_all_on(&ns, release, &format!("milvusdb/milvus:v{to}"));
    let fullname = support::fullname(release);
    let mut expected: Vec<String> = order.iter().map(|c| format!("{fullname}-{c}")).collect();
    if helm == Helm::V4 {
        // Server-side apply: the coordinators' strategy is handed back before the
        // Helm sync, by name.
        let mut coordinators: Vec<String> = expected
            .iter()
            .filter(|d| d.ends_with("coord"))
            .cloned()
            .collect();
        coordinators.sort();
        expected.extend(coordinators);
    }
    assert_eq!(patch_order(&mark, ns.name()), expected);
    let status = run_plugin(helm, &ns, &["status", release, "-o", "json"]);
    let s: Value = status.json();
    assert_eq!(s["running"], to);
    assert_eq!(s["upgrade"], Value::Null);
    let values = helm_cmd(helm, &ns, &["get", "values", release, "-o", "json"])
        .output()
        .unwrap();
    let values: Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(
        values["image"]["all"]["tag"],
        format!("v{to}"),
        "helm values not in sync"
    );
    // ... in a revision that Helm applied, not one it left failed.
    support::assert_release_deployed(helm, &ns, release);
    assert_chart_owns_strategy(&ns, release);
    // Helm owns every field again: the user's next plain upgrade has no conflict
    // with the plugin's field manager (Helm 4 applies it server-side).
    let chart = support::release_history(helm, &ns, release)
        .pop()
        .unwrap()
        .chart;
    let version = chart.trim_start_matches("milvus-");
    let again = helm_cmd(
        helm,
        &ns,
        &[
            "upgrade",
            release,
            "zilliztech/milvus",
            "--version",
            version,
            "--reuse-values",
        ],
    )
    .output()
    .unwrap();
    assert!(
        again.status.success(),
        "plain helm upgrade after the plugin: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    support::assert_release_deployed(helm, &ns, release);
}

/// Coordinators are back on the chart's strategy (Recreate) after the Helm sync.
fn assert_chart_owns_strategy(ns: &TestNs, release: &str) {
    for (name, d) in release_deployments(ns.name(), release) {
        let component = d.metadata.labels.as_ref().unwrap()["component"].clone();
        if !component.ends_with("coord") {
            continue;
        }
        let strategy = d.spec.strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("Recreate"), "{name}");
        assert!(strategy.rolling_update.is_none(), "{name}: {strategy:?}");
    }
}

#[test]
fn separate_coordinators_2_2_to_2_4_helm3() {
    rolls(Helm::V3, "4.0.13", "sep", "2.4.9", &SEPARATE_ORDER);
}

#[test]
fn separate_coordinators_2_2_to_2_4_helm4() {
    rolls(Helm::V4, "4.0.13", "sep", "2.4.9", &SEPARATE_ORDER);
}

#[test]
fn mixcoord_2_4_to_2_5_named_without_suffix_helm3() {
    rolls(Helm::V3, "4.2.8", "milvus-prod", "2.5.0", &MIXCOORD_ORDER);
}

#[test]
fn parallel_nodes_keep_the_order_helm3() {
    rolls_with(
        Helm::V3,
        "4.2.8",
        "par",
        "2.5.0",
        &MIXCOORD_ORDER,
        &["--parallel-nodes"],
    );
}

#[test]
fn mixcoord_2_4_to_2_5_helm4() {
    rolls(Helm::V4, "4.2.8", "mix", "2.5.0", &MIXCOORD_ORDER);
}

#[test]
fn a_target_that_never_gets_ready_is_rolled_back() {
    let helm = Helm::V3;
    let ns = TestNs::new("roll-broken");
    install_release(helm, &ns, "rb", "4.2.8", &[]);
    let args = [
        "rb",
        "--to",
        "2.5.0",
        "--yes",
        "--min-ready-seconds",
        "0",
        "--timeout",
        "15s",
        "--image",
        "milvusdb/milvus-broken",
    ];
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(8);
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(
        out.stderr.contains("CrashLoopBackOff"),
        "pod messages missing: {}",
        out.stderr
    );
    assert_all_on(&ns, "rb", "milvusdb/milvus:v2.4.9");
}

/// SIGKILL once the plugin has patched `patches` Deployments, run it again: it
/// finishes, patches nothing twice, and leaves Helm in sync and no record behind.
fn killed_after_patches_resumes(release: &str, patches: usize) {
    let helm = Helm::V3;
    let ns = TestNs::new("roll-kill");
    install_release(helm, &ns, release, "4.0.13", &[]);
    let mark = audit::mark();
    let mut child = support::plugin_cmd(helm, &ns)
        .args(upgrade_args(release, "2.4.9"))
        .spawn()
        .unwrap();
    mark.wait_for(Duration::from_secs(60), |e| {
        e.clone()
            .in_namespace(ns.name())
            .by_user_agent(PLUGIN_USER_AGENT)
            .verb("patch")
            .resource("deployments")
            .len()
            >= patches
    });
    child.kill().unwrap();
    let _ = child.wait();
    let out = run_plugin(helm, &ns, &upgrade_args(release, "2.4.9"));
    out.assert_code(0);
    assert_all_on(&ns, release, "milvusdb/milvus:v2.4.9");
    let order = patch_order(&mark, ns.name());
    let mut unique = order.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        order.len(),
        unique.len(),
        "a Deployment was patched twice: {order:?}"
    );
    assert_eq!(order.len(), 8);
    let s: Value = run_plugin(helm, &ns, &["status", release, "-o", "json"]).json();
    assert_eq!(s["upgrade"], Value::Null, "progress record left behind");
    let values = helm_cmd(helm, &ns, &["get", "values", release, "-o", "json"])
        .output()
        .unwrap();
    let values: Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(
        values["image"]["all"]["tag"], "v2.4.9",
        "helm values not in sync"
    );
}

#[test]
fn killed_mid_way_resumes_without_patching_twice() {
    killed_after_patches_resumes("rk", 3);
}

#[test]
fn killed_after_the_last_patch_finishes_on_rerun() {
    killed_after_patches_resumes("rl", 8);
}

/// A helm that drops `--force-conflicts` from `helm upgrade` (as the plugin's
/// sync did before it knew server-side apply), so the sync leaves a failed revision.
fn helm_without_force_conflicts(
    dir: &std::path::Path,
    real: &std::path::Path,
) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let wrapper = dir.join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a; do shift; [ \"$a\" = --force-conflicts ] || set -- \"$@\" \"$a\"; done\nexec \"{}\" \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// Helm's newest revision left `failed` by the sync is an error (never
/// "Upgraded"), which names Helm's message and the command to run.
#[test]
fn a_failed_helm_sync_revision_exits_non_zero() {
    let helm = Helm::V4;
    let ns = TestNs::new("roll-failed-sync");
    install_release(helm, &ns, "fs", "4.2.8", &[]);
    let dir = tempfile::tempdir().unwrap();
    let wrapper = helm_without_force_conflicts(dir.path(), &helm.bin());
    let out = support::outcome(
        support::plugin_cmd(helm, &ns)
            .env("HELM_BIN", &wrapper)
            .args(upgrade_args("fs", "2.5.0")),
    );
    out.assert_code(9);
    out.assert_stderr_has(&[
        "Helm sync failed",
        "conflict",
        "helm-milvus-upgrade",
        "--force-conflicts",
    ]);
    assert!(!out.stderr.contains("Upgraded"), "{}", out.stderr);
    let history = support::release_history(helm, &ns, "fs");
    assert_eq!(history.last().unwrap().status, "failed", "{history:?}");
    assert_all_on(&ns, "fs", "milvusdb/milvus:v2.5.0");
    let s: Value = run_plugin(helm, &ns, &["status", "fs", "-o", "json"]).json();
    assert_eq!(s["upgrade"], Value::Null, "progress record left behind");
}
