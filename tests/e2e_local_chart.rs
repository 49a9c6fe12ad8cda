//! `--chart PATH` for air-gapped clusters (issue 13): a packaged Milvus chart (`.tgz`) or
//! its unpacked directory serves a helm hop and a meta migration with no chart
//! repository configured at all; another vendor's chart named `milvus`, a chart that
//! does not ship the target, a plan with two chart hops and one `--chart`, and `--chart`
//! with `--chart-version`/`--repo` are refused, each with 0 writes (audit log); a plan
//! file whose chart directory was edited after review is stale.
//! Helm 3 and Helm 4 (server-side apply, its default).

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{
    assert_no_writes, audit, env, install_release, release_images, run_plugin, upgrade_args, Helm,
    Install, TestNs,
};

/// A packaged chart of the test env's Milvus chart repository.
fn packaged(version: &str) -> String {
    let path = env()
        .path("CHART_REPO_DIR")
        .join(format!("milvus-{version}.tgz"));
    assert!(path.exists(), "{} missing", path.display());
    path.display().to_string()
}

/// A packaged chart of the other vendor's repository (also named `milvus`).
fn bitnami(version: &str) -> String {
    let repo = env().path("CHART_REPO_DIR");
    let dir = repo.parent().expect("charts dir").join("bitnami");
    dir.join(format!("milvus-{version}.tgz"))
        .display()
        .to_string()
}

/// `chart` unpacked into `into`: the chart directory (`into/milvus`).
fn unpacked(chart: &str, into: &Path) -> PathBuf {
    let status = std::process::Command::new("tar")
        .args(["-xzf", chart, "-C"])
        .arg(into)
        .status()
        .expect("tar");
    assert!(status.success(), "tar -xzf {chart}");
    into.join("milvus")
}

/// No chart repository at all in the test's helm home, as on an air-gapped machine.
fn air_gapped(helm: Helm, ns: &TestNs) {
    ns.set_repos(helm, &[]);
}

/// The `chart` of each hop of a `--dry-run -o json` plan.
fn planned_charts(plan: &Value) -> Vec<Value> {
    let hops = plan["plan"]["hops"].as_array().expect("hops");
    hops.iter().map(|h| h["chart"].clone()).collect()
}

fn helm_hop_from_a_packaged_chart(helm: Helm) {
    let ns = TestNs::new(&format!("local-helm-{}", helm.name()));
    install_release(helm, &ns, "rel", "4.0.6", &[]);
    air_gapped(helm, &ns);
    let chart = packaged("4.2.8");
    let dry = run_plugin(
        helm,
        &ns,
        &[
            "rel",
            "--to",
            "2.4.9",
            "--chart",
            &chart,
            "--dry-run",
            "-o",
            "json",
        ],
    );
    dry.assert_code(0);
    let charts = planned_charts(&dry.json());
    assert_eq!(charts.len(), 1, "{charts:?}");
    assert_eq!(charts[0]["path"], chart.as_str());
    assert_eq!(charts[0]["repo"], Value::Null);
    assert_eq!(charts[0]["chart_version"], "4.2.8");
    let why = charts[0]["why"].as_str().unwrap_or_default();
    assert!(why.contains("--chart") && why.contains("history"), "{why}");
    let text = run_plugin(
        helm,
        &ns,
        &["rel", "--to", "2.4.9", "--chart", &chart, "--dry-run"],
    );
    text.assert_code(0);
    text.assert_stdout_has(&[
        &format!("helm upgrade rel {chart} --reset-then-reuse-values"),
        "local chart (--chart)",
    ]);
    let mut args = upgrade_args("rel", "2.4.9");
    args.extend(["--chart", &chart]);
    let run = run_plugin(helm, &ns, &args);
    run.assert_code(0);
    support::assert_release_deployed(helm, &ns, "rel");
    let history = support::release_history(helm, &ns, "rel");
    assert_eq!(
        history.last().map(|r| r.chart.as_str()),
        Some("milvus-4.2.8")
    );
    for (name, image) in release_images(ns.name(), "rel") {
        assert_eq!(image, "milvusdb/milvus:v2.4.9", "{name}");
    }
}

#[test]
fn helm_hop_from_a_packaged_chart_helm3() {
    helm_hop_from_a_packaged_chart(Helm::V3);
}

#[test]
fn helm_hop_from_a_packaged_chart_helm4() {
    helm_hop_from_a_packaged_chart(Helm::V4);
}

fn migration_from_a_chart_directory(helm: Helm) {
    let ns = TestNs::new(&format!("local-mig-{}", helm.name()));
    install_release(helm, &ns, "old", "3.2.18", &[("queryNode.replicas", "2")]);
    air_gapped(helm, &ns);
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = unpacked(&packaged("3.3.6"), dir.path());
    let chart = chart.display().to_string();
    let mut args = vec!["old", "--to", "2.2.0", "--yes", "--session-wait", "0s"];
    args.extend(["--timeout", "120s", "--chart", &chart]);
    let run = run_plugin(helm, &ns, &args);
    run.assert_code(0);
    run.assert_stderr_has(&[&chart]);
    let history = support::release_history(helm, &ns, "old");
    assert_eq!(
        history.last().map(|r| r.chart.as_str()),
        Some("milvus-3.3.6")
    );
    let deployments = support::release_deployments(ns.name(), "old");
    for (name, d) in &deployments {
        let image = support::first_image(d).unwrap();
        if !name.ends_with("-attu") {
            assert_eq!(image, "milvusdb/milvus:v2.2.0", "{name}");
        }
    }
    let querynode = &deployments[&format!("{}-querynode", support::fullname("old"))];
    assert_eq!(querynode.spec.replicas, Some(2));
}

#[test]
fn migration_from_a_chart_directory_helm3() {
    migration_from_a_chart_directory(Helm::V3);
}

#[test]
fn migration_from_a_chart_directory_helm4() {
    migration_from_a_chart_directory(Helm::V4);
}

fn wrong_local_charts_are_refused_without_writes(helm: Helm) {
    let ns = TestNs::new(&format!("local-bad-{}", helm.name()));
    // 2.4.5 on separate coordinators: 2.6 takes two chart hops (2.5.16 with mixcoord, then 2.6).
    Install::new(helm, &ns, "rel", "4.1.36").run();
    air_gapped(helm, &ns);
    let mark = audit::mark();
    let refused = |to: &str, extra: &[&str], code: i32, says: &[&str]| {
        let mut args = upgrade_args("rel", to);
        args.extend(extra);
        let out = run_plugin(helm, &ns, &args);
        out.assert_code(code);
        out.assert_stderr_has(says);
    };
    let other_vendor = bitnami("15.0.9");
    let not_milvus = [
        "is not the Milvus Helm chart",
        "bitnami",
        "helm pull milvus",
    ];
    refused("2.5.16", &["--chart", &other_vendor], 4, &not_milvus);
    let old = packaged("4.2.8");
    let missing = ["no --chart ships Milvus 2.5.16", "4.2.58"];
    refused("2.5.16", &["--chart", &old, "--path", "helm"], 4, &missing);
    let last = packaged("5.0.2");
    let one_of_two = [
        "no --chart ships Milvus 2.5.16",
        "Milvus 2.5.16, Milvus 2.6.1",
        "4.2.58",
    ];
    refused("2.6.1", &["--chart", &last], 4, &one_of_two);
    let stop = packaged("4.2.58");
    let pinned = ["--chart", &stop, "--chart-version", "4.2.58"];
    refused(
        "2.5.16",
        &pinned,
        2,
        &["--chart conflicts with --chart-version"],
    );
    let repo = ["--chart", &stop, "--repo", "zilliztech"];
    refused("2.5.16", &repo, 2, &["--chart conflicts with --repo"]);
    refused(
        "2.5.16",
        &["--chart", "/no/such/chart.tgz"],
        2,
        &["/no/such/chart.tgz"],
    );
    // Both charts: one per chart hop, in order.
    let dry = run_plugin(
        helm,
        &ns,
        &[
            "rel",
            "--to",
            "2.6.1",
            "--chart",
            &last,
            "--chart",
            &stop,
            "--dry-run",
            "-o",
            "json",
        ],
    );
    dry.assert_code(0);
    let versions: Vec<Value> = planned_charts(&dry.json())
        .iter()
        .map(|c| c["chart_version"].clone())
        .collect();
    assert_eq!(versions, ["4.2.58", "5.0.2"]);
    assert_no_writes(&mark, ns.name());
}

#[test]
fn wrong_local_charts_are_refused_without_writes_helm3() {
    wrong_local_charts_are_refused_without_writes(Helm::V3);
}

#[test]
fn wrong_local_charts_are_refused_without_writes_helm4() {
    wrong_local_charts_are_refused_without_writes(Helm::V4);
}

/// A plan file made with `--chart DIR` carries a digest of the directory's files: a
/// chart edited after the plan was reviewed makes `apply` refuse (exit 6), no write.
fn an_edited_chart_directory_makes_its_plan_file_stale(helm: Helm) {
    let ns = TestNs::new(&format!("local-stale-{}", helm.name()));
    install_release(helm, &ns, "rel", "4.0.6", &[]);
    air_gapped(helm, &ns);
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = unpacked(&packaged("4.2.8"), dir.path());
    let shown = chart.display().to_string();
    let args = [
        "rel",
        "--to",
        "2.4.9",
        "--chart",
        &shown,
        "--dry-run",
        "-o",
        "json",
    ];
    let dry = run_plugin(helm, &ns, &args);
    dry.assert_code(0);
    let digest = dry.json()["basis"]["charts"][0]["digest"].clone();
    assert_eq!(digest.as_str().map(str::len), Some(64), "{digest}");
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, &dry.stdout).expect("plan file");

    let values = chart.join("values.yaml");
    let mut text = std::fs::read_to_string(&values).expect("values.yaml");
    text.push_str("\n# edited after the review\n");
    std::fs::write(&values, text).expect("values.yaml");
    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &["apply", plan.to_str().unwrap(), "--yes"]);
    out.assert_code(6);
    out.assert_stderr_has(&["is stale", &shown, "nothing was changed"]);
    assert_no_writes(&mark, ns.name());
}

#[test]
fn an_edited_chart_directory_makes_its_plan_file_stale_helm3() {
    an_edited_chart_directory_makes_its_plan_file_stale(Helm::V3);
}

#[test]
fn an_edited_chart_directory_makes_its_plan_file_stale_helm4() {
    an_edited_chart_directory_makes_its_plan_file_stale(Helm::V4);
}
