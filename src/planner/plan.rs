//! The planner: facts about a release + a target version → an ordered Plan.
//! Pure: no I/O, so every decision is table-tested over real version pairs.

use serde::Serialize;

use crate::planner::chart_select::{select_chart, ChartChoice, ChartRequest};
use crate::planner::component::{Component, Layout};
use crate::planner::error::PlanError;
use crate::planner::facts::{Facts, MessageQueue, Workload};
use crate::planner::ordered::{self, DeploymentChange, OrderStep};
use crate::planner::version::MilvusVersion;

pub const SCHEMA: &str = "helm-milvus-upgrade/plan/v1";

/// The first version whose meta format is 2.2's.
fn meta_2_2() -> MilvusVersion {
    MilvusVersion::new(2, 2, 0)
}
/// The first version whose coordinators can run active-standby.
fn active_standby_min() -> MilvusVersion {
    MilvusVersion::new(2, 2, 3)
}
/// The stop before 2.6: 2.5.16 with mixcoord.
fn stop_before_2_6() -> MilvusVersion {
    MilvusVersion::new(2, 5, 16)
}
fn first_2_6() -> MilvusVersion {
    MilvusVersion::new(2, 6, 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// Patch each Deployment's image in dependency order; no downtime.
    Rolling,
    /// `helm upgrade` to the chart of the target version.
    Helm,
    /// Stop, back up and migrate etcd meta (2.1.x → 2.2+), start the new version.
    Migrate,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Path::Rolling => "rolling",
            Path::Helm => "helm",
            Path::Migrate => "migrate",
        })
    }
}

/// What the user asked for with `--path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PathChoice {
    #[default]
    Auto,
    Rolling,
    Helm,
    Migrate,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub path: PathChoice,
    pub chart_version: Option<semver::Version>,
    pub repo: Option<String>,
    pub image_repository: Option<String>,
    pub allow_downgrade: bool,
    /// Allow a chart known to break this release (Pulsar v2 on charts 4.2.21–4.2.29).
    pub force: bool,
    /// Where recorded progress toward the same target started: an upgrade
    /// interrupted after every Deployment reached the target still has to finish.
    pub resume_from: Option<MilvusVersion>,
    /// The layout recorded when that progress started: a chart hop interrupted
    /// halfway has both layouts' Deployments, and must be planned as it began.
    pub resume_layout: Option<Layout>,
    /// Chart hops as one `helm upgrade` that changes every Deployment at once,
    /// instead of an ordered chart hop.
    pub all_at_once: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "lowercase")]
pub enum Downtime {
    None,
    /// Serving continues, with the stated gap.
    Partial(String),
    Full(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Add `enableActiveStandby: true` for the coordinators to the config.
    EnableActiveStandby {
        config_map: String,
        key: String,
        sections: Vec<String>,
    },
    /// Set the Milvus container's image and wait for the rollout.
    PatchImage {
        deployment: String,
        component: Component,
        container: String,
        from: String,
        to: String,
    },
    /// Record replicas and images, scale every Milvus Deployment to 0, wait for sessions to expire.
    StopMilvus {
        deployments: Vec<String>,
    },
    BackupMeta,
    MigrateMeta {
        source: String,
        target: String,
    },
    /// `helm upgrade` the release to this chart with the hop's values on top of
    /// the release's own (`--reset-then-reuse-values`); the helm adapter makes argv.
    HelmUpgrade {
        release: String,
        /// `repo/milvus`
        chart: String,
        chart_version: semver::Version,
        values: Vec<SetValue>,
    },
    /// Render the hop's chart with its values (`helm upgrade --dry-run=server`): nothing is written.
    RenderChart,
    /// Apply the rendered ConfigMaps that differ from the live ones (or are new).
    ApplyConfigMaps,
    /// One component of an ordered chart hop: its rendered Deployments applied as
    /// rendered (created with Helm's ownership metadata where new).
    Ordered(OrderStep),
    /// Deployments the final `helm upgrade` removes (the old layout's), last.
    RemovedByHelm {
        components: Vec<Component>,
    },
    /// No Deployment the hop rolled moved again in the final `helm upgrade`.
    CheckNoRollout,
    /// Wait until every Milvus Deployment of the layout runs `image` and is available.
    WaitForLayout {
        layout: Layout,
        image: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub path: Path,
    pub from: MilvusVersion,
    pub to: MilvusVersion,
    pub reason: String,
    pub image: String,
    pub chart: Option<ChartChoice>,
    pub values: Vec<SetValue>,
    pub layout_before: Layout,
    pub layout_after: Layout,
    pub downtime: Downtime,
    /// A chart hop carried out component by component (`Step::Ordered`), Helm's
    /// upgrade last; false for one all-at-once `helm upgrade`.
    pub ordered: bool,
    pub steps: Vec<Step>,
    /// What the hop does to each Deployment, from its rendered chart (filled in
    /// where the chart was rendered: dry runs of ordered hops).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<DeploymentChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub release: String,
    pub namespace: String,
    pub from: MilvusVersion,
    pub to: MilvusVersion,
    pub layout: Layout,
    pub hops: Vec<Hop>,
    pub warnings: Vec<String>,
}

impl Hop {
    /// The hop's `helm upgrade`, if it has one.
    pub fn helm_upgrade(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| matches!(s, Step::HelmUpgrade { .. }))
    }
}

impl Plan {
    pub fn paths(&self) -> Vec<Path> {
        self.hops.iter().map(|h| h.path).collect()
    }

    /// The worst downtime of any hop.
    pub fn downtime(&self) -> Downtime {
        let rank = |d: &Downtime| match d {
            Downtime::None => 0,
            Downtime::Partial(_) => 1,
            Downtime::Full(_) => 2,
        };
        self.hops
            .iter()
            .map(|h| h.downtime.clone())
            .max_by_key(rank)
            .unwrap_or(Downtime::None)
    }
}

/// One leg of the route before charts and steps are attached.
#[derive(Debug, Clone)]
struct Leg {
    path: Path,
    to: MilvusVersion,
    reason: String,
    /// Switch separate coordinators to mixcoord on the way (before 2.6).
    to_mixcoord: bool,
}

#[cfg(test)]
mod tests;

pub fn plan(facts: &Facts, target: &MilvusVersion, options: &Options) -> Result<Plan, PlanError> {
    let live = current_version(facts)?;
    let from = match &options.resume_from {
        Some(recorded) if &live == target && recorded < target => recorded.clone(),
        _ => live,
    };
    check_direction(&from, target, options)?;
    check_known_target(facts, target)?;
    let layout = options.resume_layout.unwrap_or_else(|| facts.layout());
    let legs = route(&from, target, layout, facts, options)?;
    if !facts.local_charts.is_empty() {
        let chart_hops: Vec<MilvusVersion> = legs
            .iter()
            .filter(|l| l.path != Path::Rolling)
            .map(|l| l.to.clone())
            .collect();
        let mq = &facts.values.message_queue;
        crate::planner::chart_select::local::check(&facts.local_charts, &chart_hops, mq)?;
    }
    if let (Some(chart), Some(last)) = (&options.chart_version, legs.last()) {
        if last.path == Path::Rolling {
            return Err(PlanError::ChartVersionUnused {
                chart_version: chart.to_string(),
                path: last.path,
            });
        }
    }
    let mut state = (from.clone(), layout);
    let mut hops = Vec::new();
    for (i, leg) in legs.iter().enumerate() {
        let last = i + 1 == legs.len();
        let hop = build_hop(facts, options, &state, leg, last)?;
        state = (hop.to.clone(), hop.layout_after);
        hops.push(hop);
    }
    let mut plan = Plan {
        schema: SCHEMA,
        release: facts.release.name.clone(),
        namespace: facts.release.namespace.clone(),
        from,
        to: target.clone(),
        layout,
        hops,
        warnings: Vec::new(),
    };
    plan.warnings = crate::planner::warnings::for_plan(facts, &plan);
    Ok(plan)
}

/// The oldest version any Milvus container runs: an interrupted upgrade
/// continues from there.
pub fn current_version(facts: &Facts) -> Result<MilvusVersion, PlanError> {
    if !facts.release.is_milvus_chart() {
        return Err(PlanError::NotMilvus {
            release: facts.release.name.clone(),
            chart: facts.release.chart.clone(),
        });
    }
    if facts.workloads.is_empty() {
        return Err(PlanError::NoDeployments {
            release: facts.release.name.clone(),
        });
    }
    facts
        .running_versions()
        .into_iter()
        .next()
        .ok_or_else(|| PlanError::UnreadableImage {
            image: facts.workloads[0].image.clone(),
        })
}

fn check_direction(
    from: &MilvusVersion,
    to: &MilvusVersion,
    options: &Options,
) -> Result<(), PlanError> {
    if from == to {
        return Err(PlanError::SameVersion {
            version: from.to_string(),
        });
    }
    if to < from && !options.allow_downgrade {
        return Err(PlanError::Downgrade {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    if from.as_str().starts_with("2.6.0-rc") {
        return Err(PlanError::CannotUpgradeFrom {
            from: from.to_string(),
            reason: "2.6.0 release candidates cannot be upgraded; reinstall on a release version"
                .into(),
        });
    }
    Ok(())
}

/// A target must be a Milvus version some chart ships or the history knows.
fn check_known_target(facts: &Facts, target: &MilvusVersion) -> Result<(), PlanError> {
    let in_index = facts
        .index
        .charts
        .iter()
        .any(|c| &c.app_version == target || &c.facts().default_version() == target);
    let in_history = crate::planner::chart_history::HISTORY
        .iter()
        .any(|c| &c.app_version == target || &c.default_version() == target);
    let local = facts
        .local_charts
        .iter()
        .any(|c| c.app_version.parse().ok().as_ref() == Some(target));
    if in_index || in_history || local {
        return Ok(());
    }
    let mut known: Vec<MilvusVersion> = facts
        .index
        .charts
        .iter()
        .map(|c| c.app_version.clone())
        .collect();
    known.sort();
    known.dedup();
    let nearest = known
        .iter()
        .filter(|v| v.minor_line() == target.minor_line())
        // Pre-releases are suggested only for a pre-release target.
        .filter(|v| target.is_pre_release() || !v.is_pre_release())
        .map(|v| v.to_string())
        .collect();
    Err(PlanError::UnknownTarget {
        target: target.to_string(),
        nearest,
    })
}

/// The legs from `from` to `to`: meta migration, required stops, then the path.
fn route(
    from: &MilvusVersion,
    to: &MilvusVersion,
    layout: Layout,
    facts: &Facts,
    options: &Options,
) -> Result<Vec<Leg>, PlanError> {
    let mut legs = Vec::new();
    let mut at = from.clone();
    let mut layout = layout;
    let needs_2_6_stop = to >= &first_2_6() && from < &first_2_6();
    let stop = stop_before_2_6();
    let waypoint = |at: &MilvusVersion| {
        if needs_2_6_stop {
            stop.clone().max(at.clone())
        } else {
            to.clone()
        }
    };
    if at < meta_2_2() && to >= &meta_2_2() {
        let leg_to = waypoint(&at);
        legs.push(Leg {
            path: Path::Migrate,
            to: leg_to.clone(),
            reason: format!(
                "{at} uses the 2.1 meta format; 2.2.0 and later need the etcd meta migrated first"
            ),
            to_mixcoord: needs_2_6_stop && layout == Layout::Separate,
        });
        layout = if layout == Layout::Standalone {
            layout
        } else {
            Layout::MixCoord
        };
        at = leg_to;
    }
    if needs_2_6_stop
        && !(at >= stop
            && matches!(
                layout,
                Layout::MixCoord | Layout::Streaming | Layout::Standalone
            ))
    {
        let mix_rolls = layout == Layout::MixCoord && at >= active_standby_min();
        legs.push(Leg {
            path: if mix_rolls { Path::Rolling } else { Path::Helm },
            to: stop.clone().max(at.clone()),
            reason: "2.6 can only be reached from 2.5.16 or later running mixcoord".into(),
            to_mixcoord: layout == Layout::Separate,
        });
        at = stop.clone().max(at);
    }
    if &at != to {
        legs.push(final_leg(&at, to, layout, facts));
    }
    apply_path_choice(legs, options, facts)
}

/// The leg that reaches the target from a version already past every required stop.
fn final_leg(at: &MilvusVersion, to: &MilvusVersion, layout: Layout, facts: &Facts) -> Leg {
    let leg = |path, reason: String| Leg {
        path,
        to: to.clone(),
        reason,
        to_mixcoord: false,
    };
    if to >= &first_2_6() && at < &first_2_6() {
        leg(
            Path::Helm,
            "2.6 adds streamingnode and drops indexnode: the chart must change, not just the image"
                .into(),
        )
    } else if at < &active_standby_min() {
        leg(Path::Helm, format!("{at} is below 2.2.3: coordinators cannot run active-standby, so the chart upgrades them"))
    } else if layout == Layout::Standalone {
        let mq = &facts.values.message_queue;
        leg(
            Path::Helm,
            format!(
                "standalone ({mq:?}) runs one Deployment: it restarts on the new image either way"
            ),
        )
    } else {
        leg(Path::Rolling, format!("{at} runs active-standby coordinators: patch each Deployment's image in dependency order"))
    }
}

/// `--path`: force a path where the hop allows it, else explain why not.
fn apply_path_choice(
    mut legs: Vec<Leg>,
    options: &Options,
    facts: &Facts,
) -> Result<Vec<Leg>, PlanError> {
    let wanted = match options.path {
        PathChoice::Auto => return Ok(legs),
        PathChoice::Rolling => Path::Rolling,
        PathChoice::Helm => Path::Helm,
        PathChoice::Migrate => Path::Migrate,
    };
    let last = legs.len() - 1;
    let leg = &mut legs[last];
    let allowed = match (leg.path, wanted) {
        (p, w) if p == w => true,
        (Path::Rolling, Path::Helm) => true,
        (Path::Helm, Path::Rolling) => facts.layout() == Layout::Standalone && leg.to < first_2_6(),
        _ => false,
    };
    if !allowed {
        return Err(PlanError::PathNotPossible {
            path: wanted,
            reason: leg.reason.clone(),
        });
    }
    if wanted == Path::Rolling && facts.values.message_queue == MessageQueue::RocksMq {
        return Err(PlanError::PathNotPossible {
            path: wanted,
            reason: "standalone on rocksmq cannot be rolled: the one pod owns the queue's local files; use --path helm (the standalone pod restarts, a short downtime)".into(),
        });
    }
    leg.path = wanted;
    leg.reason = format!("{} (--path {wanted})", leg.reason);
    Ok(legs)
}

fn build_hop(
    facts: &Facts,
    options: &Options,
    (from, layout): &(MilvusVersion, Layout),
    leg: &Leg,
    last: bool,
) -> Result<Hop, PlanError> {
    // A flavoured build (`-gpu`) stays on its flavour in every hop.
    let leg = &Leg {
        to: leg.to.in_flavour_of(from),
        ..leg.clone()
    };
    let repository = options
        .image_repository
        .clone()
        .unwrap_or_else(|| facts.image_repository());
    let image = format!("{repository}:{}", leg.to.image_tag());
    match leg.path {
        Path::Rolling => Ok(rolling_hop(facts, from, *layout, leg, image)),
        Path::Helm | Path::Migrate => {
            let release_chart = facts.release.chart_name_version().1;
            let request = ChartRequest {
                target: &leg.to,
                chart_version: if last {
                    options.chart_version.as_ref()
                } else {
                    None
                },
                repo: options.repo.as_deref(),
                message_queue: &facts.values.message_queue,
                release_chart: release_chart.as_ref(),
                force: options.force,
                local: &facts.local_charts,
            };
            let chart = select_chart(&facts.index, &request)?;
            Ok(chart_hop(facts, options, from, *layout, leg, image, chart))
        }
    }
}

fn rolling_hop(
    facts: &Facts,
    from: &MilvusVersion,
    layout: Layout,
    leg: &Leg,
    image: String,
) -> Hop {
    let mut workloads: Vec<&Workload> = facts.workloads.iter().collect();
    workloads.sort_by(|a, b| (a.component, &a.name).cmp(&(b.component, &b.name)));
    let mut steps: Vec<Step> = active_standby_step(facts).into_iter().collect();
    steps.extend(workloads.into_iter().map(|w| Step::PatchImage {
        deployment: w.name.clone(),
        component: w.component,
        container: w.container.clone(),
        from: w.image.clone(),
        to: image.clone(),
    }));
    let single_querynode = facts
        .workloads
        .iter()
        .any(|w| w.component == Component::QueryNode && w.replicas < 2);
    let downtime = if single_querynode {
        Downtime::Partial(
            "querynode has a single replica: searches pause while it reloads segments".into(),
        )
    } else {
        Downtime::None
    };
    Hop {
        path: Path::Rolling,
        from: from.clone(),
        to: leg.to.clone(),
        reason: leg.reason.clone(),
        image,
        chart: None,
        values: Vec::new(),
        layout_before: layout,
        layout_after: layout,
        downtime,
        ordered: false,
        steps,
        changes: Vec::new(),
    }
}

/// Active-standby for the coordinators the release has, unless the config has it.
fn active_standby_step(facts: &Facts) -> Option<Step> {
    let config = facts.config.as_ref()?;
    let has = |c: Component| facts.workloads.iter().any(|w| w.component == c);
    let sections: Vec<String> = [
        (Component::RootCoord, "rootCoord"),
        (Component::DataCoord, "dataCoord"),
        (Component::QueryCoord, "queryCoord"),
        (Component::IndexCoord, "indexCoord"),
    ]
    .into_iter()
    .filter(|(c, _)| has(*c) || has(Component::MixCoord))
    .map(|(_, section)| section.to_string())
    .filter(|s| !config.active_standby.contains(s))
    .collect();
    (!sections.is_empty()).then(|| Step::EnableActiveStandby {
        config_map: config.config_map.clone(),
        key: config.key.clone(),
        sections,
    })
}

fn chart_hop(
    facts: &Facts,
    options: &Options,
    from: &MilvusVersion,
    layout: Layout,
    leg: &Leg,
    image: String,
    chart: ChartChoice,
) -> Hop {
    let layout_after = if layout == Layout::Standalone {
        layout
    } else {
        chart.layout
    };
    let values = crate::planner::hop_values::for_hop(
        facts,
        options,
        &chart,
        &leg.to,
        layout,
        leg.to_mixcoord,
    );
    let mut steps = Vec::new();
    let ordered = leg.path == Path::Helm && !options.all_at_once;
    let downtime = if leg.path == Path::Migrate {
        steps.push(Step::StopMilvus {
            deployments: facts.workloads.iter().map(|w| w.name.clone()).collect(),
        });
        steps.push(Step::BackupMeta);
        steps.push(Step::MigrateMeta {
            source: from.to_string(),
            target: leg.to.to_string(),
        });
        Downtime::Full(
            "every Milvus Deployment is stopped while the meta is backed up and migrated".into(),
        )
    } else if ordered {
        ordered_downtime(from, &leg.to, layout)
    } else {
        Downtime::Full("the chart recreates the coordinators (strategy Recreate): requests fail until they are back".into())
    };
    // The components when the hop starts: the live ones as the hops before left them.
    let live: Vec<Component> = facts.workloads.iter().map(|w| w.component).collect();
    let (kept, added, _) = ordered::layout_change(&live, layout);
    let start: Vec<Component> = kept.into_iter().chain(added).collect();
    let (kept, added, removed) = ordered::layout_change(&start, layout_after);
    if ordered {
        steps.push(Step::RenderChart);
        steps.push(Step::ApplyConfigMaps);
        let components: Vec<Component> = kept.into_iter().chain(added).collect();
        let order = ordered::order(layout, layout_after, &components);
        steps.extend(order.into_iter().map(Step::Ordered));
    }
    steps.push(Step::HelmUpgrade {
        release: facts.release.name.clone(),
        chart: chart.reference.clone(),
        chart_version: chart.chart_version.clone(),
        values: values.clone(),
    });
    if ordered {
        if !removed.is_empty() {
            steps.push(Step::RemovedByHelm {
                components: removed,
            });
        }
        steps.push(Step::CheckNoRollout);
    }
    steps.push(Step::WaitForLayout {
        layout: layout_after,
        image: image.clone(),
    });
    Hop {
        path: leg.path,
        from: from.clone(),
        to: leg.to.clone(),
        reason: leg.reason.clone(),
        image,
        chart: Some(chart),
        values,
        layout_before: layout,
        layout_after,
        downtime,
        ordered,
        steps,
        changes: Vec::new(),
    }
}

/// What serving looks like while an ordered chart hop changes one component at a time.
fn ordered_downtime(from: &MilvusVersion, to: &MilvusVersion, layout: Layout) -> Downtime {
    if layout == Layout::Standalone {
        Downtime::Full("the standalone pod restarts on the new chart".into())
    } else if from < &active_standby_min() {
        Downtime::Full(format!(
            "{from} has no active-standby coordinators: the old version cannot serve while each coordinator is replaced (strategy Recreate)"
        ))
    } else if to >= &first_2_6() && from < &first_2_6() {
        Downtime::Partial("one component at a time; the coordinators restart once (strategy Recreate) and writes wait until every node runs 2.6 (the WAL is read-only until then)".into())
    } else {
        Downtime::Partial(
            "one component at a time; each coordinator restarts once (strategy Recreate)".into(),
        )
    }
}
