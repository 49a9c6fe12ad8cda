//! Waiting for Deployments with `kubectl rollout status` semantics, on a watch
//! (reconnecting on errors), never by polling.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::Notify;

use crate::exec::deadline::{Clock, Expired};
use crate::exec::events::Events;
use crate::planner::facts::Rollout;
use crate::world::cluster::rollout;

/// Ctrl-C (SIGINT) or SIGTERM (CI runners, `timeout`, Kubernetes Jobs): stop
/// between steps, never in the middle of a write.
#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    pub fn on_signals() -> Self {
        let interrupt = Interrupt::default();
        let me = interrupt.clone();
        tokio::spawn(async move {
            if signalled().await {
                me.set();
            }
        });
        interrupt
    }

    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub async fn wait(&self) {
        while !self.is_set() {
            self.notify.notified().await;
        }
    }
}

/// The first SIGINT or SIGTERM; false if neither can be listened to.
#[cfg(unix)]
async fn signalled() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return tokio::signal::ctrl_c().await.is_ok();
    };
    tokio::select! {
        c = tokio::signal::ctrl_c() => c.is_ok(),
        t = term.recv() => t.is_some(),
    }
}

#[cfg(not(unix))]
async fn signalled() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}

#[derive(Debug)]
pub enum WaitError {
    /// No progress for the progress deadline, or the run's total passed; the
    /// last rollout seen.
    Expired(Expired, Rollout),
    /// `ProgressDeadlineExceeded` on the Progressing condition.
    DeadlineExceeded(Rollout),
    /// A release's Deployments did not form the layout: what was still awaited.
    Layout(Expired, String),
    /// The watch failed until the deadline: the API server, not the rollout.
    Unreachable(String),
    Interrupted,
    Gone,
}

impl WaitError {
    /// Why the wait ended, for a message: the Deployment's own words where it has them.
    pub fn describe(&self) -> String {
        match self {
            WaitError::Expired(why, r) => format!(
                "not rolled out: {why} ({}/{} updated and available)",
                r.available.min(r.updated),
                r.desired
            ),
            WaitError::DeadlineExceeded(r) => format!(
                "progress deadline exceeded ({}/{} available)",
                r.available, r.desired
            ),
            WaitError::Layout(why, awaited) => format!("{why}: {awaited}"),
            WaitError::Unreachable(e) => format!("the Kubernetes API did not answer: {e}"),
            WaitError::Interrupted => "interrupted".into(),
            WaitError::Gone => "the Deployment disappeared".into(),
        }
    }
}

/// Waits until the Deployment's rollout is complete at `generation` or later.
///
/// Our own watch loop rather than kube-runtime's `wait::await_condition` with
/// `conditions::is_deployment_completed`: that condition reads only the
/// `NewReplicaSetAvailable` reason, which right after a patch is still left over
/// from the previous rollout, and `await_condition` cannot report each step's
/// progress, fail on `ProgressDeadlineExceeded` or stop on Ctrl-C. Completion here
/// is `kubectl rollout status`'s: generations compared, updated = available = replicas.
/// Any change of the rollout's counts or observed generation is progress.
pub async fn wait_complete(
    client: &Client,
    namespace: &str,
    name: &str,
    generation: i64,
    clock: &Clock,
    events: &dyn Events,
    interrupt: &Interrupt,
) -> Result<Rollout, WaitError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut last = Rollout::default();
    let mut stall = clock.watch::<Rollout>();
    let mut failing: Option<String> = None;
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next,
            why = stall.expired() => return Err(match failing {
                Some(e) => WaitError::Unreachable(e),
                None => WaitError::Expired(why, last),
            }),
            _ = interrupt.wait() => return Err(WaitError::Interrupted),
        };
        let deployment = match next {
            Ok(Some(deployment)) => deployment,
            Ok(None) => return Err(WaitError::Gone),
            Err(e) => {
                failing = Some(e.to_string());
                continue;
            }
        };
        failing = None;
        last = rollout(&deployment);
        stall.observe(last.clone());
        events.rollout(name, &last);
        if last.observed_generation >= generation && last.is_complete() {
            return Ok(last);
        }
        if last.observed_generation >= generation && last.deadline_exceeded {
            return Err(WaitError::DeadlineExceeded(last));
        }
    }
}

/// Why the Deployment's pods are not ready: waiting reasons and messages.
pub async fn pod_messages(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
) -> Vec<String> {
    let Some(labels) = deployment.spec.selector.match_labels.clone() else {
        return Vec::new();
    };
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(pods) = api
        .list(&ListParams::default().labels(&selector.join(",")))
        .await
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pod in pods.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for status in pod
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default()
        {
            if let Some(waiting) = status.state.and_then(|s| s.waiting) {
                let reason = waiting.reason.unwrap_or_default();
                out.push(
                    format!(
                        "pod {name} ({}): {reason} {}",
                        status.image,
                        waiting.message.unwrap_or_default()
                    )
                    .trim()
                    .to_string(),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out.truncate(5);
    out
}
