//! What the executors share while a plan runs: where they act (the context),
//! what they act on (the facts), the recorded progress, how they report, and
//! the settings of the run. Defined below the runner so that executors and
//! runner both depend on it, not on each other.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::Error;
use crate::exec::deadline::{Clock, DEFAULT_PROGRESS_DEADLINE};
use crate::exec::events::Events;
use crate::exec::migrate::MigrationSettings;
use crate::exec::rollout::Interrupt;
use crate::exec::state::{self, Progress, FIELD_MANAGER};
use crate::planner::facts::Facts;
use crate::world::cluster::api_error;
use crate::world::gather::Context;

/// How a run goes: mapped from the command line by the CLI.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A wait fails when nothing progresses for this long.
    pub progress_deadline: Duration,
    /// The whole run's time limit, if any.
    pub timeout: Option<Duration>,
    /// Take over a lock whose holder is dead.
    pub take_over: bool,
    /// Leave a failure as it is instead of rolling back.
    pub no_rollback: bool,
    /// minReadySeconds for coordinators during a rolling hop.
    pub min_ready_seconds: i32,
    /// Roll querynode and datanode together.
    pub parallel_nodes: bool,
    pub migration: MigrationSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            progress_deadline: DEFAULT_PROGRESS_DEADLINE,
            timeout: None,
            take_over: false,
            no_rollback: false,
            min_ready_seconds: 30,
            parallel_nodes: false,
            migration: MigrationSettings::default(),
        }
    }
}

/// Everything an executor needs while it runs.
pub struct Run<'a> {
    pub ctx: &'a Context,
    pub facts: &'a Facts,
    pub progress: Progress,
    pub events: Box<dyn Events>,
    pub interrupt: Interrupt,
    pub started: Instant,
    /// The progress deadline and the optional total.
    pub clock: Clock,
    pub no_rollback: bool,
    pub min_ready_seconds: i32,
    /// Roll querynode and datanode together.
    pub parallel_nodes: bool,
    pub migration: MigrationSettings,
}

impl<'a> Run<'a> {
    pub fn new(
        ctx: &'a Context,
        facts: &'a Facts,
        progress: Progress,
        settings: &Settings,
        events: Box<dyn Events>,
    ) -> Self {
        let started = Instant::now();
        Run {
            ctx,
            facts,
            progress,
            events,
            interrupt: Interrupt::on_signals(),
            started,
            clock: Clock::start(settings.progress_deadline, settings.timeout),
            no_rollback: settings.no_rollback,
            min_ready_seconds: settings.min_ready_seconds,
            parallel_nodes: settings.parallel_nodes,
            migration: settings.migration.clone(),
        }
    }

    /// Writes the progress, retrying transient failures: a lost write is never
    /// a reason to roll back.
    pub async fn save(&mut self) -> Result<(), Error> {
        state::save(self.ctx, &mut self.progress).await
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace)
    }

    /// The Deployment as it is now.
    pub async fn deployment(&self, name: &str) -> Result<Deployment, Error> {
        let api = self.deployments();
        self.ctx
            .retry
            .call(|| api.get(name))
            .await
            .map_err(api_error)
    }

    /// A strategic merge patch of a Deployment under our field manager; the same
    /// patch twice is harmless, so transient failures are retried.
    pub async fn patch_deployment(&self, name: &str, body: &Value) -> kube::Result<Deployment> {
        let api = self.deployments();
        let (params, patch) = (PatchParams::apply(FIELD_MANAGER), Patch::Strategic(body));
        self.ctx
            .retry
            .call(|| api.patch(name, &params, &patch))
            .await
    }
}
