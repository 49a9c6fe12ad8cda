//! The fleet view as text: one row per release, then drift, upgrades in
//! progress, held locks and what could not be read.

use std::fmt::Write;

use crate::exec::fleet::{Fleet, PathTo, Row};
use crate::ui::color::{self, Colour};

pub fn text(f: &Fleet) -> String {
    let mut out = String::new();
    let to =
        f.to.as_ref()
            .map(|t| format!("PATH TO {t}"))
            .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:<14} {:<10} {:<10} {:<21} {:<6} {:<8} {to}",
        "NAMESPACE", "RELEASE", "CHART", "STATUS", "RUNNING", "LAYOUT", "READY", "UPGRADE"
    );
    for r in &f.releases {
        row(&mut out, r);
    }
    if f.releases.is_empty() {
        let _ = writeln!(out, "(no Milvus release found)");
    }
    for r in &f.releases {
        notes(&mut out, r);
    }
    if !f.not_readable.is_empty() {
        let _ = writeln!(
            out,
            "\nNot readable with these credentials (no list on deployments): {}",
            f.not_readable.join(", ")
        );
    }
    out
}

fn row(out: &mut String, r: &Row) {
    let running = r
        .running
        .as_ref()
        .map_or("unknown".to_string(), ToString::to_string);
    let status = if r.status.starts_with("unreadable") {
        "?"
    } else {
        r.status.as_str()
    };
    let ready = if r.ready {
        color::out("yes", Colour::Green)
    } else {
        color::out("no", Colour::Yellow)
    };
    let upgrade = match (&r.upgrade, &r.lock) {
        (_, Some(l)) if !l.expired => color::out("locked", Colour::Bold),
        (Some(_), _) => color::out("recorded", Colour::Yellow),
        _ => "-".into(),
    };
    let path = r.path.as_ref().map(path_text).unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:<14} {:<10} {:<10} {:<21} {:<6} {:<8} {path}",
        r.namespace, r.release, r.chart, status, running, r.layout, ready, upgrade
    );
}

fn path_text(p: &PathTo) -> String {
    match &p.note {
        Some(note) => note.clone(),
        None => {
            let paths: Vec<String> = p.paths.iter().map(ToString::to_string).collect();
            format!(
                "{} ({} hop{})",
                paths.join(" → "),
                p.hops,
                if p.hops == 1 { "" } else { "s" }
            )
        }
    }
}

fn notes(out: &mut String, r: &Row) {
    let name = format!("{}/{}", r.namespace, r.release);
    for d in &r.drift {
        let _ = writeln!(out, "{} {name}: {d}", color::out("!", Colour::Yellow));
    }
    if let Some(u) = &r.upgrade {
        let _ = writeln!(out, "- {name}: upgrade in progress: {u}");
    }
    if let Some(l) = &r.lock {
        let state = if l.expired { "expired" } else { "held" };
        let _ = writeln!(
            out,
            "- {name}: lock {} {state} by {} (renewed {})",
            l.name,
            l.holder,
            l.renewed.as_deref().unwrap_or("never")
        );
    }
    if !r.not_readable.is_empty() {
        let _ = writeln!(out, "- {name}: not readable: {}", r.not_readable.join(", "));
    }
}
