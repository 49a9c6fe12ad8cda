//! The read-only commands against a real cluster with Helm 3 and Helm 4: dry run,
//! versions and status plan from what runs, never print secrets, and write nothing.

mod support;

use serde_json::Value;
use support::{audit, install_release, run_plugin, Helm, TestNs};

const SECRET: &str = "s3cr3t-minio-key-do-not-print";

fn read_only_commands(helm: Helm) {
    let ns = TestNs::new(&format!("plan-{}", helm.name()));
    // Chart 4.0.13 says appVersion 2.2.3 but runs v2.2.5.
    install_release(
        helm,
        &ns,
        "my-release",
        "4.0.13",
        &[("minio.secretKey", SECRET)],
    );
    let mark = audit::mark();

    let text = run_plugin(helm, &ns, &["my-release", "--to", "2.4.9", "--dry-run"]);
    text.assert_code(0);
    text.assert_stdout_has(&[
        "rolling 2.2.5 → 2.4.9",
        "appVersion 2.2.3",
        "Dry run: nothing was changed",
    ]);

    let json = run_plugin(
        helm,
        &ns,
        &["my-release", "--to", "2.4.9", "--dry-run", "-o", "json"],
    );
    json.assert_code(0);
    let plan: Value = json.json();
    assert_eq!(plan["schema"], "helm-milvus-upgrade/plan/v1");
    assert_eq!(plan["ready"], true);
    assert_eq!(plan["plan"]["hops"][0]["path"], "rolling");
    assert_eq!(plan["plan"]["from"], "2.2.5");
    let patches = plan["plan"]["hops"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "patch_image")
        .count();
    assert_eq!(patches, 8, "{}", json.stdout);
    // The test API server is 1.20: a release Helm applies server-side (Helm 4's
    // default) is told about that server's stricter server-side apply.
    let old_server_warning = plan["plan"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("omits key field protocol"));
    assert_eq!(old_server_warning, helm == Helm::V4, "{}", json.stdout);

    let helm_path = run_plugin(
        helm,
        &ns,
        &["my-release", "--to", "2.4.9", "--dry-run", "--path", "helm"],
    );
    helm_path.assert_code(0);
    helm_path.assert_stdout_has(&["zilliztech/milvus --version 4.2.8 --reset-then-reuse-values"]);

    let versions = run_plugin(helm, &ns, &["versions", "my-release", "-o", "json"]);
    versions.assert_code(0);
    let v: Value = versions.json();
    assert_eq!(v["running"], "2.2.5");
    let row = |chart: &str| {
        v["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["chart_version"] == chart)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(row("4.2.8")["path"], serde_json::json!(["rolling"]));
    assert_eq!(row("5.0.19")["path"], serde_json::json!(["helm", "helm"]));
    assert_eq!(row("4.0.6")["note"], "downgrade");

    let status = run_plugin(helm, &ns, &["status", "my-release", "-o", "json"]);
    status.assert_code(0);
    let s: Value = status.json();
    assert_eq!(s["running"], "2.2.5");
    assert_eq!(s["components"].as_array().unwrap().len(), 8);
    assert!(
        s["drift"][0].as_str().unwrap().contains("appVersion 2.2.3"),
        "{}",
        status.stdout
    );
    let status_text = run_plugin(helm, &ns, &["status", "my-release"]);
    status_text.assert_code(0);
    status_text.assert_stdout_has(&["No upgrade in progress", "my-release-milvus-proxy"]);

    for out in [&text, &json, &helm_path, &versions, &status, &status_text] {
        out.assert_never_printed(SECRET);
    }
    support::assert_no_writes(&mark, ns.name());
}

#[test]
fn dry_run_versions_and_status_write_nothing_helm3() {
    read_only_commands(Helm::V3);
}

#[test]
fn dry_run_versions_and_status_write_nothing_helm4() {
    read_only_commands(Helm::V4);
}
