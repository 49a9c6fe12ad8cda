//! `status` as text: the release, its Deployments, drift, the upgrade in
//! progress, the lock and the next steps.

use std::fmt::Write;

use crate::exec::status::{ComponentStatus, LockStatus, Report};
use crate::ui::color::{self, Colour};

pub fn text(r: &Report) -> String {
    let mut out = header(r);
    components(&mut out, &r.components);
    list(
        &mut out,
        "Drift:",
        &r.drift,
        &color::out("!", Colour::Yellow),
    );
    match &r.upgrade {
        Some(p) => writeln!(out, "\nUpgrade in progress: {}", p.summary()),
        None => writeln!(out, "\nNo upgrade in progress."),
    }
    .unwrap_or_default();
    if let Some(l) = &r.lock {
        lock(&mut out, l);
    }
    list(&mut out, "Next:", &r.next_steps, "-");
    out
}

fn header(r: &Report) -> String {
    let running = r
        .running
        .as_ref()
        .map_or("unknown".to_string(), ToString::to_string);
    format!(
        "Release {} in namespace {}: {} (revision {})\n  runs   Milvus {running} ({})\n  helm   chart {}, appVersion {}, image.all.tag {}\n",
        r.release.name,
        r.release.namespace,
        r.release.status,
        r.release.revision,
        r.layout,
        r.release.chart,
        r.release.app_version,
        r.values_tag.as_deref().unwrap_or("(chart default)")
    )
}

fn components(out: &mut String, components: &[ComponentStatus]) {
    let _ = writeln!(
        out,
        "\n{:<44} {:<14} {:<34} {:<7} ROLLOUT",
        "DEPLOYMENT", "COMPONENT", "IMAGE", "READY"
    );
    for c in components {
        let colour = match c.rollout {
            "complete" => Colour::Green,
            "failed" => Colour::Red,
            _ => Colour::Yellow,
        };
        let _ = writeln!(
            out,
            "{:<44} {:<14} {:<34} {:<7} {}",
            c.deployment,
            c.component,
            c.image,
            format!("{}/{}", c.ready, c.desired),
            color::out(c.rollout, colour)
        );
    }
}

fn lock(out: &mut String, l: &LockStatus) {
    let (state, colour) = if l.expired {
        ("expired", Colour::Yellow)
    } else {
        ("held", Colour::Bold)
    };
    let _ = writeln!(
        out,
        "Lock {} {} by {} (acquired {}, renewed {}, lease {}s)",
        l.name,
        color::out(state, colour),
        l.holder,
        l.acquired.as_deref().unwrap_or("?"),
        l.renewed.as_deref().unwrap_or("never"),
        l.lease_seconds
    );
}

/// A titled list, skipped when empty.
fn list(out: &mut String, title: &str, items: &[String], bullet: &str) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    for item in items {
        let _ = writeln!(out, "  {bullet} {item}");
    }
}
