//! Progress on stderr: one indicatif bar per Deployment on a terminal, plain
//! timestamped lines otherwise (indicatif prints nothing when hidden), or one
//! JSON object per line (`--progress json`) for CI systems and dashboards.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use k8s_openapi::jiff::Timestamp;

use crate::exec::events::{Event, Events};

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

    fn print(&self, message: &str) {
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

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A bar for a Deployment that started changing; a plain line without bars.
    fn start_bar(&self, deployment: &str, what: String, line: &str) {
        let Some(m) = &self.multi else {
            return self.print(line);
        };
        let bar = m.add(ProgressBar::new(1));
        bar.set_style(
            ProgressStyle::with_template("{prefix:<44} [{bar:20}] {pos}/{len} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(deployment.to_string());
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bars().insert(deployment.into(), bar);
    }
}

impl Events for Reporter {
    fn event(&self, event: Event) {
        match &event {
            Event::Patched {
                deployment, image, ..
            } => {
                let line = event.to_string();
                let what = line
                    .strip_prefix(&format!("{deployment}: "))
                    .unwrap_or(image)
                    .to_string();
                self.start_bar(deployment, what, &line);
            }
            Event::Rollout {
                deployment,
                desired,
                updated,
                available,
            } => {
                if let Some(bar) = self.bars().get(deployment) {
                    bar.set_length(u64::try_from((*desired).max(1)).unwrap_or(1));
                    let done = (*available).min(*updated).max(0);
                    bar.set_position(u64::try_from(done).unwrap_or(0));
                    bar.set_message(format!("updated {updated} available {available}"));
                }
            }
            Event::RolledOut { deployment, .. } => {
                let bar = self.bars().remove(deployment);
                match bar {
                    Some(bar) => {
                        let line = event.to_string();
                        let what = line.rsplit(": ").next().unwrap_or_default().to_string();
                        bar.finish_with_message(what);
                    }
                    None => self.print(&event.to_string()),
                }
            }
            // The command says how it ended, on stdout (or as the error).
            Event::Done { .. } => {}
            _ => self.print(&event.to_string()),
        }
    }
}

/// `--progress json`: one object per event on stderr, `time` in RFC 3339, `kind`
/// and the event's fields, and `message` as the text progress would say it.
/// Rollout events are told only when a Deployment's counts change.
#[derive(Default)]
pub struct JsonReporter {
    last_rollout: Mutex<HashMap<String, (i32, i32, i32)>>,
}

impl JsonReporter {
    /// The line for an event, or None for a rollout that did not move.
    pub fn line(&self, event: &Event) -> Option<String> {
        if let Event::Rollout {
            deployment,
            desired,
            updated,
            available,
        } = event
        {
            let mut last = self.last_rollout.lock().unwrap_or_else(|e| e.into_inner());
            let now = (*desired, *updated, *available);
            if last.insert(deployment.clone(), now) == Some(now) {
                return None;
            }
        }
        Some(json_line(event))
    }
}

/// An event as one JSON object: time, kind, fields and the text.
pub fn json_line(event: &Event) -> String {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("time".into(), Timestamp::now().to_string().into());
        map.insert("message".into(), event.to_string().into());
    }
    value.to_string()
}

/// The command's error as the last JSON progress line (`kind` `error`).
pub fn error_line(message: &str, exit_code: i32) -> String {
    serde_json::json!({
        "time": Timestamp::now().to_string(),
        "kind": "error",
        "message": message,
        "exit_code": exit_code,
    })
    .to_string()
}

impl Events for JsonReporter {
    fn event(&self, event: Event) {
        if let Some(line) = self.line(&event) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_time_kind_fields_and_text() {
        let r = JsonReporter::default();
        let event = Event::HopStarted {
            hop: 1,
            hops: 2,
            path: "rolling".into(),
            from: "2.2.5".into(),
            to: "2.4.9".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&r.line(&event).unwrap()).unwrap();
        assert_eq!(v["kind"], "hop_started");
        assert_eq!(v["hop"], 1);
        assert_eq!(v["message"], "hop 1/2: rolling 2.2.5 → 2.4.9");
        let time: Timestamp = v["time"].as_str().unwrap().parse().unwrap();
        assert!(time <= Timestamp::now());
        let rollout = Event::Rollout {
            deployment: "d".into(),
            desired: 1,
            updated: 0,
            available: 0,
        };
        assert!(r.line(&rollout).is_some());
        assert!(
            r.line(&rollout).is_none(),
            "unchanged counts are not told again"
        );
    }
}
