//! Why the planner can make no plan: each reason names its fix. Exit codes are
//! given at the edge (the crate root's `error.rs`).

use super::plan::Path;

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("release '{release}' uses chart '{chart}', not the Milvus chart; this plugin only upgrades releases of the milvus chart")]
    NotMilvus { release: String, chart: String },
    #[error("release '{release}' has no Milvus Deployments (looked for labels app.kubernetes.io/instance={release}, app.kubernetes.io/name=milvus); check the namespace (-n) or that the release is installed")]
    NoDeployments { release: String },
    #[error(
        "cannot read a Milvus version from image '{image}'; pass --image or set image.all.tag"
    )]
    UnreadableImage { image: String },
    #[error("the release already runs {version}: nothing to upgrade")]
    SameVersion { version: String },
    #[error("{to} is older than the running {from}: downgrades across versions break index formats; pass --allow-downgrade if you are sure")]
    Downgrade { from: String, to: String },
    #[error("cannot upgrade from {from}: {reason}")]
    CannotUpgradeFrom { from: String, reason: String },
    #[error("{target} is not a Milvus version any chart ships{}; run `helm milvus-upgrade versions` to list them (after `helm repo update`)", nearest_hint(.nearest))]
    UnknownTarget {
        target: String,
        nearest: Vec<String>,
    },
    #[error("the {path} path cannot do this hop: {reason}")]
    PathNotPossible { path: Path, reason: String },
    #[error("no Milvus chart repository is configured; run `helm repo add zilliztech {} && helm repo update`", super::facts::Repo::CURRENT_URL)]
    NoChartRepository,
    #[error(
        "repository '{repo}' has no Milvus Helm chart (a chart named milvus from another vendor is not it); check `helm repo list`, or leave --repo out"
    )]
    RepoHasNoMilvus { repo: String },
    #[error("repository '{repo}' is the archived milvus-io repository (charts up to 4.0.31) and has no chart for {target}; run `helm repo add zilliztech {} && helm repo update`, then try again", super::facts::Repo::CURRENT_URL)]
    ArchivedRepository { repo: String, target: String },
    #[error("chart {chart_version} is known to break releases on Pulsar v2 (charts 4.2.21 to 4.2.29): leave --chart-version out to skip them, or pass --force if you are sure")]
    ChartBreaksPulsarV2 { chart_version: String },
    #[error("repositories {} all carry the Milvus chart for {target} and none is clearly the release's source; pass --repo with the one to use", .repos.join(", "))]
    AmbiguousRepository { repos: Vec<String>, target: String },
    #[error("no chart in the configured repositories carries Milvus {target}; run `helm repo update`, or pick a version from `helm milvus-upgrade versions`")]
    NoChartForTarget { target: String },
    #[error("chart {chart_version} ships Milvus {app_version}, not {target}: {hint}")]
    ChartDoesNotCarryTarget {
        chart_version: String,
        app_version: String,
        target: String,
        hint: String,
    },
    #[error("--chart-version {chart_version} has no use: the last hop is {path} and uses no chart; add --path helm to upgrade through that chart")]
    ChartVersionUnused { chart_version: String, path: Path },
    #[error("--chart {path} is not the Milvus Helm chart: {why}; use the Milvus chart (zilliztech/milvus-helm), e.g. `helm pull milvus --repo {} --version <chart>` on a connected machine", super::facts::Repo::CURRENT_URL)]
    LocalChartNotMilvus { path: String, why: String },
    #[error("no --chart ships Milvus {target} (given: {}); every chart hop of this plan needs its chart ({}): add --chart with {fix}", .given.join(", "), .hops.join(", "))]
    LocalChartMissingTarget {
        target: String,
        given: Vec<String>,
        /// The targets of every chart hop of the plan.
        hops: Vec<String>,
        fix: String,
    },
    #[error("--chart {path} has no use: {why}")]
    LocalChartUnused { path: String, why: String },
    #[error("chart version {chart_version} is in no configured repository; run `helm repo update` or check `helm milvus-upgrade versions`")]
    ChartVersionNotFound { chart_version: String },
}

fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!(" (same minor: {})", nearest.join(", "))
    }
}
