//! The rolling executor: active-standby on, then each Milvus Deployment's image
//! patched in dependency order, each rollout waited on before the next. Old
//! images are recorded in the cluster before the first patch; a failure rolls
//! every patched Deployment back in reverse order.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::error::Error;
use crate::exec::events::Event;
use crate::exec::rollout::{pod_messages, wait_complete, WaitError};
use crate::exec::run::Run;
use crate::exec::state::{self, DeploymentPhase, DeploymentRecord, FIELD_MANAGER};
use crate::planner::component::Component;
use crate::planner::plan::{Hop, Step};
use crate::planner::version::image_tag;
use crate::world::cluster::api_error;

/// One Deployment change of the hop, in order.
struct Patch1<'a> {
    deployment: &'a str,
    component: Component,
    container: &'a str,
    to: &'a str,
}

fn patches(hop: &Hop) -> Vec<Patch1<'_>> {
    hop.steps
        .iter()
        .filter_map(|s| match s {
            Step::PatchImage {
                deployment,
                component,
                container,
                to,
                ..
            } => Some(Patch1 {
                deployment,
                component: *component,
                container,
                to,
            }),
            _ => None,
        })
        .collect()
}

pub async fn run(run: &mut Run<'_>, hop: &Hop) -> Result<(), Error> {
    record(run, hop).await?;
    for step in &hop.steps {
        if let Step::EnableActiveStandby {
            config_map,
            key,
            sections,
        } = step
        {
            enable_active_standby(run, config_map, key, sections).await?;
        }
    }
    let all = patches(hop);
    for batch in batches(&all, run.parallel_nodes) {
        if let Err(e) = roll_batch(run, batch).await {
            return Err(fail(run, hop, e).await);
        }
    }
    Ok(())
}

/// querynode and datanode depend only on the coordinators: with
/// `--parallel-nodes` they roll together; everything else one at a time.
fn concurrent(c: Component) -> bool {
    matches!(c, Component::QueryNode | Component::DataNode)
}

fn batches<'a, 'b>(all: &'a [Patch1<'b>], parallel: bool) -> Vec<&'a [Patch1<'b>]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=all.len() {
        let joins = parallel
            && i < all.len()
            && concurrent(all[i].component)
            && concurrent(all[i - 1].component);
        if !joins {
            out.push(&all[start..i]);
            start = i;
        }
    }
    out
}

/// Old image, replicas and strategy of every Deployment, kept before any patch.
async fn record(run: &mut Run<'_>, hop: &Hop) -> Result<(), Error> {
    for w in &run.facts.workloads {
        let known = run.progress.deployments.contains_key(&w.name);
        let in_hop = patches(hop).iter().any(|p| p.deployment == w.name);
        if in_hop && !known {
            run.progress
                .deployments
                .insert(w.name.clone(), DeploymentRecord::of(w));
        }
    }
    run.save().await
}

async fn enable_active_standby(
    run: &Run<'_>,
    name: &str,
    key: &str,
    sections: &[String],
) -> Result<(), Error> {
    let api: Api<ConfigMap> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
    let cm = run
        .ctx
        .retry
        .call(|| api.get(name))
        .await
        .map_err(api_error)?;
    let text = cm
        .data
        .and_then(|d| d.get(key).cloned())
        .unwrap_or_default();
    // A config that does not parse is never replaced: pre-flight refuses it, and a
    // change since then stops here.
    let mut doc: Value = crate::world::cluster::parse_yaml(&text).map_err(|e| {
        Error::Failed(format!(
            "configmap/{name} {key} does not parse as YAML ({e}); fix it, then run again"
        ))
    })?;
    if !doc.is_object() {
        doc = json!({});
    }
    for section in sections {
        doc[section.as_str()]["enableActiveStandby"] = json!(true);
    }
    let yaml = serde_yaml_ng::to_string(&doc)
        .map_err(|e| Error::Failed(format!("cannot write {key}: {e}")))?;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: yaml}});
    let (params, patch) = (
        PatchParams::apply(FIELD_MANAGER).force(),
        Patch::Apply(&body),
    );
    run.ctx
        .retry
        .call(|| api.patch(name, &params, &patch))
        .await
        .map_err(api_error)?;
    run.events.event(Event::ConfigPatched {
        config_map: name.into(),
        sections: sections.to_vec(),
    });
    Ok(())
}

/// The failure of one Deployment, with what its pods said.
struct StepFailure {
    deployment: String,
    reason: String,
    /// The API server kept failing: the upgrade itself was not judged.
    transient: bool,
}

impl StepFailure {
    fn of(deployment: &str, e: &Error) -> Self {
        StepFailure {
            deployment: deployment.to_string(),
            reason: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

/// Patches every Deployment of the batch, then waits for all their rollouts.
async fn roll_batch(run: &mut Run<'_>, batch: &[Patch1<'_>]) -> Result<(), StepFailure> {
    let mut started = Vec::new();
    for p in batch {
        if let Some(generation) = start_one(run, p).await? {
            started.push((p, generation));
        }
    }
    let waits = started.iter().map(|(p, generation)| {
        wait_complete(
            &run.ctx.client,
            &run.ctx.namespace,
            p.deployment,
            *generation,
            &run.clock,
            run.events.as_ref(),
            &run.interrupt,
        )
    });
    let results = futures::future::join_all(waits).await;
    for ((p, _), result) in started.iter().zip(results) {
        match result {
            Ok(_) => {
                run.events.event(Event::RolledOut {
                    deployment: p.deployment.into(),
                    rollback: false,
                });
                mark(run, p.deployment, DeploymentPhase::Done)
                    .await
                    .map_err(|e| StepFailure::of(p.deployment, &e))?;
            }
            Err(e) => {
                return Err(StepFailure {
                    deployment: p.deployment.to_string(),
                    transient: matches!(e, WaitError::Unreachable(_)),
                    reason: wait_reason(run, p.deployment, e).await,
                })
            }
        }
    }
    Ok(())
}

/// Patches one Deployment (recorded as Patched); `None` when it was done before.
async fn start_one(run: &mut Run<'_>, p: &Patch1<'_>) -> Result<Option<i64>, StepFailure> {
    let phase = run.progress.deployments.get(p.deployment).map(|r| r.phase);
    if phase == Some(DeploymentPhase::Done) {
        run.events.event(Event::Skipped {
            deployment: p.deployment.into(),
            reason: format!("already on {} (recorded), skipped", p.to),
        });
        return Ok(None);
    }
    let failure = |e: Error| StepFailure::of(p.deployment, &e);
    let generation = set_image(run, p).await.map_err(failure)?;
    run.events.event(Event::Patched {
        deployment: p.deployment.into(),
        image: p.to.into(),
        rollback: false,
    });
    mark(run, p.deployment, DeploymentPhase::Patched)
        .await
        .map_err(failure)?;
    Ok(Some(generation))
}

async fn mark(run: &mut Run<'_>, deployment: &str, phase: DeploymentPhase) -> Result<(), Error> {
    if let Some(r) = run.progress.deployments.get_mut(deployment) {
        r.phase = phase;
    }
    run.save().await
}

/// Patches image, version label and (coordinators) strategy; returns the
/// generation to wait for. A Deployment already on the image is not patched again.
async fn set_image(run: &Run<'_>, p: &Patch1<'_>) -> Result<i64, Error> {
    let live = run.deployment(p.deployment).await?;
    if container_image(&live, p.container).as_deref() == Some(p.to) {
        return Ok(live.metadata.generation.unwrap_or(0));
    }
    let mut body = json!({
        "metadata": {"labels": {"app.kubernetes.io/version": version_label(p.to)}},
        "spec": {"template": {"spec": {"containers": [{"name": p.container, "image": p.to}]}}},
    });
    if p.component.is_coordinator() {
        body["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
        body["spec"]["minReadySeconds"] = json!(run.min_ready_seconds);
    }
    let patched = run
        .patch_deployment(p.deployment, &body)
        .await
        .map_err(api_error)?;
    Ok(patched.metadata.generation.unwrap_or(0))
}

fn container_image(d: &Deployment, container: &str) -> Option<String> {
    let spec = d.spec.template.spec.as_ref()?;
    spec.containers
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
}

fn version_label(image: &str) -> String {
    image_tag(image)
        .unwrap_or("unknown")
        .trim_start_matches('v')
        .to_string()
}

async fn wait_reason(run: &Run<'_>, deployment: &str, e: WaitError) -> String {
    let api: Api<Deployment> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
    let pods = match api.get(deployment).await {
        Ok(d) => pod_messages(&run.ctx.client, &run.ctx.namespace, &d).await,
        Err(_) => Vec::new(),
    };
    let what = e.describe();
    if pods.is_empty() {
        what
    } else {
        format!("{what}; pods: {}", pods.join("; "))
    }
}

/// Rolls back (unless --no-rollback or interrupted) and builds the error.
async fn fail(run: &mut Run<'_>, hop: &Hop, failure: StepFailure) -> Error {
    let StepFailure {
        deployment,
        reason,
        transient,
    } = failure;
    if reason == "interrupted" || run.interrupt.is_set() {
        return Error::Interrupted;
    }
    if transient {
        return Error::Unavailable(format!(
            "deployment/{deployment}: {reason}; progress is in configmap/{}",
            state::state_name(&run.progress.release)
        ));
    }
    run.events.event(Event::Failed {
        step: format!("deployment/{deployment}"),
        reason: reason.clone(),
    });
    if run.no_rollback {
        return Error::Failed(format!(
            "deployment/{deployment}: {reason}. Left as it is (--no-rollback); progress is in configmap/{}: run the same command to resume",
            state::state_name(&run.progress.release)
        ));
    }
    match rollback(run, hop).await {
        Ok(restored) => Error::RolledBack(format!("deployment/{deployment}: {reason}. Restored {} Deployment(s) to their recorded images: {}", restored.len(), restored.join(", "))),
        Err(e) => Error::Failed(format!("deployment/{deployment}: {reason}. Rollback failed too: {e}")),
    }
}

/// Every patched Deployment back to its recorded image, newest first.
pub async fn rollback(run: &mut Run<'_>, hop: &Hop) -> Result<Vec<String>, Error> {
    let mut restored = Vec::new();
    let mut clock = run.clock;
    clock.restart();
    for p in patches(hop).iter().rev() {
        let Some(record) = run.progress.deployments.get(p.deployment).cloned() else {
            continue;
        };
        if !matches!(
            record.phase,
            DeploymentPhase::Patched | DeploymentPhase::Done
        ) {
            continue;
        }
        let generation = restore(run, p.deployment, &record).await?;
        run.events.event(Event::Patched {
            deployment: p.deployment.into(),
            image: record.image.clone(),
            rollback: true,
        });
        wait_complete(
            &run.ctx.client,
            &run.ctx.namespace,
            p.deployment,
            generation,
            &clock,
            run.events.as_ref(),
            &run.interrupt,
        )
        .await
        .map_err(|e| {
            Error::Failed(format!(
                "deployment/{} did not come back on {}: {}",
                p.deployment,
                record.image,
                e.describe()
            ))
        })?;
        restore_strategy(run, p.deployment, &record).await?;
        run.events.event(Event::RolledOut {
            deployment: p.deployment.into(),
            rollback: true,
        });
        mark(run, p.deployment, DeploymentPhase::Restored).await?;
        restored.push(p.deployment.to_string());
    }
    Ok(restored)
}

/// The old image first (still rolling, so coordinators stay up) ...
async fn restore(run: &Run<'_>, deployment: &str, record: &DeploymentRecord) -> Result<i64, Error> {
    let body = json!({
        "metadata": {"labels": {"app.kubernetes.io/version": version_label(&record.image)}},
        "spec": {"template": {"spec": {"containers": [{"name": record.container, "image": record.image}]}}},
    });
    let patched = run
        .patch_deployment(deployment, &body)
        .await
        .map_err(api_error)?;
    Ok(patched.metadata.generation.unwrap_or(0))
}

/// Every recorded Deployment back on its recorded (the chart's) strategy once the
/// rollout is done; starts no rollout. Helm applying server-side cannot do it: it
/// would set `type: Recreate` and leave the plugin's `rollingUpdate`, which the API
/// server rejects.
pub async fn hand_back_strategies(run: &Run<'_>) -> Result<(), Error> {
    for (name, record) in &run.progress.deployments {
        restore_strategy(run, name, record).await?;
    }
    Ok(())
}

/// ... then the recorded strategy, which starts no rollout.
async fn restore_strategy(
    run: &Run<'_>,
    deployment: &str,
    record: &DeploymentRecord,
) -> Result<(), Error> {
    let live = run.deployment(deployment).await?;
    let strategy = live
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.clone())
        .unwrap_or_default();
    if strategy == record.strategy
        && live.spec.min_ready_seconds.unwrap_or(0) == record.min_ready_seconds
    {
        return Ok(());
    }
    let strategy_body = if record.strategy == "Recreate" {
        json!({"type": "Recreate", "rollingUpdate": null})
    } else {
        json!({"type": record.strategy})
    };
    let body =
        json!({"spec": {"strategy": strategy_body, "minReadySeconds": record.min_ready_seconds}});
    run.patch_deployment(deployment, &body)
        .await
        .map(|_| ())
        .map_err(api_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Component::*;

    fn shape(components: &[Component], parallel: bool) -> Vec<Vec<Component>> {
        let all: Vec<Patch1> = components
            .iter()
            .map(|c| Patch1 {
                deployment: c.label(),
                component: *c,
                container: c.label(),
                to: "m:v2.5.0",
            })
            .collect();
        batches(&all, parallel)
            .iter()
            .map(|b| b.iter().map(|p| p.component).collect())
            .collect()
    }

    #[test]
    fn only_querynode_and_datanode_roll_together() {
        let layout = [IndexNode, MixCoord, QueryNode, DataNode, Proxy];
        assert_eq!(
            shape(&layout, true),
            vec![
                vec![IndexNode],
                vec![MixCoord],
                vec![QueryNode, DataNode],
                vec![Proxy]
            ]
        );
        assert_eq!(shape(&layout, false).len(), 5);
        assert!(shape(&[], true).is_empty());
    }
}
