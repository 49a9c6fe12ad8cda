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
    // The verbs really sent: the Lease is created, replaced on take-over, patched
    // on renewal and deleted; the state ConfigMap is applied (patch) and deleted.
    let mut wanted = vec![
        ("create", "coordination.k8s.io", "leases"),
        ("update", "coordination.k8s.io", "leases"),
        ("patch", "coordination.k8s.io", "leases"),
        ("delete", "coordination.k8s.io", "leases"),
        ("create", "", "configmaps"),
        ("patch", "", "configmaps"),
        ("delete", "", "configmaps"),
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

/// The API server's answer to a server-side dry run (`dryRun=All`) of one object
/// a run will create: quotas, LimitRanges and admission answer it before any write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admission {
    /// `kind/name`
    pub object: String,
    /// It exists already (a resumed run reuses it).
    pub exists: bool,
    /// The API server's message when it refused the object.
    pub refused: Option<String>,
}

/// The StorageClasses the cluster has, and the one the backup PVC asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Storage {
    /// `--storage-class`; None: the cluster's default class.
    pub requested: Option<String>,
    /// (name, is the default class); None: not readable with these credentials.
    pub classes: Option<Vec<(String, bool)>>,
    /// The backup PVC exists already (a resumed run): its class was settled.
    pub pvc_exists: bool,
}

/// What the cluster said when asked, read-only, before the first write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probes {
    /// None: not asked (permissions missing, so the dry runs would only be refused).
    pub admission: Option<Vec<Admission>>,
    /// Some when the plan creates a PVC.
    pub storage: Option<Storage>,
}

/// `resuming`: progress toward this target is recorded (a run was interrupted).
pub fn checks(
    plan: &Plan,
    facts: &Facts,
    access: &[Access],
    resuming: bool,
    probes: &Probes,
) -> Vec<Check> {
    let namespace = &facts.release.namespace;
    let mut out = vec![
        release_deployed(facts),
        deployments_available(facts, plan, resuming),
        permissions(access, namespace),
        config_parses(facts),
    ];
    if let Some(admission) = &probes.admission {
        out.push(admitted(admission, namespace));
    }
    let migrates = plan.hops.iter().any(|h| h.path == Path::Migrate);
    if migrates && !facts.autoscalers.is_empty() {
        out.push(autoscalers_pause(facts));
    }
    if let Some(storage) = &probes.storage {
        out.push(storage_class(storage));
    }
    let charts: Vec<_> = plan.hops.iter().filter_map(|h| h.chart.as_ref()).collect();
    let charted: Vec<String> = charts
        .iter()
        .map(|c| format!("{} {}", c.reference, c.chart_version))
        .collect();
    if !charted.is_empty() {
        let local = charts.iter().all(|c| c.path.is_some());
        out.push(check(
            if local {
                "local chart ships the target"
            } else {
                "repository has the chart"
            },
            true,
            charted.join(", "),
            None,
        ));
        out.push(helm_version(facts));
    }
    out
}

/// What differs between the facts a plan was made from and the facts read again
/// once the lock is held: someone changed the release meanwhile. Images, the set
/// of Deployments and the Helm release (revision, chart, status); replica counts
/// are left out (an HPA moves them and the run records them itself).
pub fn changed_since_plan(planned: &Facts, now: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&planned.release, &now.release);
    if a.revision != b.revision || a.chart != b.chart || a.status != b.status {
        out.push(format!(
            "release {}: revision {} {} ({}) → revision {} {} ({})",
            a.name, a.revision, a.chart, a.status, b.revision, b.chart, b.status
        ));
    }
    for w in &planned.workloads {
        match now.workloads.iter().find(|n| n.name == w.name) {
            None => out.push(format!("deployment/{} is gone", w.name)),
            Some(n) if n.image != w.image => out.push(format!(
                "deployment/{}: image {} → {}",
                w.name, w.image, n.image
            )),
            Some(_) => {}
        }
    }
    for n in &now.workloads {
        if !planned.workloads.iter().any(|w| w.name == n.name) {
            out.push(format!("deployment/{} is new ({})", n.name, n.image));
        }
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

fn admitted(answers: &[Admission], namespace: &str) -> Check {
    let refused: Vec<(&str, &str)> = answers
        .iter()
        .filter_map(|a| Some((a.object.as_str(), a.refused.as_deref()?)))
        .collect();
    let detail = if refused.is_empty() {
        let names: Vec<&str> = answers.iter().map(|a| a.object.as_str()).collect();
        format!("server-side dry runs accepted: {}", names.join(", "))
    } else {
        refused
            .iter()
            .map(|(o, why)| format!("{o} refused: {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let all = refused
        .iter()
        .map(|(_, why)| why.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let mut fixes = Vec::new();
    if all.contains("exceeded quota") || all.contains("must specify") {
        fixes.push(format!(
            "raise or widen the ResourceQuota (`kubectl describe resourcequota -n {namespace}`)"
        ));
    }
    if all.contains("per container")
        || all.contains("per pod")
        || all.contains("per persistentvolumeclaim")
    {
        fixes.push(format!("adjust the LimitRange (`kubectl describe limitrange -n {namespace}`), or the backup PVC's size with --backup-size"));
    }
    if fixes.is_empty() {
        fixes.push(format!("make the namespace {namespace} admit these objects (quota, LimitRange, admission webhook or pod security policy named above)"));
    }
    check(
        "cluster admits the objects the upgrade creates",
        refused.is_empty(),
        detail,
        Some(format!("{}; nothing was changed", fixes.join("; "))),
    )
}

fn storage_class(s: &Storage) -> Check {
    let name = "storage class for the meta backup PVC";
    if s.pvc_exists {
        return check(name, true, "the backup PVC exists already".into(), None);
    }
    let Some(classes) = &s.classes else {
        return check(
            name,
            true,
            "StorageClasses not readable with these credentials: not checked".into(),
            None,
        );
    };
    let names: Vec<&str> = classes.iter().map(|(n, _)| n.as_str()).collect();
    let known = if names.is_empty() {
        "the cluster has no StorageClass".to_string()
    } else {
        format!("the cluster has: {}", names.join(", "))
    };
    match &s.requested {
        Some(wanted) => check(
            name,
            names.contains(&wanted.as_str()),
            if names.contains(&wanted.as_str()) {
                format!("--storage-class {wanted} exists")
            } else {
                format!("--storage-class {wanted} does not exist; {known}")
            },
            Some("name an existing class with --storage-class (`kubectl get storageclass`)".into()),
        ),
        None => match classes.iter().find(|(_, default)| *default) {
            Some((default, _)) => check(name, true, format!("default class {default}"), None),
            None => check(
                name,
                false,
                format!("no default StorageClass, so the backup PVC would never bind; {known}"),
                Some("pass --storage-class with one of the cluster's classes, or mark one as the default (annotation storageclass.kubernetes.io/is-default-class=true)".into()),
            ),
        },
    }
}

/// The meta migration needs Milvus stopped. An HPA leaves a Deployment scaled to 0
/// alone ("scaling is disabled since the replica count of the target is zero") and
/// resumes once the recorded replicas are back, so it is neither changed nor set aside.
/// A controller that owns its HPA (KEDA's ScaledObject) scales from 0 by itself.
fn autoscalers_pause(facts: &Facts) -> Check {
    let name = "autoscalers leave Milvus stopped";
    let owned: Vec<String> = facts
        .autoscalers
        .iter()
        .filter_map(|a| {
            let owner = a.owner.as_ref()?;
            Some(format!("horizontalpodautoscaler/{} (deployment/{}) is managed by {owner}, which scales its target up from 0 by itself", a.name, a.deployment))
        })
        .collect();
    if !owned.is_empty() {
        return check(
            name,
            false,
            owned.join("; "),
            Some("pause that autoscaling for the migration (KEDA: `kubectl annotate scaledobject NAME autoscaling.keda.sh/paused=true`, removed afterwards), then run the upgrade again".into()),
        );
    }
    let listed: Vec<String> = facts
        .autoscalers
        .iter()
        .map(|a| {
            format!(
                "{} (deployment/{}, {}..{})",
                a.name, a.deployment, a.min_replicas, a.max_replicas
            )
        })
        .collect();
    check(
        name,
        true,
        format!(
            "HorizontalPodAutoscaler {} pauses while its Deployment is at 0 replicas and resumes when the recorded replicas are back; left unchanged",
            listed.join(", ")
        ),
        None,
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
