//! Upgrade progress kept in the cluster (a ConfigMap per release), written
//! before each step that needs it, so a run can resume or roll back after a
//! crash: old images, replica counts, strategy and which steps are done.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::world::cluster::api_error;
use crate::world::gather::Context;

pub const FIELD_MANAGER: &str = "helm-milvus-upgrade";
pub const RELEASE_LABEL: &str = "milvus-upgrade.zilliz.io/release";
const KEY: &str = "progress.json";
pub const SCHEMA: &str = "helm-milvus-upgrade/progress/v1";

pub fn state_name(release: &str) -> String {
    format!("{release}-milvus-upgrade-state")
}

/// How far one Deployment got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentPhase {
    Pending,
    /// The patch was sent; its rollout may not be complete.
    Patched,
    Done,
    Restored,
}

/// What a Deployment was before the upgrade touched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub container: String,
    pub image: String,
    pub replicas: i32,
    pub strategy: String,
    pub min_ready_seconds: i32,
    pub phase: DeploymentPhase,
}

impl DeploymentRecord {
    /// What a Deployment is now, before anything touches it.
    pub fn of(w: &crate::planner::facts::Workload) -> Self {
        DeploymentRecord {
            container: w.container.clone(),
            image: w.image.clone(),
            replicas: w.replicas,
            strategy: w.strategy.clone(),
            min_ready_seconds: w.min_ready_seconds,
            phase: DeploymentPhase::Pending,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopPhase {
    Pending,
    Running,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopRecord {
    pub path: String,
    pub to: String,
    pub phase: HopPhase,
    /// Helm revision before a chart hop, for `helm rollback`.
    #[serde(default)]
    pub revision_before: Option<u64>,
    /// Migration state machine position (meta migration hops).
    #[serde(default)]
    pub step: Option<String>,
    /// An ordered chart hop's progress and the objects it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<OrderedRecord>,
}

/// An object as it was before an ordered chart hop changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// `Deployment` or `ConfigMap`.
    pub kind: String,
    pub name: String,
    /// Labels, annotations and spec (Deployments) or data (ConfigMaps); None
    /// when the hop created it.
    pub before: Option<serde_json::Value>,
}

/// How far an ordered chart hop got: written before each change it makes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderedRecord {
    /// Every object changed, in the order it was first changed.
    pub objects: Vec<ObjectRecord>,
    /// Keys of the steps done (`configmaps`, `roll:querynode`, ...).
    pub done: Vec<String>,
    /// `deployment.kubernetes.io/revision` of each Deployment the hop rolled,
    /// once rolled: the final helm upgrade must not move it.
    pub revisions: BTreeMap<String, String>,
    /// The final helm upgrade succeeded: undoing is `helm rollback` from here on.
    pub helm_upgraded: bool,
}

impl OrderedRecord {
    pub fn is_done(&self, key: &str) -> bool {
        self.done.iter().any(|d| d == key)
    }

    pub fn was_recorded(&self, kind: &str, name: &str) -> bool {
        self.objects
            .iter()
            .any(|o| o.kind == kind && o.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub schema: String,
    pub release: String,
    pub from: String,
    pub to: String,
    pub hops: Vec<HopRecord>,
    pub deployments: BTreeMap<String, DeploymentRecord>,
    pub updated_at: String,
    /// The layout when the upgrade started: a resumed run plans from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::planner::component::Layout>,
}

impl Progress {
    pub fn summary(&self) -> String {
        let done = self
            .hops
            .iter()
            .filter(|h| h.phase == HopPhase::Done)
            .count();
        let patched = self
            .deployments
            .values()
            .filter(|d| d.phase == DeploymentPhase::Done)
            .count();
        let ordered: Vec<String> = self
            .hops
            .iter()
            .filter(|h| h.phase != HopPhase::Done)
            .filter_map(|h| h.ordered.as_ref())
            .map(|o| {
                let upgraded = if o.helm_upgraded {
                    ", helm upgraded"
                } else {
                    ""
                };
                format!(
                    "; ordered hop: {} step(s) done ({}), {} object(s) changed{upgraded}",
                    o.done.len(),
                    o.done.join(", "),
                    o.objects.len()
                )
            })
            .collect();
        format!(
            "{} → {}: hop {}/{} done, {}/{} Deployments done{}; run `helm milvus-upgrade {} --to {}` to resume",
            self.from,
            self.to,
            done,
            self.hops.len(),
            patched,
            self.deployments.len(),
            ordered.concat(),
            self.release,
            self.to
        )
    }
}

fn config_maps(ctx: &Context) -> Api<ConfigMap> {
    Api::namespaced(ctx.client.clone(), &ctx.namespace)
}

pub async fn load(ctx: &Context, release: &str) -> Result<Option<Progress>, Error> {
    let api = config_maps(ctx);
    let name = state_name(release);
    let Some(cm) = ctx
        .retry
        .call(|| api.get_opt(&name))
        .await
        .map_err(api_error)?
    else {
        return Ok(None);
    };
    of_config_map(&cm, release).map(Some)
}

/// The progress a state ConfigMap holds.
pub fn of_config_map(cm: &ConfigMap, release: &str) -> Result<Progress, Error> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(KEY).cloned())
        .unwrap_or_default();
    serde_json::from_str(&text)
        .map_err(|e| Error::Failed(format!("configmap {} holds unreadable progress ({e}); inspect it, then delete it to start over", state_name(release))))
}

/// The state ConfigMap holding this progress.
pub fn body(progress: &Progress) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": state_name(&progress.release),
            "labels": {RELEASE_LABEL: progress.release, "app.kubernetes.io/managed-by": FIELD_MANAGER},
        },
        "data": {KEY: serde_json::to_string_pretty(progress).unwrap_or_default()},
    })
}

/// Writes the progress (server-side apply under our field manager; the same
/// apply again is harmless, so transient failures are retried).
pub async fn save(ctx: &Context, progress: &mut Progress) -> Result<(), Error> {
    progress.updated_at = now_rfc3339();
    let api = config_maps(ctx);
    let name = state_name(&progress.release);
    let body = body(progress);
    let (params, patch) = (
        PatchParams::apply(FIELD_MANAGER).force(),
        Patch::Apply(&body),
    );
    ctx.retry
        .call(|| api.patch(&name, &params, &patch))
        .await
        .map_err(api_error)?;
    Ok(())
}

pub async fn clear(ctx: &Context, release: &str) -> Result<(), Error> {
    let api = config_maps(ctx);
    let (name, params) = (state_name(release), DeleteParams::default());
    match ctx.retry.call(|| api.delete(&name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(api_error(e)),
    }
}

pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}
