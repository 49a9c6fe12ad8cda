//! The meta migration executor (Milvus 2.1.x → 2.2+), a state machine whose
//! position is written to the Progress ConfigMap before each stage acts:
//! record → stop → sessions expired → backup → migrate → start → done.
//! Any run of the same command resumes from the recorded stage; a failure
//! rolls back (restore the meta backup, `helm rollback`, old images and replicas).

pub mod objects;
pub mod rollback;
pub mod settings;
pub mod stage;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use serde_json::json;

use objects::{Job, MetaConfig, Objects};
pub use settings::MigrationSettings;
use stage::Stage;

use crate::error::Error;
use crate::exec::deadline::Clock;
use crate::exec::events;
use crate::exec::rollout::WaitError;
use crate::exec::run::Run;
use crate::exec::state::DeploymentRecord;
use crate::planner::component::{Component, ALL};
use crate::planner::plan::{Hop, Step};
use crate::world::cluster::{self, api_error, INSTANCE_LABEL, NAME_LABEL};

pub async fn run(run: &mut Run<'_>, hop: &Hop, index: usize) -> Result<(), Error> {
    let mut stage = current(run, index);
    if stage.is_none() {
        fresh_start(run).await?;
        stage = Some(Stage::Record);
        set(run, index, Stage::Record).await?;
    }
    let mut stage = stage.unwrap_or(Stage::Record);
    if stage != Stage::Record {
        run.events
            .line(&format!("meta migration: resuming at stage '{stage}'"));
    }
    loop {
        if run.interrupt.is_set() {
            return Err(Error::Interrupted);
        }
        run.events.event(events::Event::Stage {
            hop: index + 1,
            stage: stage.name().into(),
        });
        let next = match advance(run, hop, index, stage).await {
            Ok(next) => next,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => return Err(fail(run, index, stage, e).await),
        };
        set(run, index, next).await?;
        if next == Stage::Done {
            break;
        }
        stage = next;
    }
    cleanup_pods(run).await;
    Ok(())
}

/// Does one stage's work and names the next stage.
async fn advance(run: &mut Run<'_>, hop: &Hop, index: usize, stage: Stage) -> Result<Stage, Error> {
    Ok(match stage {
        Stage::Record => {
            record(run, index).await?;
            Stage::Stop
        }
        Stage::Stop => Stage::Sessions {
            since: stop(run).await?,
        },
        Stage::Sessions { since } => {
            sessions_expire(run, since).await?;
            Stage::Backup
        }
        Stage::Backup => {
            still_stopped(run).await?;
            backup(run, hop).await?;
            Stage::Migrate
        }
        Stage::Migrate => {
            still_stopped(run).await?;
            let objects = objects(run);
            run.events.line(&format!(
                "pod/{}: migrating the meta",
                Job::Migrate.pod_name(objects.release)
            ));
            objects
                .run_pod(
                    Job::Migrate,
                    &run.migration.migration_image,
                    &run.clock,
                    &run.interrupt,
                )
                .await?;
            run.events.line("meta migrated");
            Stage::Start
        }
        Stage::Start => {
            start(run, hop, index).await?;
            Stage::Done
        }
        Stage::Done => Stage::Done,
    })
}

pub fn current(run: &Run<'_>, index: usize) -> Option<Stage> {
    run.progress.hops[index]
        .step
        .as_deref()
        .and_then(Stage::parse)
}

async fn set(run: &mut Run<'_>, index: usize, stage: Stage) -> Result<(), Error> {
    run.progress.hops[index].step = Some(stage.to_string());
    run.save().await
}

pub fn objects<'a>(run: &'a Run<'_>) -> Objects<'a> {
    Objects {
        client: &run.ctx.client,
        namespace: &run.ctx.namespace,
        release: &run.progress.release,
        retry: run.ctx.retry,
    }
}

/// Pods and the backup mark left by an earlier, finished upgrade are not ours.
async fn fresh_start(run: &Run<'_>) -> Result<(), Error> {
    let objects = objects(run);
    for job in [Job::Backup, Job::Migrate, Job::Rollback] {
        objects.delete_pod(job, &run.clock).await?;
    }
    objects.mark_backup(None).await
}

/// Replicas and images of every Milvus Deployment, and the helm revision.
async fn record(run: &mut Run<'_>, index: usize) -> Result<(), Error> {
    // The facts were read by this run, before it could run any helm upgrade.
    if run.progress.hops[index].revision_before.is_none() {
        run.progress.hops[index].revision_before = Some(run.facts.release.revision);
    }
    for w in &run.facts.workloads {
        run.progress
            .deployments
            .entry(w.name.clone())
            .or_insert_with(|| DeploymentRecord::of(w));
    }
    let summary: Vec<String> = run
        .progress
        .deployments
        .iter()
        .map(|(n, r)| format!("{n}={}", r.replicas))
        .collect();
    run.events
        .line(&format!("recorded replicas: {}", summary.join(", ")));
    run.save().await
}

async fn live_workloads(run: &Run<'_>) -> Result<Vec<crate::planner::facts::Workload>, Error> {
    cluster::workloads(run.ctx, &run.progress.release, &run.facts.values.chart_name).await
}

/// Every Milvus Deployment scaled to 0; returns when the last pod was gone.
pub async fn stop(run: &Run<'_>) -> Result<Timestamp, Error> {
    let live = live_workloads(run).await?;
    let body = json!({"spec": {"replicas": 0}});
    let running: Vec<_> = live.iter().filter(|w| w.replicas != 0).collect();
    let patches = running.iter().map(|w| run.patch_deployment(&w.name, &body));
    for (w, result) in running.iter().zip(futures::future::join_all(patches).await) {
        result.map_err(api_error)?;
        run.events.event(events::Event::Scaled {
            deployment: w.name.clone(),
            from: w.replicas,
            to: 0,
        });
    }
    run.events.event(events::Event::Waiting {
        on: vec![format!("the Milvus pods of {} to go", run.progress.release)],
        seconds: None,
    });
    let since = pods_gone(run).await?;
    run.events.line(&format!(
        "every Milvus pod of {} is gone",
        run.progress.release
    ));
    Ok(since)
}

/// The meta is backed up and migrated only while every Milvus Deployment is at 0:
/// something that scaled one up since the stop (a controller owning an HPA, a
/// person) fails the stage, and the run rolls back.
async fn still_stopped(run: &Run<'_>) -> Result<(), Error> {
    let live = live_workloads(run).await?;
    let Some(w) = live.iter().find(|w| w.replicas != 0) else {
        return Ok(());
    };
    let by = match run.facts.autoscaler_of(&w.name) {
        Some(a) => format!(" (horizontalpodautoscaler/{} scales it)", a.name),
        None => String::new(),
    };
    Err(Error::Failed(format!(
        "deployment/{} was scaled to {} replicas while Milvus must stay stopped{by}; stop whatever scales it during the migration",
        w.name, w.replicas
    )))
}

/// Watches the release's Milvus pods until none is left.
async fn pods_gone(run: &Run<'_>) -> Result<Timestamp, Error> {
    let components: Vec<&str> = ALL.iter().map(|c| c.label()).collect();
    let selector = format!(
        "{INSTANCE_LABEL}={},{NAME_LABEL}={},component in ({})",
        run.progress.release,
        run.facts.values.chart_name,
        components.join(",")
    );
    let api: Api<Pod> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
    let mut stream = watcher::watcher(api, watcher::Config::default().labels(&selector))
        .default_backoff()
        .boxed();
    let mut pods: BTreeMap<String, ()> = BTreeMap::new();
    let mut listing: BTreeMap<String, ()> = BTreeMap::new();
    let mut listed = false;
    let mut stall = run.clock.watch::<BTreeMap<String, ()>>();
    let mut failing: Option<String> = None;
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            why = stall.expired() => return Err(match failing {
                Some(e) => Error::Unavailable(e),
                None => Error::Failed(format!("Milvus pods still running: {why}: {}", pods.keys().cloned().collect::<Vec<_>>().join(", "))),
            }),
            _ = run.interrupt.wait() => return Err(Error::Interrupted),
        };
        failing = match &event {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        };
        let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
        match event {
            Some(Ok(Event::Init)) => listing.clear(),
            Some(Ok(Event::InitApply(p))) => {
                listing.insert(name(&p), ());
            }
            Some(Ok(Event::InitDone)) => {
                pods = std::mem::take(&mut listing);
                listed = true;
            }
            Some(Ok(Event::Apply(p))) => {
                pods.insert(name(&p), ());
            }
            Some(Ok(Event::Delete(p))) => {
                pods.remove(&name(&p));
            }
            Some(Err(_)) => continue,
            None => return Err(Error::Failed("the pod watch ended".into())),
        }
        if listed && pods.is_empty() {
            return Ok(Timestamp::now());
        }
        stall.observe(pods.clone());
    }
}

/// How long etcd sessions live: --session-wait, else the release's
/// `common.session.ttl`, else Milvus' documented default (30 s).
async fn session_wait(run: &Run<'_>) -> (Duration, &'static str) {
    if let Some(d) = run.migration.session_wait {
        return (d, "--session-wait");
    }
    if let Some(config) = &run.facts.config {
        let api: Api<ConfigMap> = Api::namespaced(run.ctx.client.clone(), &run.ctx.namespace);
        let name = &config.config_map;
        if let Ok(Some(cm)) = run.ctx.retry.call(|| api.get_opt(name)).await {
            if let Some(ttl) = objects::session_ttl(&cm.data.unwrap_or_default()) {
                return (ttl, "common.session.ttl");
            }
        }
    }
    (
        objects::DEFAULT_SESSION_TTL,
        "the default common.session.ttl",
    )
}

/// Waits until one session TTL has passed since `since` (a deadline, resumable).
pub async fn sessions_expire(run: &Run<'_>, since: Timestamp) -> Result<(), Error> {
    let (ttl, source) = session_wait(run).await;
    let elapsed = Timestamp::now()
        .duration_since(since)
        .as_secs_f64()
        .max(0.0);
    let left = ttl.as_secs_f64() - elapsed;
    if left <= 0.0 {
        return Ok(());
    }
    run.events.event(events::Event::Waiting {
        on: vec![format!(
            "etcd sessions to expire ({} s from {source}, counted from {since})",
            ttl.as_secs()
        )],
        seconds: Some(left.ceil() as u64),
    });
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs_f64(left)) => Ok(()),
        _ = run.interrupt.wait() => Err(Error::Interrupted),
    }
}

/// Endpoints, root path and versions the config files carry.
async fn meta_config(run: &Run<'_>, hop: &Hop) -> Result<MetaConfig, Error> {
    let objects = objects(run);
    let services = objects.etcd_services().await?;
    let mut external = None;
    if run.migration.etcd_endpoints.is_empty() && services.iter().all(|s| s.headless) {
        let values = run
            .ctx
            .helm
            .run(&[
                "get",
                "values",
                &run.progress.release,
                "--all",
                "-o",
                "json",
            ])
            .await?;
        external = serde_json::from_str(&values)
            .ok()
            .and_then(|v| objects::external_endpoints(&v));
    }
    let (endpoints, from) = objects::resolve_endpoints(&run.migration.etcd_endpoints, &services, external)
        .ok_or_else(|| Error::Failed(format!("no etcd found for release {}: no etcd Service labelled app.kubernetes.io/instance={} and no externalEtcd.endpoints; pass --etcd-endpoints host:2379", run.progress.release, run.progress.release)))?;
    let root_path = run
        .migration
        .root_path
        .clone()
        .or_else(|| run.facts.config.as_ref().and_then(|c| c.root_path.clone()))
        .unwrap_or_else(|| objects::DEFAULT_ROOT_PATH.into());
    let (source, target) = hop
        .steps
        .iter()
        .find_map(|s| match s {
            Step::MigrateMeta { source, target } => Some((source.clone(), target.clone())),
            _ => None,
        })
        .unwrap_or_else(|| (hop.from.to_string(), hop.to.to_string()));
    run.events.line(&format!(
        "etcd {} (from {from}), root path {root_path}",
        endpoints.join(",")
    ));
    Ok(MetaConfig {
        source,
        target,
        endpoints,
        root_path,
    })
}

async fn backup(run: &Run<'_>, hop: &Hop) -> Result<(), Error> {
    let config = meta_config(run, hop).await?;
    let objects = objects(run);
    let created = objects
        .ensure_pvc(
            &run.migration.backup_size,
            run.migration.storage_class.as_deref(),
        )
        .await?;
    if created {
        run.events.line(&format!(
            "pvc/{} created ({})",
            objects::pvc_name(objects.release),
            run.migration.backup_size
        ));
    }
    objects
        .apply_config(&objects::config_files(&config))
        .await?;
    run.events.line(&format!(
        "pod/{}: backing up the meta",
        Job::Backup.pod_name(objects.release)
    ));
    objects
        .run_pod(
            Job::Backup,
            &run.migration.migration_image,
            &run.clock,
            &run.interrupt,
        )
        .await?;
    objects.mark_backup(Some("succeed")).await?;
    run.events.line("meta backed up");
    Ok(())
}

/// The new chart, then the recorded replicas by component, then the layout.
async fn start(run: &mut Run<'_>, hop: &Hop, index: usize) -> Result<(), Error> {
    // Only this stage upgrades the chart, so the release as this run found it
    // tells whether an earlier run already did.
    let before = run.progress.hops[index].revision_before.unwrap_or(0);
    let found = &run.facts.release;
    let chart = hop
        .chart
        .as_ref()
        .map(|c| format!("milvus-{}", c.chart_version));
    let already = found.revision > before
        && Some(&found.chart) == chart.as_ref()
        && found.status == "deployed";
    if !already {
        crate::exec::helm_hop::helm_upgrade(run, hop).await?;
    }
    restore_replicas(run).await?;
    match crate::exec::helm_hop::wait_layout(run, hop.layout_after, &hop.image).await {
        Ok(()) => Ok(()),
        Err(WaitError::Unreachable(e)) => Err(Error::Unavailable(e)),
        Err(why) => Err(Error::Failed(format!(
            "the new version did not come up: {}{}",
            why.describe(),
            pod_reasons(run).await
        ))),
    }
}

/// Why the release's unfinished Deployments' pods are not ready.
pub(crate) async fn pod_reasons(run: &Run<'_>) -> String {
    let params =
        kube::api::ListParams::default().labels(&cluster::release_selector(&run.progress.release));
    let Ok(list) = run.deployments().list(&params).await else {
        return String::new();
    };
    let mut reasons = Vec::new();
    for d in list
        .items
        .iter()
        .filter(|d| !cluster::rollout(d).is_complete())
    {
        reasons.extend(
            crate::exec::rollout::pod_messages(&run.ctx.client, &run.ctx.namespace, d).await,
        );
    }
    reasons.truncate(5);
    if reasons.is_empty() {
        String::new()
    } else {
        format!("; pods: {}", reasons.join("; "))
    }
}

/// What to scale each live Deployment to: its own record, else the record of
/// its component; records whose component is gone are skipped.
#[derive(Debug, PartialEq)]
pub struct ReplicaPlan {
    pub scale: Vec<(String, i32)>,
    pub gone: Vec<String>,
    pub unrecorded: Vec<String>,
}

pub fn replica_plan(
    records: &BTreeMap<String, DeploymentRecord>,
    live: &[(String, Component)],
) -> ReplicaPlan {
    let component_of = |name: &str, r: &DeploymentRecord| {
        Component::from_label(&r.container).or_else(|| {
            ALL.into_iter()
                .find(|c| name.ends_with(&format!("-{}", c.label())))
        })
    };
    let mut scale = Vec::new();
    let mut unrecorded = Vec::new();
    for (name, component) in live {
        let record = records.get(name).or_else(|| {
            records
                .iter()
                .find(|(n, r)| component_of(n, r) == Some(*component))
                .map(|(_, r)| r)
        });
        match record {
            Some(r) => scale.push((name.clone(), r.replicas)),
            None => unrecorded.push(name.clone()),
        }
    }
    let gone = records
        .iter()
        .filter(|(n, r)| {
            !live
                .iter()
                .any(|(l, c)| l == *n || Some(*c) == component_of(n, r))
        })
        .map(|(n, _)| n.clone())
        .collect();
    ReplicaPlan {
        scale,
        gone,
        unrecorded,
    }
}

pub(crate) async fn restore_replicas(run: &Run<'_>) -> Result<(), Error> {
    let live = live_workloads(run).await?;
    let pairs: Vec<(String, Component)> =
        live.iter().map(|w| (w.name.clone(), w.component)).collect();
    let plan = replica_plan(&run.progress.deployments, &pairs);
    for (name, replicas) in &plan.scale {
        let now = live
            .iter()
            .find(|w| &w.name == name)
            .map_or(-1, |w| w.replicas);
        if now == *replicas {
            continue;
        }
        run.patch_deployment(name, &json!({"spec": {"replicas": replicas}}))
            .await
            .map_err(api_error)?;
        run.events.event(events::Event::Scaled {
            deployment: name.clone(),
            from: now,
            to: *replicas,
        });
    }
    if !plan.gone.is_empty() {
        run.events.line(&format!(
            "not in the new chart's layout, skipped: {}",
            plan.gone.join(", ")
        ));
    }
    if !plan.unrecorded.is_empty() {
        run.events.line(&format!(
            "new in the target chart, replicas as the chart sets them: {}",
            plan.unrecorded.join(", ")
        ));
    }
    Ok(())
}

/// Removes the migration pods unless --keep-migration-pods; never fails the run.
pub async fn cleanup_pods(run: &Run<'_>) {
    if run.migration.keep_migration_pods {
        return;
    }
    let objects = objects(run);
    let clock = Clock::start(Duration::from_secs(60), None);
    let jobs = [Job::Backup, Job::Migrate, Job::Rollback];
    let deletes = jobs.iter().map(|j| objects.delete_pod(*j, &clock));
    for (job, result) in jobs.iter().zip(futures::future::join_all(deletes).await) {
        if let Err(e) = result {
            run.events.line(&format!(
                "could not remove pod/{}: {e}",
                job.pod_name(objects.release)
            ));
        }
    }
}

/// A failed stage: roll back (unless --no-rollback) and build the error.
pub(crate) async fn fail(run: &mut Run<'_>, index: usize, stage: Stage, e: Error) -> Error {
    if run.interrupt.is_set() {
        return Error::Interrupted;
    }
    let reason = format!("stage '{stage}': {e}");
    if e.is_transient() {
        return Error::Unavailable(format!(
            "{reason}; run the same command to resume at stage '{stage}'"
        ));
    }
    run.events.event(events::Event::Failed {
        step: "meta migration".into(),
        reason: reason.clone(),
    });
    if run.no_rollback {
        return Error::Failed(format!(
            "{reason}. Left as it is (--no-rollback); run the same command to resume, or `helm milvus-upgrade rollback {}` to undo",
            run.progress.release
        ));
    }
    match rollback::rollback(run, index).await {
        Ok(summary) => Error::RolledBack(format!("{reason}. {summary}")),
        Err(r) => Error::Failed(format!(
            "{reason}. Rollback failed too: {r}; progress is kept, run `helm milvus-upgrade rollback {}` to retry it",
            run.progress.release
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(container: &str, replicas: i32) -> DeploymentRecord {
        DeploymentRecord {
            container: container.into(),
            image: "milvusdb/milvus:v2.1.4".into(),
            replicas,
            strategy: "Recreate".into(),
            min_ready_seconds: 0,
            phase: crate::exec::state::DeploymentPhase::Pending,
        }
    }

    #[test]
    fn replicas_follow_the_component_across_a_layout_change() {
        let records: BTreeMap<String, DeploymentRecord> = [
            ("r-milvus-proxy", rec("proxy", 2)),
            ("r-milvus-querynode", rec("querynode", 3)),
            ("r-milvus-rootcoord", rec("rootcoord", 1)),
            ("r-milvus-datacoord", rec("datacoord", 1)),
        ]
        .into_iter()
        .map(|(n, r)| (n.to_string(), r))
        .collect();
        let live = vec![
            ("r-milvus-proxy".to_string(), Component::Proxy),
            ("renamed-querynode".to_string(), Component::QueryNode),
            ("r-milvus-mixcoord".to_string(), Component::MixCoord),
        ];
        let plan = replica_plan(&records, &live);
        assert_eq!(
            plan.scale,
            vec![
                ("r-milvus-proxy".to_string(), 2),
                ("renamed-querynode".to_string(), 3)
            ]
        );
        assert_eq!(plan.unrecorded, ["r-milvus-mixcoord"]);
        assert_eq!(plan.gone, ["r-milvus-datacoord", "r-milvus-rootcoord"]);
    }
}
