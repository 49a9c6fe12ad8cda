//! The fleet view (`status -A`, `versions -A`): every Milvus release the caller
//! may read, from one list per resource kind (`world::fleet`), each with what
//! runs, drift, an upgrade in progress or a held lock, and the planner's path to
//! `--to`. Values are not read per release (that is one `helm get values` each):
//! the path is planned as for a user who may not read them; `--dry-run` on the
//! release gives the exact plan. Read-only; `ui::fleet` shows it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use crate::error::Error;
use crate::exec::lock;
use crate::exec::state::{self, RELEASE_LABEL};
use crate::exec::status::{drift, lock_of, LockStatus};
use crate::planner::facts::{ChartIndex, Facts, Release, ValuesFacts};
use crate::planner::plan::{self, Options, Path};
use crate::planner::version::MilvusVersion;
use crate::world::cluster::{self, INSTANCE_LABEL, NAME_LABEL};
use crate::world::fleet::FleetReads;
use crate::world::gather::Context;

pub const SCHEMA: &str = "helm-milvus-upgrade/fleet/v1";

/// The planner's way to the fleet's target, or why there is none.
#[derive(Debug, Serialize)]
pub struct PathTo {
    pub paths: Vec<Path>,
    pub hops: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub namespace: String,
    pub release: String,
    pub chart: String,
    pub app_version: String,
    /// Helm's status, or `unreadable (...)` without access to Helm's records.
    pub status: String,
    pub revision: u64,
    pub running: Option<MilvusVersion>,
    pub layout: String,
    pub deployments: usize,
    /// Every Milvus Deployment rolled out.
    pub ready: bool,
    pub drift: Vec<String>,
    /// Recorded progress of an upgrade, as a sentence.
    pub upgrade: Option<String>,
    pub lock: Option<LockStatus>,
    /// What could not be read for this release (state, lock, Helm records).
    pub not_readable: Vec<&'static str>,
    pub path: Option<PathTo>,
}

#[derive(Debug, Serialize)]
pub struct Fleet {
    pub schema: &'static str,
    pub to: Option<MilvusVersion>,
    pub releases: Vec<Row>,
    /// Namespaces whose Deployments the caller may not list.
    pub not_readable: Vec<String>,
    /// Deployments were listed namespace by namespace (no cluster-wide permission).
    pub listed_by_namespace: bool,
}

/// Reads the fleet and plans each release's way to `to`.
pub async fn report(
    ctx: &Context,
    selector: Option<&str>,
    to: Option<&MilvusVersion>,
    index: &ChartIndex,
) -> Result<Fleet, Error> {
    let (reads, helm_version) = tokio::join!(
        crate::world::fleet::read(
            &ctx.client,
            &ctx.helm,
            selector,
            RELEASE_LABEL,
            &ctx.namespace
        ),
        ctx.helm.version()
    );
    let reads = reads?;
    let mut releases = Vec::new();
    for ((namespace, name), deployments) in by_release(&reads.deployments) {
        let Some(release) = release_of(&reads, &namespace, &name, &deployments) else {
            continue;
        };
        if !release.is_milvus_chart() {
            continue;
        }
        let facts = facts(release, &deployments, index, helm_version.clone());
        releases.push(row(&reads, &facts, to));
    }
    Ok(Fleet {
        schema: SCHEMA,
        to: to.cloned(),
        releases,
        not_readable: reads.unreadable.clone(),
        listed_by_namespace: reads.by_namespace,
    })
}

/// Deployments by (namespace, release instance), in name order.
fn by_release(list: &[Deployment]) -> BTreeMap<(String, String), Vec<Deployment>> {
    let mut out: BTreeMap<(String, String), Vec<Deployment>> = BTreeMap::new();
    for d in list {
        let labels = d.metadata.labels.clone().unwrap_or_default();
        let (Some(ns), Some(instance)) = (&d.metadata.namespace, labels.get(INSTANCE_LABEL)) else {
            continue;
        };
        out.entry((ns.clone(), instance.clone()))
            .or_default()
            .push(d.clone());
    }
    out
}

/// Helm's record of the release, else what its Deployments' labels say.
fn release_of(
    reads: &FleetReads,
    namespace: &str,
    name: &str,
    deployments: &[Deployment],
) -> Option<Release> {
    reads
        .releases
        .iter()
        .find(|r| r.namespace == namespace && r.name == name)
        .cloned()
        .or_else(|| cluster::release_from_labels(name, namespace, deployments))
}

/// The chart name the Deployments carry (`milvus`, or the release's `nameOverride`).
fn chart_name(deployments: &[Deployment]) -> String {
    deployments
        .iter()
        .filter_map(|d| d.metadata.labels.as_ref())
        .filter(|l| {
            l.get("component")
                .and_then(|c| crate::planner::component::Component::from_label(c))
                .is_some()
        })
        .find_map(|l| l.get(NAME_LABEL).cloned())
        .unwrap_or_else(|| "milvus".into())
}

fn facts(
    release: Release,
    deployments: &[Deployment],
    index: &ChartIndex,
    helm_version: Option<semver::Version>,
) -> Facts {
    let chart_name = chart_name(deployments);
    let workloads = cluster::workloads_of(deployments, &chart_name);
    let server_side = cluster::applied_by_helm_server_side(deployments)
        && helm_version.as_ref().is_some_and(|v| v.major >= 4);
    Facts {
        release,
        workloads,
        values: ValuesFacts {
            chart_name,
            ..ValuesFacts::unreadable()
        },
        config: None,
        index: index.clone(),
        helm_version,
        helm_applies_server_side: server_side,
        api_server_version: None,
        local_charts: Vec::new(),
        autoscalers: Vec::new(),
    }
}

fn row(reads: &FleetReads, facts: &Facts, to: Option<&MilvusVersion>) -> Row {
    let r = &facts.release;
    let running = plan::current_version(facts).ok();
    let in_ns = |ns: &Option<String>| ns.as_deref() == Some(r.namespace.as_str());
    let upgrade = reads
        .state
        .iter()
        .filter(|cm| in_ns(&cm.metadata.namespace))
        .find(|cm| cm.metadata.name.as_deref() == Some(state::state_name(&r.name).as_str()))
        .map(|cm| match state::of_config_map(cm, &r.name) {
            Ok(p) => p.summary(),
            Err(e) => e.to_string(),
        });
    let lock_name = lock::lock_name(&r.name);
    let lock = reads
        .leases
        .iter()
        .filter(|l| in_ns(&l.metadata.namespace))
        .find(|l| l.metadata.name.as_deref() == Some(lock_name.as_str()))
        .map(|l| lock_of(lock_name.clone(), l.clone()));
    let mut not_readable = Vec::new();
    for (set, what) in [
        (&reads.state_unreadable, "upgrade state (configmaps)"),
        (&reads.leases_unreadable, "lock (leases)"),
        (&reads.helm_unreadable, "Helm records (secrets)"),
    ] {
        if set.contains(&r.namespace) {
            not_readable.push(what);
        }
    }
    Row {
        namespace: r.namespace.clone(),
        release: r.name.clone(),
        chart: r.chart.clone(),
        app_version: r.app_version.clone(),
        status: r.status.clone(),
        revision: r.revision,
        running: running.clone(),
        layout: facts.layout().to_string(),
        deployments: facts.workloads.len(),
        ready: facts.workloads.iter().all(|w| w.rollout.is_complete()),
        drift: drift(facts, running.as_ref()),
        upgrade,
        lock,
        not_readable,
        path: to.map(|t| path_to(facts, t)),
    }
}

fn path_to(facts: &Facts, to: &MilvusVersion) -> PathTo {
    match plan::plan(facts, to, &Options::default()) {
        Ok(p) => PathTo {
            paths: p.paths(),
            hops: p.hops.len(),
            note: None,
        },
        Err(e) => PathTo {
            paths: Vec::new(),
            hops: 0,
            note: Some(e.short()),
        },
    }
}
