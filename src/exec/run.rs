//! What the executors share while a plan runs: where they act (the context),
//! what they act on (the facts), the recorded progress, how they report, and
//! the settings of the run. Defined below the runner so that executors and
//! runner both depend on it, not on each other.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use tokio::time::Instant;

use crate::error::Error;
use crate::exec::events::Events;
use crate::exec::migrate::MigrationSettings;
use crate::exec::rollout::Interrupt;
use crate::exec::state::{self, Progress};
use crate::planner::facts::Facts;
use crate::world::gather::Context;

/// How a run goes: mapped from the command line by the CLI.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The whole run's time limit.
    pub timeout: Duration,
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
            timeout: Duration::from_secs(15 * 60),
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
    pub deadline: Instant,
    pub timeout: Duration,
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
            deadline: started + settings.timeout,
            timeout: settings.timeout,
            no_rollback: settings.no_rollback,
            min_ready_seconds: settings.min_ready_seconds,
            parallel_nodes: settings.parallel_nodes,
            migration: settings.migration.clone(),
        }
    }

    pub async fn save(&mut self) -> Result<(), Error> {
        state::save(&self.ctx.client, &self.ctx.namespace, &mut self.progress).await
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace)
    }
}
