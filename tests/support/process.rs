//! The plugin as a process a test kills.

use std::process::Child;
use std::time::{Duration, Instant};

use super::TIMEOUT;

/// Children of `pid` (the helm it runs), read from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            state != Some("Z") && state != Some("X")
        })
        .unwrap_or(false)
}

/// SIGKILL the plugin only (as `kill -9 <pid>` would): a helm it started keeps
/// running as an orphan; wait for that helm to finish before the rerun.
pub fn kill_9(mut child: Child) {
    let orphans = children(child.id());
    child.kill().expect("kill -9");
    let _ = child.wait();
    let start = Instant::now();
    while orphans.iter().any(|p| running(*p)) {
        assert!(
            start.elapsed() < TIMEOUT,
            "orphaned helm {orphans:?} still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
