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
use kube::Api;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::exec::rollout::Interrupt;
use crate::exec::state::RELEASE_LABEL;
use crate::world::cluster::api_error;
use crate::world::gather::Context;
use crate::world::retry::Retry;

pub const LEASE_SECONDS: i32 = 30;

pub fn lock_name(release: &str) -> String {
    format!("{release}-milvus-upgrade-lock")
}

/// `host/pid/start`: who holds the lock — the machine, the process and when
/// that process started (seconds since the epoch), so a pid reused by another
/// process does not pass for the holder. From `sysinfo`, on Linux and macOS alike.
pub fn identity() -> String {
    let host = sysinfo::System::host_name().unwrap_or_default();
    let pid = std::process::id();
    let started = process_start(pid).unwrap_or(0);
    format!("{host}/{pid}/{started}")
}

/// When the process `pid` on this machine started; None when there is none.
fn process_start(pid: u32) -> Option<u64> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut system = System::new().ok()?;
    let pid = Pid::from_u32(pid);
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    system.process(pid).map(|p| p.start_time())
}

/// A Lease holder as `identity` writes it (older runs wrote `host/pid`).
#[derive(Debug, PartialEq)]
struct Holder<'a> {
    host: &'a str,
    pid: u32,
    started: Option<u64>,
}

impl<'a> Holder<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split('/');
        let host = parts.next()?;
        let pid = parts.next()?.parse().ok()?;
        let started = parts.next().and_then(|s| s.parse().ok());
        Some(Holder { host, pid, started })
    }

    /// Gone from this machine: no process with its pid, or one started at
    /// another time (the pid was reused). `running` is that pid's start now.
    fn gone(&self, my_host: &str, running: Option<u64>) -> bool {
        if self.host != my_host {
            return false;
        }
        match (running, self.started) {
            (None, _) => true,
            (Some(now), Some(then)) => now != then,
            (Some(_), None) => false,
        }
    }
}

pub struct Lock {
    api: Api<Lease>,
    retry: Retry,
    name: String,
    me: String,
    renewer: JoinHandle<()>,
    /// Set when the Lease is lost: the run stops before its next write.
    on_loss: Arc<Mutex<Option<Interrupt>>>,
}

impl Lock {
    pub async fn acquire(ctx: &Context, release: &str, take_over: bool) -> Result<Lock, Error> {
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let retry = ctx.retry;
        let name = lock_name(release);
        let me = identity();
        // Look first: a held lock is refused without a single write.
        let found = retry.call(|| api.get_opt(&name)).await.map_err(api_error)?;
        let held = match found {
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
            retry,
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
        let (api, name) = (&self.api, &self.name);
        let found = self.retry.call(|| api.get_opt(name)).await;
        let Some(current) = found.map_err(api_error)? else {
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
        match self.retry.call(|| api.delete(name, &params)).await {
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
    let Some(holder) = Holder::parse(holder) else {
        return false;
    };
    let host = sysinfo::System::host_name().unwrap_or_default();
    holder.gone(&host, process_start(holder.pid))
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
            Err(e) if crate::world::retry::is_transient(&e) => None,
            Err(e) => Some(format!("it cannot be renewed ({e})")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_its_own_live_holder() {
        let me = identity();
        let holder = Holder::parse(&me).unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert!(holder.started.is_some_and(|s| s > 0), "{me}");
        assert!(!holder_is_dead(&me));
    }

    #[test]
    fn a_holder_is_gone_when_its_process_is_or_its_pid_was_reused() {
        let h = Holder::parse("node-1/42/1000").unwrap();
        assert_eq!(
            h,
            Holder {
                host: "node-1",
                pid: 42,
                started: Some(1000)
            }
        );
        assert!(h.gone("node-1", None));
        assert!(h.gone("node-1", Some(2000)), "pid reused");
        assert!(!h.gone("node-1", Some(1000)));
        assert!(
            !h.gone("node-2", None),
            "another machine's process is unknown"
        );
        let old = Holder::parse("node-1/42").unwrap();
        assert!(old.gone("node-1", None));
        assert!(!old.gone("node-1", Some(5)));
        assert_eq!(Holder::parse("nobody"), None);
    }
}
