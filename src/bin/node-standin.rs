//! node-standin: a kubelet stand-in for test clusters that run no containers.
//!
//! It watches every pod and writes the status a kubelet would write, through the
//! `pods/status` subresource, after a configurable delay:
//! - normal pods become `Running` and Ready;
//! - a container whose image name or tag contains `broken` (or a pod annotated
//!   `node-standin/broken: "true"`) stays not ready, waiting in `CrashLoopBackOff`;
//!   the registry and path do not count: `registry.example.com/milvusdb/milvus:v2.4.9-gpu`
//!   is a good image like any other flavour or mirror;
//! - pods with `restartPolicy: Never` end `Succeeded`, or `Failed` when an image tag
//!   contains `fail` (or the pod is annotated `node-standin/fail: "true"`);
//!   `OnFailure` pods (Jobs) end `Succeeded`, or crash-loop when marked to fail;
//! - pods being deleted are deleted with grace period 0 (there is no kubelet to confirm).

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

const USER_AGENT: &str = "node-standin";
const BROKEN_ANNOTATION: &str = "node-standin/broken";
const FAIL_ANNOTATION: &str = "node-standin/fail";
const NODE_IP: &str = "127.0.0.1";

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Parser, Debug)]
#[command(about = "Kubelet stand-in: makes pods Running/Ready (or failing) via pods/status")]
struct Args {
    /// Kubeconfig file (default: KUBECONFIG or ~/.kube/config)
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Delay before a new pod gets its final status
    #[arg(long, env = "NODE_STANDIN_READY_DELAY_MS", default_value_t = 1000)]
    ready_delay_ms: u64,
    /// Maximum number of concurrent API writes
    #[arg(long, env = "NODE_STANDIN_CONCURRENCY", default_value_t = 16)]
    concurrency: usize,
}

/// What a pod should end up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ready,
    Broken,
    Succeeded,
    Failed,
}

impl Outcome {
    /// `restartPolicy: Never` runs to completion (Failed if marked to fail); `OnFailure`
    /// completes too, but a failing container is restarted forever (CrashLoopBackOff);
    /// `Always` (Deployments, StatefulSets) runs, ready unless marked broken.
    fn of(pod: &Pod) -> Self {
        let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
        let fail = marked(pod, FAIL_ANNOTATION, "fail");
        match (policy, fail) {
            (Some("Never"), true) => Outcome::Failed,
            (Some("Never" | "OnFailure"), false) => Outcome::Succeeded,
            (Some("OnFailure"), true) => Outcome::Broken,
            _ if marked(pod, BROKEN_ANNOTATION, "broken") => Outcome::Broken,
            _ => Outcome::Ready,
        }
    }

    fn phase(self) -> &'static str {
        match self {
            Outcome::Ready | Outcome::Broken => "Running",
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
        }
    }

    fn ready(self) -> bool {
        self == Outcome::Ready
    }
}

fn annotated(pod: &Pod, key: &str) -> bool {
    pod.annotations().get(key).map(String::as_str) == Some("true")
}

fn containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
}

/// The pod carries annotation `key: "true"` or a container image tag containing `word`.
fn marked(pod: &Pod, key: &str, word: &str) -> bool {
    annotated(pod, key) || containers(pod).iter().any(|c| tag_contains(c, word))
}

/// Whether this container of a Broken pod is one that crashes (all, if the pod is annotated).
fn crashing(pod: &Pod, c: &Container) -> bool {
    annotated(pod, BROKEN_ANNOTATION)
        || annotated(pod, FAIL_ANNOTATION)
        || tag_contains(c, "broken")
        || tag_contains(c, "fail")
}

/// The tag of an image reference (`repo:tag@digest` → `tag`), empty when there is none.
fn image_tag(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split_once(':').map(|(_, tag)| tag).unwrap_or("")
}

/// The image's name or tag (`milvus-broken:v2.5.0`, `milvus:v2.4.9-broken`) has `word`.
fn tag_contains(c: &Container, word: &str) -> bool {
    let image = c.image.as_deref().unwrap_or("");
    let name = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split(':')
        .next()
        .unwrap_or("");
    image_tag(image).contains(word) || name.contains(word)
}

fn now() -> Value {
    serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or(Value::Null)
}

fn condition(kind: &str, ok: bool, reason: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    json!({"type": kind, "status": status, "reason": reason, "lastTransitionTime": now()})
}

fn container_state(outcome: Outcome, crashing: bool, c: &Container) -> (Value, bool) {
    let started = now();
    match outcome {
        Outcome::Ready => (json!({"running": {"startedAt": started}}), true),
        Outcome::Broken if !crashing => (json!({"running": {"startedAt": started}}), true),
        Outcome::Broken => (
            json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off restarting failed container {} (node-standin: marked broken)", c.name)}}),
            false,
        ),
        Outcome::Succeeded => (terminated(0, "Completed", "", &started), false),
        Outcome::Failed => (
            terminated(1, "Error", "node-standin: marked to fail", &started),
            false,
        ),
    }
}

fn terminated(code: i32, reason: &str, message: &str, at: &Value) -> Value {
    json!({"terminated": {"exitCode": code, "reason": reason, "message": message,
        "startedAt": at, "finishedAt": at}})
}

fn container_status(outcome: Outcome, pod: &Pod, c: &Container) -> Value {
    let (state, container_ready) = container_state(outcome, crashing(pod, c), c);
    let image = c.image.clone().unwrap_or_default();
    json!({
        "name": c.name, "image": image, "imageID": format!("node-standin://{image}"),
        "ready": container_ready, "started": state.get("running").is_some(),
        "restartCount": if outcome == Outcome::Broken { 1 } else { 0 }, "state": state,
    })
}

/// The full status a kubelet would report for this pod and outcome.
fn desired_status(pod: &Pod, outcome: Outcome) -> Value {
    let ready = outcome.ready();
    let reason = match outcome {
        Outcome::Ready => "",
        Outcome::Broken => "ContainersNotReady",
        Outcome::Succeeded | Outcome::Failed => "PodCompleted",
    };
    json!({
        "phase": outcome.phase(),
        "hostIP": NODE_IP, "podIP": NODE_IP, "podIPs": [{"ip": NODE_IP}],
        "startTime": now(),
        "conditions": [
            condition("PodScheduled", true, ""), condition("Initialized", true, ""),
            condition("ContainersReady", ready, reason), condition("Ready", ready, reason),
        ],
        "containerStatuses": containers(pod).iter().map(|c| container_status(outcome, pod, c)).collect::<Vec<_>>(),
    })
}

/// The parts of a status that decide whether a patch is needed.
fn summary(status: &Value) -> (Value, Value, Vec<Value>) {
    let ready = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].clone())
        .unwrap_or(Value::Null);
    let images = status["containerStatuses"]
        .as_array()
        .map(|cs| cs.iter().map(|c| c["image"].clone()).collect())
        .unwrap_or_default();
    (status["phase"].clone(), ready, images)
}

fn needs_patch(pod: &Pod, desired: &Value) -> bool {
    let current = serde_json::to_value(&pod.status).unwrap_or(Value::Null);
    summary(&current) != summary(desired)
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// Shared state: the client, the write limiter, and the latest view of pods waiting
/// for their delayed status write (keyed by uid).
struct Standin {
    client: Client,
    delay: Duration,
    writes: Semaphore,
    pending: Mutex<HashMap<String, Pod>>,
}

impl Standin {
    fn pods(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default())
    }

    /// Handles one watch event for a pod that exists.
    fn observe(self: &Arc<Self>, pod: Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            let this = self.clone();
            tokio::spawn(async move { this.force_delete(pod).await });
            return;
        }
        let desired = desired_status(&pod, Outcome::of(&pod));
        if !needs_patch(&pod, &desired) {
            return;
        }
        self.schedule(pod);
    }

    /// Queues the pod's delayed status write (one timer per pod; later events only
    /// update the view the timer will use).
    fn schedule(self: &Arc<Self>, pod: Pod) {
        let uid = pod.uid().unwrap_or_default();
        let first = self
            .pending
            .lock()
            .unwrap()
            .insert(uid.clone(), pod)
            .is_none();
        if first {
            let this = self.clone();
            tokio::spawn(async move { this.settle(uid).await });
        }
    }

    fn forget(&self, pod: &Pod) {
        self.pending
            .lock()
            .unwrap()
            .remove(&pod.uid().unwrap_or_default());
    }

    /// After the delay, writes the final status of the latest view of the pod.
    async fn settle(self: Arc<Self>, uid: String) {
        tokio::time::sleep(self.delay).await;
        let Some(pod) = self.pending.lock().unwrap().remove(&uid) else {
            return; // deleted meanwhile
        };
        let outcome = Outcome::of(&pod);
        let patch = json!({"status": desired_status(&pod, outcome)});
        let _permit = self.writes.acquire().await;
        let result = self
            .pods(&pod)
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        match result {
            Ok(_) => eprintln!(
                "node-standin: {} -> {outcome:?} ({})",
                key(&pod),
                outcome.phase()
            ),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                eprintln!(
                    "node-standin: {}: status patch failed, retrying: {e}",
                    key(&pod)
                );
                self.schedule(pod);
            }
        }
    }

    async fn force_delete(self: Arc<Self>, pod: Pod) {
        self.forget(&pod);
        let _permit = self.writes.acquire().await;
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match self.pods(&pod).delete(&pod.name_any(), &params).await {
            Ok(_) => eprintln!("node-standin: {} -> deleted (grace 0)", key(&pod)),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => eprintln!("node-standin: {}: delete failed: {e}", key(&pod)),
        }
    }
}

async fn client(args: &Args) -> Result<Client, BoxError> {
    let options = KubeConfigOptions::default();
    let mut config = match &args.kubeconfig {
        Some(path) => {
            Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &options).await?
        }
        None => Config::infer().await?,
    };
    config
        .headers
        .push(("user-agent".parse()?, USER_AGENT.parse()?));
    Ok(Client::try_from(config)?)
}

async fn run(args: Args) -> Result<(), BoxError> {
    let standin = Arc::new(Standin {
        client: client(&args).await?,
        delay: Duration::from_millis(args.ready_delay_ms),
        writes: Semaphore::new(args.concurrency.max(1)),
        pending: Mutex::new(HashMap::new()),
    });
    let pods: Api<Pod> = Api::all(standin.client.clone());
    eprintln!(
        "node-standin: watching pods (ready delay {} ms)",
        args.ready_delay_ms
    );
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    // Watch errors (apiserver restart, expired resourceVersion) are retried with backoff
    // by the watcher, which re-lists: log them and keep going.
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => standin.observe(pod),
            Ok(watcher::Event::Delete(pod)) => standin.forget(&pod),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(e) => eprintln!("node-standin: watch error (retrying): {e}"),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    // Exactly one rustls crypto provider (ring) is compiled in, so rustls picks it
    // by itself; no install_default() needed.
    if let Err(e) = run(Args::parse()).await {
        eprintln!("node-standin: fatal: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(image: &str, restart: &str, annotations: &[(&str, &str)]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u",
                "annotations": annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>()},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("milvusdb/milvus:v2.4.9-broken"), "v2.4.9-broken");
        assert_eq!(image_tag("localhost:5000/milvus"), "");
        assert_eq!(image_tag("localhost:5000/milvus:v1@sha256:ab"), "v1");
        assert_eq!(image_tag("busybox"), "");
    }

    #[test]
    fn flavoured_and_mirrored_images_are_good() {
        for image in [
            "milvusdb/milvus:v2.4.9-gpu",
            "registry.example.com/milvusdb/milvus:v2.4.9-gpu",
            "registry.example.com:5000/milvusdb/milvus:v2.4.13-hotfix",
            "brokenregistry.example.com/failover/milvus:v2.5.16",
            "docker.io/bitnami/milvus:2.5.16-debian-12-r0",
            "milvusdb/milvus:v2.0.0-rc8-20211104-d1f4106",
        ] {
            assert_eq!(
                Outcome::of(&pod(image, "Always", &[])),
                Outcome::Ready,
                "{image}"
            );
        }
        assert_eq!(
            Outcome::of(&pod(
                "registry.example.com/milvusdb/milvus:v2.4.9-gpu-broken",
                "Always",
                &[]
            )),
            Outcome::Broken
        );
        assert_eq!(
            Outcome::of(&pod(
                "registry.example.com/milvusdb/meta-migration:v2.2.0-fail",
                "Never",
                &[]
            )),
            Outcome::Failed
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::of(&pod("m:v2.4.9", "Always", &[])), Outcome::Ready);
        assert_eq!(
            Outcome::of(&pod("m:v2.4.9-broken", "Always", &[])),
            Outcome::Broken
        );
        let broken = [(BROKEN_ANNOTATION, "true")];
        assert_eq!(
            Outcome::of(&pod("m:v1", "Always", &broken)),
            Outcome::Broken
        );
        assert_eq!(Outcome::of(&pod("m:v1", "Never", &[])), Outcome::Succeeded);
        assert_eq!(
            Outcome::of(&pod("m:v1-fail", "Never", &[])),
            Outcome::Failed
        );
        let fail = [(FAIL_ANNOTATION, "true")];
        assert_eq!(Outcome::of(&pod("m:v1", "Never", &fail)), Outcome::Failed);
        assert_eq!(
            Outcome::of(&pod("m:v1", "OnFailure", &[])),
            Outcome::Succeeded
        );
        assert_eq!(
            Outcome::of(&pod("m:v1-fail", "OnFailure", &[])),
            Outcome::Broken
        );
    }

    #[test]
    fn no_patch_once_settled() {
        let mut p = pod("m:v1", "Always", &[]);
        let desired = desired_status(&p, Outcome::Ready);
        assert!(needs_patch(&p, &desired));
        p.status = serde_json::from_value(desired.clone()).unwrap();
        assert!(!needs_patch(&p, &desired));
        assert!(desired["containerStatuses"][0]["state"]["running"].is_object());
    }
}
