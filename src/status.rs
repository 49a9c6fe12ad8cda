//! `status`: what runs, what Helm says about it, and any upgrade in progress.

use serde::Serialize;

use crate::error::Error;
use crate::facts::{Facts, Release};
use crate::gather::Context;
use crate::state::{self, Progress};
use crate::version::{image_tag, MilvusVersion};

#[derive(Debug, Serialize)]
pub struct ComponentStatus {
    pub deployment: String,
    pub component: String,
    pub image: String,
    pub ready: i32,
    pub desired: i32,
    pub rollout: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub release: Release,
    pub running: Option<MilvusVersion>,
    pub layout: String,
    pub values_tag: Option<String>,
    pub drift: Vec<String>,
    pub components: Vec<ComponentStatus>,
    pub upgrade: Option<Progress>,
}

pub async fn report(
    ctx: &Context,
    facts: &Facts,
    running: Option<&MilvusVersion>,
) -> Result<Report, Error> {
    let components = facts
        .workloads
        .iter()
        .map(|w| ComponentStatus {
            deployment: w.name.clone(),
            component: w.component.to_string(),
            image: w.image.clone(),
            ready: w.rollout.available,
            desired: w.rollout.desired,
            rollout: if w.rollout.deadline_exceeded {
                "failed"
            } else if w.rollout.is_complete() {
                "complete"
            } else {
                "progressing"
            },
        })
        .collect();
    let upgrade = state::load(&ctx.client, &ctx.namespace, &facts.release.name).await?;
    Ok(Report {
        schema: "helm-milvus-upgrade/status/v1",
        release: facts.release.clone(),
        running: running.cloned(),
        layout: facts.layout().to_string(),
        values_tag: facts.values.image_tag.clone(),
        drift: drift(facts, running),
        components,
        upgrade,
    })
}

/// Where Helm's view and what runs disagree.
pub fn drift(facts: &Facts, running: Option<&MilvusVersion>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(running) = running else { return out };
    if facts
        .release
        .app_version
        .parse::<MilvusVersion>()
        .ok()
        .as_ref()
        != Some(running)
    {
        out.push(format!(
            "Helm says appVersion {} (chart metadata), the Deployments run {running}",
            facts.release.app_version
        ));
    }
    if let Some(tag) = &facts.values.image_tag {
        if tag.parse::<MilvusVersion>().ok().as_ref() != Some(running) {
            out.push(format!("values set image.all.tag={tag}, the Deployments run {running}: a plain `helm upgrade --reuse-values` would bring {tag} back"));
        }
    }
    let versions = facts.running_versions();
    if versions.len() > 1 {
        let tags: Vec<String> = facts
            .workloads
            .iter()
            .map(|w| format!("{}={}", w.component, image_tag(&w.image).unwrap_or("?")))
            .collect();
        out.push(format!(
            "components run different versions: {}",
            tags.join(", ")
        ));
    }
    out
}

pub fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let running = r
        .running
        .as_ref()
        .map_or("unknown".to_string(), ToString::to_string);
    let _ = writeln!(
        out,
        "Release {} in namespace {}: {} (revision {})",
        r.release.name, r.release.namespace, r.release.status, r.release.revision
    );
    let _ = writeln!(out, "  runs   Milvus {running} ({})", r.layout);
    let _ = writeln!(
        out,
        "  helm   chart {}, appVersion {}, image.all.tag {}",
        r.release.chart,
        r.release.app_version,
        r.values_tag.as_deref().unwrap_or("(chart default)")
    );
    let _ = writeln!(
        out,
        "\n{:<44} {:<14} {:<34} {:<7} ROLLOUT",
        "DEPLOYMENT", "COMPONENT", "IMAGE", "READY"
    );
    for c in &r.components {
        let _ = writeln!(
            out,
            "{:<44} {:<14} {:<34} {:<7} {}",
            c.deployment,
            c.component,
            c.image,
            format!("{}/{}", c.ready, c.desired),
            c.rollout
        );
    }
    if !r.drift.is_empty() {
        let _ = writeln!(out, "\nDrift:");
        for d in &r.drift {
            let _ = writeln!(out, "  ! {d}");
        }
    }
    match &r.upgrade {
        Some(p) => {
            let _ = writeln!(out, "\nUpgrade in progress: {}", p.summary());
        }
        None => {
            let _ = writeln!(out, "\nNo upgrade in progress.");
        }
    }
    out
}
