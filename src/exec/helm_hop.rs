//! The helm executor: `helm upgrade` to the hop's chart, then a watch until
//! every Milvus Deployment of the new layout runs the hop's image and is
//! available and the Deployments the chart dropped are gone. A failed hop is
//! undone with `helm rollback` to the revision recorded before it.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;

use crate::error::Error;
use crate::exec::events;
use crate::exec::rollout::WaitError;
use crate::exec::run::Run;
use crate::planner::component::{Component, Layout};
use crate::planner::facts::Workload;
use crate::planner::plan::Hop;
use crate::planner::version::{image_repository, image_tag};
use crate::world::cluster::{release_selector, workload};

pub async fn run(run: &mut Run<'_>, hop: &Hop, index: usize) -> Result<(), Error> {
    let (before, upgraded) = revision_before(run, hop, index).await?;
    if !upgraded {
        if let Err(e) = helm_upgrade(run, hop).await {
            return Err(fail(run, hop, before, e.to_string()).await);
        }
    }
    match wait_layout(run, hop.layout_after, &hop.image).await {
        Ok(()) => Ok(()),
        Err(WaitError::Unreachable(e)) => Err(Error::Unavailable(e)),
        Err(e) => Err(fail(run, hop, before, e.describe()).await),
    }
}

/// The Helm revision before the hop (recorded in the cluster on first sight),
/// and whether the hop's helm upgrade already ran (only a resumed hop can say yes).
pub async fn revision_before(
    run: &mut Run<'_>,
    hop: &Hop,
    index: usize,
) -> Result<(u64, bool), Error> {
    if let Some(r) = run.progress.hops[index].revision_before {
        return Ok((r, already_upgraded(run, hop, r).await?));
    }
    let current = current_release(run).await?;
    run.progress.hops[index].revision_before = Some(current.revision);
    run.save().await?;
    Ok((current.revision, false))
}

async fn current_release(run: &Run<'_>) -> Result<crate::planner::facts::Release, Error> {
    let release = &run.progress.release;
    run.ctx
        .helm
        .release(release)
        .await?
        .ok_or_else(|| Error::Failed(format!("release {release} disappeared")))
}

/// Resumed after a kill: the hop's helm upgrade may have finished meanwhile. It
/// counts only if it also set the hop's image (a rerun with another --image
/// upgrades again).
async fn already_upgraded(run: &Run<'_>, hop: &Hop, before: u64) -> Result<bool, Error> {
    let current = current_release(run).await?;
    let chart = hop
        .chart
        .as_ref()
        .map(|c| format!("milvus-{}", c.chart_version));
    Ok(current.revision > before
        && Some(&current.chart) == chart.as_ref()
        && current.status == "deployed"
        && revision_sets_image(run, &run.progress.release, &hop.image).await)
}

async fn revision_sets_image(run: &Run<'_>, release: &str, image: &str) -> bool {
    let Ok(values) = run.ctx.helm.values(release).await else {
        return false;
    };
    let tag_ok = values.image_tag.as_deref() == image_tag(image);
    let repo_ok = values
        .image_repository
        .as_deref()
        .is_none_or(|r| r == image_repository(image));
    tag_ok && repo_ok
}

/// Runs the hop's `helm upgrade` (with the `--helm-arg` flags), if it has one.
pub async fn helm_upgrade(run: &Run<'_>, hop: &Hop) -> Result<(), Error> {
    let Some(step) = hop.helm_upgrade() else {
        return Ok(());
    };
    let args = crate::world::helm::upgrade_args(step);
    let full: Vec<&str> = args.iter().map(String::as_str).collect();
    run.events.event(events::Event::Helm {
        command: args.join(" "),
    });
    helm_write(run, &full).await
}

/// A helm write on this run's release: `--force-conflicts` where Helm applies it
/// server-side, and an error unless the newest revision is then `deployed`.
pub async fn helm_write(run: &Run<'_>, args: &[&str]) -> Result<(), Error> {
    let server_side = run.facts.helm_applies_server_side;
    run.ctx
        .helm
        .write(&run.progress.release, args, server_side)
        .await
        .map(|_| ())
}

/// Undoes a hop whose helm upgrade ran: `helm rollback` to `before`, then a
/// watch until the old layout runs the old image again.
pub async fn fail(run: &mut Run<'_>, hop: &Hop, before: u64, reason: String) -> Error {
    if run.interrupt.is_set() {
        return Error::Interrupted;
    }
    run.events.event(events::Event::Failed {
        step: format!("hop {} → {}", hop.from, hop.to),
        reason: reason.clone(),
    });
    if run.no_rollback {
        return Error::Failed(format!(
            "{reason}. Left as it is (--no-rollback); `helm rollback {} {before}` undoes the hop",
            run.progress.release
        ));
    }
    let revision = before.to_string();
    let args = ["rollback", run.progress.release.as_str(), revision.as_str()];
    run.events.event(events::Event::RollbackStep {
        step: format!("helm {}", args.join(" ")),
    });
    if let Err(e) = helm_write(run, &args).await {
        return Error::Failed(format!(
            "{reason}. `helm rollback` to revision {before} failed too: {e}"
        ));
    }
    let old_image = run
        .facts
        .workloads
        .first()
        .map(|w| w.image.clone())
        .unwrap_or_default();
    run.clock.restart();
    match wait_layout(run, hop.layout_before, &old_image).await {
        Ok(()) => Error::RolledBack(format!("{reason}. Rolled back to helm revision {before}; every Deployment is back on {old_image}")),
        Err(e) => Error::Failed(format!("{reason}. Rolled back to helm revision {before}, but the old version did not come back: {}", e.describe())),
    }
}

/// Components a layout must not have.
fn foreign(layout: Layout, c: Component) -> bool {
    !crate::planner::ordered::belongs(layout, c)
}

/// What is not yet the hop's layout on its image, or None when all is.
fn pending(workloads: &[Workload], layout: Layout, image: &str) -> Option<Vec<String>> {
    if workloads.is_empty() {
        return Some(vec!["Milvus Deployments (there are none)".into()]);
    }
    let not_ready: Vec<String> = workloads
        .iter()
        .filter(|w| foreign(layout, w.component) || w.image != image || !w.rollout.is_complete())
        .map(|w| w.name.clone())
        .collect();
    (!not_ready.is_empty()).then_some(not_ready)
}

/// Watches the release's Deployments until they form the layout on the image;
/// any change of theirs is progress.
pub async fn wait_layout(run: &Run<'_>, layout: Layout, image: &str) -> Result<(), WaitError> {
    let config = watcher::Config::default().labels(&release_selector(&run.progress.release));
    let mut stream = watcher::watcher(run.deployments(), config)
        .default_backoff()
        .boxed();
    let chart_name = run.facts.values.chart_name.clone();
    let mut seen: BTreeMap<String, Deployment> = BTreeMap::new();
    let mut listing: BTreeMap<String, Deployment> = BTreeMap::new();
    let mut last = Vec::new();
    let mut stall = run.clock.watch::<Vec<Workload>>();
    let mut failing: Option<String> = None;
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            why = stall.expired() => return Err(match failing {
                Some(e) => WaitError::Unreachable(e),
                None => WaitError::Layout(why, waiting(&last)),
            }),
            _ = run.interrupt.wait() => return Err(WaitError::Interrupted),
        };
        failing = match &event {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        };
        let ready = match event {
            Some(Ok(Event::Apply(d))) => {
                seen.insert(d.metadata.name.clone().unwrap_or_default(), d);
                true
            }
            Some(Ok(Event::Delete(d))) => {
                seen.remove(&d.metadata.name.clone().unwrap_or_default());
                true
            }
            Some(Ok(Event::Init)) => {
                listing.clear();
                false
            }
            Some(Ok(Event::InitApply(d))) => {
                listing.insert(d.metadata.name.clone().unwrap_or_default(), d);
                false
            }
            Some(Ok(Event::InitDone)) => {
                seen = std::mem::take(&mut listing);
                true
            }
            Some(Err(_)) => false,
            None => return Err(WaitError::Gone),
        };
        if !ready {
            continue;
        }
        let workloads: Vec<Workload> = seen
            .values()
            .filter_map(|d| workload(d, &chart_name))
            .collect();
        for w in &workloads {
            run.events.rollout(&w.name, &w.rollout);
        }
        stall.observe(workloads.clone());
        match pending(&workloads, layout, image) {
            None => return Ok(()),
            Some(on) => {
                if on != last {
                    run.events.event(events::Event::Waiting {
                        on: on.clone(),
                        seconds: None,
                    });
                }
                last = on;
            }
        }
    }
}

fn waiting(on: &[String]) -> String {
    if on.is_empty() {
        "no event yet".into()
    } else {
        format!("waiting for {}", on.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::facts::Rollout;

    fn w(component: Component, image: &str, complete: bool) -> Workload {
        let n = if complete { 1 } else { 0 };
        Workload {
            name: format!("r-milvus-{component}"),
            component,
            resource_group: None,
            container: component.label().into(),
            image: image.into(),
            replicas: 1,
            strategy: "Recreate".into(),
            min_ready_seconds: 0,
            rollout: Rollout {
                desired: 1,
                updated: n,
                ready: n,
                available: n,
                current: 1,
                generation: 1,
                observed_generation: 1,
                deadline_exceeded: false,
            },
        }
    }

    #[test]
    fn a_layout_is_reached_when_old_components_are_gone_and_all_run_the_image() {
        let new = "m:v2.5.16";
        let mut ws = vec![
            w(Component::MixCoord, new, true),
            w(Component::Proxy, new, true),
        ];
        assert_eq!(pending(&ws, Layout::MixCoord, new), None);
        ws.push(w(Component::RootCoord, "m:v2.4.9", true));
        assert_eq!(
            pending(&ws, Layout::MixCoord, new).unwrap(),
            ["r-milvus-rootcoord"]
        );
        ws.pop();
        ws.push(w(Component::QueryNode, new, false));
        assert_eq!(
            pending(&ws, Layout::MixCoord, new).unwrap(),
            ["r-milvus-querynode"]
        );
        assert!(pending(&[], Layout::MixCoord, new).is_some());
    }

    #[test]
    fn streaming_drops_indexnode() {
        assert!(foreign(Layout::Streaming, Component::IndexNode));
        assert!(!foreign(Layout::Streaming, Component::StreamingNode));
        assert!(foreign(Layout::Separate, Component::MixCoord));
    }
}
