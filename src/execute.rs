//! Runs a plan: confirmation, the lock, progress recorded in the cluster, then
//! one executor per path, hop by hop. A second run resumes where one stopped.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::json;
use tokio::time::Instant;

use crate::cli::{GlobalArgs, Output, UpgradeArgs};
use crate::error::Error;
use crate::facts::Facts;
use crate::gather::Context;
use crate::helm_sync;
use crate::lock::Lock;
use crate::plan::{Path, Plan};
use crate::progress::Reporter;
use crate::rollout::Interrupt;
use crate::state::{self, HopPhase, HopRecord, Progress};

/// Everything an executor needs while it runs.
pub struct Run<'a> {
    pub ctx: &'a Context,
    pub facts: &'a Facts,
    pub progress: Progress,
    pub reporter: Reporter,
    pub interrupt: Interrupt,
    pub deadline: Instant,
    pub timeout: Duration,
    pub no_rollback: bool,
    pub min_ready_seconds: i32,
    /// Roll querynode and datanode together.
    pub parallel_nodes: bool,
    pub migration: crate::migrate::MigrationArgs,
}

impl Run<'_> {
    pub async fn save(&mut self) -> Result<(), Error> {
        state::save(&self.ctx.client, &self.ctx.namespace, &mut self.progress).await
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace)
    }
}

pub async fn run(
    ctx: &Context,
    facts: &Facts,
    plan: &Plan,
    args: &UpgradeArgs,
    global: &GlobalArgs,
) -> Result<(), Error> {
    confirm(args)?;
    let existing = state::load(&ctx.client, &ctx.namespace, &plan.release).await?;
    let sync_helm = plan.hops.last().is_some_and(|h| h.path == Path::Rolling);
    let progress = resume_or_start(existing, plan)?;
    let lock = Lock::acquire(
        &ctx.client,
        &ctx.namespace,
        &plan.release,
        args.run.take_over,
    )
    .await?;
    let mut run = Run {
        ctx,
        facts,
        progress,
        reporter: Reporter::new(!global.no_color, false),
        interrupt: Interrupt::on_ctrl_c(),
        deadline: Instant::now() + args.run.timeout,
        timeout: args.run.timeout,
        no_rollback: args.no_rollback,
        min_ready_seconds: args.min_ready_seconds,
        parallel_nodes: args.parallel_nodes,
        migration: args.migration.clone(),
    };
    let result = run_hops(&mut run, plan, sync_helm).await;
    let released = lock.release().await;
    let elapsed = run.reporter.elapsed();
    match &result {
        Ok(()) => {
            state::clear(&ctx.client, &ctx.namespace, &plan.release).await?;
            report(global, plan, elapsed, None);
        }
        Err(e) => report(global, plan, elapsed, Some(e)),
    }
    result.and(released)
}

fn confirm(args: &UpgradeArgs) -> Result<(), Error> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "stdin is not a terminal: pass --yes to upgrade without the confirmation prompt".into(),
        ));
    }
    eprint!("Proceed with this upgrade? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(Error::Usage("not confirmed: nothing was changed".into())),
    }
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
        run.reporter.line(&format!(
            "hop {}/{}: {} {} → {}",
            i + 1,
            plan.hops.len(),
            hop.path,
            hop.from,
            hop.to
        ));
        run.progress.hops[i].phase = HopPhase::Running;
        run.save().await?;
        let (ctx, facts) = (run.ctx, run.facts);
        match hop.path {
            // The Helm sync's checks need no finished rollout: they run meanwhile.
            Path::Rolling if sync_helm && i + 1 == plan.hops.len() => {
                let (rolled, checked) = tokio::join!(
                    crate::rolling::run(run, hop),
                    helm_sync::prepare(ctx, facts, plan)
                );
                rolled?;
                prepared = Some(checked);
            }
            Path::Rolling => crate::rolling::run(run, hop).await?,
            Path::Helm => crate::helm_hop::run(run, hop, i).await?,
            Path::Migrate => crate::migrate::run(run, hop, i).await?,
        }
        run.progress.hops[i].phase = HopPhase::Done;
        run.save().await?;
    }
    if sync_helm {
        let sync = match prepared {
            Some(Ok(ready)) => helm_sync::apply(run.ctx, ready, plan).await,
            Some(Err(sync)) => sync,
            None => helm_sync::run(run.ctx, run.facts, plan).await,
        };
        match sync {
            crate::helm_sync::Sync::Done(what) => run.reporter.line(&what),
            crate::helm_sync::Sync::Manual { command, why } => run.reporter.line(&format!(
                "the Helm release still names the old image tag ({why}); make it match what runs with:\n  {command}"
            )),
        }
    }
    Ok(())
}

fn report(global: &GlobalArgs, plan: &Plan, elapsed: Duration, error: Option<&Error>) {
    let seconds = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
    match global.output {
        Output::Json => {
            let outcome = match error {
                None => "upgraded",
                Some(Error::RolledBack(_)) => "rolled_back",
                Some(Error::Interrupted) => "interrupted",
                Some(_) => "failed",
            };
            let body = json!({"schema": "helm-milvus-upgrade/result/v1", "release": plan.release, "from": plan.from, "to": plan.to, "outcome": outcome, "error": error.map(ToString::to_string), "seconds": seconds, "plan": plan});
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
        }
        Output::Text if error.is_none() => println!(
            "\nUpgraded {} to Milvus {} in {seconds}s.",
            plan.release, plan.to
        ),
        Output::Text => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_to(to: &str) -> Plan {
        let v: crate::version::MilvusVersion = to.parse().unwrap();
        Plan {
            schema: crate::plan::SCHEMA,
            release: "r".into(),
            namespace: "ns".into(),
            from: v.clone(),
            to: v,
            layout: crate::component::Layout::MixCoord,
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
