//! Releases shaped like production ones (issue 13), Helm 3 and Helm 4 with each one's
//! default apply method: GPU images from a private mirror keep flavour and registry;
//! only the Milvus Helm chart is ever chosen, whatever else is called `milvus`; two
//! repositories carrying it need `--repo`; a Pulsar v2 pin onto a breaking chart needs
//! `--force`. Each refusal writes nothing (audit log).

mod support;

use serde_json::Value;
use support::repos::{MILVUS_TWICE_AND_BITNAMI, WITH_BITNAMI};
use support::{
    assert_no_writes, audit, release_images, run_plugin, upgrade_args, Helm, Install, TestNs,
};

const MIRROR: &str = "registry.example.com/milvusdb/milvus";

fn gpu_release_keeps_flavour_and_mirror(helm: Helm) {
    let ns = TestNs::new(&format!("gpu-{}", helm.name()));
    Install::new(helm, &ns, "gpu", "4.2.8")
        .set("image.all.repository", MIRROR)
        .set("image.all.tag", "v2.4.9-gpu")
        .run();
    let dry = run_plugin(helm, &ns, &["gpu", "--to", "2.5.16", "--dry-run"]);
    dry.assert_code(0);
    dry.assert_stdout_has(&["2.4.9-gpu", &format!("{MIRROR}:v2.5.16-gpu")]);
    let run = run_plugin(helm, &ns, &upgrade_args("gpu", "2.5.16"));
    run.assert_code(0);
    let want = format!("{MIRROR}:v2.5.16-gpu");
    for (name, image) in release_images(ns.name(), "gpu") {
        if !name.ends_with("-attu") {
            assert_eq!(image, want, "{name}");
        }
    }
}

#[test]
fn gpu_release_keeps_flavour_and_mirror_helm3() {
    gpu_release_keeps_flavour_and_mirror(Helm::V3);
}

#[test]
fn gpu_release_keeps_flavour_and_mirror_helm4() {
    gpu_release_keeps_flavour_and_mirror(Helm::V4);
}

/// The `chart` of every hop of a `--dry-run -o json` plan.
fn planned_charts(plan: &Value) -> Vec<&Value> {
    let hops = plan["plan"]["hops"].as_array().expect("hops");
    hops.iter().map(|h| &h["chart"]).collect()
}

fn only_the_milvus_chart_is_chosen(helm: Helm) {
    let ns = TestNs::new(&format!("provenance-{}", helm.name()));
    ns.set_repos(helm, &WITH_BITNAMI);
    Install::new(helm, &ns, "rel", "4.2.58").run();
    let mark = audit::mark();
    // bitnami/milvus 16.0.0 also says 2.6.1 and is the highest chart version.
    let json = run_plugin(
        helm,
        &ns,
        &["rel", "--to", "2.6.1", "--dry-run", "-o", "json"],
    );
    json.assert_code(0);
    let plan = json.json();
    for chart in planned_charts(&plan) {
        assert_eq!(chart["repo"], "zilliztech", "{chart}");
        assert_eq!(chart["chart_version"], "5.0.2");
        let why = chart["why"].as_str().unwrap_or_default();
        assert!(
            why.contains("history") && why.contains("zilliztech"),
            "{why}"
        );
    }
    let versions = run_plugin(helm, &ns, &["versions", "rel", "-o", "json"]);
    versions.assert_code(0);
    let rows = versions.json()["charts"].as_array().cloned().unwrap();
    let bitnami: Vec<&Value> = rows.iter().filter(|r| r["repo"] == "bitnami").collect();
    assert_eq!(bitnami.len(), 4, "{rows:?}");
    for row in bitnami {
        assert_eq!(row["milvus_chart"], false);
        assert_eq!(row["note"], "not the Milvus Helm chart");
        assert!(row.get("path").is_none(), "{row}");
    }
    let refused = run_plugin(
        helm,
        &ns,
        &["rel", "--to", "2.6.1", "--repo", "bitnami", "--dry-run"],
    );
    refused.assert_code(6);
    refused.assert_stderr_has(&["'bitnami' has no Milvus Helm chart"]);
    assert_no_writes(&mark, ns.name());
}

#[test]
fn only_the_milvus_chart_is_chosen_helm3() {
    only_the_milvus_chart_is_chosen(Helm::V3);
}

#[test]
fn only_the_milvus_chart_is_chosen_helm4() {
    only_the_milvus_chart_is_chosen(Helm::V4);
}

fn two_repositories_with_the_chart_need_repo(helm: Helm) {
    let ns = TestNs::new(&format!("two-repos-{}", helm.name()));
    ns.set_repos(helm, &MILVUS_TWICE_AND_BITNAMI);
    Install::new(helm, &ns, "rel", "4.2.58").run();
    let mark = audit::mark();
    let upgrade = upgrade_args("rel", "2.6.1");
    let refused = run_plugin(helm, &ns, &upgrade);
    refused.assert_code(6);
    refused.assert_stderr_has(&["milvus, zilliztech", "--repo"]);
    assert_no_writes(&mark, ns.name());
    let chosen = run_plugin(
        helm,
        &ns,
        &[
            "rel",
            "--to",
            "2.6.1",
            "--repo",
            "milvus",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    chosen.assert_code(0);
    for chart in planned_charts(&chosen.json()) {
        assert_eq!(chart["repo"], "milvus", "{chart}");
        assert!(chart["why"].as_str().unwrap_or_default().contains("--repo"));
    }
}

#[test]
fn two_repositories_with_the_chart_need_repo_helm3() {
    two_repositories_with_the_chart_need_repo(Helm::V3);
}

#[test]
fn two_repositories_with_the_chart_need_repo_helm4() {
    two_repositories_with_the_chart_need_repo(Helm::V4);
}

fn pulsar_v2_pin_onto_a_breaking_chart_needs_force(helm: Helm) {
    let ns = TestNs::new(&format!("pulsar-pin-{}", helm.name()));
    Install::new(helm, &ns, "rel", "4.2.8").run();
    let mark = audit::mark();
    let pinned = [
        "rel",
        "--to",
        "2.5.0-beta",
        "--path",
        "helm",
        "--chart-version",
        "4.2.26",
        "--dry-run",
    ];
    let refused = run_plugin(helm, &ns, &pinned);
    refused.assert_code(5);
    refused.assert_stderr_has(&["4.2.26", "Pulsar v2", "--force"]);
    let mut forced = pinned.to_vec();
    forced.push("--force");
    run_plugin(helm, &ns, &forced).assert_code(0);
    assert_no_writes(&mark, ns.name());
}

#[test]
fn pulsar_v2_pin_onto_a_breaking_chart_needs_force_helm3() {
    pulsar_v2_pin_onto_a_breaking_chart_needs_force(Helm::V3);
}

#[test]
fn pulsar_v2_pin_onto_a_breaking_chart_needs_force_helm4() {
    pulsar_v2_pin_onto_a_breaking_chart_needs_force(Helm::V4);
}
