//! Waiting on evidence from the cluster: watches, never fixed sleeps.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde::de::DeserializeOwned;

use super::{block_on, client, User};

/// Rollout complete, as `kubectl rollout status`: observed generation caught up, all
/// replicas updated and available, no old replicas left.
pub fn deployment_complete(d: &Deployment) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let want = d.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    d.metadata.generation <= status.observed_generation
        && updated == want
        && status.replicas.unwrap_or(0) == updated
        && status.available_replicas.unwrap_or(0) == updated
}

/// Label selector of a release's Milvus-chart Deployments.
pub fn release_selector(release: &str) -> String {
    format!("app.kubernetes.io/instance={release}")
}

/// Watches the objects `api` + `config` select until `done` holds for the current set
/// (keyed by name); returns that set. Panics after `timeout`, describing the last state.
pub(super) fn wait_objects<K, F>(
    api: Api<K>,
    config: watcher::Config,
    timeout: Duration,
    done: F,
    summary: fn(&K) -> String,
) -> BTreeMap<String, K>
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    F: Fn(&BTreeMap<String, K>) -> bool + Send + Sync + 'static,
{
    block_on(async move {
        let mut seen = BTreeMap::new();
        let mut stream = watcher(api, config).default_backoff().boxed();
        let watch = async {
            // Errors are retried (with backoff) by the watcher itself.
            while let Some(event) = stream.next().await {
                if event.is_ok_and(|e| apply_event(&mut seen, e)) && done(&seen) {
                    return;
                }
            }
        };
        if tokio::time::timeout(timeout, watch).await.is_err() {
            let state: Vec<String> = seen.values().map(summary).collect();
            panic!(
                "timed out after {timeout:?}; last state: {}",
                state.join(", ")
            );
        }
        seen
    })
}

/// Watches the Deployments matching label `selector` in `ns` until `done` holds.
pub fn wait_deployments<F>(
    ns: &str,
    selector: &str,
    timeout: Duration,
    done: F,
) -> BTreeMap<String, Deployment>
where
    F: Fn(&BTreeMap<String, Deployment>) -> bool + Send + Sync + 'static,
{
    let api = Api::namespaced(client(User::Admin), ns);
    wait_objects(
        api,
        watcher::Config::default().labels(selector),
        timeout,
        done,
        describe_deployment,
    )
}

/// Watches the Pods matching label `selector` in `ns` until `done` holds.
pub fn wait_pods<F>(ns: &str, selector: &str, timeout: Duration, done: F) -> BTreeMap<String, Pod>
where
    F: Fn(&BTreeMap<String, Pod>) -> bool + Send + Sync + 'static,
{
    let api = Api::namespaced(client(User::Admin), ns);
    wait_objects(
        api,
        watcher::Config::default().labels(selector),
        timeout,
        done,
        describe_pod,
    )
}

/// Watches pod `name` in `ns` until `done(pod)`; returns it.
pub fn wait_pod<F>(ns: &str, name: &str, timeout: Duration, done: F) -> Pod
where
    F: Fn(&Pod) -> bool + Send + Sync + 'static,
{
    let api = Api::namespaced(client(User::Admin), ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut pods = wait_objects(
        api,
        config,
        timeout,
        move |pods| pods.values().any(&done),
        describe_pod,
    );
    pods.remove(name).expect("the pod")
}

/// Applies a watcher event to `seen`; true when `seen` is a consistent (listed) view.
fn apply_event<K: ResourceExt>(seen: &mut BTreeMap<String, K>, event: watcher::Event<K>) -> bool {
    match event {
        watcher::Event::Init => {
            seen.clear();
            false
        }
        watcher::Event::InitApply(o) => {
            seen.insert(o.name_any(), o);
            false
        }
        watcher::Event::InitDone => true,
        watcher::Event::Apply(o) => {
            seen.insert(o.name_any(), o);
            true
        }
        watcher::Event::Delete(o) => {
            seen.remove(&o.name_any());
            true
        }
    }
}

fn describe_deployment(d: &Deployment) -> String {
    let s = d.status.clone().unwrap_or_default();
    let want = d.spec.replicas;
    format!(
        "{} (available {:?}/{want:?}, updated {:?}, generation {:?}/{:?})",
        d.name_any(),
        s.available_replicas,
        s.updated_replicas,
        d.metadata.generation,
        s.observed_generation
    )
}

fn describe_pod(p: &Pod) -> String {
    let phase = p.status.as_ref().and_then(|s| s.phase.clone());
    format!("{} ({phase:?})", p.name_any())
}

/// Waits until the release has Deployments and every one of them is available.
pub fn wait_release_available(
    ns: &str,
    release: &str,
    timeout: Duration,
) -> BTreeMap<String, Deployment> {
    wait_deployments(ns, &release_selector(release), timeout, |all| {
        !all.is_empty() && all.values().all(deployment_complete)
    })
}

/// The release's Deployments now.
pub fn release_deployments(ns: &str, release: &str) -> BTreeMap<String, Deployment> {
    wait_deployments(
        ns,
        &release_selector(release),
        Duration::from_secs(30),
        |_| true,
    )
}

/// Image of the first (Milvus) container of a Deployment's pod template.
pub fn first_image(d: &Deployment) -> Option<String> {
    let spec = d.spec.template.spec.as_ref()?;
    spec.containers.first()?.image.clone()
}

/// The release's Deployments now, as name → first container image.
pub fn release_images(ns: &str, release: &str) -> BTreeMap<String, String> {
    release_deployments(ns, release)
        .into_iter()
        .map(|(name, d)| (name, first_image(&d).unwrap_or_default()))
        .collect()
}
