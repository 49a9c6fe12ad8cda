//! `status`: what runs, what Helm says about it, any upgrade in progress (the
//! recorded state and the lock a run leaves in the cluster), and how to go on.
//! Read-only; `ui::status` shows it.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use serde::Serialize;

use crate::error::Error;
use crate::exec::lock;
use crate::exec::state::{self, DeploymentPhase, HopPhase, Progress};
use crate::planner::facts::{Facts, Release};
use crate::planner::version::{image_tag, MilvusVersion};
use crate::world::cluster::api_error;
use crate::world::gather::Context;

#[derive(Debug, Serialize)]
pub struct ComponentStatus {
    pub deployment: String,
    pub component: String,
    pub image: String,
    pub ready: i32,
    pub desired: i32,
    pub rollout: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub release: Release,
    pub running: Option<MilvusVersion>,
    pub layout: String,
    pub values_tag: Option<String>,
    pub drift: Vec<String>,
    pub components: Vec<ComponentStatus>,
    pub upgrade: Option<Progress>,
    /// The upgrade lock (Lease `<release>-milvus-upgrade-lock`), if held.
    pub lock: Option<LockStatus>,
    /// What to do next: resume, roll back, wait for the lock holder.
    pub next_steps: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LockStatus {
    pub name: String,
    pub holder: String,
    pub acquired: Option<String>,
    pub renewed: Option<String>,
    pub lease_seconds: i32,
    /// Not renewed within the lease: its run is gone; the next upgrade takes it over.
    pub expired: bool,
}

async fn lock_status(ctx: &Context, release: &str) -> Result<Option<LockStatus>, Error> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let name = lock::lock_name(release);
    let lease = api.get_opt(&name).await.map_err(api_error)?;
    Ok(lease.map(|l| lock_of(name, l)))
}

/// What a lock Lease says: who holds it since when, and whether it expired.
pub fn lock_of(name: String, lease: Lease) -> LockStatus {
    let spec = lease.spec.unwrap_or_default();
    let lease_seconds = spec.lease_duration_seconds.unwrap_or(lock::LEASE_SECONDS);
    let expired = spec
        .renew_time
        .as_ref()
        .is_none_or(|t| Timestamp::now().as_second() > t.0.as_second() + i64::from(lease_seconds));
    LockStatus {
        name,
        holder: spec.holder_identity.unwrap_or_default(),
        acquired: spec.acquire_time.map(|t| t.0.to_string()),
        renewed: spec.renew_time.map(|t| t.0.to_string()),
        lease_seconds,
        expired,
    }
}

/// How to go on from here: wait, resume, or undo by hand.
pub fn next_steps(
    release: &str,
    namespace: &str,
    upgrade: Option<&Progress>,
    lock: Option<&LockStatus>,
) -> Vec<String> {
    let live = lock.filter(|l| !l.expired);
    let mut out: Vec<String> = lock.map(lock_step).into_iter().collect();
    let Some(p) = upgrade else {
        return out;
    };
    if live.is_none() {
        out.push(format!(
            "resume: helm milvus-upgrade -n {namespace} {release} --to {} (picks up where it stopped, patches nothing twice)",
            p.to
        ));
    }
    if p.hops
        .iter()
        .any(|h| h.path == "migrate" && h.phase != HopPhase::Pending)
    {
        out.push(format!(
            "or undo the meta migration: helm milvus-upgrade -n {namespace} rollback {release} (restores the meta backup, the old chart, images and replicas)"
        ));
        return out;
    }
    if p.hops
        .iter()
        .any(|h| h.phase != HopPhase::Done && h.ordered.is_some())
    {
        out.push(format!(
            "or undo the unfinished ordered chart hop: helm milvus-upgrade -n {namespace} rollback {release} (every object it changed back as recorded, created ones deleted; helm rollback if its helm upgrade ran)"
        ));
        return out;
    }
    out.extend(undo_by_hand(release, namespace, p));
    out
}

fn lock_step(l: &LockStatus) -> String {
    if l.expired {
        format!(
            "the lock {} of {} expired (its run is gone); the next upgrade takes it over",
            l.name, l.holder
        )
    } else {
        format!(
            "an upgrade run holds the lock (lease {}, holder {}, renewed {}): let it finish; if that run is dead, `--take-over` or wait {}s for the lease to expire",
            l.name,
            l.holder,
            l.renewed.as_deref().unwrap_or("never"),
            l.lease_seconds
        )
    }
}

/// The helm rollbacks and image patches that undo what the record says was done.
fn undo_by_hand(release: &str, namespace: &str, p: &Progress) -> Option<String> {
    let mut undo = Vec::new();
    for h in p.hops.iter().filter(|h| h.phase != HopPhase::Pending) {
        if let Some(rev) = h.revision_before {
            undo.push(format!("helm rollback -n {namespace} {release} {rev}"));
        }
    }
    for (name, d) in &p.deployments {
        if matches!(d.phase, DeploymentPhase::Patched | DeploymentPhase::Done) {
            undo.push(format!(
                "kubectl -n {namespace} set image deployment/{name} {}={}",
                d.container, d.image
            ));
        }
    }
    let state = state::state_name(release);
    (!undo.is_empty()).then(|| format!(
        "or roll back by hand (previous images and revisions recorded in configmap/{state}): {}; then `kubectl -n {namespace} delete configmap {state}`",
        undo.join("; ")
    ))
}

pub async fn report(
    ctx: &Context,
    facts: &Facts,
    running: Option<&MilvusVersion>,
) -> Result<Report, Error> {
    let components = facts
        .workloads
        .iter()
        .map(|w| ComponentStatus {
            deployment: w.name.clone(),
            component: w.component.to_string(),
            image: w.image.clone(),
            ready: w.rollout.available,
            desired: w.rollout.desired,
            rollout: if w.rollout.deadline_exceeded {
                "failed"
            } else if w.rollout.is_complete() {
                "complete"
            } else {
                "progressing"
            },
        })
        .collect();
    let release = &facts.release.name;
    let upgrade = state::load(ctx, release).await?;
    let lock = lock_status(ctx, release).await?;
    let next_steps = next_steps(release, &ctx.namespace, upgrade.as_ref(), lock.as_ref());
    Ok(Report {
        schema: "helm-milvus-upgrade/status/v1",
        release: facts.release.clone(),
        running: running.cloned(),
        layout: facts.layout().to_string(),
        values_tag: facts.values.image_tag.clone(),
        drift: drift(facts, running),
        components,
        upgrade,
        lock,
        next_steps,
    })
}

/// Where Helm's view and what runs disagree.
pub fn drift(facts: &Facts, running: Option<&MilvusVersion>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(running) = running else { return out };
    if facts
        .release
        .app_version
        .parse::<MilvusVersion>()
        .ok()
        .as_ref()
        != Some(running)
    {
        out.push(format!(
            "Helm says appVersion {} (chart metadata), the Deployments run {running}",
            facts.release.app_version
        ));
    }
    if let Some(tag) = &facts.values.image_tag {
        if tag.parse::<MilvusVersion>().ok().as_ref() != Some(running) {
            out.push(format!("values set image.all.tag={tag}, the Deployments run {running}: a plain `helm upgrade --reuse-values` would bring {tag} back"));
        }
    }
    let versions = facts.running_versions();
    if versions.len() > 1 {
        let tags: Vec<String> = facts
            .workloads
            .iter()
            .map(|w| format!("{}={}", w.component, image_tag(&w.image).unwrap_or("?")))
            .collect();
        out.push(format!(
            "components run different versions: {}",
            tags.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::state::{DeploymentRecord, HopRecord};

    fn progress() -> Progress {
        Progress {
            schema: state::SCHEMA.into(),
            release: "r".into(),
            from: "2.2.5".into(),
            to: "2.4.9".into(),
            hops: vec![HopRecord {
                path: "rolling".into(),
                to: "2.4.9".into(),
                phase: HopPhase::Running,
                revision_before: None,
                step: None,
                ordered: None,
            }],
            deployments: [
                ("r-milvus-rootcoord", DeploymentPhase::Done),
                ("r-milvus-proxy", DeploymentPhase::Pending),
            ]
            .into_iter()
            .map(|(name, phase)| {
                let record = DeploymentRecord {
                    container: "rootcoord".into(),
                    image: "milvusdb/milvus:v2.2.5".into(),
                    replicas: 1,
                    strategy: "RollingUpdate".into(),
                    min_ready_seconds: 0,
                    phase,
                };
                (name.to_string(), record)
            })
            .collect(),
            updated_at: String::new(),
            layout: None,
        }
    }

    fn lock(expired: bool) -> LockStatus {
        LockStatus {
            name: "r-milvus-upgrade-lock".into(),
            holder: "host/1".into(),
            acquired: None,
            renewed: None,
            lease_seconds: 30,
            expired,
        }
    }

    #[test]
    fn interrupted_upgrade_says_how_to_resume_and_undo() {
        let steps = next_steps("r", "ns", Some(&progress()), None);
        assert!(steps[0].starts_with("resume: helm milvus-upgrade -n ns r --to 2.4.9"));
        assert!(steps[1].contains(
            "kubectl -n ns set image deployment/r-milvus-rootcoord rootcoord=milvusdb/milvus:v2.2.5"
        ));
        assert!(
            !steps[1].contains("r-milvus-proxy"),
            "pending ones need no undo"
        );
    }

    #[test]
    fn a_live_lock_means_wait_an_expired_one_is_taken_over() {
        let live = next_steps("r", "ns", Some(&progress()), Some(&lock(false)));
        assert!(live[0].contains("holds the lock"));
        assert!(!live.iter().any(|s| s.starts_with("resume")));
        let dead = next_steps("r", "ns", None, Some(&lock(true)));
        assert!(dead[0].contains("expired"));
        assert!(next_steps("r", "ns", None, None).is_empty());
    }
}
