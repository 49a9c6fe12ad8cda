//! Text for people: the plan, the checks, the version list.

use std::fmt::Write;
use std::time::Duration;

use crate::planner::facts::Facts;
use crate::planner::ordered::OrderStep;
use crate::planner::plan::{Downtime, Hop, Plan, Step};
use crate::planner::preflight::Check;

/// How long a run may go without progress, and in all.
pub struct Deadlines {
    pub progress: Duration,
    pub total: Option<Duration>,
}

pub fn plan_text(plan: &Plan, facts: &Facts, checks: &[Check], deadlines: &Deadlines) -> String {
    let mut out = String::new();
    let r = &facts.release;
    let _ = writeln!(
        out,
        "Upgrade plan for release {} in namespace {}",
        plan.release, plan.namespace
    );
    let _ = writeln!(
        out,
        "  runs    Milvus {} ({}), chart {} (Helm says appVersion {})",
        plan.from, plan.layout, r.chart, r.app_version
    );
    let _ = writeln!(out, "  target  Milvus {}", plan.to);
    let _ = writeln!(out, "  downtime {}", downtime_text(&plan.downtime()));
    let _ = writeln!(out, "  waits   {}", deadlines_text(deadlines));
    for (i, hop) in plan.hops.iter().enumerate() {
        hop_text(&mut out, hop, i + 1, plan.hops.len(), &plan.namespace);
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for w in &plan.warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out.push_str(&checks_text(checks));
    out
}

/// `fail after 10m without progress (--progress-deadline); no total limit (--timeout)`.
pub fn deadlines_text(d: &Deadlines) -> String {
    let total = match d.total {
        Some(t) => format!("the whole run at most {}", humantime::format_duration(t)),
        None => "no total limit".into(),
    };
    format!(
        "fail after {} without progress (--progress-deadline); {total} (--timeout)",
        humantime::format_duration(d.progress)
    )
}

fn hop_text(out: &mut String, hop: &Hop, n: usize, total: usize, namespace: &str) {
    let how = match (hop.path, hop.ordered) {
        (crate::planner::plan::Path::Helm, true) => {
            " (ordered: one component at a time, Helm's upgrade last)"
        }
        (crate::planner::plan::Path::Helm, false) => " (all at once)",
        _ => "",
    };
    let _ = writeln!(
        out,
        "\nHop {n}/{total}: {}{how} {} → {}",
        hop.path, hop.from, hop.to
    );
    let _ = writeln!(out, "  why       {}", hop.reason);
    if let Some(c) = &hop.chart {
        let _ = writeln!(
            out,
            "  chart     {} {} (app {})\n            {}",
            c.reference, c.chart_version, c.app_version, c.why
        );
    }
    let _ = writeln!(out, "  image     {}", hop.image);
    if hop.layout_before != hop.layout_after {
        let _ = writeln!(
            out,
            "  layout    {} → {}",
            hop.layout_before, hop.layout_after
        );
    }
    let _ = writeln!(out, "  downtime  {}", downtime_text(&hop.downtime));
    for (i, step) in hop.steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {}", i + 1, step_text(step, namespace));
    }
    if !hop.changes.is_empty() {
        let _ = writeln!(out, "  changes (rendered):");
        for c in &hop.changes {
            let _ = writeln!(out, "      {}", c.summary());
        }
    }
}

pub fn step_text(step: &Step, namespace: &str) -> String {
    match step {
        Step::EnableActiveStandby { config_map, key, sections } => {
            format!("enable active-standby in configmap/{config_map} ({key}): {}", sections.join(", "))
        }
        Step::PatchImage { deployment, from, to, .. } => format!("patch deployment/{deployment}: {from} → {to}, wait for rollout"),
        Step::StopMilvus { deployments } => format!("record replicas and images, scale {} Deployments to 0, wait for etcd sessions to expire", deployments.len()),
        Step::BackupMeta => "back up etcd meta to a PVC (backup pod)".into(),
        Step::MigrateMeta { source, target } => format!("migrate etcd meta {source} → {target} (migration pod)"),
        Step::HelmUpgrade { .. } => format!(
            "helm {} --namespace {namespace}",
            crate::world::helm::upgrade_args(step).join(" ")
        ),
        Step::WaitForLayout { layout, image } => format!("wait until every {layout} Deployment runs {image} and is available"),
        Step::RenderChart => "render the chart with the hop's values (helm upgrade --dry-run=server; nothing written)".into(),
        Step::ApplyConfigMaps => "apply the rendered ConfigMaps that differ (config first: pods read it at start)".into(),
        Step::Ordered(OrderStep::Roll(c)) => format!("{c}: apply as rendered (create if new), wait for rollout"),
        Step::Ordered(OrderStep::Start(c)) => format!("{c}: apply as rendered (create if new), do not wait yet"),
        Step::Ordered(OrderStep::Await(c)) => format!("{c}: wait for rollout"),
        Step::RemovedByHelm { components } => format!(
            "that helm upgrade removes {} (last)",
            components.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ")
        ),
        Step::CheckNoRollout => "check no Deployment rolled out again (revisions unchanged): Helm's release is what runs".into(),
    }
}

pub fn downtime_text(d: &Downtime) -> String {
    match d {
        Downtime::None => "none expected".into(),
        Downtime::Partial(why) => format!("partial: {why}"),
        Downtime::Full(why) => format!("yes: {why}"),
    }
}

pub fn checks_text(checks: &[Check]) -> String {
    let mut out = String::from("\nPre-flight checks:\n");
    for c in checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  [{mark}] {}: {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "         fix: {fix}");
        }
    }
    out
}

/// The `versions` table, newest chart first.
pub fn versions_text(
    rows: &[serde_json::Value],
    running: Option<&crate::planner::version::MilvusVersion>,
) -> String {
    let mut out = String::new();
    if let Some(v) = running {
        let _ = writeln!(out, "Release runs Milvus {v}\n");
    }
    let with_path = running.is_some();
    let _ = writeln!(
        out,
        "{:<12} {:<16} {:<22} {}",
        "CHART",
        "MILVUS",
        "REPOSITORY",
        if with_path { "PATH" } else { "" }
    );
    for row in rows {
        let text = |k: &str| row[k].as_str().unwrap_or("").to_string();
        let repo = if row["archived_repo"] == true {
            format!("{} (archived)", text("repo"))
        } else {
            text("repo")
        };
        let path = match row["path"].as_array() {
            Some(p) => {
                let names: Vec<&str> = p.iter().filter_map(|x| x.as_str()).collect();
                format!(
                    "{} ({} hop{})",
                    names.join(" → "),
                    names.len(),
                    if names.len() == 1 { "" } else { "s" }
                )
            }
            None => text("note"),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<16} {:<22} {}",
            text("chart_version"),
            text("app_version"),
            repo,
            path
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waits_line_names_both_deadlines() {
        let open = Deadlines {
            progress: Duration::from_secs(600),
            total: None,
        };
        assert_eq!(
            deadlines_text(&open),
            "fail after 10m without progress (--progress-deadline); no total limit (--timeout)"
        );
        let bounded = Deadlines {
            progress: Duration::from_secs(90),
            total: Some(Duration::from_secs(7200)),
        };
        assert_eq!(
            deadlines_text(&bounded),
            "fail after 1m 30s without progress (--progress-deadline); the whole run at most 2h (--timeout)"
        );
    }
}
