//! Which chart version a helm hop uses: the newest Milvus Helm chart (see
//! `provenance`) whose app version is the hop's target, from a repository that
//! is not the archived one when it can. Where several repositories carry it,
//! the one holding the release's own chart version wins; if that leaves more
//! than one, the plan is refused until `--repo` names one. With `--chart`, only
//! the charts given are looked at (`local`).

pub mod local;

use serde::Serialize;

use crate::planner::component::Layout;
use crate::planner::error::PlanError;
use crate::planner::facts::{ChartEntry, ChartIndex, LocalChart, MessageQueue};
use crate::planner::provenance::identify;
use crate::planner::version::MilvusVersion;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartChoice {
    /// The repository's name; none for a `--chart`.
    pub repo: Option<String>,
    /// The `--chart` path this hop uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `zilliztech/milvus`, or the `--chart` path: what `helm upgrade` gets.
    pub reference: String,
    pub chart_version: semver::Version,
    pub app_version: MilvusVersion,
    pub default_image: Option<String>,
    pub default_mq: Option<String>,
    pub layout: Layout,
    /// Why this chart: its identity as the Milvus chart and why this repository.
    pub why: String,
}

pub struct ChartRequest<'a> {
    pub target: &'a MilvusVersion,
    pub chart_version: Option<&'a semver::Version>,
    pub repo: Option<&'a str>,
    pub message_queue: &'a MessageQueue,
    /// The chart version the release runs now (`milvus-4.0.13` → 4.0.13).
    pub release_chart: Option<&'a semver::Version>,
    /// `--force`: a pinned chart known to break the release is still taken.
    pub force: bool,
    /// `--chart`: when given, the only charts considered.
    pub local: &'a [LocalChart],
}

/// Charts 4.2.21 to 4.2.29 break releases on Pulsar v2.
pub fn bad_for_pulsar_v2(chart_version: &semver::Version) -> bool {
    (chart_version.major, chart_version.minor) == (4, 2) && (21..=29).contains(&chart_version.patch)
}

/// Chart 4.2.0 and later no longer run Milvus 2.3.x.
fn unsupported_pair(chart: &semver::Version, target: &MilvusVersion) -> bool {
    target.minor_line() == (2, 3) && chart >= &semver::Version::new(4, 2, 0)
}

pub fn select_chart(index: &ChartIndex, request: &ChartRequest) -> Result<ChartChoice, PlanError> {
    if !request.local.is_empty() {
        return local::select(request);
    }
    if index.charts.is_empty() {
        return Err(PlanError::NoChartRepository);
    }
    let milvus: Vec<&ChartEntry> = index
        .charts
        .iter()
        .filter(|c| identify(c).is_milvus())
        .collect();
    if let Some(repo) = request.repo {
        if !milvus.iter().any(|c| c.repo == repo) {
            return Err(PlanError::RepoHasNoMilvus {
                repo: repo.to_string(),
            });
        }
    }
    let in_repo = |c: &&&ChartEntry| request.repo.is_none_or(|r| c.repo == r);
    let carries = |c: &&&ChartEntry| &c.app_version == request.target;
    let runs = |c: &&&ChartEntry| &c.facts().default_version() == request.target;
    let mut candidates: Vec<&ChartEntry> = milvus
        .iter()
        .filter(in_repo)
        .filter(carries)
        .copied()
        .collect();
    if candidates.is_empty() {
        candidates = milvus
            .iter()
            .filter(in_repo)
            .filter(runs)
            .copied()
            .collect();
    }
    if let Some(wanted) = request.chart_version {
        return pinned_chart(index, request, wanted, &candidates);
    }
    let pulsar_v2 = request.message_queue == &MessageQueue::Pulsar;
    candidates.retain(|c| !(pulsar_v2 && bad_for_pulsar_v2(&c.chart_version)));
    candidates.retain(|c| !unsupported_pair(&c.chart_version, request.target));
    let current: Vec<&ChartEntry> = candidates
        .iter()
        .copied()
        .filter(|c| !index.is_archived(&c.repo))
        .collect();
    let pool = if current.is_empty() {
        candidates
    } else {
        current
    };
    let (pool, repo_why) = one_repository(index, &milvus, pool, request)?;
    let best = pool
        .into_iter()
        .max_by(|a, b| a.chart_version.cmp(&b.chart_version));
    let mut chosen = best
        .map(choice)
        .ok_or_else(|| missing_chart(index, request.target))?;
    chosen.why = format!("{}; {repo_why}", chosen.why);
    Ok(chosen)
}

/// The candidates of one repository, and why that one.
fn one_repository<'a>(
    index: &ChartIndex,
    milvus: &[&ChartEntry],
    pool: Vec<&'a ChartEntry>,
    request: &ChartRequest,
) -> Result<(Vec<&'a ChartEntry>, String), PlanError> {
    let mut repos: Vec<&str> = pool.iter().map(|c| c.repo.as_str()).collect();
    repos.sort();
    repos.dedup();
    if let Some(r) = request.repo {
        return Ok((pool, format!("repository {r} (--repo)")));
    }
    if repos.len() <= 1 {
        let r = repos.first().copied().unwrap_or_default();
        return Ok((
            pool,
            format!("repository {r}, the only one that carries it"),
        ));
    }
    let holds_release = |repo: &str| {
        milvus
            .iter()
            .any(|c| c.repo == repo && Some(&c.chart_version) == request.release_chart)
    };
    let mut sources: Vec<&str> = repos.iter().copied().filter(|r| holds_release(r)).collect();
    // Two names for one URL (the docs add the chart as `milvus` and `zilliztech`) are one source.
    let url = |name: &str| {
        index
            .repos
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.url.trim_end_matches('/').to_string())
    };
    let source = |r: &&str| url(r).unwrap_or_else(|| r.to_string());
    // dedup only drops neighbours: order by URL first (stable, so names stay sorted within one).
    sources.sort_by_key(source);
    sources.dedup_by_key(|r| source(r));
    match sources.as_slice() {
        [one] => Ok((
            pool.into_iter().filter(|c| c.repo == *one).collect(),
            format!(
                "repository {one}: of {} it alone holds the release's chart version",
                repos.join(", ")
            ),
        )),
        _ => Err(PlanError::AmbiguousRepository {
            repos: repos.iter().map(|r| r.to_string()).collect(),
            target: request.target.to_string(),
        }),
    }
}

fn pinned_chart(
    index: &ChartIndex,
    request: &ChartRequest,
    wanted: &semver::Version,
    candidates: &[&ChartEntry],
) -> Result<ChartChoice, PlanError> {
    if let Some(c) = candidates.iter().find(|c| &c.chart_version == wanted) {
        let pulsar_v2 = request.message_queue == &MessageQueue::Pulsar;
        if pulsar_v2 && bad_for_pulsar_v2(wanted) && !request.force {
            return Err(PlanError::ChartBreaksPulsarV2 {
                chart_version: wanted.to_string(),
            });
        }
        if unsupported_pair(wanted, request.target) {
            return Err(PlanError::ChartDoesNotCarryTarget {
                chart_version: wanted.to_string(),
                app_version: c.app_version.to_string(),
                target: request.target.to_string(),
                hint:
                    "chart 4.2.0 and later no longer support Milvus 2.3.x: use a chart below 4.2.0"
                        .into(),
            });
        }
        return Ok(choice(c));
    }
    match index.charts.iter().find(|c| &c.chart_version == wanted) {
        Some(other) => Err(PlanError::ChartDoesNotCarryTarget {
            chart_version: wanted.to_string(),
            app_version: other.app_version.to_string(),
            target: request.target.to_string(),
            hint: match candidates.iter().map(|c| &c.chart_version).max() {
                Some(v) => format!("use --chart-version {v}, or leave --chart-version out"),
                None => "leave --chart-version out to pick the chart for the target".into(),
            },
        }),
        None => Err(PlanError::ChartVersionNotFound {
            chart_version: wanted.to_string(),
        }),
    }
}

/// No repository has the chart: when only the archived one is configured,
/// the fix is adding the current repository.
fn missing_chart(index: &ChartIndex, target: &MilvusVersion) -> PlanError {
    let archived = index.archived_repos();
    if !archived.is_empty() {
        let current_configured = index.charts.iter().any(|c| !index.is_archived(&c.repo));
        if !current_configured {
            return PlanError::ArchivedRepository {
                repo: archived[0].to_string(),
                target: target.to_string(),
            };
        }
    }
    PlanError::NoChartForTarget {
        target: target.to_string(),
    }
}

fn choice(entry: &ChartEntry) -> ChartChoice {
    let facts = entry.facts();
    ChartChoice {
        why: identify(entry).why().to_string(),
        repo: Some(entry.repo.clone()),
        path: None,
        reference: entry.reference(),
        chart_version: entry.chart_version.clone(),
        app_version: entry.app_version.clone(),
        default_image: facts.default_image.clone(),
        default_mq: facts.default_mq.clone(),
        layout: facts.layout,
    }
}
