//! Pre-flight checks: what must hold before the first write, each with its fix.

use serde::Serialize;

use crate::planner::facts::Facts;
use crate::planner::plan::{Path, Plan};

/// One permission an upgrade path needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Access {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &str, ok: bool, detail: String, fix: Option<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail,
        fix: if ok { None } else { fix },
    }
}

/// (verb, API group, resource) each path writes with.
pub fn required_access(plan: &Plan) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut wanted = vec![
        ("create", "coordination.k8s.io", "leases"),
        ("update", "coordination.k8s.io", "leases"),
        ("create", "", "configmaps"),
        ("update", "", "configmaps"),
    ];
    for path in plan.paths() {
        let more: &[(&str, &str, &str)] = match path {
            Path::Rolling => &[("patch", "apps", "deployments")],
            Path::Helm => &[
                ("patch", "apps", "deployments"),
                ("create", "apps", "deployments"),
                ("delete", "apps", "deployments"),
                ("update", "", "secrets"),
            ],
            Path::Migrate => &[
                ("patch", "apps", "deployments"),
                ("update", "", "secrets"),
                ("create", "", "pods"),
                ("delete", "", "pods"),
                ("create", "", "persistentvolumeclaims"),
            ],
        };
        wanted.extend(more.iter().copied());
    }
    wanted.sort();
    wanted.dedup();
    wanted
}

/// `resuming`: progress toward this target is recorded (a run was interrupted).
pub fn checks(plan: &Plan, facts: &Facts, access: &[Access], resuming: bool) -> Vec<Check> {
    let mut out = vec![
        release_deployed(facts),
        deployments_available(facts, plan, resuming),
        permissions(access, &facts.release.namespace),
        config_parses(facts),
    ];
    let charted: Vec<String> = plan
        .hops
        .iter()
        .filter_map(|h| h.chart.as_ref())
        .map(|c| format!("{} {}", c.reference, c.chart_version))
        .collect();
    if !charted.is_empty() {
        out.push(check(
            "repository has the chart",
            true,
            charted.join(", "),
            None,
        ));
        out.push(helm_version(facts));
    }
    out
}

fn release_deployed(facts: &Facts) -> Check {
    let r = &facts.release;
    check(
        "release deployed",
        r.status == "deployed",
        format!("status {}, revision {}", r.status, r.revision),
        Some(if r.status == crate::planner::facts::Release::UNREADABLE {
            format!(
                "ask for get/list on secrets in namespace {}: Helm keeps its release records there",
                r.namespace
            )
        } else {
            format!("a {} release cannot be upgraded safely: finish or roll back the last helm operation (`helm history {}`, `helm rollback {}`)", r.status, r.name, r.name)
        }),
    )
}

/// Every Deployment rolled out, except one already moving to a hop's image:
/// an interrupted upgrade that this run resumes and waits on.
/// When resuming, Deployments still rolling are the interrupted run's own (its
/// helm upgrade finished after it was killed, or a broken image it left with
/// --no-rollback): the executor patches or waits on them, so they do not block.
fn deployments_available(facts: &Facts, plan: &Plan, resuming: bool) -> Check {
    let in_flight = |image: &str| plan.hops.iter().any(|h| h.image == image);
    let unhealthy: Vec<String> = facts
        .workloads
        .iter()
        .filter(|w| !w.rollout.is_complete() && !in_flight(&w.image))
        .map(|w| {
            format!(
                "{} ({}/{} available, {} updated)",
                w.name, w.rollout.available, w.rollout.desired, w.rollout.updated
            )
        })
        .collect();
    let detail = if unhealthy.is_empty() {
        format!("{} Deployments rolled out", facts.workloads.len())
    } else if resuming {
        format!(
            "resuming the recorded upgrade, which waits for: {}",
            unhealthy.join(", ")
        )
    } else {
        unhealthy.join(", ")
    };
    check(
        "all Milvus Deployments available",
        unhealthy.is_empty() || resuming,
        detail,
        Some("wait for the rollout (`kubectl rollout status`) or fix the failing pods before upgrading".into()),
    )
}

fn permissions(access: &[Access], namespace: &str) -> Check {
    let missing: Vec<String> = access
        .iter()
        .filter(|a| !a.allowed)
        .map(|a| {
            if a.group.is_empty() {
                format!("{} {}", a.verb, a.resource)
            } else {
                format!("{} {}.{}", a.verb, a.resource, a.group)
            }
        })
        .collect();
    check(
        "permission to write",
        missing.is_empty(),
        if missing.is_empty() {
            format!(
                "{} permissions granted in namespace {namespace}",
                access.len()
            )
        } else {
            format!("missing: {}", missing.join(", "))
        },
        Some(format!(
            "ask for a Role in namespace {namespace} granting: {}",
            missing.join(", ")
        )),
    )
}

/// The Milvus ConfigMap must parse: the rolling path edits it, and no path may
/// carry a broken config into the new version.
fn config_parses(facts: &Facts) -> Check {
    let broken = facts.config.as_ref().and_then(|c| {
        let why = c.unparseable.as_ref()?;
        Some((c.config_map.clone(), why.clone()))
    });
    let detail = match &broken {
        Some((name, why)) => format!("configmap/{name} {why}"),
        None => "the Milvus config parses".into(),
    };
    check(
        "Milvus config parses",
        broken.is_none(),
        detail,
        broken.map(|(name, _)| format!("fix the YAML in configmap/{name} (the release's extraConfigFiles / user.yaml values), then run again; it is never replaced")),
    )
}

fn helm_version(facts: &Facts) -> Check {
    let min = semver::Version::new(3, 14, 0);
    let ok = facts.helm_version.as_ref().is_some_and(|v| v >= &min);
    let found = facts
        .helm_version
        .as_ref()
        .map_or("unknown".into(), |v| v.to_string());
    check(
        "helm supports --reset-then-reuse-values",
        ok,
        format!("helm {found}"),
        Some("install Helm 3.14 or later: --reuse-values alone keeps the old chart's defaults and fails on keys the new chart adds".into()),
    )
}
