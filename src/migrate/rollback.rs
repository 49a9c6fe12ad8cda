//! Undoing a meta migration, automatically after a failed stage or with
//! `helm milvus-upgrade rollback RELEASE`: stop the new version if it started,
//! restore the meta backup if the migration had started, `helm rollback` if the
//! chart was upgraded, old images and recorded replicas back, verified.

use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::time::Instant;

use super::objects::Job;
use super::stage::Stage;
use super::{cleanup_pods, current, objects, sessions_expire, stop};
use crate::cli::{GlobalArgs, Output};
use crate::cluster::api_error;
use crate::component::{Component, Layout};
use crate::error::Error;
use crate::execute::Run;
use crate::lock::Lock;
use crate::progress::Reporter;
use crate::rollout::Interrupt;
use crate::state::{self, DeploymentPhase, FIELD_MANAGER};

/// Rolls the hop back; returns what was done. Clears the recorded progress.
pub async fn rollback(run: &mut Run<'_>, index: usize) -> Result<String, Error> {
    run.deadline = Instant::now() + run.timeout;
    let stage = current(run, index).unwrap_or(Stage::Record);
    let release = run.progress.release.clone();
    let mut done: Vec<String> = Vec::new();
    let records = run.progress.deployments.clone();
    let Some(old_image) = records.values().next().map(|r| r.image.clone()) else {
        state::clear(&run.ctx.client, &run.ctx.namespace, &release).await?;
        return Ok("nothing was recorded yet, so nothing was changed".into());
    };
    run.reporter
        .line(&format!("rolling back from stage '{stage}' to {old_image}"));
    if stage.new_version_started() {
        let since = stop(run).await?;
        sessions_expire(run, since).await?;
        done.push("stopped the new version".into());
    }
    if stage.meta_touched() {
        let objects = objects(run);
        if !objects.backup_marked().await? {
            return Err(Error::Failed(format!(
                "the meta was being migrated but configmap/{} does not mark a finished backup: restore etcd by hand",
                super::objects::config_name(&release)
            )));
        }
        objects.delete_pod(Job::Rollback, run.deadline).await?;
        run.reporter.line(&format!(
            "pod/{}: restoring the meta from the backup",
            Job::Rollback.pod_name(&release)
        ));
        objects
            .run_pod(
                Job::Rollback,
                &run.migration.migration_image,
                run.deadline,
                &run.interrupt,
            )
            .await?;
        done.push("restored the meta from the backup".into());
    }
    if let Some(before) = run.progress.hops[index].revision_before {
        let now = run.ctx.helm.release(&release).await?;
        if now.is_some_and(|r| r.revision > before) {
            let revision = before.to_string();
            let mut args = vec!["rollback", release.as_str(), revision.as_str()];
            args.extend(run.ctx.helm.write_args.iter().map(String::as_str));
            run.reporter.line(&format!("helm {}", args.join(" ")));
            run.ctx.helm.run(&args).await?;
            done.push(format!("helm rollback to revision {before}"));
        }
    }
    let api = run.deployments();
    let mut restored = 0;
    for (name, r) in &records {
        let body = json!({"spec": {"replicas": r.replicas, "template": {"spec": {"containers": [{"name": r.container, "image": r.image}]}}}});
        match api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Strategic(&body),
            )
            .await
        {
            Ok(_) => restored += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                run.reporter
                    .line(&format!("deployment/{name} no longer exists, skipped"));
            }
            Err(e) => return Err(api_error(e)),
        }
    }
    let components: Vec<Component> = records
        .values()
        .filter_map(|r| Component::from_label(&r.container))
        .collect();
    let layout = Layout::of(&components);
    crate::helm_hop::wait_layout(run, layout, &old_image)
        .await
        .map_err(|why| Error::Failed(format!("the old version did not come back: {why}")))?;
    for r in run.progress.deployments.values_mut() {
        r.phase = DeploymentPhase::Restored;
    }
    cleanup_pods(run).await;
    state::clear(&run.ctx.client, &run.ctx.namespace, &release).await?;
    done.push(format!(
        "{restored} Deployment(s) back on {old_image} with their recorded replicas"
    ));
    Ok(format!("Rolled back: {}", done.join("; ")))
}

/// `helm milvus-upgrade rollback RELEASE`.
pub async fn command(global: &GlobalArgs, args: &super::RollbackArgs) -> Result<(), Error> {
    let ctx = crate::app::context(global, args.run.helm_args.clone()).await?;
    let Some(progress) = state::load(&ctx.client, &ctx.namespace, &args.release).await? else {
        println!(
            "Nothing to roll back: release {} has no recorded upgrade (configmap/{} does not exist).",
            args.release,
            state::state_name(&args.release)
        );
        return Ok(());
    };
    let Some(index) = progress
        .hops
        .iter()
        .position(|h| h.path == "migrate" && h.step.is_some())
    else {
        return Err(Error::Usage(format!(
            "the recorded upgrade of {} ({} → {}) has no meta migration to undo; run `helm milvus-upgrade {} --to {}` to resume it",
            args.release, progress.from, progress.to, args.release, progress.to
        )));
    };
    let facts = ctx.facts(&args.release).await?;
    let lock = Lock::acquire(
        &ctx.client,
        &ctx.namespace,
        &args.release,
        args.run.take_over,
    )
    .await?;
    let mut run = Run {
        ctx: &ctx,
        facts: &facts,
        progress,
        reporter: Reporter::new(!global.no_color, false),
        interrupt: Interrupt::on_ctrl_c(),
        deadline: Instant::now() + args.run.timeout,
        timeout: args.run.timeout,
        no_rollback: false,
        min_ready_seconds: 0,
        parallel_nodes: false,
        migration: args.migration.clone(),
    };
    let result = rollback(&mut run, index).await;
    let released = lock.release().await;
    let summary = result?;
    match global.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"schema": "helm-milvus-upgrade/rollback/v1", "release": args.release, "outcome": "rolled_back", "summary": summary}))
                .unwrap_or_default()
        ),
        Output::Text => println!("{summary}"),
    }
    released
}
