//! One upgrade per release at a time: a coordination.k8s.io Lease taken before
//! the first write, renewed while the upgrade runs, released at the end. A
//! lease that is not renewed expires, so a crashed run does not block forever;
//! a holder on this machine whose process is gone is taken over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use std::sync::{Arc, Mutex};

use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::exec::rollout::Interrupt;
use crate::exec::state::RELEASE_LABEL;
use crate::world::cluster::api_error;

pub const LEASE_SECONDS: i32 = 30;

pub fn lock_name(release: &str) -> String {
    format!("{release}-milvus-upgrade-lock")
}

/// `host/pid`: who holds the lock.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}/{}", host.trim(), std::process::id())
}

pub struct Lock {
    api: Api<Lease>,
    name: String,
    me: String,
    renewer: JoinHandle<()>,
    /// Set when the Lease is lost: the run stops before its next write.
    on_loss: Arc<Mutex<Option<Interrupt>>>,
}

impl Lock {
    pub async fn acquire(
        client: &Client,
        namespace: &str,
        release: &str,
        take_over: bool,
    ) -> Result<Lock, Error> {
        let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
        let name = lock_name(release);
        let me = identity();
        // Look first: a held lock is refused without a single write.
        let held = match api.get_opt(&name).await.map_err(api_error)? {
            Some(current) => take(&api, current, release, &me, take_over).await?,
            None => match api
                .create(&PostParams::default(), &lease(&name, release, &me, None))
                .await
            {
                Ok(l) => l,
                Err(kube::Error::Api(s)) if s.code == 409 => return Err(taken_meanwhile(&name)),
                Err(e) => return Err(api_error(e)),
            },
        };
        let on_loss = Arc::new(Mutex::new(None));
        let renewer = tokio::spawn(renew(
            api.clone(),
            name.clone(),
            held.metadata.resource_version.clone().unwrap_or_default(),
            me.clone(),
            on_loss.clone(),
        ));
        Ok(Lock {
            api,
            name,
            me,
            renewer,
            on_loss,
        })
    }

    /// A lost Lease interrupts the run (between steps, state kept for a resume).
    pub fn interrupt_on_loss(&self, interrupt: Interrupt) {
        if let Ok(mut slot) = self.on_loss.lock() {
            *slot = Some(interrupt);
        }
    }

    /// Deletes the Lease only while it is still ours (uid and resourceVersion as
    /// preconditions): another run's lock is never removed.
    pub async fn release(self) -> Result<(), Error> {
        self.renewer.abort();
        let Some(current) = self.api.get_opt(&self.name).await.map_err(api_error)? else {
            return Ok(());
        };
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone());
        if holder.as_deref() != Some(self.me.as_str()) {
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: current.metadata.uid.clone(),
                resource_version: current.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(api_error(e)),
        }
    }
}

pub fn lease(name: &str, release: &str, holder: &str, resource_version: Option<String>) -> Lease {
    let now = MicroTime(Timestamp::now());
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([(RELEASE_LABEL.to_string(), release.to_string())].into()),
            resource_version,
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    }
}

async fn take(
    api: &Api<Lease>,
    current: Lease,
    release: &str,
    me: &str,
    take_over: bool,
) -> Result<Lease, Error> {
    let name = current.metadata.name.clone().unwrap_or_default();
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if !(take_over || expired(&spec) || holder_is_dead(&holder)) {
        return Err(Error::Preflight(format!(
            "another upgrade of '{release}' is running (lease {name} held by {holder}, renewed {}); wait for it, or pass --take-over if that run is dead",
            spec.renew_time.map(|t| t.0.to_string()).unwrap_or_default()
        )));
    }
    let replacement = lease(
        &name,
        release,
        me,
        current.metadata.resource_version.clone(),
    );
    api.replace(&name, &PostParams::default(), &replacement)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => taken_meanwhile(&name),
            other => api_error(other),
        })
}

fn taken_meanwhile(name: &str) -> Error {
    Error::Preflight(format!(
        "another run took the lock {name} just now; try again"
    ))
}

fn expired(spec: &LeaseSpec) -> bool {
    let Some(renewed) = &spec.renew_time else {
        return true;
    };
    let lease = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    Timestamp::now().as_second() > renewed.0.as_second() + lease
}

/// A holder on this host whose process no longer exists.
fn holder_is_dead(holder: &str) -> bool {
    let mine = identity();
    let (my_host, _) = mine.split_once('/').unwrap_or_default();
    match holder.split_once('/') {
        Some((host, pid)) if host == my_host => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Renews every third of the lease time; each renewal is a merge patch carrying
/// the resourceVersion last seen (optimistic concurrency), so a Lease someone else
/// replaced, took over or deleted is noticed: the run is interrupted.
async fn renew(
    api: Api<Lease>,
    name: String,
    mut resource_version: String,
    me: String,
    on_loss: Arc<Mutex<Option<Interrupt>>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(
        u64::try_from(LEASE_SECONDS / 3).unwrap_or(10),
    ));
    tick.tick().await;
    loop {
        tick.tick().await;
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": resource_version},
            "spec": {"renewTime": MicroTime(Timestamp::now())},
        });
        let lost = match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(l)
                if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                    == Some(me.as_str()) =>
            {
                resource_version = l.metadata.resource_version.unwrap_or_default();
                None
            }
            Ok(l) => Some(format!(
                "held by {} now",
                l.spec.and_then(|s| s.holder_identity).unwrap_or_default()
            )),
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
                Some(format!("changed by someone else ({})", s.message))
            }
            // Transient (API server restart, network): try again next tick,
            // the Lease outlives two missed renewals.
            Err(_) => None,
        };
        if let Some(why) = lost {
            eprintln!("lock lease {name} lost: {why}; stopping before the next write (run the same command again to resume)");
            if let Some(i) = on_loss.lock().ok().and_then(|s| s.clone()) {
                i.set();
            }
            return;
        }
    }
}
