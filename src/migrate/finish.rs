//! A run killed after the chart upgrade leaves the target running (some of it
//! scaled down) with the migration recorded at stage 'start'. The planner then
//! sees nothing to upgrade, so the same command finishes the recorded stage
//! here: recorded replicas back, the layout verified, the state cleared.

use serde_json::json;
use tokio::time::Instant;

use super::stage::Stage;
use super::{cleanup_pods, restore_replicas};
use crate::cli::{GlobalArgs, Output, UpgradeArgs};
use crate::error::Error;
use crate::execute::Run;
use crate::gather::Context;
use crate::lock::Lock;
use crate::progress::Reporter;
use crate::rollout::Interrupt;
use crate::state::{self, HopPhase, Progress};
use crate::version::MilvusVersion;

/// The migrate hop to `to` that got as far as starting the new version.
pub fn started_hop(progress: &Progress, to: &MilvusVersion) -> Option<usize> {
    progress.hops.iter().position(|h| {
        h.path == "migrate"
            && h.phase != HopPhase::Done
            && h.to.parse::<MilvusVersion>().ok().as_ref() == Some(to)
            && h.step
                .as_deref()
                .and_then(Stage::parse)
                .is_some_and(Stage::new_version_started)
    })
}

/// Some(result) when a recorded migration to the target was finished (or
/// failed finishing); None when there is none and the planner's answer stands.
pub async fn finish_recorded(
    ctx: &Context,
    args: &UpgradeArgs,
    global: &GlobalArgs,
) -> Option<Result<(), Error>> {
    if args.dry_run {
        return None;
    }
    let to: MilvusVersion = args.to.parse().ok()?;
    let progress = match state::load(&ctx.client, &ctx.namespace, &args.release).await {
        Ok(Some(p)) => p,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let index = started_hop(&progress, &to)?;
    Some(finish(ctx, args, global, progress, index).await)
}

async fn finish(
    ctx: &Context,
    args: &UpgradeArgs,
    global: &GlobalArgs,
    progress: Progress,
    index: usize,
) -> Result<(), Error> {
    let facts = ctx.facts(&args.release).await?;
    let lock = Lock::acquire(&ctx.client, &ctx.namespace, &args.release, args.take_over).await?;
    let mut run = Run {
        ctx,
        facts: &facts,
        progress,
        reporter: Reporter::new(!global.no_color, false),
        interrupt: Interrupt::on_ctrl_c(),
        deadline: Instant::now() + args.timeout,
        timeout: args.timeout,
        no_rollback: args.no_rollback,
        min_ready_seconds: args.min_ready_seconds,
        parallel_nodes: args.parallel_nodes,
        migration: args.migration.clone(),
    };
    run.reporter.line(&format!(
        "meta migration: the chart is upgraded already; resuming at stage 'start' (configmap/{})",
        state::state_name(&args.release)
    ));
    let result = complete(&mut run, index).await;
    let released = lock.release().await;
    let seconds = (run.reporter.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    if result.is_ok() {
        match global.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&json!({"schema": "helm-milvus-upgrade/result/v1", "release": args.release, "to": args.to, "outcome": "upgraded", "error": null, "seconds": seconds}))
                    .unwrap_or_default()
            ),
            Output::Text => println!(
                "\nUpgraded {} to Milvus {} in {seconds}s.",
                args.release, args.to
            ),
        }
    }
    result.and(released)
}

async fn complete(run: &mut Run<'_>, index: usize) -> Result<(), Error> {
    let image = run
        .facts
        .workloads
        .first()
        .map(|w| w.image.clone())
        .unwrap_or_default();
    let layout = run.facts.layout();
    let attempt = async {
        restore_replicas(run).await?;
        match crate::helm_hop::wait_layout(run, layout, &image).await {
            Ok(()) => Ok(()),
            Err(why) => Err(Error::Failed(format!(
                "the new version did not come up: {why}{}",
                super::pod_reasons(run).await
            ))),
        }
    }
    .await;
    if let Err(e) = attempt {
        return Err(super::fail(run, index, Stage::Start, e).await);
    }
    run.progress.hops[index].step = Some(Stage::Done.to_string());
    run.progress.hops[index].phase = HopPhase::Done;
    run.save().await?;
    cleanup_pods(run).await;
    state::clear(&run.ctx.client, &run.ctx.namespace, &run.progress.release).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::HopRecord;

    fn progress(step: Option<&str>, phase: HopPhase) -> Progress {
        Progress {
            schema: state::SCHEMA.into(),
            release: "r".into(),
            from: "2.1.4".into(),
            to: "2.2.0".into(),
            hops: vec![HopRecord {
                path: "migrate".into(),
                to: "2.2.0".into(),
                phase,
                revision_before: Some(1),
                step: step.map(String::from),
            }],
            deployments: Default::default(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn only_a_migration_that_started_the_target_is_finished_here() {
        let to: MilvusVersion = "2.2.0".parse().unwrap();
        assert_eq!(
            started_hop(&progress(Some("start"), HopPhase::Running), &to),
            Some(0)
        );
        assert_eq!(
            started_hop(&progress(Some("migrate"), HopPhase::Running), &to),
            None
        );
        assert_eq!(started_hop(&progress(None, HopPhase::Pending), &to), None);
        assert_eq!(
            started_hop(&progress(Some("done"), HopPhase::Done), &to),
            None
        );
        let other: MilvusVersion = "2.4.9".parse().unwrap();
        assert_eq!(
            started_hop(&progress(Some("start"), HopPhase::Running), &other),
            None
        );
    }
}
