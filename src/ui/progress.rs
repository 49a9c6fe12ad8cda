//! Progress on stderr: one indicatif bar per Deployment on a terminal, plain
//! timestamped lines otherwise (indicatif prints nothing when hidden).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::events::Events;
use crate::planner::facts::Rollout;

pub struct Reporter {
    start: Instant,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

impl Reporter {
    /// Bars only when stderr is a terminal and colours/bars are wanted.
    pub fn new(fancy: bool, quiet: bool) -> Self {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let multi = (fancy && terminal && !quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            start: Instant::now(),
            multi,
            bars: Mutex::new(HashMap::new()),
            quiet,
        }
    }
}

impl Events for Reporter {
    fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(message);
            }
            None => eprintln!("[{:>7.1}s] {message}", self.start.elapsed().as_secs_f64()),
        }
    }

    fn started(&self, deployment: &str, what: &str) {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(1));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:<44} [{bar:20}] {pos}/{len} {msg} {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(deployment.to_string());
                bar.set_message(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                self.bars
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(deployment.into(), bar);
            }
            None => self.line(&format!("{deployment}: {what}")),
        }
    }

    fn rollout(&self, deployment: &str, r: &Rollout) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(deployment)
        {
            bar.set_length(u64::try_from(r.desired.max(1)).unwrap_or(1));
            bar.set_position(u64::try_from(r.available.min(r.updated).max(0)).unwrap_or(0));
            bar.set_message(format!("updated {} available {}", r.updated, r.available));
        }
    }

    fn finished(&self, deployment: &str, what: &str) {
        let bar = self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(deployment);
        match bar {
            Some(bar) => bar.finish_with_message(what.to_string()),
            None => self.line(&format!("{deployment}: {what}")),
        }
    }
}
