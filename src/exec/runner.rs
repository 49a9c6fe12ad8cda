//! Runs a plan: the lock, progress recorded in the cluster, then
//! one executor per path, hop by hop. A second run resumes where one stopped.

use std::time::Duration;

use crate::error::Error;
use crate::exec::events::{Event, Events};
use crate::exec::helm_sync;
use crate::exec::lock::Lock;
use crate::exec::run::{Run, Settings};
use crate::exec::state::{self, HopPhase, HopRecord, Progress};
use crate::planner::facts::Facts;
use crate::planner::plan::{Path, Plan};
use crate::planner::preflight;
use crate::world::gather::Context;

/// How a run ended, and after how long.
pub struct Outcome {
    pub elapsed: Duration,
    pub result: Result<(), Error>,
}

/// Takes the lock, records progress and runs every hop not done yet. The caller
/// has shown the plan and had it confirmed.
pub async fn run(
    ctx: &Context,
    facts: &Facts,
    plan: &Plan,
    settings: &Settings,
    events: Box<dyn Events>,
) -> Result<Outcome, Error> {
    let existing = state::load(ctx, &plan.release).await?;
    // A resumed run's release may still be moving by the interrupted run's hand.
    let resuming = existing.is_some();
    let sync_helm = plan.hops.last().is_some_and(|h| h.path == Path::Rolling);
    let progress = resume_or_start(existing, plan)?;
    let lock = Lock::acquire(ctx, &plan.release, settings.take_over).await?;
    // Fresh facts: the plan shown may be stale by now (someone upgraded, rolled
    // back or patched the release meanwhile); nothing is written on a stale plan.
    let changed = if resuming {
        Vec::new()
    } else {
        match ctx.refreshed(facts).await {
            Ok(now) => preflight::changed_since_plan(facts, &now),
            Err(e) => {
                let _ = lock.release().await;
                return Err(e);
            }
        }
    };
    if !changed.is_empty() {
        let _ = lock.release().await;
        return Err(Error::Preflight(format!(
            "release '{}' changed since the plan was shown: {}; nothing was changed, run the command again to see the new plan",
            plan.release,
            changed.join("; ")
        )));
    }
    let mut run = Run::new(ctx, facts, progress, settings, events);
    run.events.event(Event::Locked {
        lease: crate::exec::lock::lock_name(&plan.release),
    });
    lock.interrupt_on_loss(run.interrupt.clone());
    // A request that kept failing stopped the run unjudged: say it resumes.
    let mut result = run_hops(&mut run, plan, sync_helm)
        .await
        .map_err(|e| match e {
            Error::Cluster {
                message,
                transient: true,
                ..
            } => Error::Unavailable(message),
            other => other,
        });
    let released = lock.release().await;
    // Every hop done (a failed Helm sync after them included): nothing to resume.
    let done = run.progress.hops.iter().all(|h| h.phase == HopPhase::Done);
    if done {
        let cleared = state::clear(ctx, &plan.release).await;
        result = result.and(cleared);
    }
    Ok(Outcome {
        elapsed: run.started.elapsed(),
        result: result.and(released),
    })
}

/// Recorded progress toward the same target resumes; toward another is refused.
fn resume_or_start(existing: Option<Progress>, plan: &Plan) -> Result<Progress, Error> {
    let hops: Vec<HopRecord> = plan
        .hops
        .iter()
        .map(|h| HopRecord {
            path: h.path.to_string(),
            to: h.to.to_string(),
            phase: HopPhase::Pending,
            revision_before: None,
            step: None,
            ordered: None,
        })
        .collect();
    match existing {
        Some(p) if p.to.parse().ok().as_ref() == Some(&plan.to) => {
            let mut hops = hops;
            for h in hops.iter_mut() {
                if let Some(old) = p.hops.iter().find(|o| o.path == h.path && o.to == h.to) {
                    *h = old.clone();
                }
            }
            Ok(Progress { hops, ..p })
        }
        Some(p) => Err(Error::Preflight(format!(
            "an upgrade of '{}' to {} is in progress (configmap/{}); resume it with --to {}, or finish/undo it before starting another",
            p.release,
            p.to,
            state::state_name(&p.release),
            p.to
        ))),
        None => Ok(Progress {
            schema: state::SCHEMA.into(),
            release: plan.release.clone(),
            from: plan.from.to_string(),
            to: plan.to.to_string(),
            hops,
            deployments: Default::default(),
            updated_at: String::new(),
            layout: Some(plan.layout),
        }),
    }
}

async fn run_hops(run: &mut Run<'_>, plan: &Plan, sync_helm: bool) -> Result<(), Error> {
    run.save().await?;
    let mut prepared = None;
    for (i, hop) in plan.hops.iter().enumerate() {
        if run.progress.hops[i].phase == HopPhase::Done {
            continue;
        }
        if run.interrupt.is_set() {
            return Err(Error::Interrupted);
        }
        run.events.event(Event::HopStarted {
            hop: i + 1,
            hops: plan.hops.len(),
            path: hop.path.to_string(),
            from: hop.from.to_string(),
            to: hop.to.to_string(),
        });
        run.progress.hops[i].phase = HopPhase::Running;
        run.save().await?;
        let (ctx, facts) = (run.ctx, run.facts);
        match hop.path {
            // The Helm sync's checks need no finished rollout: they run meanwhile.
            Path::Rolling if sync_helm && i + 1 == plan.hops.len() => {
                let (rolled, checked) = tokio::join!(
                    crate::exec::rolling::run(run, hop),
                    helm_sync::prepare(ctx, facts, plan)
                );
                rolled?;
                prepared = Some(checked);
            }
            Path::Rolling => crate::exec::rolling::run(run, hop).await?,
            Path::Helm if hop.ordered => crate::exec::ordered_hop::run(run, hop, i).await?,
            Path::Helm => crate::exec::helm_hop::run(run, hop, i).await?,
            Path::Migrate => crate::exec::migrate::run(run, hop, i).await?,
        }
        run.progress.hops[i].phase = HopPhase::Done;
        run.save().await?;
        run.events.event(Event::HopDone {
            hop: i + 1,
            hops: plan.hops.len(),
        });
    }
    if sync_helm {
        if run.facts.helm_applies_server_side {
            crate::exec::rolling::hand_back_strategies(run).await?;
        }
        let sync = match prepared {
            Some(Ok(ready)) => helm_sync::apply(run.ctx, ready, plan).await,
            Some(Err(sync)) => sync,
            None => helm_sync::run(run.ctx, run.facts, plan).await,
        };
        match sync {
            crate::exec::helm_sync::Sync::Done(what) => run.events.event(Event::HelmSync {
                done: true,
                message: what,
            }),
            crate::exec::helm_sync::Sync::Manual { command, why } => run.events.event(Event::HelmSync {
                done: false,
                message: format!("the Helm release still names the old image tag ({why}); make it match what runs with:\n  {command}"),
            }),
            crate::exec::helm_sync::Sync::Failed { command, why } => {
                return Err(Error::Failed(format!(
                    "every Deployment runs {}, but the Helm sync failed: {why}. Make the release match what runs with:\n  {command}",
                    plan.to
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_to(to: &str) -> Plan {
        let v: crate::planner::version::MilvusVersion = to.parse().unwrap();
        Plan {
            schema: crate::planner::plan::SCHEMA,
            release: "r".into(),
            namespace: "ns".into(),
            from: v.clone(),
            to: v,
            layout: crate::planner::component::Layout::MixCoord,
            hops: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn progress_toward_the_same_target_resumes_and_another_is_refused() {
        let fresh = resume_or_start(None, &plan_to("2.4.9")).unwrap();
        assert_eq!(fresh.to, "2.4.9");
        let resumed = resume_or_start(Some(fresh.clone()), &plan_to("v2.4.9")).unwrap();
        assert_eq!(resumed.release, "r");
        let refused = resume_or_start(Some(fresh), &plan_to("2.5.0")).unwrap_err();
        assert!(
            refused.to_string().contains("resume it with --to 2.4.9"),
            "{refused}"
        );
    }
}
