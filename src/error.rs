//! The errors a command can end with, as types: the planner's `PlanError` plus what
//! the world (helm, the API server) and the executors answer. Each carries what its
//! message needs (no globals are read while formatting); `main` prints the message
//! and exits with `Error::exit_code`. Depends only on `planner`.

pub use crate::planner::error::PlanError;
use crate::planner::version::VersionParseError;

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

/// What to do about the usual ways a helm command fails.
fn helm_hint(stderr: &str) -> &'static str {
    let lower = stderr.to_lowercase();
    if lower.contains("credentials") || lower.contains("unauthorized") {
        "\n  fix: the API server refused your credentials (expired or wrong token/certificate): renew them in your kubeconfig"
    } else if lower.contains("is forbidden") {
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

fn plan_exit_code(e: &PlanError) -> i32 {
    use PlanError::*;
    match e {
        NotMilvus { .. } | NoDeployments { .. } => exit::RELEASE,
        UnreadableImage { .. }
        | UnknownTarget { .. }
        | ChartDoesNotCarryTarget { .. }
        | ChartVersionNotFound { .. }
        | LocalChartNotMilvus { .. }
        | LocalChartMissingTarget { .. } => exit::TARGET,
        ChartVersionUnused { .. } | LocalChartUnused { .. } => exit::USAGE,
        SameVersion { .. }
        | Downgrade { .. }
        | CannotUpgradeFrom { .. }
        | ChartBreaksPulsarV2 { .. }
        | PathNotPossible { .. } => exit::REFUSED,
        NoChartRepository
        | RepoHasNoMilvus { .. }
        | ArchivedRepository { .. }
        | AmbiguousRepository { .. }
        | NoChartForTarget { .. } => exit::PREFLIGHT,
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
    #[error("cannot reach the Kubernetes API{server}: {message}\n  fix: check KUBECONFIG, --kube-context and that the API server is up")]
    Cluster {
        server: String,
        message: String,
        /// Throttled, failing (5xx) or unreachable: it may answer if asked again.
        transient: bool,
    },
    /// Mid-run, the API server kept failing for the progress deadline: the
    /// upgrade was not judged, so nothing was rolled back.
    #[error("the Kubernetes API did not answer for the progress deadline ({0}); nothing was rolled back and the progress is kept\n  fix: check that the API server is up, then run the same command again to resume")]
    Unavailable(String),
    #[error("the Kubernetes API{server} refused your credentials ({message})\n  fix: the token or certificate is expired or wrong: renew them in your kubeconfig")]
    Unauthorized { server: String, message: String },
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
    /// A plan file that no longer fits the release, refused before any write.
    #[error("the plan in {file} {why}; nothing was changed\n  fix: make a new plan (`helm milvus-upgrade -n {namespace} {release} --to {to} --dry-run -o json > {file}`), review it and apply that")]
    PlanRefused {
        file: String,
        why: String,
        release: String,
        namespace: String,
        to: String,
    },
}

impl Error {
    /// The API server failed to answer, rather than answering about the upgrade.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Cluster {
                transient: true,
                ..
            } | Error::Unavailable(_)
        )
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Plan(e) => plan_exit_code(e),
            Error::Version(_) => exit::TARGET,
            Error::ReleaseNotFound { .. } => exit::RELEASE,
            Error::HelmMissing
            | Error::Cluster { .. }
            | Error::Unavailable(_)
            | Error::Unauthorized { .. }
            | Error::Helm { .. } => exit::ENVIRONMENT,
            Error::Forbidden(_) | Error::Preflight(_) | Error::PlanRefused { .. } => {
                exit::PREFLIGHT
            }
            Error::Usage(_) => exit::USAGE,
            Error::RolledBack(_) => exit::ROLLED_BACK,
            Error::Failed(_) => exit::FAILED,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}
