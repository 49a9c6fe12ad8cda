//! The commands: wire adapters, the planner and output together.

use serde_json::json;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{
    ApplyArgs, Cli, Command, ExecArgs, FleetArgs, GlobalArgs, Output, Progress, RollbackArgs,
    StatusArgs, UpgradeArgs, VersionsArgs,
};
use crate::error::{Error, PlanError};
use crate::exec::admission;
use crate::exec::events::{Event, Events};
use crate::exec::migrate::rollback::{undo, Undo};
use crate::exec::run::Settings;
use crate::exec::runner;
use crate::planner::basis::Basis;
use crate::planner::facts::{ChartIndex, Facts};
use crate::planner::plan::{self, Options, PathChoice, Plan};
use crate::planner::plan_file::{self, PlanFile, Refusal, Request};
use crate::planner::preflight::{self, Check};
use crate::planner::provenance::identify;
use crate::planner::version::MilvusVersion;
use crate::ui::plan_text;
use crate::ui::progress::{JsonReporter, Reporter};
use crate::world::cluster;
use crate::world::gather::Context;
use crate::world::helm::Helm;
use crate::world::kube_config::KubeSettings;
use crate::world::retry::Retry;

pub async fn run(cli: Cli) -> Result<(), Error> {
    let global = &cli.global;
    if let Command::Status(StatusArgs { fleet, .. })
    | Command::Versions(VersionsArgs { fleet, .. }) = &cli.command
    {
        fleet.check().map_err(Error::Usage)?;
    }
    match &cli.command {
        Command::Upgrade(args) => upgrade(global, args).await,
        Command::Apply(args) => apply(global, args).await,
        Command::Versions(args) if args.fleet.all_namespaces => {
            fleet(global, &args.fleet, true).await
        }
        Command::Versions(args) => versions(global, args).await,
        Command::Status(StatusArgs {
            release: Some(release),
            ..
        }) => status(global, release).await,
        Command::Status(args) => fleet(global, &args.fleet, false).await,
        Command::Rollback(args) => rollback(global, args).await,
        Command::Completion { .. } => Ok(()),
    }
}

async fn context(global: &GlobalArgs, write_args: Vec<String>) -> Result<Context, Error> {
    context_in(global, &global.namespace, write_args, Vec::new()).await
}

/// A context in `namespace` whose helm and migration hops take these `--chart` paths.
async fn context_in(
    global: &GlobalArgs,
    namespace: &str,
    write_args: Vec<String>,
    local_charts: Vec<std::path::PathBuf>,
) -> Result<Context, Error> {
    let bin = Helm::locate(global.helm_bin.clone())?;
    let kube_context = global.kube_context.clone().filter(|c| !c.is_empty());
    let settings = KubeSettings::from_env(kube_context.clone(), global.kubeconfig.clone());
    let client = settings.client().await?;
    let helm = Helm {
        bin,
        namespace: namespace.to_string(),
        kube_context,
        kubeconfig: global.kubeconfig.clone(),
        write_args,
        renders: Default::default(),
        retry: Retry::none(),
    };
    Ok(Context {
        helm,
        client,
        namespace: namespace.to_string(),
        retry: Retry::none(),
        local_charts,
    })
}

/// The progress deadline must outlast a coordinator's minReadySeconds, during
/// which its new pod shows no progress (Kubernetes demands the same).
fn check_deadlines(exec: &ExecArgs) -> Result<(), Error> {
    let min_ready = Duration::from_secs(u64::try_from(exec.min_ready_seconds).unwrap_or(0));
    if exec.run.progress_deadline > min_ready {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--progress-deadline {} must be longer than --min-ready-seconds {}: a coordinator's new pod shows no progress while it waits that long (Kubernetes demands the same of progressDeadlineSeconds); pass a longer --progress-deadline or a smaller --min-ready-seconds",
        humantime::format_duration(exec.run.progress_deadline),
        exec.min_ready_seconds
    )))
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
    check_deadlines(&args.exec)?;
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
    if args.dry_run && args.exec.run.take_over {
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

/// Progress recorded toward this target: plan from where that run started (and
/// the layout it recorded), so a run killed after the last patch (or during the
/// final helm sync) finishes. Whether there is such progress.
async fn resume(
    ctx: &Context,
    release: &str,
    target: &MilvusVersion,
    options: &mut Options,
) -> Result<bool, Error> {
    let recorded = crate::exec::state::load(ctx, release).await?;
    let Some(p) = recorded.filter(|p| p.to.parse::<MilvusVersion>().ok().as_ref() == Some(target))
    else {
        return Ok(false);
    };
    options.resume_from = p.from.parse().ok();
    options.resume_layout = p.layout;
    Ok(true)
}

/// The plan (with what the chart renders for ordered chart hops) and its
/// checks, read-only.
pub async fn prepare(
    ctx: &Context,
    facts: &Facts,
    target: &MilvusVersion,
    options: &Options,
    settings: &Settings,
) -> Result<(Plan, Vec<Check>), Error> {
    let mut plan = plan::plan(facts, target, options)?;
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
    let (preview, checked) = tokio::join!(
        crate::exec::ordered_hop::preview(ctx, facts, &plan),
        checked
    );
    let (access, mut probes) = checked?;
    let preview = preview?;
    if let Some(admitted) = probes.admission.as_mut() {
        // The Deployments the ordered hops create, as rendered.
        admitted.extend(admission::dry_run(&ctx.client, &ctx.namespace, &preview.created).await?);
    }
    preview.apply_to(&mut plan);
    let checks = preflight::checks(
        &plan,
        facts,
        &access,
        options.resume_from.is_some(),
        &probes,
    );
    Ok((plan, checks))
}

async fn upgrade(global: &GlobalArgs, args: &UpgradeArgs) -> Result<(), Error> {
    let target: MilvusVersion = args.to.parse()?;
    let mut options = options(args)?;
    let ctx = context_in(
        global,
        &global.namespace,
        args.exec.run.helm_args.clone(),
        args.charts.clone(),
    )
    .await?;
    resume(&ctx, &args.release, &target, &mut options).await?;
    let settings = args.exec.settings();
    let facts = ctx.facts(&args.release).await?;
    let (plan, checks) = prepare(&ctx, &facts, &target, &options, &settings).await?;
    let request = Request::of(&target.to_string(), &options, &args.charts);
    let file = plan_file::fields(&request, &Basis::of_plan(&facts, &plan));
    let shown = Shown {
        plan: &plan,
        facts: &facts,
        checks: &checks,
        file: Some(file),
    };
    carry_out(global, ctx, shown, &args.exec, args.dry_run).await
}

/// What was planned and checked, and the plan file's fields.
struct Shown<'a> {
    plan: &'a Plan,
    facts: &'a Facts,
    checks: &'a [Check],
    file: Option<serde_json::Value>,
}

/// Shows the plan and its checks, then (unless a dry run) confirms and runs it.
async fn carry_out(
    global: &GlobalArgs,
    mut ctx: Context,
    shown: Shown<'_>,
    exec: &ExecArgs,
    dry_run: bool,
) -> Result<(), Error> {
    let Shown {
        plan,
        facts,
        checks,
        file,
    } = shown;
    let settings = exec.settings();
    let ready = checks.iter().all(|c| c.ok);
    match global.output {
        Output::Json if dry_run || !ready => {
            let mut doc = json!({"schema": plan::SCHEMA, "dry_run": dry_run, "ready": ready, "plan": plan, "deadlines": deadlines_json(&settings), "checks": checks});
            if let (Some(doc), Some(serde_json::Value::Object(extra))) = (doc.as_object_mut(), file)
            {
                doc.extend(extra);
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Json => {}
        Output::Text => {
            let deadlines = plan_text::Deadlines {
                progress: settings.progress_deadline,
                total: settings.timeout,
            };
            print!("{}", plan_text::plan_text(plan, facts, checks, &deadlines))
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
    if dry_run {
        if global.output == Output::Text {
            println!("\nDry run: nothing was changed. Run without --dry-run to upgrade, or save the plan with -o json and `apply` it.");
        }
        return Ok(());
    }
    confirm(exec.yes)?;
    // From the first write on, transient API errors are retried (planning reads
    // fail at once: an unreachable cluster is said before any prompt).
    ctx.retrying(Retry::within(settings.progress_deadline));
    let events = reporter(global);
    let started = std::time::Instant::now();
    let ran = runner::run(&ctx, facts, plan, &settings, Box::new(events.clone())).await;
    let (elapsed, result) = match ran {
        Ok(outcome) => {
            report(
                global,
                plan,
                &settings,
                outcome.elapsed,
                outcome.result.as_ref().err(),
            );
            (outcome.elapsed, outcome.result)
        }
        // Refused before the first hop (lock held, the release changed meanwhile).
        Err(e) => (started.elapsed(), Err(e)),
    };
    events.event(Event::Done {
        outcome: outcome_name(result.as_ref().err()).into(),
        seconds: tenths(elapsed),
        error: result.as_ref().err().map(ToString::to_string),
    });
    result
}

/// How progress is shown: `--progress`.
fn reporter(global: &GlobalArgs) -> Arc<dyn Events> {
    match global.progress {
        Progress::Text => Arc::new(Reporter::new(!global.no_color, false)),
        Progress::Json => Arc::new(JsonReporter::default()),
    }
}

/// `helm milvus-upgrade apply PLAN.json`: the file's plan, if the release is
/// still what it was made from. Re-plans from fresh facts with the file's request
/// and compares: the digest of the facts, then the plan itself; refuses before
/// any write otherwise.
async fn apply(global: &GlobalArgs, args: &ApplyArgs) -> Result<(), Error> {
    check_deadlines(&args.exec)?;
    let path = args.file.display().to_string();
    let unusable = |why: String| {
        Error::Usage(format!(
            "cannot apply {path}: {why}; make a plan file with `helm milvus-upgrade RELEASE --to VERSION --dry-run -o json > {path}`"
        ))
    };
    let text = std::fs::read_to_string(&args.file).map_err(|e| unusable(e.to_string()))?;
    let file = PlanFile::parse(&text).map_err(|r| match r {
        Refusal::Unusable(why) => unusable(why),
        other => unusable(format!("{other:?}")),
    })?;
    let (release, namespace) = file.release();
    let target: MilvusVersion = file.request().to.parse()?;
    let mut options = file.request().options().map_err(unusable)?;
    let charts = file.request().charts.clone();
    let ctx = context_in(global, &namespace, args.exec.run.helm_args.clone(), charts).await?;
    let resuming = resume(&ctx, &release, &target, &mut options).await?;
    let facts = ctx.facts(&release).await?;
    let settings = args.exec.settings();
    let (plan, checks) = match prepare(&ctx, &facts, &target, &options, &settings).await {
        Ok(prepared) => prepared,
        // Someone upgraded or changed it meanwhile: say so rather than why no plan fits.
        Err(e) => {
            let now = Basis {
                charts: file.basis().charts.clone(),
                ..Basis::of_release(&facts)
            };
            file.stale(&now).map_err(|r| refused(&path, &file, r))?;
            return Err(e);
        }
    };
    if resuming {
        reporter(global).line(&format!("resuming the upgrade recorded toward {target}: the plan file's digest is not compared with a release this upgrade already changed"));
    } else {
        file.stale(&Basis::of_plan(&facts, &plan))
            .and_then(|()| file.same_plan(&plan))
            .map_err(|r| refused(&path, &file, r))?;
        if global.output == Output::Text {
            let digest = file.digest.as_deref().unwrap_or_default();
            println!(
                "Plan file {path}: release, Deployments and charts are as planned ({digest}).\n"
            );
        }
    }
    let shown = Shown {
        plan: &plan,
        facts: &facts,
        checks: &checks,
        file: None,
    };
    carry_out(global, ctx, shown, &args.exec, false).await
}

/// Both deadlines, for the plan's JSON.
fn deadlines_json(settings: &Settings) -> serde_json::Value {
    json!({
        "progress_deadline_seconds": settings.progress_deadline.as_secs(),
        "timeout_seconds": settings.timeout.map(|t| t.as_secs()),
    })
}

/// A plan file that does not fit the release any more, as the command's error.
fn refused(path: &str, file: &PlanFile, r: Refusal) -> Error {
    let (release, namespace) = file.release();
    let why = match r {
        Refusal::Stale(changes) => format!(
            "is stale: the release changed since the plan was made: {}",
            changes.join("; ")
        ),
        Refusal::Differs(why) | Refusal::Unusable(why) => format!("cannot be applied: {why}"),
    };
    Error::PlanRefused {
        file: path.into(),
        why,
        release,
        namespace,
        to: file.request().to.clone(),
    }
}

fn confirm(yes: bool) -> Result<(), Error> {
    if yes {
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

/// The `outcome` of result/v1 and of the progress' `done` event.
fn outcome_name(error: Option<&Error>) -> &'static str {
    match error {
        None => "upgraded",
        Some(Error::RolledBack(_)) => "rolled_back",
        Some(Error::Interrupted) => "interrupted",
        Some(_) => "failed",
    }
}

fn tenths(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 10.0).round() / 10.0
}

fn report(
    global: &GlobalArgs,
    plan: &Plan,
    settings: &Settings,
    elapsed: Duration,
    error: Option<&Error>,
) {
    let seconds = tenths(elapsed);
    match global.output {
        Output::Json => {
            let outcome = outcome_name(error);
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
    ctx.retrying(Retry::within(settings.progress_deadline));
    let events = Box::new(reporter(global));
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
                    Err(e) => row["note"] = json!(e.short()),
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

async fn status(global: &GlobalArgs, release: &str) -> Result<(), Error> {
    let ctx = context(global, Vec::new()).await?;
    let facts = ctx.facts(release).await?;
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

/// `status -A` / `versions -A`: every Milvus release the caller may read; with a
/// target (`--to`, for `versions` else the newest Milvus version offered), each
/// one's path and hop count to it.
async fn fleet(global: &GlobalArgs, args: &FleetArgs, newest: bool) -> Result<(), Error> {
    let ctx = context(global, Vec::new()).await?;
    let needs_index = args.to.is_some() || newest;
    let index = if needs_index {
        ctx.chart_index().await?
    } else {
        ChartIndex::default()
    };
    let to = match &args.to {
        Some(t) => Some(t.parse::<MilvusVersion>()?),
        None if newest => newest_milvus(&index),
        None => None,
    };
    let fleet =
        crate::exec::fleet::report(&ctx, args.selector.as_deref(), to.as_ref(), &index).await?;
    match global.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&fleet).unwrap_or_default()
        ),
        Output::Text => print!("{}", crate::ui::fleet::text(&fleet)),
    }
    Ok(())
}

/// The newest released Milvus version a Milvus chart of the index ships.
fn newest_milvus(index: &ChartIndex) -> Option<MilvusVersion> {
    index
        .charts
        .iter()
        .filter(|c| identify(c).is_milvus() && !c.app_version.is_pre_release())
        .map(|c| c.app_version.clone())
        .max()
}
