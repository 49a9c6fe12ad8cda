//! The ordered chart hop: the hop's chart rendered with its values, the
//! rendered ConfigMaps applied, then the rendered Deployments one component at a
//! time in Milvus' order (`planner::ordered`), each exactly as rendered and waited
//! for; last the `helm upgrade` to the same chart and values, which records what
//! runs and must start no second rollout. Each object is recorded in the cluster
//! before it is first changed and each step once it is done, so a killed run
//! resumes in order and a failure before the helm upgrade puts every object back
//! (Helm untouched); after it, `helm rollback`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use crate::error::Error;
use crate::exec::events::Event;
use crate::exec::helm_hop;
use crate::exec::rollout::{wait_complete, WaitError};
use crate::exec::run::Run;
use crate::exec::state::{ObjectRecord, OrderedRecord, FIELD_MANAGER};
use crate::planner::component::Component;
use crate::planner::facts::Facts;
use crate::planner::ordered::{self, DeploymentChange, OrderStep};
use crate::planner::plan::{Hop, Plan, SetValue, Step};
use crate::planner::warnings;
use crate::world::cluster::{api_error, INSTANCE_LABEL};
use crate::world::gather::Context;

/// The annotation the Deployment controller counts rollouts in.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
const CONFIGMAPS: &str = "configmaps";

/// What the hop's chart renders that the hop applies itself.
pub struct Rendered {
    pub config_maps: Vec<ConfigMap>,
    /// The release's Milvus Deployments, by component.
    pub deployments: BTreeMap<Component, Vec<Deployment>>,
}

impl Rendered {
    /// The release's ConfigMaps and Milvus Deployments of a rendered manifest.
    pub fn of(objects: Vec<Value>, release: &str) -> Result<Rendered, String> {
        let mut rendered = Rendered {
            config_maps: Vec::new(),
            deployments: BTreeMap::new(),
        };
        for object in objects {
            let ours = object.pointer(&format!(
                "/metadata/labels/{}",
                INSTANCE_LABEL.replace('/', "~1")
            )) == Some(&json!(release));
            match object["kind"].as_str() {
                Some("ConfigMap") => rendered.config_maps.push(typed(object)?),
                Some("Deployment") if ours => {
                    let component = object
                        .pointer("/metadata/labels/component")
                        .and_then(Value::as_str)
                        .and_then(Component::from_label);
                    if let Some(c) = component {
                        rendered
                            .deployments
                            .entry(c)
                            .or_default()
                            .push(typed(object)?);
                    }
                }
                _ => {}
            }
        }
        Ok(rendered)
    }
}

fn typed<T: serde::de::DeserializeOwned>(object: Value) -> Result<T, String> {
    let name = object
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or_default();
    serde_json::from_value(object).map_err(|e| format!("rendered object {name}: {e}"))
}

/// What each ordered hop will do to each Deployment (by hop index), and why
/// some could not be shown.
#[derive(Default)]
pub struct Preview {
    changes: Vec<(usize, Vec<DeploymentChange>)>,
    warnings: Vec<String>,
    /// Deployments the hops will create, as rendered: submitted as server-side
    /// dry runs with the other objects a run creates.
    pub created: Vec<Value>,
}

impl Preview {
    pub fn apply_to(self, plan: &mut Plan) {
        for (i, changes) in self.changes {
            plan.hops[i].changes = changes;
        }
        plan.warnings.extend(self.warnings);
    }
}

/// Each ordered hop's chart rendered now (read-only): the first hop against the
/// live Deployments, a later one against the render of the hop before it (with
/// the values of the hops before). A chart that cannot be rendered is a
/// warning: its changes are not shown.
pub async fn preview(ctx: &Context, facts: &Facts, plan: &Plan) -> Result<Preview, Error> {
    let mut out = Preview::default();
    if !plan.hops.iter().any(|h| h.ordered) {
        return Ok(out);
    }
    let live = crate::world::cluster::deployments(ctx, &plan.release).await?;
    let mut before: BTreeMap<String, Value> = live
        .iter()
        .map(|d| (name_of(d), serde_json::to_value(d).unwrap_or_default()))
        .collect();
    let mut values: Vec<SetValue> = Vec::new();
    for (i, hop) in plan.hops.iter().enumerate() {
        let Some(Step::HelmUpgrade {
            release,
            chart,
            chart_version,
            values: own,
        }) = hop.helm_upgrade().cloned()
        else {
            continue;
        };
        values.extend(own);
        if !hop.ordered {
            continue;
        }
        let step = Step::HelmUpgrade {
            release,
            chart,
            chart_version,
            values: values.clone(),
        };
        // Only the first hop renders against the release its run will find:
        // that render is kept for the run.
        let render = if i == 0 {
            ctx.helm.prerender(&step).await
        } else {
            ctx.helm.render(&step).await
        };
        let rendered = match render {
            Ok(objects) => milvus_deployments(objects, &plan.release),
            Err(e) => {
                out.warnings.push(format!(
                    "the changes of the hop to {} are not shown: its chart did not render ({e})",
                    hop.to
                ));
                continue;
            }
        };
        out.changes.push((i, changes(&before, &rendered)));
        out.warnings
            .extend(scaled_by_helm(facts, &before, &rendered).map(|w| {
                format!("hop to {}: {w} when its final helm upgrade runs (as any helm upgrade would); leave that component's replicas to the HPA in the values, or upgrade when that is fine", hop.to)
            }));
        for (name, d) in &rendered {
            let known = live.iter().any(|l| &name_of(l) == name)
                || out
                    .created
                    .iter()
                    .any(|c| c["metadata"]["name"] == json!(name));
            if !known {
                out.created.push(d.clone());
            }
        }
        before = rendered;
    }
    Ok(out)
}

/// Deployments whose replicas the hop's helm upgrade sets to the values' count
/// though they run another (an HPA's, a `kubectl scale`'s).
fn scaled_by_helm<'a>(
    facts: &'a Facts,
    before: &'a BTreeMap<String, Value>,
    after: &'a BTreeMap<String, Value>,
) -> impl Iterator<Item = String> + 'a {
    after.iter().filter_map(move |(name, d)| {
        let now = before.get(name)?["spec"]["replicas"].as_i64()?;
        warnings::helm_scales(facts, name, d["spec"]["replicas"].as_i64(), now)
    })
}

/// The release's Milvus Deployments of a render, by name, as JSON.
fn milvus_deployments(objects: Vec<Value>, release: &str) -> BTreeMap<String, Value> {
    Rendered::of(objects, release)
        .map(|r| {
            r.deployments
                .into_values()
                .flatten()
                .map(|d| (name_of(&d), serde_json::to_value(&d).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every Deployment's change, in component order.
fn changes(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> Vec<DeploymentChange> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut out: Vec<DeploymentChange> = names
        .into_iter()
        .map(|n| ordered::deployment_change(n, before.get(n), after.get(n)))
        .collect();
    out.sort_by(|a, b| (a.component, &a.deployment).cmp(&(b.component, &b.deployment)));
    out
}

pub async fn run(run: &mut Run<'_>, hop: &Hop, index: usize) -> Result<(), Error> {
    let (before, upgraded) = helm_hop::revision_before(run, hop, index).await?;
    let upgraded = upgraded || record(run, index).helm_upgraded;
    if !upgraded {
        if let Err(reason) = change_in_order(run, hop, index).await {
            return Err(undo(run, hop, index, reason).await);
        }
        if let Err(e) = helm_hop::helm_upgrade(run, hop).await {
            return Err(after_failed_upgrade(run, hop, index, before, e.to_string()).await);
        }
        record(run, index).helm_upgraded = true;
        run.save().await?;
    }
    check_no_rollout(run, index).await?;
    match helm_hop::wait_layout(run, hop.layout_after, &hop.image).await {
        Ok(()) => Ok(()),
        Err(WaitError::Unreachable(e)) => Err(Error::Unavailable(e)),
        Err(e) => Err(helm_hop::fail(run, hop, before, e.describe()).await),
    }
}

/// A step of the hop starts.
fn stage(run: &Run<'_>, index: usize, step: &str) {
    run.events.event(Event::Stage {
        hop: index + 1,
        stage: step.into(),
    });
}

fn record<'r>(run: &'r mut Run<'_>, index: usize) -> &'r mut OrderedRecord {
    run.progress.hops[index]
        .ordered
        .get_or_insert_with(Default::default)
}

/// Render, ConfigMaps, then every component in order. Errors are the reason
/// the hop is undone.
async fn change_in_order(run: &mut Run<'_>, hop: &Hop, index: usize) -> Result<(), String> {
    let step = hop.helm_upgrade().ok_or("the hop has no helm upgrade")?;
    run.events
        .line("rendering the chart with the hop's values (helm upgrade --dry-run=server)");
    let objects = run.ctx.helm.render(step).await.map_err(|e| e.to_string())?;
    let rendered = Rendered::of(objects, &run.progress.release)?;
    if !record(run, index).is_done(CONFIGMAPS) {
        stage(run, index, CONFIGMAPS);
        for cm in &rendered.config_maps {
            apply_config_map(run, index, cm).await?;
        }
        done(run, index, CONFIGMAPS.into()).await?;
    }
    let components: Vec<Component> = rendered.deployments.keys().copied().collect();
    for step in ordered::order(hop.layout_before, hop.layout_after, &components) {
        let key = step.key();
        if record(run, index).is_done(&key) {
            continue;
        }
        if run.interrupt.is_set() {
            return Err("interrupted".into());
        }
        stage(run, index, &key);
        let group = rendered
            .deployments
            .get(&step.component())
            .cloned()
            .unwrap_or_default();
        let mut generations = Vec::new();
        if !matches!(step, OrderStep::Await(_)) {
            for d in &group {
                generations.push(apply_deployment(run, index, d).await?);
            }
        } else {
            for d in &group {
                generations.push(live_generation(run, &name_of(d)).await?);
            }
        }
        if !matches!(step, OrderStep::Start(_)) {
            for (d, generation) in group.iter().zip(generations) {
                wait_rolled_out(run, index, &name_of(d), generation).await?;
            }
        }
        done(run, index, key).await?;
    }
    Ok(())
}

fn name_of<K: kube::Resource>(object: &K) -> String {
    object.meta().name.clone().unwrap_or_default()
}

async fn done(run: &mut Run<'_>, index: usize, key: String) -> Result<(), String> {
    record(run, index).done.push(key);
    run.save().await.map_err(|e| e.to_string())
}

/// Keeps what an object was before its first change, in the cluster, before the change.
async fn remember(
    run: &mut Run<'_>,
    index: usize,
    kind: &str,
    name: &str,
    before: Option<Value>,
) -> Result<(), String> {
    if record(run, index).was_recorded(kind, name) {
        return Ok(());
    }
    record(run, index).objects.push(ObjectRecord {
        kind: kind.into(),
        name: name.into(),
        before,
    });
    run.save().await.map_err(|e| e.to_string())
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Labels and annotations Helm needs to adopt an object its upgrade did not create.
fn helm_owned(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    release: &str,
    namespace: &str,
) {
    meta.labels
        .get_or_insert_with(Default::default)
        .insert("app.kubernetes.io/managed-by".into(), "Helm".into());
    let annotations = meta.annotations.get_or_insert_with(Default::default);
    annotations.insert("meta.helm.sh/release-name".into(), release.into());
    annotations.insert("meta.helm.sh/release-namespace".into(), namespace.into());
    meta.namespace = Some(namespace.into());
}

/// The live object's labels and annotations with the rendered ones on top.
fn merged_meta(
    live: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    rendered: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let mut meta = live.clone();
    meta.managed_fields = None;
    meta.resource_version = None;
    for (mine, theirs) in [
        (&mut meta.labels, &rendered.labels),
        (&mut meta.annotations, &rendered.annotations),
    ] {
        mine.get_or_insert_with(Default::default)
            .extend(theirs.clone().unwrap_or_default());
    }
    meta
}

async fn apply_config_map(
    run: &mut Run<'_>,
    index: usize,
    rendered: &ConfigMap,
) -> Result<(), String> {
    let api: Api<ConfigMap> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
    let name = name_of(rendered);
    let live = live_object(run, &api, &name).await?;
    if let Some(l) = &live {
        if l.data == rendered.data && l.binary_data == rendered.binary_data {
            return Ok(());
        }
    }
    remember(
        run,
        index,
        "ConfigMap",
        &name,
        live.as_ref().map(config_map_snapshot),
    )
    .await?;
    let result = match live {
        Some(l) => {
            let mut cm = ConfigMap {
                metadata: merged_meta(&l.metadata, &rendered.metadata),
                data: rendered.data.clone(),
                binary_data: rendered.binary_data.clone(),
                ..Default::default()
            };
            cm.metadata.namespace = Some(run.ctx.namespace.clone());
            put(run, &api, &name, &cm, true).await
        }
        None => {
            let mut cm = rendered.clone();
            helm_owned(&mut cm.metadata, &run.progress.release, &run.ctx.namespace);
            put(run, &api, &name, &cm, false).await
        }
    };
    result.map_err(|e| api_error(e).to_string())?;
    run.events
        .line(&format!("configmap/{name}: applied as rendered"));
    Ok(())
}

fn config_map_snapshot(cm: &ConfigMap) -> Value {
    json!({
        "labels": cm.metadata.labels,
        "annotations": cm.metadata.annotations,
        "data": cm.data,
        "binaryData": cm.binary_data,
    })
}

fn deployment_snapshot(d: &Deployment) -> Value {
    json!({
        "labels": d.metadata.labels,
        "annotations": d.metadata.annotations,
        "spec": d.spec,
    })
}

/// Creates or replaces the Deployment with the rendered one (the live replica
/// count kept where an HPA scales it, or the chart leaves replicas out);
/// returns the generation to wait for.
async fn apply_deployment(
    run: &mut Run<'_>,
    index: usize,
    rendered: &Deployment,
) -> Result<i64, String> {
    let api = run.deployments();
    let name = name_of(rendered);
    let live = live_object(run, &api, &name).await?;
    remember(
        run,
        index,
        "Deployment",
        &name,
        live.as_ref().map(deployment_snapshot),
    )
    .await?;
    let image = rendered
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let result = match live {
        Some(l) => {
            let mut spec = rendered.spec.clone();
            spec.replicas = match run.facts.autoscaler_of(&name) {
                // The HPA's count, or applying the chart's would stop pods
                // until the HPA scales back.
                Some(_) => l.spec.replicas,
                None => spec.replicas.or(l.spec.replicas),
            };
            let d = Deployment {
                metadata: merged_meta(&l.metadata, &rendered.metadata),
                spec,
                status: None,
            };
            put(run, &api, &name, &d, true).await
        }
        None => {
            let mut d = rendered.clone();
            helm_owned(&mut d.metadata, &run.progress.release, &run.ctx.namespace);
            put(run, &api, &name, &d, false).await
        }
    };
    let applied = result.map_err(|e| api_error(e).to_string())?;
    run.events.event(Event::Patched {
        deployment: name,
        image,
        rollback: false,
    });
    Ok(applied.metadata.generation.unwrap_or(0))
}

async fn live_generation(run: &Run<'_>, name: &str) -> Result<i64, String> {
    let d = run.deployment(name).await.map_err(|e| e.to_string())?;
    Ok(d.metadata.generation.unwrap_or(0))
}

fn revision_of(d: &Deployment) -> Option<String> {
    d.metadata.annotations.as_ref()?.get(REVISION).cloned()
}

/// Waits for the rollout, then keeps the revision it reached.
async fn wait_rolled_out(
    run: &mut Run<'_>,
    index: usize,
    name: &str,
    generation: i64,
) -> Result<(), String> {
    wait_complete(
        &run.ctx.client,
        &run.ctx.namespace,
        name,
        generation,
        &run.clock,
        run.events.as_ref(),
        &run.interrupt,
    )
    .await
    .map_err(|e| match e {
        WaitError::Interrupted => "interrupted".to_string(),
        other => format!("deployment/{name}: {}", other.describe()),
    })?;
    let live = run.deployment(name).await.map_err(|e| e.to_string())?;
    if let Some(revision) = revision_of(&live) {
        record(run, index)
            .revisions
            .insert(name.to_string(), revision);
    }
    run.events.event(Event::RolledOut {
        deployment: name.into(),
        rollback: false,
    });
    Ok(())
}

/// The final helm upgrade must not have started another rollout of any
/// Deployment the hop rolled: Helm's manifest is what runs.
async fn check_no_rollout(run: &mut Run<'_>, index: usize) -> Result<(), Error> {
    let expected = record(run, index).revisions.clone();
    let mut moved = Vec::new();
    for (name, revision) in &expected {
        let live = run.deployment(name).await?;
        let now = revision_of(&live).unwrap_or_default();
        if &now != revision {
            moved.push(format!("deployment/{name} revision {revision} → {now}"));
        }
    }
    if moved.is_empty() {
        run.events.line(&format!(
            "helm upgrade changed no pod template: {} Deployment(s) kept their revision",
            expected.len()
        ));
        return Ok(());
    }
    Err(Error::Failed(format!(
        "the final helm upgrade rolled Deployments out a second time ({}): what the chart rendered for the ordered hop and what Helm applied differ. The release runs the target; compare `helm get manifest {}` with the Deployments",
        moved.join(", "),
        run.progress.release
    )))
}

/// The helm upgrade failed: if Helm recorded a revision, `helm rollback`;
/// otherwise Helm never changed anything and the objects are put back.
async fn after_failed_upgrade(
    run: &mut Run<'_>,
    hop: &Hop,
    index: usize,
    before: u64,
    reason: String,
) -> Error {
    match run.ctx.helm.newest_revision(&run.progress.release).await {
        Ok(r) if r.revision > before => helm_hop::fail(run, hop, before, reason).await,
        _ => undo(run, hop, index, reason).await,
    }
}

/// Puts every object the hop changed back as recorded (ConfigMaps first, since
/// pods read their config at start; then Deployments newest first, created ones
/// deleted), unless --no-rollback; Helm was never touched.
async fn undo(run: &mut Run<'_>, hop: &Hop, index: usize, reason: String) -> Error {
    if reason == "interrupted" || run.interrupt.is_set() {
        return Error::Interrupted;
    }
    run.events.event(Event::Failed {
        step: format!("hop {} → {}", hop.from, hop.to),
        reason: reason.clone(),
    });
    if run.no_rollback {
        return Error::Failed(format!(
            "{reason}. Left as it is (--no-rollback); Helm's release is unchanged; run the same command to resume"
        ));
    }
    run.clock.restart();
    match restore_all(run, index).await {
        Ok(n) => Error::RolledBack(format!(
            "{reason}. Put {n} object(s) back as they were before the hop; Helm's release was not changed"
        )),
        Err(e) => Error::Failed(format!("{reason}. Putting the objects back failed too: {e}")),
    }
}

/// `helm milvus-upgrade rollback`: an ordered hop left by `--no-rollback` or an
/// interrupted run, undone as a failure would have been; clears the progress.
pub async fn undo_recorded(run: &mut Run<'_>, index: usize) -> Result<String, Error> {
    run.clock.restart();
    let record = record(run, index).clone();
    let summary = if record.helm_upgraded {
        let before = run.progress.hops[index].revision_before.unwrap_or(0);
        let revision = before.to_string();
        let args = ["rollback", run.progress.release.as_str(), revision.as_str()];
        helm_hop::helm_write(run, &args).await?;
        format!("helm rollback to revision {before}: the hop's upgrade is undone")
    } else {
        let n = restore_all(run, index).await.map_err(Error::Failed)?;
        format!(
            "put {n} object(s) back as they were before the hop; Helm's release was not changed"
        )
    };
    crate::exec::state::clear(run.ctx, &run.progress.release).await?;
    Ok(summary)
}

async fn restore_all(run: &mut Run<'_>, index: usize) -> Result<usize, String> {
    let objects = record(run, index).objects.clone();
    let (config_maps, deployments): (Vec<&ObjectRecord>, Vec<&ObjectRecord>) =
        objects.iter().partition(|o| o.kind == "ConfigMap");
    for o in &config_maps {
        restore_config_map(run, o).await?;
    }
    for o in deployments.iter().rev() {
        if let Some(generation) = restore_deployment(run, o).await? {
            run.events.event(Event::RollbackStep {
                step: format!("deployment/{}: put back as before the hop", o.name),
            });
            wait_complete(
                &run.ctx.client,
                &run.ctx.namespace,
                &o.name,
                generation,
                &run.clock,
                run.events.as_ref(),
                &run.interrupt,
            )
            .await
            .map_err(|e| format!("deployment/{} did not come back: {}", o.name, e.describe()))?;
            run.events.event(Event::RolledOut {
                deployment: o.name.clone(),
                rollback: true,
            });
        }
    }
    // Nothing left to undo: a rerun starts the hop afresh.
    *record(run, index) = OrderedRecord::default();
    run.save().await.map_err(|e| e.to_string())?;
    Ok(objects.len())
}

type Labels = Option<BTreeMap<String, String>>;

/// The recorded labels and annotations of an object.
fn labels_annotations(before: &Value) -> (Labels, Labels) {
    let map = |k: &str| serde_json::from_value(before[k].clone()).ok().flatten();
    (map("labels"), map("annotations"))
}

async fn restore_config_map(run: &Run<'_>, o: &ObjectRecord) -> Result<(), String> {
    let api: Api<ConfigMap> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
    let Some(before) = &o.before else {
        return delete(run, &api, &o.name).await;
    };
    let (labels, annotations) = labels_annotations(before);
    let mut cm = run
        .ctx
        .retry
        .call(|| api.get(&o.name))
        .await
        .map_err(|e| api_error(e).to_string())?;
    cm.metadata.managed_fields = None;
    cm.metadata.resource_version = None;
    cm.metadata.labels = labels;
    cm.metadata.annotations = annotations;
    cm.data = serde_json::from_value(before["data"].clone()).map_err(|e| e.to_string())?;
    cm.binary_data =
        serde_json::from_value(before["binaryData"].clone()).map_err(|e| e.to_string())?;
    put(run, &api, &o.name, &cm, true)
        .await
        .map_err(|e| api_error(e).to_string())?;
    run.events.event(Event::RollbackStep {
        step: format!("configmap/{}: restored", o.name),
    });
    Ok(())
}

/// The generation to wait for, or None when the Deployment was created (and is now deleted).
async fn restore_deployment(run: &Run<'_>, o: &ObjectRecord) -> Result<Option<i64>, String> {
    let api = run.deployments();
    let Some(before) = &o.before else {
        delete(run, &api, &o.name).await?;
        run.events.event(Event::RollbackStep {
            step: format!("deployment/{}: created by the hop, deleted", o.name),
        });
        return Ok(None);
    };
    let (labels, mut annotations) = labels_annotations(before);
    let mut d = run.deployment(&o.name).await.map_err(|e| e.to_string())?;
    // The controller's own count stays as it is.
    if let (Some(a), Some(live)) = (annotations.as_mut(), revision_of(&d)) {
        a.insert(REVISION.into(), live);
    }
    d.metadata.managed_fields = None;
    d.metadata.resource_version = None;
    d.metadata.labels = labels;
    d.metadata.annotations = annotations;
    d.spec = serde_json::from_value(before["spec"].clone()).map_err(|e| e.to_string())?;
    d.status = None;
    let restored = put(run, &api, &o.name, &d, true)
        .await
        .map_err(|e| api_error(e).to_string())?;
    Ok(Some(restored.metadata.generation.unwrap_or(0)))
}

/// The live object, if any (transient failures retried).
async fn live_object<K>(run: &Run<'_>, api: &Api<K>, name: &str) -> Result<Option<K>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    run.ctx
        .retry
        .call(|| api.get_opt(name))
        .await
        .map_err(|e| api_error(e).to_string())
}

/// Writes of the rendered (or recorded) object: the same when sent twice, so
/// transient failures are retried; a create that finds the object there (its
/// first attempt went through unanswered) replaces it with the same.
async fn put<K>(
    run: &Run<'_>,
    api: &Api<K>,
    name: &str,
    object: &K,
    exists: bool,
) -> kube::Result<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let params = post_params();
    let retry = run.ctx.retry;
    if !exists {
        match retry.call(|| api.create(&params, object)).await {
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            other => return other,
        }
    }
    retry.call(|| api.replace(name, &params, object)).await
}

async fn delete<K>(run: &Run<'_>, api: &Api<K>, name: &str) -> Result<(), String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams::default();
    match run.ctx.retry.call(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(api_error(e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_s_configmaps_and_milvus_deployments_are_picked_from_a_render() {
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r-milvus"}, "data": {"user.yaml": "x"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "r-milvus-proxy", "labels": {"app.kubernetes.io/instance": "r", "component": "proxy"}}, "spec": {"selector": {}, "template": {}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "r-milvus-attu", "labels": {"app.kubernetes.io/instance": "r", "component": "attu"}}, "spec": {"selector": {}, "template": {}}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "r-milvus"}}),
        ];
        let r = Rendered::of(objects, "r").unwrap();
        assert_eq!(r.config_maps.len(), 1);
        assert_eq!(
            r.deployments.keys().copied().collect::<Vec<_>>(),
            [Component::Proxy]
        );
    }
}
