//! What an operator should know about a plan before running it.

use crate::planner::chart_select::bad_for_pulsar_v2;
use crate::planner::facts::{Facts, MessageQueue};
use crate::planner::plan::Plan;
use crate::planner::version::MilvusVersion;

pub fn for_plan(facts: &Facts, plan: &Plan) -> Vec<String> {
    let mut warnings = Vec::new();
    warnings.extend(app_version_mismatch(facts, &plan.from));
    warnings.extend(values_tag_mismatch(facts, &plan.from));
    warnings.extend(mixed_versions(facts));
    warnings.extend(minor_skips(plan));
    warnings.extend(layout_changes(plan));
    warnings.extend(pulsar_v2(facts, plan));
    warnings.extend(old_server_side_apply(facts, plan));
    if facts.values.message_queue != MessageQueue::Unknown {
        warnings.push(format!(
            "message queue stays {:?}: the plan never switches queues (2.6 makes it immutable)",
            facts.values.message_queue
        ));
    }
    warnings
}

fn app_version_mismatch(facts: &Facts, running: &MilvusVersion) -> Option<String> {
    let said: MilvusVersion = facts.release.app_version.parse().ok()?;
    (&said != running).then(|| {
        format!(
            "Helm says appVersion {said} (chart {}), but the Deployments run {running}: planning from what runs",
            facts.release.chart
        )
    })
}

fn values_tag_mismatch(facts: &Facts, running: &MilvusVersion) -> Option<String> {
    let tag = facts.values.image_tag.as_deref()?;
    let pinned: MilvusVersion = tag.parse().ok()?;
    (&pinned != running)
        .then(|| format!("values pin image.all.tag={tag}, but the Deployments run {running}"))
}

fn mixed_versions(facts: &Facts) -> Option<String> {
    let versions = facts.running_versions();
    (versions.len() > 1).then(|| {
        let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        format!(
            "components run mixed versions ({}): an interrupted upgrade? The plan continues from the oldest",
            list.join(", ")
        )
    })
}

fn minor_skips(plan: &Plan) -> Vec<String> {
    plan.hops
        .iter()
        .filter(|h| h.to.minor - h.from.minor.min(h.to.minor) > 1 && h.to.major == h.from.major)
        .map(|h| {
            format!(
                "{} → {} skips a minor version: one minor at a time was the long-standing recommendation",
                h.from, h.to
            )
        })
        .collect()
}

fn layout_changes(plan: &Plan) -> Vec<String> {
    plan.hops
        .iter()
        .filter(|h| h.layout_before != h.layout_after)
        .map(|h| {
            format!(
                "{} → {}: the layout changes from {} to {}; Deployments the new chart drops are removed",
                h.from, h.to, h.layout_before, h.layout_after
            )
        })
        .collect()
}

fn pulsar_v2(facts: &Facts, plan: &Plan) -> Vec<String> {
    if facts.values.message_queue != MessageQueue::Pulsar {
        return Vec::new();
    }
    let mut out = Vec::new();
    let pinned = plan.hops.iter().any(|h| {
        h.values
            .iter()
            .any(|v| v.key == "pulsar.enabled" && v.value == "true")
    });
    if pinned {
        out.push("release runs Pulsar v2: kept with --set pulsar.enabled=true --set pulsarv3.enabled=false (newer charts default to pulsarv3, which would start an empty queue)".into());
    }
    let skipped = facts
        .index
        .charts
        .iter()
        .any(|c| bad_for_pulsar_v2(&c.chart_version));
    if skipped && plan.hops.iter().any(|h| h.chart.is_some()) {
        out.push(
            "charts 4.2.21 to 4.2.29 are known bad for Pulsar v2 releases and are never chosen"
                .into(),
        );
    }
    out
}

/// API servers before 1.22 apply server-side more strictly than newer ones, and the
/// real Milvus chart trips on it.
fn old_server_side_apply(facts: &Facts, plan: &Plan) -> Option<String> {
    let server = facts.api_server_version.as_ref()?;
    // Every path writes with helm: helm hops, the migration's start, the rolling sync.
    let helm_writes = !plan.hops.is_empty();
    (facts.helm_applies_server_side && helm_writes && *server < semver::Version::new(1, 22, 0))
        .then(|| {
            format!(
                "Helm applies this release server-side, and this API server ({}.{})'s server-side apply rejects ports without protocol and numeric quantities (the real Milvus chart has both); if helm fails with 'omits key field protocol' or 'expected string', add --helm-arg=--server-side=false",
                server.major, server.minor
            )
        })
}

/// Helm sets the replicas its values render (Helm 3's three-way merge and Helm
/// 4's apply alike): a Deployment an HPA or a person scaled to `now` loses pods
/// in any helm upgrade (an HPA then scales it back up).
pub fn helm_scales(facts: &Facts, name: &str, rendered: Option<i64>, now: i64) -> Option<String> {
    let rendered = rendered?;
    if rendered == now {
        return None;
    }
    let by = match facts.autoscaler_of(name) {
        Some(a) => format!(
            "HorizontalPodAutoscaler {} keeps {now} (min {}, max {})",
            a.name, a.min_replicas, a.max_replicas
        ),
        None => format!("it runs {now}"),
    };
    Some(format!(
        "helm would scale deployment/{name} to the {rendered} replicas of the values ({by}), stopping pods"
    ))
}
