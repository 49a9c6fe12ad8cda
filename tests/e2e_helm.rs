//! The helm executor and multi-hop plans on a real cluster with real charts:
//! one Helm revision per hop, the target tag in the values, layouts changing as
//! the charts say, Pulsar v2 kept, the archived repository caught before any
//! write, and a failing hop rolled back to the recorded revision.

mod support;

use serde_json::Value;
use support::{audit, helm_cmd, install_release, release_deployments, run_plugin, Helm, TestNs};

fn upgrade<'a>(release: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![release, "--to", to, "--yes", "--timeout", "120s"]
}

fn helm_json(helm: Helm, ns: &TestNs, args: &[&str]) -> Value {
    let out = helm_cmd(helm, ns, args).output().expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("helm json")
}

/// Charts of the revisions after the install, oldest first.
fn revisions(helm: Helm, ns: &TestNs, release: &str) -> Vec<(String, String)> {
    let history = helm_json(helm, ns, &["history", release, "-o", "json"]);
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["chart"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// component label → image of every Deployment of the release.
fn components(ns: &TestNs, release: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = release_deployments(ns.name(), release)
        .values()
        .map(|d| {
            let component = d
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("component").cloned())
                .unwrap_or_default();
            let image = d.spec.template.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap_or_default();
            (component, image)
        })
        .collect();
    out.sort();
    out
}

fn values(helm: Helm, ns: &TestNs, release: &str) -> Value {
    helm_json(helm, ns, &["get", "values", release, "-o", "json"])
}

fn below_2_2_3_goes_through_helm(helm: Helm) {
    let ns = TestNs::new(&format!("helm-{}", helm.name()));
    install_release(helm, &ns, "old", "4.0.6", &[]);
    let out = run_plugin(helm, &ns, &upgrade("old", "2.4.9"));
    out.assert_code(0);
    let charts: Vec<String> = revisions(helm, &ns, "old")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(charts, ["milvus-4.0.6", "milvus-4.2.8"]);
    let comps = components(&ns, "old");
    assert!(
        comps
            .iter()
            .all(|(_, image)| image == "milvusdb/milvus:v2.4.9"),
        "{comps:?}"
    );
    assert!(
        comps.iter().any(|(c, _)| c == "mixcoord"),
        "chart 4.2.8 brings mixcoord: {comps:?}"
    );
    assert!(!comps.iter().any(|(c, _)| c == "rootcoord"), "{comps:?}");
    support::assert_release_deployed(helm, &ns, "old");
}

#[test]
fn below_2_2_3_goes_through_helm_helm3() {
    below_2_2_3_goes_through_helm(Helm::V3);
}

#[test]
fn below_2_2_3_goes_through_helm_helm4() {
    below_2_2_3_goes_through_helm(Helm::V4);
}

/// 2.4.6 separate coordinators on Pulsar v2 → 2.6.1: 2.5.16 with mixcoord, then 5.0.x.
fn separate_pulsar_v2_to_2_6(helm: Helm) {
    let ns = TestNs::new(&format!("helm26-{}", helm.name()));
    install_release(helm, &ns, "up", "4.2.0", &[]);
    let plan = run_plugin(
        helm,
        &ns,
        &["up", "--to", "2.6.1", "--dry-run", "-o", "json"],
    );
    plan.assert_code(0);
    let hops: Vec<String> = plan.json()["plan"]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["path"].as_str().unwrap(),
                h["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(hops, ["helm 2.5.16", "helm 2.6.1"]);
    let out = run_plugin(helm, &ns, &upgrade("up", "2.6.1"));
    out.assert_code(0);
    let charts: Vec<String> = revisions(helm, &ns, "up")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        charts,
        ["milvus-4.2.0", "milvus-4.2.58", "milvus-5.0.2"],
        "one revision per hop"
    );
    let comps = components(&ns, "up");
    let names: Vec<&str> = comps.iter().map(|(c, _)| c.as_str()).collect();
    assert!(
        names.contains(&"streamingnode") && names.contains(&"mixcoord"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"indexnode") && !names.contains(&"rootcoord"),
        "{names:?}"
    );
    assert!(
        comps
            .iter()
            .all(|(_, image)| image == "milvusdb/milvus:v2.6.1"),
        "{comps:?}"
    );
    let v = values(helm, &ns, "up");
    assert_eq!(v["image"]["all"]["tag"], "v2.6.1");
    assert_eq!(v["pulsar"]["enabled"], true, "Pulsar v2 kept: {v}");
    assert_eq!(v["pulsarv3"]["enabled"], false, "no new pulsarv3: {v}");
    assert_eq!(v["streaming"]["enabled"], true);
    support::assert_release_deployed(helm, &ns, "up");
}

#[test]
fn separate_pulsar_v2_to_2_6_in_two_hops_helm3() {
    separate_pulsar_v2_to_2_6(Helm::V3);
}

#[test]
fn separate_pulsar_v2_to_2_6_in_two_hops_helm4() {
    separate_pulsar_v2_to_2_6(Helm::V4);
}

#[test]
fn mixcoord_2_5_16_to_2_6_drops_indexnode() {
    let helm = Helm::V3;
    let ns = TestNs::new("helm2516");
    install_release(helm, &ns, "m", "4.2.58", &[]);
    let out = run_plugin(helm, &ns, &upgrade("m", "2.6.15"));
    out.assert_code(0);
    let names: Vec<String> = components(&ns, "m").into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        [
            "datanode",
            "mixcoord",
            "proxy",
            "querynode",
            "streamingnode"
        ]
    );
    assert_eq!(revisions(helm, &ns, "m").len(), 2);
}

#[test]
fn archived_repository_only_is_refused_before_any_write() {
    let helm = Helm::V3;
    let ns = TestNs::new("helm-archived");
    install_release(helm, &ns, "arch", "4.0.6", &[]);
    let removed = helm_cmd(helm, &ns, &["repo", "remove", "zilliztech"])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &upgrade("arch", "2.4.9"));
    out.assert_code(6);
    out.assert_stderr_has(&[
        "archived",
        "helm repo add zilliztech https://zilliztech.github.io/milvus-helm",
        "helm repo update",
    ]);
    support::assert_no_writes(&mark, ns.name());
}

/// `--all-at-once`: one `helm upgrade`, undone by `helm rollback`.
fn a_failing_hop_is_rolled_back_to_the_recorded_revision(helm: Helm) {
    let ns = TestNs::new(&format!("helm-fail-{}", helm.name()));
    install_release(helm, &ns, "hf", "4.0.6", &[]);
    let out = run_plugin(
        helm,
        &ns,
        &[
            "hf",
            "--to",
            "2.4.9",
            "--yes",
            "--timeout",
            "15s",
            "--image",
            "milvusdb/milvus-broken",
            "--all-at-once",
        ],
    );
    out.assert_code(8);
    out.assert_stderr_has(&["Rolled back to helm revision 1"]);
    let history = revisions(helm, &ns, "hf");
    assert_eq!(
        history.len(),
        3,
        "install, failed hop, rollback: {history:?}"
    );
    assert_eq!(history[2].0, "milvus-4.0.6");
    let comps = components(&ns, "hf");
    assert!(
        comps
            .iter()
            .all(|(_, image)| image == "milvusdb/milvus:v2.2.2"),
        "{comps:?}"
    );
    assert!(comps.iter().any(|(c, _)| c == "rootcoord"));
    support::assert_release_deployed(helm, &ns, "hf");
}

#[test]
fn a_failing_hop_is_rolled_back_to_the_recorded_revision_helm3() {
    a_failing_hop_is_rolled_back_to_the_recorded_revision(Helm::V3);
}

#[test]
fn a_failing_hop_is_rolled_back_to_the_recorded_revision_helm4() {
    a_failing_hop_is_rolled_back_to_the_recorded_revision(Helm::V4);
}
