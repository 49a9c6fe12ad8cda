//! Releases shaped like production ones (issue 13), Helm 3 and Helm 4 with each one's
//! default apply method: GPU images from a private mirror keep flavour and registry;
//! only the Milvus Helm chart is ever chosen, whatever else is called `milvus`; two
//! repositories carrying it need `--repo`; a Pulsar v2 pin onto a breaking chart needs
//! `--force`; fullnameOverride, a second release in the namespace, attu and cdc (never
//! touched); a user.yaml that does not parse (refused, never replaced); HPA-managed
//! replicas a rolling upgrade leaves to the HPA (its own or the chart's). Each refusal
//! writes nothing (audit log).

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};
use support::repos::{MILVUS_TWICE_AND_BITNAMI, WITH_BITNAMI};
use support::{
    assert_no_writes, audit, block_on, client, create, create_hpa, release_images, run_plugin,
    upgrade_args, Helm, Install, TestNs, User,
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

/// A cdc Deployment as the chart labels it, running its own image.
fn cdc_deployment(release: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{release}-milvus-cdc"), "labels": {
            "app.kubernetes.io/instance": release, "app.kubernetes.io/name": "milvus", "component": "cdc"}},
        "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": release, "component": "cdc"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/instance": release, "component": "cdc"}},
                "spec": {"containers": [{"name": "cdc", "image": CDC_IMAGE}]}}}
    }))
    .unwrap()
}

const CDC_IMAGE: &str = "milvusdb/milvus-cdc:v2.0.0";

fn overrides_neighbours_attu_and_cdc(helm: Helm) {
    let ns = TestNs::new(&format!("shapes-{}", helm.name()));
    Install::new(helm, &ns, "prod", "4.2.8")
        .set("fullnameOverride", "vectors")
        .set("attu.enabled", "true")
        .run();
    Install::new(helm, &ns, "other", "4.2.8").run();
    create(User::Admin, ns.name(), &cdc_deployment("prod")).unwrap();
    let before_other = release_images(ns.name(), "other");
    let run = run_plugin(helm, &ns, &upgrade_args("prod", "2.5.16"));
    run.assert_code(0);
    for (name, image) in release_images(ns.name(), "prod") {
        let want = match name.as_str() {
            n if n.ends_with("-attu") => continue,
            "prod-milvus-cdc" => CDC_IMAGE.to_string(),
            n => {
                assert!(n.starts_with("vectors-"), "{n}");
                "milvusdb/milvus:v2.5.16".to_string()
            }
        };
        assert_eq!(image, want, "{name}");
    }
    assert_eq!(release_images(ns.name(), "other"), before_other);
}

#[test]
fn overrides_neighbours_attu_and_cdc_helm3() {
    overrides_neighbours_attu_and_cdc(Helm::V3);
}

#[test]
fn overrides_neighbours_attu_and_cdc_helm4() {
    overrides_neighbours_attu_and_cdc(Helm::V4);
}

const BROKEN_YAML: &str = "queryNode: [unclosed\n  : :";

fn a_config_that_does_not_parse_is_refused(helm: Helm) {
    let ns = TestNs::new(&format!("bad-config-{}", helm.name()));
    Install::new(helm, &ns, "rel", "4.2.8").run();
    let configs: Api<ConfigMap> = Api::namespaced(client(User::Admin), ns.name());
    let api = configs.clone();
    block_on(async move {
        let broken = json!({"data": {"user.yaml": BROKEN_YAML}});
        api.patch(
            "rel-milvus",
            &PatchParams::default(),
            &Patch::Merge(&broken),
        )
        .await
    })
    .unwrap();
    let mark = audit::mark();
    let refused = run_plugin(helm, &ns, &upgrade_args("rel", "2.5.16"));
    refused.assert_code(6);
    refused.assert_stdout_has(&["Milvus config parses", "configmap/rel-milvus user.yaml"]);
    assert_no_writes(&mark, ns.name());
    let kept = block_on(async move { configs.get("rel-milvus").await }).unwrap();
    assert_eq!(kept.data.unwrap()["user.yaml"], BROKEN_YAML);
}

#[test]
fn a_config_that_does_not_parse_is_refused_helm3() {
    a_config_that_does_not_parse_is_refused(Helm::V3);
}

#[test]
fn a_config_that_does_not_parse_is_refused_helm4() {
    a_config_that_does_not_parse_is_refused(Helm::V4);
}

fn replicas_of(ns: &TestNs, deployment: &str) -> Option<i32> {
    let release = deployment.split("-milvus-").next().unwrap_or_default();
    support::release_deployments(ns.name(), release)[deployment]
        .spec
        .replicas
}

/// Waits until the HPA controller has brought `component`'s Deployment to `replicas`.
fn wait_scaled(ns: &TestNs, release: &str, component: &str, replicas: i32) {
    let selector = format!("app.kubernetes.io/instance={release},component={component}");
    support::wait_deployments(ns.name(), &selector, support::TIMEOUT, move |d| {
        d.values()
            .all(|d| d.spec.replicas == Some(replicas) && support::deployment_complete(d))
    });
}

fn rolling_leaves_the_hpa_its_replicas(helm: Helm) {
    let ns = TestNs::new(&format!("hpa-roll-{}", helm.name()));
    // An HPA made by hand for a chart that renders proxy replicas: 1.
    Install::new(helm, &ns, "byhand", "4.2.8").run();
    create_hpa(ns.name(), "byhand-proxy", "byhand-milvus-proxy", 3, 4);
    wait_scaled(&ns, "byhand", "proxy", 3);
    // The chart's own HPA (chart 5.0.2 has hpa values), replicas left to it.
    Install::new(helm, &ns, "chart", "5.0.2")
        .set("queryNode.hpa.enabled", "true")
        .set("queryNode.hpa.minReplicas", "2")
        .set("queryNode.replicas", "-1")
        .run();
    wait_scaled(&ns, "chart", "querynode", 2);
    let mark = audit::mark();
    let by_hand = run_plugin(helm, &ns, &upgrade_args("byhand", "2.5.0"));
    by_hand.assert_code(0);
    // The Helm sync would scale the proxy back to the values' 1: left to the user.
    by_hand.assert_stderr_has(&["HorizontalPodAutoscaler byhand-proxy keeps 3"]);
    let chart = run_plugin(helm, &ns, &upgrade_args("chart", "2.6.15"));
    chart.assert_code(0);
    chart.assert_stderr_has(&["helm release now says image.all.tag=v2.6.15"]);
    assert_eq!(
        support::scale_writes(&mark, ns.name()),
        Vec::<String>::new()
    );
    assert_eq!(
        support::hpa_spec(ns.name(), "byhand-proxy"),
        (Some(3), 4, "byhand-milvus-proxy".into())
    );
    assert_eq!(
        support::hpa_spec(ns.name(), "chart-milvus-querynode-hpa"),
        (Some(2), 5, "chart-milvus-querynode".into())
    );
    assert_eq!(replicas_of(&ns, "byhand-milvus-proxy"), Some(3));
    assert_eq!(replicas_of(&ns, "chart-milvus-querynode"), Some(2));
    // The plugin never writes an HPA (Helm 4's sync re-applies the chart's own, unchanged).
    let plugin = mark.events().in_namespace(ns.name()).writes();
    let plugin = plugin.by_user_agent(support::PLUGIN_USER_AGENT);
    let hpa_writes = plugin.filter(|e| e.resource == "horizontalpodautoscalers");
    assert!(hpa_writes.is_empty(), "{:?}", hpa_writes.0);
}

#[test]
fn rolling_leaves_the_hpa_its_replicas_helm3() {
    rolling_leaves_the_hpa_its_replicas(Helm::V3);
}

#[test]
fn rolling_leaves_the_hpa_its_replicas_helm4() {
    rolling_leaves_the_hpa_its_replicas(Helm::V4);
}
