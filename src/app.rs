//! The commands: wire adapters, the planner and output together.

use serde_json::json;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::cli::{
    Cli, Command, GlobalArgs, Output, RollbackArgs, StatusArgs, UpgradeArgs, VersionsArgs,
};
use crate::error::{Error, PlanError};
use crate::exec::admission;
use crate::exec::migrate::rollback::{undo, Undo};
use crate::exec::run::Settings;
use crate::exec::runner;
use crate::planner::facts::Facts;
use crate::planner::plan::{self, Options, PathChoice, Plan};
use crate::planner::preflight::{self, Check};
use crate::planner::provenance::identify;
use crate::planner::version::MilvusVersion;
use crate::ui::plan_text;
use crate::ui::progress::Reporter;
use crate::world::cluster;
use crate::world::gather::Context;
use crate::world::helm::Helm;
use crate::world::kube_config::KubeSettings;
use crate::world::retry::Retry;

pub async fn run(cli: Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Upgrade(args) => upgrade(&cli.global, args).await,
        Command::Versions(args) => versions(&cli.global, args).await,
        Command::Status(args) => status(&cli.global, args).await,
        Command::Rollback(args) => rollback(&cli.global, args).await,
        Command::Completion { .. } => Ok(()),
    }
}

async fn context(global: &GlobalArgs, write_args: Vec<String>) -> Result<Context, Error> {
    charts_context(global, write_args, Vec::new()).await
}

/// A context whose helm and migration hops take these `--chart` paths.
async fn charts_context(
    global: &GlobalArgs,
    write_args: Vec<String>,
    local_charts: Vec<std::path::PathBuf>,
) -> Result<Context, Error> {
    let bin = Helm::locate(global.helm_bin.clone())?;
    let kube_context = global.kube_context.clone().filter(|c| !c.is_empty());
    let settings = KubeSettings::from_env(kube_context.clone(), global.kubeconfig.clone());
    let client = settings.client().await?;
    let helm = Helm {
        bin,
        namespace: global.namespace.clone(),
        kube_context,
        kubeconfig: global.kubeconfig.clone(),
        write_args,
    };
    Ok(Context {
        helm,
        client,
        namespace: global.namespace.clone(),
        retry: Retry::none(),
        local_charts,
    })
}

fn options(args: &UpgradeArgs) -> Result<Options, Error> {
    let chart_version = match &args.chart_version {
        Some(v) => Some(
            semver::Version::parse(v.trim_start_matches('v')).map_err(|_| {
                Error::Usage(format!(
                    "--chart-version '{v}' is not a chart version like 4.2.8"
                ))
            })?,
        ),
        None => None,
    };
    if args.path == PathChoice::Rolling && chart_version.is_some() {
        return Err(Error::Usage("--chart-version conflicts with --path rolling: a rolling upgrade patches images and uses no chart".into()));
    }
    let min_ready = Duration::from_secs(u64::try_from(args.min_ready_seconds).unwrap_or(0));
    if args.run.progress_deadline <= min_ready {
        return Err(Error::Usage(format!(
            "--progress-deadline {} must be longer than --min-ready-seconds {}: a coordinator's new pod shows no progress while it waits that long (Kubernetes demands the same of progressDeadlineSeconds); pass a longer --progress-deadline or a smaller --min-ready-seconds",
            humantime::format_duration(args.run.progress_deadline),
            args.min_ready_seconds
        )));
    }
    if !args.charts.is_empty() {
        let clash = match (&chart_version, &args.repo) {
            (Some(_), _) => Some("--chart-version: the chart's version is in its Chart.yaml"),
            (_, Some(_)) => Some("--repo: a local chart uses no repository"),
            _ => None,
        };
        if let Some(why) = clash {
            return Err(Error::Usage(format!("--chart conflicts with {why}")));
        }
    }
    if args.dry_run && args.run.take_over {
        return Err(Error::Usage(
            "--take-over conflicts with --dry-run: a dry run takes no lock".into(),
        ));
    }
    Ok(Options {
        path: args.path,
        chart_version,
        repo: args.repo.clone(),
        image_repository: args.image.clone(),
        allow_downgrade: args.allow_downgrade,
        force: args.force,
        resume_from: None,
        resume_layout: None,
        all_at_once: args.all_at_once,
    })
}

/// The plan and its checks, read-only.
pub async fn prepare(
    ctx: &Context,
    release: &str,
    target: &MilvusVersion,
    options: &Options,
    settings: &Settings,
) -> Result<(Facts, Plan, Vec<Check>), Error> {
    let facts = ctx.facts(release).await?;
    let mut plan = plan::plan(&facts, target, options)?;
    // The ordered hops' renders (helm) while the API server answers the checks.
    let checked = async {
        let access = cluster::review_access(
            &ctx.client,
            &ctx.namespace,
            &preflight::required_access(&plan),
        )
        .await?;
        let permitted = access.iter().all(|a| a.allowed);
        let probes =
            admission::probe(&ctx.client, &ctx.namespace, &plan, settings, permitted).await?;
        Ok::<_, Error>((access, probes))
    };
    let (preview, checked) = tokio::join!(crate::exec::ordered_hop::preview(ctx, &plan), checked);
    let (access, mut probes) = checked?;
    let preview = preview?;
    if let Some(admitted) = probes.admission.as_mut() {
        // The Deployments the ordered hops create, as rendered.
        admitted.extend(admission::dry_run(&ctx.client, &ctx.namespace, &preview.created).await?);
    }
    preview.apply_to(&mut plan);
    let checks = preflight::checks(
        &plan,
        &facts,
        &access,
        options.resume_from.is_some(),
        &probes,
    );
    Ok((facts, plan, checks))
}

async fn upgrade(global: &GlobalArgs, args: &UpgradeArgs) -> Result<(), Error> {
    let target: MilvusVersion = args.to.parse()?;
    let mut options = options(args)?;
    let mut ctx = charts_context(global, args.run.helm_args.clone(), args.charts.clone()).await?;
    // Progress recorded toward this target: plan from where that run started, so
    // a run killed after the last patch (or during the final helm sync) finishes.
    if let Some(p) = crate::exec::state::load(&ctx, &args.release).await? {
        if p.to.parse::<MilvusVersion>().ok().as_ref() == Some(&target) {
            options.resume_from = p.from.parse().ok();
            options.resume_layout = p.layout;
        }
    }
    let settings = args.settings();
    let (facts, plan, checks) = prepare(&ctx, &args.release, &target, &options, &settings).await?;
    let ready = checks.iter().all(|c| c.ok);
    match global.output {
        Output::Json if args.dry_run || !ready => println!("{}", serde_json::to_string_pretty(&json!({"schema": plan::SCHEMA, "dry_run": args.dry_run, "ready": ready, "plan": plan, "deadlines": deadlines_json(&settings), "checks": checks})).unwrap_or_default()),
        Output::Json => {}
        Output::Text => {
            let deadlines = plan_text::Deadlines {
                progress: settings.progress_deadline,
                total: settings.timeout,
            };
            print!("{}", plan_text::plan_text(&plan, &facts, &checks, &deadlines))
        }
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Preflight(failed.join("; ")));
    }
    if args.dry_run {
        if global.output == Output::Text {
            println!("\nDry run: nothing was changed. Run without --dry-run to upgrade.");
        }
        return Ok(());
    }
    confirm(args)?;
    // From the first write on, transient API errors are retried (planning reads
    // fail at once: an unreachable cluster is said before any prompt).
    ctx.retry = Retry::within(settings.progress_deadline);
    let events = Box::new(Reporter::new(!global.no_color, false));
    let outcome = runner::run(&ctx, &facts, &plan, &settings, events).await?;
    report(
        global,
        &plan,
        &settings,
        outcome.elapsed,
        outcome.result.as_ref().err(),
    );
    outcome.result
}

/// Both deadlines, for the plan's JSON.
fn deadlines_json(settings: &Settings) -> serde_json::Value {
    json!({
        "progress_deadline_seconds": settings.progress_deadline.as_secs(),
        "timeout_seconds": settings.timeout.map(|t| t.as_secs()),
    })
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

fn report(
    global: &GlobalArgs,
    plan: &Plan,
    settings: &Settings,
    elapsed: Duration,
    error: Option<&Error>,
) {
    let seconds = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
    match global.output {
        Output::Json => {
            let outcome = match error {
                None => "upgraded",
                Some(Error::RolledBack(_)) => "rolled_back",
                Some(Error::Interrupted) => "interrupted",
                Some(_) => "failed",
            };
            let body = json!({"schema": "helm-milvus-upgrade/result/v1", "release": plan.release, "from": plan.from, "to": plan.to, "outcome": outcome, "error": error.map(ToString::to_string), "seconds": seconds, "plan": plan, "deadlines": deadlines_json(settings)});
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

/// `helm milvus-upgrade rollback RELEASE`.
async fn rollback(global: &GlobalArgs, args: &RollbackArgs) -> Result<(), Error> {
    let settings = args.settings();
    let mut ctx = context(global, args.run.helm_args.clone()).await?;
    // Writing from the start: transient API errors are retried.
    ctx.retry = Retry::within(settings.progress_deadline);
    let events = Box::new(Reporter::new(!global.no_color, false));
    let summary = match undo(&ctx, &args.release, &settings, events).await? {
        Undo::RolledBack(summary) => summary,
        Undo::NothingRecorded => {
            println!(
                "Nothing to roll back: release {} has no recorded upgrade (configmap/{} does not exist).",
                args.release,
                crate::exec::state::state_name(&args.release)
            );
            return Ok(());
        }
    };
    match global.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"schema": "helm-milvus-upgrade/rollback/v1", "release": args.release, "outcome": "rolled_back", "summary": summary}))
                .unwrap_or_default()
        ),
        Output::Text => println!("{summary}"),
    }
    Ok(())
}

async fn versions(global: &GlobalArgs, args: &VersionsArgs) -> Result<(), Error> {
    let ctx = context(global, Vec::new()).await?;
    let facts = match &args.release {
        Some(r) => Some(ctx.facts(r).await?),
        None => None,
    };
    let index = match &facts {
        Some(f) => f.index.clone(),
        None => ctx.chart_index().await?,
    };
    if index.charts.is_empty() {
        return Err(PlanError::NoChartRepository.into());
    }
    let mut charts = index.charts.clone();
    charts.sort_by(|a, b| {
        b.chart_version
            .cmp(&a.chart_version)
            .then(a.repo.cmp(&b.repo))
    });
    let rows: Vec<serde_json::Value> = charts
        .iter()
        .map(|c| {
            let default_image = c.facts().default_image;
            let identity = identify(c);
            let mut row = json!({"repo": c.repo, "chart_version": c.chart_version, "app_version": c.app_version, "default_image": default_image, "archived_repo": index.is_archived(&c.repo), "milvus_chart": identity.is_milvus(), "identity": identity.why()});
            if !identity.is_milvus() {
                row["note"] = json!("not the Milvus Helm chart");
            } else if let Some(f) = &facts {
                match plan_to_chart(f, c) {
                    Ok(p) => {
                        row["path"] = json!(p.paths());
                        row["hops"] = json!(p.hops.len());
                    }
                    Err(e) => row["note"] = json!(short_reason(&e)),
                }
            }
            row
        })
        .collect();
    let running = facts.as_ref().and_then(|f| plan::current_version(f).ok());
    match global.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&json!({"schema": "helm-milvus-upgrade/versions/v1", "release": args.release, "running": running, "charts": rows})).unwrap_or_default()),
        Output::Text => print!("{}", plan_text::versions_text(&rows, running.as_ref())),
    }
    Ok(())
}

/// The plan that ends on this chart; a rolling plan uses no chart at all.
fn plan_to_chart(
    facts: &Facts,
    chart: &crate::planner::facts::ChartEntry,
) -> Result<Plan, PlanError> {
    let pinned = Options {
        chart_version: Some(chart.chart_version.clone()),
        repo: Some(chart.repo.clone()),
        ..Options::default()
    };
    match plan::plan(facts, &chart.app_version, &pinned) {
        Err(PlanError::ChartVersionUnused { .. }) => {
            plan::plan(facts, &chart.app_version, &Options::default())
        }
        other => other,
    }
}

fn short_reason(e: &PlanError) -> String {
    match e {
        PlanError::SameVersion { .. } => "running".into(),
        PlanError::Downgrade { .. } => "downgrade".into(),
        other => other.to_string(),
    }
}

async fn status(global: &GlobalArgs, args: &StatusArgs) -> Result<(), Error> {
    let ctx = context(global, Vec::new()).await?;
    let facts = ctx.facts(&args.release).await?;
    let running = plan::current_version(&facts).ok();
    let report = crate::exec::status::report(&ctx, &facts, running.as_ref()).await?;
    match global.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Text => print!("{}", crate::ui::status::text(&report)),
    }
    Ok(())
}
