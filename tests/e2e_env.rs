//! End-to-end checks of the test environment itself: real Helm 3 and Helm 4 install
//! Milvus-shaped charts of every layout, the node stand-in makes pods (not) ready, the
//! audit log records who did what, and RBAC holds for the viewer.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, PersistentVolumeClaim, Pod};
use kube::Api;
use serde_json::{json, Value};
use support::repos::MILVUS_TWICE_AND_BITNAMI;
use support::{
    audit, block_on, client, deployment_complete, fullname, fullname_with, Helm, Install, TestNs,
    User, TIMEOUT, WITH_BITNAMI,
};

/// A release to install: chart version, release name, default image tag, components.
struct Layout {
    chart: &'static str,
    release: &'static str,
    tag: &'static str,
    components: &'static [&'static str],
}

const LAYOUTS: [Layout; 3] = [
    Layout {
        chart: "4.0.13", // appVersion 2.2.3 but runs v2.2.5, like the real chart
        release: "sep",
        tag: "v2.2.5",
        components: &[
            "rootcoord",
            "datacoord",
            "querycoord",
            "indexcoord",
            "querynode",
            "datanode",
            "indexnode",
            "proxy",
        ],
    },
    Layout {
        chart: "4.2.8",
        release: "mix-milvus",
        tag: "v2.4.9",
        components: &["mixcoord", "querynode", "datanode", "indexnode", "proxy"],
    },
    Layout {
        chart: "5.0.19",
        release: "stream",
        tag: "v2.6.15",
        components: &[
            "mixcoord",
            "streamingnode",
            "querynode",
            "datanode",
            "proxy",
        ],
    },
];

fn installs_every_layout(helm: Helm) {
    let ns = TestNs::new(&format!("env-{}", helm.name()));
    let mark = audit::mark();
    for l in LAYOUTS {
        support::install_release(helm, &ns, l.release, l.chart, &[]);
        let images = support::release_images(ns.name(), l.release);
        let mut want: Vec<String> = l
            .components
            .iter()
            .map(|c| format!("{}-{c}", fullname(l.release)))
            .collect();
        want.sort();
        assert_eq!(
            images.keys().cloned().collect::<Vec<_>>(),
            want,
            "{}: deployments",
            l.chart
        );
        let image = format!("milvusdb/milvus:{}", l.tag);
        assert!(
            images.values().all(|i| *i == image),
            "{}: {images:?}",
            l.chart
        );
        assert_helm_created(helm, &mark, &ns, &want);
        assert_applied_by_helm(helm, ns.name(), &want[0]);
    }
}

/// Helm's managed fields on the object: `Apply` for Helm 4 (server-side apply, its
/// default), `Update` for Helm 3; field manager "helm" either way.
fn assert_applied_by_helm(helm: Helm, ns: &str, deployment: &str) {
    let api: Api<Deployment> = Api::namespaced(client(User::Admin), ns);
    let name = deployment.to_string();
    let d = block_on(async move { api.get(&name).await }).unwrap();
    let helm_ops: Vec<String> = d
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.manager.as_deref() == Some("helm"))
        .filter_map(|m| m.operation)
        .collect();
    let want = match helm {
        Helm::V3 => "Update",
        Helm::V4 => "Apply",
    };
    assert_eq!(helm_ops, vec![want.to_string()], "{deployment}");
}

/// The verb of helm's creates: Helm 3 creates, Helm 4 applies server-side (a patch that
/// answers 201 Created).
fn create_verb(helm: Helm) -> &'static str {
    match helm {
        Helm::V3 => "create",
        Helm::V4 => "patch",
    }
}

/// The audit log shows helm (user agent `Helm/...`, user admin) creating each Deployment.
fn assert_helm_created(helm: Helm, mark: &audit::Mark, ns: &TestNs, names: &[String]) {
    let created = |events: &audit::Events| {
        events
            .clone()
            .in_namespace(ns.name())
            .resource("deployments")
            .verb(create_verb(helm))
            .filter(|e| e.code == Some(201))
    };
    let events = mark.wait_for(Duration::from_secs(10), |events| {
        let creates = created(events);
        names.iter().all(|n| creates.iter().any(|e| &e.name == n))
    });
    for e in created(&events).iter() {
        assert!(
            e.user_agent.starts_with("Helm/"),
            "user agent {:?}",
            e.user_agent
        );
        assert_eq!(e.user, "admin");
    }
}

#[test]
fn helm3_installs_every_layout() {
    installs_every_layout(Helm::V3);
}

#[test]
fn helm4_installs_every_layout() {
    installs_every_layout(Helm::V4);
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }))
    .unwrap()
}

fn create<K: support::NamespacedObject>(user: User, ns: &str, obj: K) -> kube::Result<K> {
    support::create(user, ns, &obj)
}

#[test]
fn viewer_cannot_create_deployments() {
    let ns = TestNs::new("env-viewer");
    let mark = audit::mark();
    match create(
        User::Viewer,
        ns.name(),
        deployment("x", "milvusdb/milvus:v2.4.9"),
    ) {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("viewer created a deployment: {other:?}"),
    }
    let denied = mark.wait_for(Duration::from_secs(10), |e| {
        !e.clone().by_user("viewer").is_empty()
    });
    let denied = denied.by_user("viewer").writes();
    assert_eq!(
        denied.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![Some(403)]
    );
    // ... while reading is allowed
    let api: Api<Deployment> = Api::namespaced(client(User::Viewer), ns.name());
    block_on(async move { api.list(&Default::default()).await }).expect("viewer can list");
}

fn crash_looping(s: &ContainerStatus) -> bool {
    let waiting = s.state.as_ref().and_then(|st| st.waiting.as_ref());
    waiting.and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff")
}

#[test]
fn node_standin_broken_image_never_becomes_available() {
    let ns = TestNs::new("env-broken");
    create(
        User::Admin,
        ns.name(),
        deployment("broken", "milvusdb/milvus:v2.4.9-broken"),
    )
    .unwrap();
    create(
        User::Admin,
        ns.name(),
        deployment("good", "milvusdb/milvus:v2.4.9"),
    )
    .unwrap();
    support::wait_deployments(ns.name(), "app=good", TIMEOUT, |d| {
        d.values().all(deployment_complete)
    });
    let pods = support::wait_pods(ns.name(), "app=broken", TIMEOUT, |pods| {
        let statuses = pods.values().flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        });
        statuses.clone().count() > 0 && statuses.into_iter().all(crash_looping)
    });
    let pod = pods.values().next().unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let broken = support::wait_deployments(ns.name(), "app=broken", TIMEOUT, |_| true);
    assert!(
        !deployment_complete(&broken["broken"]),
        "{:?}",
        broken["broken"].status
    );
}

fn bare_pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]},
    }))
    .unwrap()
}

fn exit_code(pod: &Pod) -> Option<i32> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    Some(
        statuses
            .first()?
            .state
            .as_ref()?
            .terminated
            .as_ref()?
            .exit_code,
    )
}

#[test]
fn node_standin_bare_pods_succeed_or_fail() {
    let ns = TestNs::new("env-pods");
    create(
        User::Admin,
        ns.name(),
        bare_pod("ok", "milvusdb/meta-migration:v2.2.0"),
    )
    .unwrap();
    create(
        User::Admin,
        ns.name(),
        bare_pod("bad", "milvusdb/meta-migration:v2.2.0-fail"),
    )
    .unwrap();
    let finished = |p: &Pod| {
        matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
    };
    let ok = support::wait_pod(ns.name(), "ok", TIMEOUT, finished);
    let bad = support::wait_pod(ns.name(), "bad", TIMEOUT, finished);
    assert_eq!(
        ok.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(exit_code(&ok), Some(0));
    assert_eq!(
        bad.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    assert_eq!(exit_code(&bad), Some(1));
}

#[test]
fn reuse_values_breaks_on_new_chart_keys_like_the_real_chart() {
    let helm = Helm::V3;
    let ns = TestNs::new("env-reuse");
    support::install_release(helm, &ns, "reuse", "4.0.9", &[]);
    let upgrade = |flag: &str| {
        let args = [
            "upgrade",
            "reuse",
            "zilliztech/milvus",
            "--version",
            "4.2.8",
            flag,
        ];
        support::helm_cmd(helm, &ns, &args)
            .output()
            .expect("helm upgrade")
    };
    let reuse = upgrade("--reuse-values");
    let stderr = String::from_utf8_lossy(&reuse.stderr);
    assert!(
        !reuse.status.success() && stderr.contains("nil pointer"),
        "{stderr}"
    );
    let reset = upgrade("--reset-then-reuse-values");
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let all = support::wait_release_available(ns.name(), "reuse", TIMEOUT);
    assert!(
        all.contains_key("reuse-milvus-mixcoord") && !all.contains_key("reuse-milvus-rootcoord")
    );
}

#[test]
fn old_repository_holds_only_charts_up_to_4_0_31() {
    let ns = TestNs::new("env-repos");
    for helm in Helm::ALL {
        let versions = |repo: &str| -> Vec<String> {
            search(helm, &ns, repo)
                .into_iter()
                .map(|(_, v, _)| v)
                .collect()
        };
        let old = versions("milvus/milvus");
        let new = versions("zilliztech/milvus");
        assert!(
            old.contains(&"4.0.31".to_string()) && !old.contains(&"4.0.34".to_string()),
            "{old:?}"
        );
        assert!(
            new.contains(&"5.0.19".to_string()) && new.len() > old.len(),
            "{new:?}"
        );
    }
}

#[test]
fn helm4_can_still_be_asked_to_apply_client_side() {
    let ns = TestNs::new("env-csa");
    Install::new(Helm::V4, &ns, "csa", "4.2.8")
        .client_side_apply()
        .run();
    assert_applied_by_helm(Helm::V3, ns.name(), "csa-milvus-proxy");
}

fn pvc(name: &str, class: Option<&str>) -> PersistentVolumeClaim {
    let mut spec =
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
    if let Some(class) = class {
        spec["storageClassName"] = json!(class);
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn names<K>(api: Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    block_on(async move { api.list(&Default::default()).await })
        .unwrap()
        .items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect()
}

#[test]
fn resource_quota_refuses_objects_and_dry_runs_without_creating_them() {
    let ns = TestNs::new("env-quota");
    support::create_resource_quota(
        ns.name(),
        "no-volumes",
        &[("persistentvolumeclaims", "0"), ("pods", "1")],
    );
    let mark = audit::mark();
    // A dry run is refused exactly like the real create, and stores nothing.
    let dry = api_error(support::dry_run_create(
        User::Admin,
        ns.name(),
        &pvc("backup", None),
    ));
    assert_eq!(dry.code, 403, "{dry:?}");
    assert!(
        dry.message.contains("exceeded quota: no-volumes"),
        "{}",
        dry.message
    );
    let real = api_error(create(User::Admin, ns.name(), pvc("backup", None)));
    assert_eq!(
        (real.code, real.message.clone()),
        (dry.code, dry.message.clone())
    );
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client(User::Admin), ns.name());
    assert!(names(pvcs).is_empty());
    let refused = mark.wait_for(Duration::from_secs(10), |e| {
        e.clone()
            .in_namespace(ns.name())
            .resource("persistentvolumeclaims")
            .writes()
            .len()
            == 2
    });
    let refused = refused
        .in_namespace(ns.name())
        .resource("persistentvolumeclaims")
        .writes();
    assert!(refused
        .iter()
        .all(|e| e.verb == "create" && e.code == Some(403)));
    assert_eq!(
        refused
            .iter()
            .filter(|e| e.request_uri.contains("dryRun=All"))
            .count(),
        1,
        "{refused:#?}"
    );
    // Pods: one fits, a second is refused, dry run or not.
    create(
        User::Admin,
        ns.name(),
        bare_pod("one", "milvusdb/milvus:v2.4.9"),
    )
    .unwrap();
    let dry = api_error(support::dry_run_create(
        User::Admin,
        ns.name(),
        &bare_pod("two", "milvusdb/milvus:v2.4.9"),
    ));
    assert!(
        dry.code == 403 && dry.message.contains("exceeded quota"),
        "{dry:?}"
    );
    let pods: Api<Pod> = Api::namespaced(client(User::Admin), ns.name());
    assert_eq!(names(pods), vec!["one".to_string()]);
}

#[test]
fn limit_range_refuses_a_pod_over_its_max() {
    let ns = TestNs::new("env-limits");
    support::create_limit_range(
        ns.name(),
        "small",
        json!([{"type": "Container", "max": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"},
            "default": {"cpu": "200m"}}]),
    );
    let mut big = bare_pod("big", "milvusdb/meta-migration:v2.2.0");
    big.spec.as_mut().unwrap().containers[0].resources =
        Some(serde_json::from_value(json!({"limits": {"cpu": "2"}})).unwrap());
    let refused = api_error(support::dry_run_create(User::Admin, ns.name(), &big));
    assert!(
        refused.code == 403
            && refused
                .message
                .contains("maximum cpu usage per Container is 500m"),
        "{refused:?}"
    );
    // Without resources a pod gets the LimitRange's defaults.
    let small = support::dry_run_create(
        User::Admin,
        ns.name(),
        &bare_pod("small", "milvusdb/meta-migration:v2.2.0"),
    )
    .unwrap();
    let resources = serde_json::to_value(&small.spec.unwrap().containers[0].resources).unwrap();
    assert_eq!(resources["limits"]["cpu"], "200m", "{resources}");
    assert_eq!(resources["requests"]["cpu"], "100m", "{resources}");
}

#[test]
fn storage_classes_default_test_own_and_none() {
    let ns = TestNs::new("env-storage");
    let class_of = |claim: PersistentVolumeClaim| {
        let made = support::dry_run_create(User::Admin, ns.name(), &claim).unwrap();
        made.spec.unwrap().storage_class_name
    };
    let default = support::default_storage_class();
    assert_eq!(class_of(pvc("a", None)).as_deref(), Some(default));
    let own = support::TestStorageClass::new("env-fast");
    assert_eq!(
        class_of(pvc("b", Some(own.name()))).as_deref(),
        Some(own.name())
    );
    let none = support::without_default_storage_class(|| class_of(pvc("c", None)));
    assert_eq!(none, None);
    assert_eq!(class_of(pvc("d", None)).as_deref(), Some(default));
}

#[test]
fn helm4_installs_flavoured_images_from_a_mirror_with_overrides() {
    let helm = Helm::V4;
    let ns = TestNs::new("env-flavour");
    let image = "registry.example.com/milvusdb/milvus";
    Install::new(helm, &ns, "gpu", "4.2.8")
        .set("image.all.repository", image)
        .set("image.all.tag", "v2.4.9-gpu")
        .set("nameOverride", "vdb")
        .set("queryNode.resources.limits.cpu", "2")
        .set("queryNode.resources.requests.memory", "1Gi")
        .run();
    let images = support::release_images(ns.name(), "gpu");
    let full = fullname_with("gpu", "vdb", "");
    assert_eq!(full, "gpu-vdb");
    assert!(
        images.contains_key(&format!("{full}-querynode")),
        "{images:?}"
    );
    let want = format!("{image}:v2.4.9-gpu");
    assert!(images.values().all(|i| *i == want), "{images:?}");
    let deployments = support::release_deployments(ns.name(), "gpu");
    let qn = &deployments[&format!("{full}-querynode")];
    assert_eq!(
        qn.metadata.labels.as_ref().unwrap()["app.kubernetes.io/name"],
        "vdb"
    );
    let resources =
        serde_json::to_value(&qn.spec.template.spec.as_ref().unwrap().containers[0].resources)
            .unwrap();
    assert_eq!(
        resources,
        json!({"limits": {"cpu": "2"}, "requests": {"memory": "1Gi"}})
    );
    let cms: Api<ConfigMap> = Api::namespaced(client(User::Admin), ns.name());
    assert!(names(cms).contains(&full));

    Install::new(helm, &ns, "other", "4.2.8")
        .set("fullnameOverride", "my-db")
        .run();
    let images = support::release_images(ns.name(), "other");
    assert_eq!(fullname_with("other", "", "my-db"), "my-db");
    assert!(images.contains_key("my-db-proxy"), "{images:?}");
}

#[test]
fn chart_hpa_and_the_hpa_controller_own_querynode_replicas() {
    let helm = Helm::V4;
    let ns = TestNs::new("env-hpa");
    // The chart's HPA (4.2.58 has hpa values), replicas left out as the chart advises.
    Install::new(helm, &ns, "auto", "4.2.58")
        .set("queryNode.hpa.enabled", "true")
        .set("queryNode.hpa.minReplicas", "2")
        .set("queryNode.replicas", "-1")
        .run();
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client(User::Admin), ns.name());
    assert_eq!(names(hpas), vec!["auto-milvus-querynode-hpa".to_string()]);
    support::wait_deployments(ns.name(), "component=querynode", TIMEOUT, |d| {
        d.values().any(|d| d.spec.replicas == Some(2)) && d.values().all(deployment_complete)
    });
    // An HPA made by hand (kubectl autoscale) for a chart without hpa values.
    support::install_release(helm, &ns, "manual", "4.2.8", &[]);
    support::create_hpa(ns.name(), "proxy", "manual-milvus-proxy", 3, 4);
    support::wait_deployments(
        ns.name(),
        "app.kubernetes.io/instance=manual,component=proxy",
        TIMEOUT,
        |d| d.values().any(|d| d.spec.replicas == Some(3)) && d.values().all(deployment_complete),
    );
}

/// `helm search repo QUERY --versions` rows: (name, version, app_version).
fn search(helm: Helm, ns: &TestNs, query: &str) -> Vec<(String, String, String)> {
    let args = ["search", "repo", query, "--versions", "-o", "json"];
    let rows: Vec<Value> = support::helm_json(helm, ns, &args);
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("version"), s("app_version"))
        })
        .collect()
}

/// The chart metadata in a helm home's cached index of repository `repo`.
fn cached_index(helm: Helm, ns: &TestNs, repo: &str) -> String {
    let path = ns
        .helm_home(helm)
        .join(format!("cache/repository/{repo}-index.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn bitnami_and_mirror_repositories_are_opt_in() {
    for helm in Helm::ALL {
        let ns = TestNs::new(&format!("env-bitnami-{}", helm.name()));
        let repos = |rows: &[(String, String, String)]| {
            let mut r: Vec<String> = rows.iter().map(|(n, _, _)| n.clone()).collect();
            r.dedup();
            r
        };
        assert_eq!(
            repos(&search(helm, &ns, "milvus")),
            ["milvus/milvus", "zilliztech/milvus"]
        );
        ns.set_repos(helm, &WITH_BITNAMI);
        let rows = search(helm, &ns, "milvus");
        assert_eq!(
            repos(&rows),
            ["bitnami/milvus", "milvus/milvus", "zilliztech/milvus"]
        );
        // Both carry app version 2.5.16; the other vendor's chart version is higher.
        let for_app = |app: &str| -> Vec<(String, String)> {
            rows.iter()
                .filter(|(_, _, a)| a == app)
                .map(|(n, v, _)| (n.clone(), v.clone()))
                .collect()
        };
        let both = for_app("2.5.16");
        assert!(
            both.contains(&("bitnami/milvus".into(), "15.0.9".into())),
            "{both:?}"
        );
        assert!(
            both.contains(&("zilliztech/milvus".into(), "4.2.58".into())),
            "{both:?}"
        );
        let bitnami = cached_index(helm, &ns, "bitnami");
        assert!(bitnami.contains("home: https://bitnami.com"), "{bitnami}");
        assert!(bitnami.contains("https://github.com/bitnami/charts/tree/main/bitnami/milvus"));
        assert!(bitnami.contains("name: Broadcom, Inc. All Rights Reserved."));
        let milvus = cached_index(helm, &ns, "zilliztech");
        assert!(milvus.contains("home: https://milvus.io/"));
        assert!(milvus.contains("https://github.com/zilliztech/milvus"));
        assert!(milvus.contains("email: contact@milvus.io"));
        // The Milvus docs' setup: the chart as `milvus` too (a mirror here).
        ns.set_repos(helm, &MILVUS_TWICE_AND_BITNAMI);
        let rows = search(helm, &ns, "milvus");
        let mirrored = rows
            .iter()
            .filter(|(n, v, _)| n == "milvus/milvus" && v == "5.0.19");
        assert_eq!(mirrored.count(), 1, "{rows:?}");
    }
}

#[test]
fn the_other_vendors_chart_installs_and_runs() {
    let ns = TestNs::new("env-bitnami-install");
    let helm = Helm::V4;
    ns.set_repos(helm, &WITH_BITNAMI);
    Install::new(helm, &ns, "vendor", "16.1.0")
        .chart("bitnami/milvus")
        .run();
    let images = support::release_images(ns.name(), "vendor");
    assert!(
        images.contains_key("vendor-milvus-coordinator"),
        "{images:?}"
    );
    assert!(
        images
            .values()
            .all(|i| i == "docker.io/bitnami/milvus:2.6.3-debian-12-r0"),
        "{images:?}"
    );
    let deployments = support::release_deployments(ns.name(), "vendor");
    let labels = deployments["vendor-milvus-proxy"]
        .metadata
        .labels
        .clone()
        .unwrap();
    assert_eq!(labels["app.kubernetes.io/name"], "milvus");
    assert_eq!(labels["app.kubernetes.io/component"], "proxy");
    assert!(!labels.contains_key("component"), "{labels:?}");
}
