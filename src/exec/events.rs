//! What a run tells as it goes. The executors emit typed events; how they are
//! shown (bars, plain lines, JSON lines) is the presentation's business
//! (`ui::progress`). Each event also reads as one line of text (`Display`).

use serde::Serialize;

use crate::planner::facts::Rollout;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Narrative without more structure.
    Message {
        message: String,
    },
    /// The upgrade lock is held.
    Locked {
        lease: String,
    },
    /// Hop `hop` of `hops` (1-based) starts.
    HopStarted {
        hop: usize,
        hops: usize,
        path: String,
        from: String,
        to: String,
    },
    HopDone {
        hop: usize,
        hops: usize,
    },
    /// A step of hop `hop` starts: a meta migration stage (record, stop, sessions,
    /// backup, migrate, start) or an ordered chart hop's step (configmaps,
    /// `roll:<component>`, `start:<component>`, `await:<component>`).
    Stage {
        hop: usize,
        stage: String,
    },
    /// The Milvus config got `enableActiveStandby` for these sections.
    ConfigPatched {
        config_map: String,
        sections: Vec<String>,
    },
    /// A Deployment's Milvus container was set to `image` (on a rollback: its recorded image).
    Patched {
        deployment: String,
        image: String,
        rollback: bool,
    },
    Scaled {
        deployment: String,
        from: i32,
        to: i32,
    },
    /// The rollout of a Deployment moved.
    Rollout {
        deployment: String,
        desired: i32,
        updated: i32,
        available: i32,
    },
    /// A Deployment's rollout is complete (on a rollback: it is back on its recorded image).
    RolledOut {
        deployment: String,
        rollback: bool,
    },
    Skipped {
        deployment: String,
        reason: String,
    },
    /// The run waits on these things (Deployments, pods, etcd sessions).
    Waiting {
        on: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
    },
    /// A helm command (values of `--set` included: they are the plan's own).
    Helm {
        command: String,
    },
    /// A step failed; a rollback follows unless `--no-rollback`.
    Failed {
        step: String,
        reason: String,
    },
    /// A step of undoing a failed hop.
    RollbackStep {
        step: String,
    },
    /// The Helm release was (or could not safely be) brought in line with what runs.
    HelmSync {
        done: bool,
        message: String,
    },
    /// The run ended: `upgraded`, `rolled_back`, `failed`, `interrupted`.
    Done {
        outcome: String,
        seconds: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Message { message } => f.write_str(message),
            Event::Locked { lease } => write!(f, "took the upgrade lock (lease {lease})"),
            Event::HopStarted {
                hop,
                hops,
                path,
                from,
                to,
            } => write!(f, "hop {hop}/{hops}: {path} {from} → {to}"),
            Event::HopDone { hop, hops } => write!(f, "hop {hop}/{hops} done"),
            Event::Stage { hop, stage } => write!(f, "hop {hop}: {stage}"),
            Event::ConfigPatched {
                config_map,
                sections,
            } => write!(
                f,
                "configmap/{config_map}: active-standby on for {}",
                sections.join(", ")
            ),
            Event::Patched {
                deployment,
                image,
                rollback,
            } => {
                let what = if *rollback { "rollback → " } else { "→ " };
                write!(f, "{deployment}: {what}{image}")
            }
            Event::Scaled {
                deployment,
                from,
                to,
            } => write!(f, "deployment/{deployment}: replicas {from} → {to}"),
            Event::Rollout {
                deployment,
                desired,
                updated,
                available,
            } => write!(
                f,
                "{deployment}: {updated}/{desired} updated, {available} available"
            ),
            Event::RolledOut {
                deployment,
                rollback,
            } => {
                let what = if *rollback { "restored" } else { "rolled out" };
                write!(f, "{deployment}: {what}")
            }
            Event::Skipped { deployment, reason } => write!(f, "deployment/{deployment}: {reason}"),
            Event::Waiting { on, seconds: None } => write!(f, "waiting for {}", on.join(", ")),
            Event::Waiting {
                on,
                seconds: Some(s),
            } => write!(f, "waiting {s}s for {}", on.join(", ")),
            Event::Helm { command } => write!(f, "helm {command}"),
            Event::Failed { step, reason } => write!(f, "{step} failed: {reason}"),
            Event::RollbackStep { step } => f.write_str(step),
            Event::HelmSync { message, .. } => f.write_str(message),
            Event::Done {
                outcome,
                seconds,
                error,
            } => match error {
                None => write!(f, "{outcome} in {seconds}s"),
                Some(e) => write!(f, "{outcome} after {seconds}s: {e}"),
            },
        }
    }
}

pub trait Events: Send + Sync {
    fn event(&self, event: Event);

    /// A line of narrative.
    fn line(&self, message: &str) {
        self.event(Event::Message {
            message: message.into(),
        });
    }

    /// The rollout of a Deployment moved.
    fn rollout(&self, deployment: &str, r: &Rollout) {
        self.event(Event::Rollout {
            deployment: deployment.into(),
            desired: r.desired,
            updated: r.updated,
            available: r.available,
        });
    }
}

/// One reporter shared by the run and the command that reports how it ended.
impl<T: Events + ?Sized> Events for std::sync::Arc<T> {
    fn event(&self, event: Event) {
        (**self).event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_their_kind_and_fields() {
        let e = Event::Patched {
            deployment: "r-milvus-proxy".into(),
            image: "milvusdb/milvus:v2.4.9".into(),
            rollback: false,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "patched");
        assert_eq!(v["deployment"], "r-milvus-proxy");
        assert_eq!(e.to_string(), "r-milvus-proxy: → milvusdb/milvus:v2.4.9");
        let w = Event::Waiting {
            on: vec!["etcd sessions".into()],
            seconds: Some(30),
        };
        assert_eq!(w.to_string(), "waiting 30s for etcd sessions");
        assert!(serde_json::to_value(&w).unwrap().get("seconds").is_some());
    }
}
