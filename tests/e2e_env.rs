//! End-to-end checks of the test environment itself: real Helm 3 and Helm 4 install
//! Milvus-shaped charts of every layout, the node stand-in makes pods (not) ready, the
//! audit log records who did what, and RBAC holds for the viewer.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;
use support::{
    audit, block_on, client, deployment_complete, fullname, Helm, TestNs, User, TIMEOUT,
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
        assert_helm_created(&mark, &ns, &want);
    }
}

/// The audit log shows helm (user agent `Helm/...`, user admin) creating each Deployment.
fn assert_helm_created(mark: &audit::Mark, ns: &TestNs, names: &[String]) {
    let events = mark.wait_for(Duration::from_secs(10), |events| {
        let creates = events
            .clone()
            .in_namespace(ns.name())
            .resource("deployments")
            .verb("create");
        names.iter().all(|n| creates.iter().any(|e| &e.name == n))
    });
    let creates = events
        .in_namespace(ns.name())
        .resource("deployments")
        .verb("create");
    for e in creates.iter() {
        assert!(
            e.user_agent.starts_with("Helm/"),
            "user agent {:?}",
            e.user_agent
        );
        assert_eq!(e.user, "admin");
        assert_eq!(e.code, Some(201));
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

fn create<K>(user: User, ns: &str, obj: K) -> kube::Result<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client(user), ns);
    block_on(async move { api.create(&PostParams::default(), &obj).await })
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
        let search = |repo: &str| {
            let args = ["search", "repo", repo, "--versions", "-o", "json"];
            let out = support::helm_cmd(helm, &ns, &args)
                .output()
                .expect("helm search");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
            list.iter()
                .map(|e| e["version"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let old = search("milvus/milvus");
        let new = search("zilliztech/milvus");
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
