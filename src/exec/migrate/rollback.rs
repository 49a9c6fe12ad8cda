//! Undoing a meta migration, automatically after a failed stage or with
//! `helm milvus-upgrade rollback RELEASE`: stop the new version if it started,
//! restore the meta backup if the migration had started, `helm rollback` if the
//! chart was upgraded, old images and recorded replicas back, verified.

use serde_json::json;

use super::objects::Job;
use super::stage::Stage;
use super::{cleanup_pods, current, objects, sessions_expire, stop};
use crate::error::Error;
use crate::exec::events::{Event, Events};
use crate::exec::lock::Lock;
use crate::exec::run::Run;
use crate::exec::run::Settings;
use crate::exec::state::{self, DeploymentPhase};
use crate::planner::component::{Component, Layout};
use crate::world::cluster::api_error;
use crate::world::gather::Context;

/// Rolls the hop back; returns what was done. Clears the recorded progress.
pub async fn rollback(run: &mut Run<'_>, index: usize) -> Result<String, Error> {
    run.clock.restart();
    let stage = current(run, index).unwrap_or(Stage::Record);
    let release = run.progress.release.clone();
    let mut done: Vec<String> = Vec::new();
    let Some(old_image) = run
        .progress
        .deployments
        .values()
        .next()
        .map(|r| r.image.clone())
    else {
        state::clear(run.ctx, &release).await?;
        return Ok("nothing was recorded yet, so nothing was changed".into());
    };
    run.events.event(Event::RollbackStep {
        step: format!("rolling back from stage '{stage}' to {old_image}"),
    });
    if stage.new_version_started() {
        let since = stop(run).await?;
        sessions_expire(run, since).await?;
        done.push("stopped the new version".into());
    }
    if stage.meta_touched() {
        restore_meta(run, &release).await?;
        done.push("restored the meta from the backup".into());
    }
    if let Some(before) = helm_rollback(run, index, &release).await? {
        done.push(format!("helm rollback to revision {before}"));
    }
    let restored = restore_deployments(run, &old_image).await?;
    cleanup_pods(run).await;
    state::clear(run.ctx, &release).await?;
    done.push(format!(
        "{restored} Deployment(s) back on {old_image} with their recorded replicas"
    ));
    Ok(format!("Rolled back: {}", done.join("; ")))
}

/// Runs the rollback pod over the finished backup.
async fn restore_meta(run: &mut Run<'_>, release: &str) -> Result<(), Error> {
    let objects = objects(run);
    if !objects.backup_marked().await? {
        return Err(Error::Failed(format!(
            "the meta was being migrated but configmap/{} does not mark a finished backup: restore etcd by hand",
            super::objects::config_name(release)
        )));
    }
    objects.delete_pod(Job::Rollback, &run.clock).await?;
    run.events.event(Event::RollbackStep {
        step: format!(
            "pod/{}: restoring the meta from the backup",
            Job::Rollback.pod_name(release)
        ),
    });
    objects
        .run_pod(
            Job::Rollback,
            &run.migration.migration_image,
            &run.clock,
            &run.interrupt,
        )
        .await
}

/// `helm rollback` to the recorded revision if this hop moved the release.
async fn helm_rollback(
    run: &mut Run<'_>,
    index: usize,
    release: &str,
) -> Result<Option<u64>, Error> {
    let Some(before) = run.progress.hops[index].revision_before else {
        return Ok(None);
    };
    let now = run.ctx.helm.release(release).await?;
    if now.is_none_or(|r| r.revision <= before) {
        return Ok(None);
    }
    let revision = before.to_string();
    let args = ["rollback", release, revision.as_str()];
    run.events.event(Event::RollbackStep {
        step: format!("helm {}", args.join(" ")),
    });
    crate::exec::helm_hop::helm_write(run, &args).await?;
    Ok(Some(before))
}

/// Old images and recorded replicas back; waits until the old layout runs.
async fn restore_deployments(run: &mut Run<'_>, old_image: &str) -> Result<usize, Error> {
    let mut restored = 0;
    for (name, r) in &run.progress.deployments {
        let body = json!({"spec": {"replicas": r.replicas, "template": {"spec": {"containers": [{"name": r.container, "image": r.image}]}}}});
        match run.patch_deployment(name, &body).await {
            Ok(_) => restored += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                run.events.event(Event::Skipped {
                    deployment: name.clone(),
                    reason: "no longer exists, skipped".into(),
                });
            }
            Err(e) => return Err(api_error(e)),
        }
    }
    let components: Vec<Component> = run
        .progress
        .deployments
        .values()
        .filter_map(|r| Component::from_label(&r.container))
        .collect();
    crate::exec::helm_hop::wait_layout(run, Layout::of(&components), old_image)
        .await
        .map_err(|why| {
            Error::Failed(format!(
                "the old version did not come back: {}",
                why.describe()
            ))
        })?;
    for r in run.progress.deployments.values_mut() {
        r.phase = DeploymentPhase::Restored;
    }
    Ok(restored)
}

/// What `helm milvus-upgrade rollback RELEASE` found and did.
pub enum Undo {
    /// No upgrade is recorded for the release.
    NothingRecorded,
    /// The recorded meta migration was undone: what was done.
    RolledBack(String),
}

/// `helm milvus-upgrade rollback RELEASE`: undoes a recorded meta migration.
pub async fn undo(
    ctx: &Context,
    release: &str,
    settings: &Settings,
    events: Box<dyn Events>,
) -> Result<Undo, Error> {
    let Some(progress) = state::load(ctx, release).await? else {
        return Ok(Undo::NothingRecorded);
    };
    let migration = progress
        .hops
        .iter()
        .position(|h| h.path == "migrate" && h.step.is_some());
    let ordered = progress
        .hops
        .iter()
        .rposition(|h| h.phase != state::HopPhase::Done && h.ordered.is_some());
    let Some(index) = migration.or(ordered) else {
        return Err(Error::Usage(format!(
            "the recorded upgrade of {release} ({} → {}) has no meta migration or ordered chart hop to undo; run `helm milvus-upgrade {release} --to {}` to resume it",
            progress.from, progress.to, progress.to
        )));
    };
    let facts = ctx.facts(release).await?;
    let lock = Lock::acquire(ctx, release, settings.take_over).await?;
    let settings = Settings {
        no_rollback: false,
        min_ready_seconds: 0,
        parallel_nodes: false,
        ..settings.clone()
    };
    let mut run = Run::new(ctx, &facts, progress, &settings, events);
    let result = if migration.is_some() {
        rollback(&mut run, index).await
    } else {
        crate::exec::ordered_hop::undo_recorded(&mut run, index).await
    };
    let released = lock.release().await;
    let summary = result?;
    released.map(|()| Undo::RolledBack(summary))
}
