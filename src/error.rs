//! Errors as types; the edge (main) turns them into messages and exit codes.

use crate::plan::Path;
use crate::version::VersionParseError;

/// Exit codes, documented in README.md.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 2;
    pub const RELEASE: i32 = 3;
    pub const TARGET: i32 = 4;
    pub const REFUSED: i32 = 5;
    pub const PREFLIGHT: i32 = 6;
    pub const ENVIRONMENT: i32 = 7;
    pub const ROLLED_BACK: i32 = 8;
    pub const FAILED: i32 = 9;
    pub const INTERRUPTED: i32 = 130;
}

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
    #[error("no Milvus chart repository is configured; run `helm repo add zilliztech {} && helm repo update`", crate::facts::Repo::CURRENT_URL)]
    NoChartRepository,
    #[error(
        "repository '{repo}' has no milvus chart; check `helm repo list`, or leave --repo out"
    )]
    RepoHasNoMilvus { repo: String },
    #[error("repository '{repo}' is the archived milvus-io repository (charts up to 4.0.31) and has no chart for {target}; run `helm repo add zilliztech {} && helm repo update`, then try again", crate::facts::Repo::CURRENT_URL)]
    ArchivedRepository { repo: String, target: String },
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
    #[error("chart version {chart_version} is in no configured repository; run `helm repo update` or check `helm milvus-upgrade versions`")]
    ChartVersionNotFound { chart_version: String },
}

/// What to do about the usual ways a helm command fails.
fn helm_hint(stderr: &str) -> &'static str {
    let lower = stderr.to_lowercase();
    if lower.contains("credentials") || lower.contains("unauthorized") {
        "\n  fix: the API server refused your credentials (expired or wrong token/certificate): renew them in your kubeconfig"
    } else if lower.contains("forbidden") {
        "\n  fix: your user may not read Helm's release records (Secrets) in this namespace: ask for get/list on secrets"
    } else if lower.contains("unreachable")
        || lower.contains("connection refused")
        || lower.contains("context")
    {
        "\n  fix: check KUBECONFIG, --kube-context and that the API server is up"
    } else {
        ""
    }
}

fn elsewhere_hint(namespace: &str, elsewhere: &[String]) -> String {
    match elsewhere {
        [] => format!("check the name with `helm list -n {namespace}`, or pass -n/--namespace"),
        [one] => format!("it is in namespace '{one}': pass -n {one}"),
        many => format!(
            "it is in namespaces {}: pass -n with the one you mean",
            many.join(", ")
        ),
    }
}

fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!(" (same minor: {})", nearest.join(", "))
    }
}

impl PlanError {
    pub fn exit_code(&self) -> i32 {
        use PlanError::*;
        match self {
            NotMilvus { .. } | NoDeployments { .. } => exit::RELEASE,
            UnreadableImage { .. }
            | UnknownTarget { .. }
            | ChartDoesNotCarryTarget { .. }
            | ChartVersionNotFound { .. } => exit::TARGET,
            ChartVersionUnused { .. } => exit::USAGE,
            SameVersion { .. }
            | Downgrade { .. }
            | CannotUpgradeFrom { .. }
            | PathNotPossible { .. } => exit::REFUSED,
            NoChartRepository
            | RepoHasNoMilvus { .. }
            | ArchivedRepository { .. }
            | NoChartForTarget { .. } => exit::PREFLIGHT,
        }
    }
}

/// Everything the command can fail with, at the edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Version(#[from] VersionParseError),
    #[error("release '{release}' not found in namespace '{namespace}'; {}", elsewhere_hint(.namespace, .elsewhere))]
    ReleaseNotFound {
        release: String,
        namespace: String,
        elsewhere: Vec<String>,
    },
    #[error("helm not found: set HELM_BIN or put helm on PATH (run as `helm milvus-upgrade` to use the helm that calls it)")]
    HelmMissing,
    #[error("`helm {command}` failed: {stderr}{}", helm_hint(.stderr))]
    Helm { command: String, stderr: String },
    #[error("cannot reach the Kubernetes API: {0}; check KUBECONFIG, --kube-context and that the cluster is up")]
    Cluster(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("pre-flight checks failed: {0}")]
    Preflight(String),
    #[error("{0}")]
    Usage(String),
    #[error("upgrade failed and was rolled back: {0}")]
    RolledBack(String),
    #[error("upgrade failed: {0}")]
    Failed(String),
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Plan(e) => e.exit_code(),
            Error::Version(_) => exit::TARGET,
            Error::ReleaseNotFound { .. } => exit::RELEASE,
            Error::HelmMissing | Error::Cluster(_) | Error::Helm { .. } => exit::ENVIRONMENT,
            Error::Forbidden(_) | Error::Preflight(_) => exit::PREFLIGHT,
            Error::Usage(_) => exit::USAGE,
            Error::RolledBack(_) => exit::ROLLED_BACK,
            Error::Failed(_) => exit::FAILED,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}
