//! Command-line interface. Every flag has a `HELM_MILVUS_UPGRADE_*` fallback;
//! namespace and context come from Helm's own variables when run as a plugin.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exec::migrate::settings::{
    MigrationSettings, DEFAULT_BACKUP_SIZE, DEFAULT_MIGRATION_IMAGE,
};
use crate::exec::run::Settings;
use crate::planner::plan::PathChoice;

const EXAMPLES: &str = "\
Examples:
  # See what an upgrade would do, change nothing
  helm milvus-upgrade my-release --to 2.4.9 --dry-run -n milvus

  # Upgrade (rolling where Milvus allows it), without the confirmation prompt
  helm milvus-upgrade my-release --to 2.4.9 --yes

  # Chart versions the repositories offer and the path each would take
  helm milvus-upgrade versions my-release

  # What runs, what Helm says, and any upgrade in progress
  helm milvus-upgrade status my-release -o json

Exit codes: 0 ok, 2 usage, 3 release, 4 target version, 5 refused (same version,
downgrade, path not possible), 6 pre-flight check failed, 7 helm/cluster
unreachable, 8 failed and rolled back, 9 failed (not rolled back), 130 interrupted.

Environment: run through helm, the plugin reads helm's HELM_NAMESPACE,
HELM_KUBECONTEXT, KUBECONFIG, HELM_KUBE*, HELM_DEBUG and HELM_BIN; every flag
has a HELM_MILVUS_UPGRADE_<FLAG> fallback; NO_COLOR turns colour off.";

const STATUS_EXAMPLES: &str = "\
Examples:
  helm milvus-upgrade status my-release -n milvus
  helm milvus-upgrade status my-release -o json | jq '.drift, .lock, .next_steps'
  # Every Milvus release you may read, and the way of each to 2.5.16
  helm milvus-upgrade status -A --to 2.5.16
  helm milvus-upgrade status -A -l team=search -o json | jq '.releases[] | {namespace, release, running}'";

const APPLY_EXAMPLES: &str = "\
Examples:
  # Make the plan, review it (e.g. in a merge request), carry out exactly that plan
  helm milvus-upgrade my-release --to 2.4.9 --dry-run -o json -n milvus > plan.json
  helm milvus-upgrade apply plan.json --yes --progress json

The release, its Deployments' images and the charts must still be what the plan
was made from (the digest in the file); otherwise nothing is written and the
command exits 6, listing what changed. An interrupted apply resumes when run again.";

const COMPLETION_EXAMPLES: &str = "\
helm's own completion already covers `helm milvus-upgrade` (the plugin's completion.yaml).
This prints a script for the helm-milvus-upgrade binary run directly:
  source <(helm-milvus-upgrade completion bash)
  helm-milvus-upgrade completion fish > ~/.config/fish/completions/helm-milvus-upgrade.fish";

#[derive(Debug, Parser)]
#[command(
    name = "helm milvus-upgrade",
    bin_name = "helm milvus-upgrade",
    version,
    about = "Upgrade Milvus installed with the Milvus Helm chart: rolling, helm or meta migration, with a plan first",
    after_help = EXAMPLES,
    override_usage = "helm milvus-upgrade [OPTIONS] <RELEASE> --to <VERSION> [--dry-run]\n       helm milvus-upgrade [OPTIONS] <COMMAND>",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// How a run's progress is told on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// Bars on a terminal, timestamped lines otherwise
    Text,
    /// One JSON object per line and event (time, kind, fields, message)
    Json,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Namespace of the release (helm passes its -n as HELM_NAMESPACE)
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "HELM_NAMESPACE",
        default_value = "default"
    )]
    pub namespace: String,
    /// Kubeconfig context (helm passes its --kube-context as HELM_KUBECONTEXT)
    #[arg(long, global = true, env = "HELM_KUBECONTEXT")]
    pub kube_context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Output format: text for people, json (versioned schema) for scripts
    #[arg(
        short = 'o',
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "HELM_MILVUS_UPGRADE_OUTPUT"
    )]
    pub output: Output,
    /// Progress on stderr: text for people, json (one object per line and event) for CI
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "HELM_MILVUS_UPGRADE_PROGRESS"
    )]
    pub progress: Progress,
    /// No colours (also NO_COLOR or TERM=dumb; there is colour only on a terminal)
    #[arg(long, global = true, env = "HELM_MILVUS_UPGRADE_NO_COLOR")]
    pub no_color: bool,
    /// Debug logs on stderr: each helm command run (values hidden) and Kubernetes write (helm --debug sets HELM_DEBUG)
    #[arg(long, global = true, env = "HELM_DEBUG", value_parser = clap::builder::FalseyValueParser::new())]
    pub debug: bool,
    /// The helm binary (helm sets HELM_BIN for its plugins; else helm on PATH)
    #[arg(long, global = true, env = "HELM_BIN", hide_env_values = true)]
    pub helm_bin: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upgrade a release to a Milvus version (the default command)
    Upgrade(UpgradeArgs),
    /// List chart versions, their Milvus versions and the path each would take
    Versions(VersionsArgs),
    /// Show what runs, what Helm says, any upgrade in progress, the lock, and how to go on
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Undo a recorded meta migration (meta backup, old chart, images, replicas) or an unfinished ordered chart hop (objects as before, or helm rollback)
    Rollback(RollbackArgs),
    /// Carry out a reviewed plan file (from `--dry-run -o json`) if the release is still what it was made from
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The Helm release name
    pub release: String,
    /// Target Milvus version (2.4.9, v2.4.9, 2.4.13-hotfix)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_TO")]
    pub to: String,
    /// Show the plan and pre-flight checks; change nothing
    #[arg(long, env = "HELM_MILVUS_UPGRADE_DRY_RUN")]
    pub dry_run: bool,
    /// Force a path where the hop allows it
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        env = "HELM_MILVUS_UPGRADE_PATH"
    )]
    pub path: PathChoice,
    /// Chart version for the last helm hop (default: newest carrying the target)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_CHART_VERSION")]
    pub chart_version: Option<String>,
    /// A Milvus chart directory or packaged .tgz for the helm/migration hops, instead of a
    /// repository (air-gapped); repeat it when the plan has two chart hops (2.5.x → 2.6)
    #[arg(
        long = "chart",
        value_name = "PATH",
        env = "HELM_MILVUS_UPGRADE_CHART",
        value_delimiter = ','
    )]
    pub charts: Vec<PathBuf>,
    /// Chart repository name to take charts from (see `helm repo list`)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_REPO")]
    pub repo: Option<String>,
    /// Image repository (default: the one that runs)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_IMAGE")]
    pub image: Option<String>,
    /// Allow a target older than what runs
    #[arg(long, env = "HELM_MILVUS_UPGRADE_ALLOW_DOWNGRADE")]
    pub allow_downgrade: bool,
    /// Take a --chart-version known to break the release (Pulsar v2 on charts 4.2.21–4.2.29)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_FORCE")]
    pub force: bool,
    /// Chart hops as one `helm upgrade` that changes every Deployment at once (default: one component at a time in Milvus' order, Helm's upgrade last)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_ALL_AT_ONCE")]
    pub all_at_once: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// How an upgrade is carried out: shared by `upgrade` and `apply`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Do not ask for confirmation
    #[arg(short = 'y', long, env = "HELM_MILVUS_UPGRADE_YES")]
    pub yes: bool,
    /// Leave a failed upgrade as it is for inspection instead of rolling back
    #[arg(long, env = "HELM_MILVUS_UPGRADE_NO_ROLLBACK")]
    pub no_rollback: bool,
    /// minReadySeconds for coordinators during a rolling upgrade
    #[arg(
        long,
        default_value_t = 30,
        env = "HELM_MILVUS_UPGRADE_MIN_READY_SECONDS"
    )]
    pub min_ready_seconds: i32,
    /// Roll querynode and datanode at the same time (they depend only on the coordinators)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_PARALLEL_NODES")]
    pub parallel_nodes: bool,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub migration: MigrationArgs,
}

/// `helm milvus-upgrade apply PLAN.json`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan file written by `RELEASE --to V --dry-run -o json`
    pub file: PathBuf,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Every release in every namespace the caller may read, instead of one release.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Every Milvus release in every namespace you may read
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// With -A: only releases whose Deployments match this label selector (e.g. team=search)
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// With -A: the path and hop count from each release to this Milvus version
    #[arg(long)]
    pub to: Option<String>,
}

impl FleetArgs {
    /// `-l` and `--to` go with `-A` (clap's `requires` counts the flag's default as given).
    pub fn check(&self) -> Result<(), String> {
        let alone = |flag: &str| {
            format!("{flag} goes with -A (every release); for one release use `versions RELEASE` or `RELEASE --to V --dry-run`")
        };
        match (self.all_namespaces, &self.selector, &self.to) {
            (false, Some(_), _) => Err(alone("-l/--selector")),
            (false, _, Some(_)) => Err(alone("--to")),
            _ => Ok(()),
        }
    }
}

/// How a command that writes runs: shared by `upgrade` and `rollback`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A wait (rollout, layout, migration pod) fails when nothing progresses for this long, like Kubernetes' progressDeadlineSeconds
    #[arg(long, default_value = "10m", value_parser = parse_duration, env = "HELM_MILVUS_UPGRADE_PROGRESS_DEADLINE")]
    pub progress_deadline: Duration,
    /// Time limit for the whole run, e.g. 2h (default: none, the progress deadline alone)
    #[arg(long, value_parser = parse_duration, env = "HELM_MILVUS_UPGRADE_TIMEOUT")]
    pub timeout: Option<Duration>,
    /// Take over the upgrade lock held by another run (only if that run is dead)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_TAKE_OVER")]
    pub take_over: bool,
    /// Extra flag for the helm commands that write, e.g. --helm-arg=--server-side=false
    #[arg(
        long = "helm-arg",
        value_name = "FLAG",
        allow_hyphen_values = true,
        env = "HELM_MILVUS_UPGRADE_HELM_ARGS",
        value_delimiter = ' '
    )]
    pub helm_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// A release: adds the path and hop count from what it runs
    #[arg(conflicts_with = "all_namespaces")]
    pub release: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The Helm release name (or -A for every release)
    #[arg(
        required_unless_present = "all_namespaces",
        conflicts_with = "all_namespaces"
    )]
    pub release: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `600` (seconds), `600s`, `15m`, `1h30m`: humantime's format, bare numbers as seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().map(Duration::from_secs).ok()
    } else {
        humantime::parse_duration(text).ok()
    };
    parsed.ok_or_else(|| format!("'{text}' is not a duration like 600s, 15m or 1h"))
}

#[derive(Debug, Clone, Args)]
pub struct MigrationArgs {
    /// Image of the meta backup/migration/rollback pods
    #[arg(long, default_value = DEFAULT_MIGRATION_IMAGE, env = "HELM_MILVUS_UPGRADE_MIGRATION_IMAGE")]
    pub migration_image: String,
    /// Size of the PVC holding the meta backup
    #[arg(long, default_value = DEFAULT_BACKUP_SIZE, env = "HELM_MILVUS_UPGRADE_BACKUP_SIZE")]
    pub backup_size: String,
    /// Storage class of the backup PVC (default: the cluster's default class)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_STORAGE_CLASS")]
    pub storage_class: Option<String>,
    /// etcd endpoints for the migration pods, host:port (default: the release's etcd Service, else externalEtcd.endpoints)
    #[arg(
        long,
        value_delimiter = ',',
        env = "HELM_MILVUS_UPGRADE_ETCD_ENDPOINTS"
    )]
    pub etcd_endpoints: Vec<String>,
    /// etcd root path of the Milvus meta (default: the release's etcd.rootPath, else by-dev)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_ROOT_PATH")]
    pub root_path: Option<String>,
    /// Wait this long after the last Milvus pod is gone for etcd sessions to expire (default: the release's common.session.ttl, else 30s)
    #[arg(long, value_parser = parse_duration, env = "HELM_MILVUS_UPGRADE_SESSION_WAIT")]
    pub session_wait: Option<Duration>,
    /// Keep the migration pods after the migration (for their logs)
    #[arg(long, env = "HELM_MILVUS_UPGRADE_KEEP_MIGRATION_PODS")]
    pub keep_migration_pods: bool,
}

impl MigrationArgs {
    pub fn settings(&self) -> MigrationSettings {
        MigrationSettings {
            migration_image: self.migration_image.clone(),
            backup_size: self.backup_size.clone(),
            storage_class: self.storage_class.clone(),
            etcd_endpoints: self.etcd_endpoints.clone(),
            root_path: self.root_path.clone(),
            session_wait: self.session_wait,
            keep_migration_pods: self.keep_migration_pods,
        }
    }
}

/// `helm milvus-upgrade rollback RELEASE`: undoes a recorded meta migration.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The Helm release name
    pub release: String,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub migration: MigrationArgs,
}

impl RollbackArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            progress_deadline: self.run.progress_deadline,
            timeout: self.run.timeout,
            take_over: self.run.take_over,
            migration: self.migration.settings(),
            ..Settings::default()
        }
    }
}

impl ExecArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            progress_deadline: self.run.progress_deadline,
            timeout: self.run.timeout,
            take_over: self.run.take_over,
            no_rollback: self.no_rollback,
            min_ready_seconds: self.min_ready_seconds,
            parallel_nodes: self.parallel_nodes,
            migration: self.migration.settings(),
        }
    }
}

const SUBCOMMANDS: [&str; 7] = [
    "upgrade",
    "versions",
    "status",
    "completion",
    "help",
    "rollback",
    "apply",
];
const VALUE_FLAGS: [&str; 9] = [
    "-n",
    "--namespace",
    "--kube-context",
    "--kubeconfig",
    "-o",
    "--output",
    "--helm-bin",
    "--to",
    "--progress",
];

/// `helm milvus-upgrade REL --to V` means `upgrade REL --to V`.
pub fn with_default_subcommand(args: Vec<String>) -> Vec<String> {
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        if VALUE_FLAGS.contains(&arg.as_str()) {
            i += 2;
        } else if arg.starts_with('-') {
            if matches!(arg.as_str(), "-h" | "--help" | "-V" | "--version") {
                return args;
            }
            i += 1;
        } else {
            break;
        }
    }
    match args.get(i) {
        Some(first) if SUBCOMMANDS.contains(&first.as_str()) => args,
        None => args,
        Some(_) => {
            let mut out = args;
            out.insert(1, "upgrade".into());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(line: &str) -> Command {
        Cli::try_parse_from(with_default_subcommand(argv(line)))
            .unwrap()
            .command
    }

    #[test]
    fn release_first_means_upgrade() {
        assert_eq!(
            with_default_subcommand(argv("x rel --to 2.4.9"))[1],
            "upgrade"
        );
        assert_eq!(
            with_default_subcommand(argv("x -n ns rel --to 2.4.9"))[1],
            "upgrade"
        );
        assert_eq!(
            with_default_subcommand(argv("x -n ns status rel")),
            argv("x -n ns status rel")
        );
        assert_eq!(with_default_subcommand(argv("x --help")), argv("x --help"));
        assert_eq!(
            with_default_subcommand(argv("x versions")),
            argv("x versions")
        );
    }

    #[test]
    fn parses_every_flag() {
        let cli = Cli::try_parse_from(with_default_subcommand(argv(
            "x rel --to 2.4.9 --dry-run --path helm --chart-version 4.2.8 --repo z --image r/m -o json --timeout 90s --helm-arg=--server-side=false -n ns --kube-context c",
        )))
        .unwrap();
        let Command::Upgrade(u) = cli.command else {
            panic!()
        };
        assert_eq!(u.exec.run.timeout, Some(Duration::from_secs(90)));
        assert_eq!(u.exec.run.progress_deadline, Duration::from_secs(600));
        assert_eq!(u.exec.run.helm_args, ["--server-side=false"]);
        assert_eq!(cli.global.namespace, "ns");
        assert_eq!(cli.global.output, Output::Json);
    }

    #[test]
    fn migration_flags_on_upgrade_and_rollback() {
        let Command::Upgrade(u) = parse(
            "x rel --to 2.2.0 --session-wait 0s --backup-size 5Gi --storage-class fast --etcd-endpoints a:2379,b:2379 --root-path my-root --migration-image m:v1 --keep-migration-pods",
        ) else {
            panic!("not upgrade")
        };
        let m = u.exec.settings().migration;
        assert_eq!(m.session_wait, Some(Duration::ZERO));
        assert_eq!(m.backup_size, "5Gi");
        assert_eq!(m.storage_class.as_deref(), Some("fast"));
        assert_eq!(m.etcd_endpoints, ["a:2379", "b:2379"]);
        assert_eq!(m.root_path.as_deref(), Some("my-root"));
        assert_eq!(m.migration_image, "m:v1");
        assert!(m.keep_migration_pods);
        let Command::Upgrade(u) = parse("x rel --to 2.2.0") else {
            panic!("not upgrade")
        };
        assert_eq!(u.exec.migration.migration_image, DEFAULT_MIGRATION_IMAGE);
        assert_eq!(u.exec.migration.session_wait, None);
        let Command::Rollback(r) = parse("x rollback rel --session-wait 5s --timeout 60s") else {
            panic!("not rollback")
        };
        assert_eq!(r.release, "rel");
        assert_eq!(r.settings().timeout, Some(Duration::from_secs(60)));
        assert_eq!(r.migration.session_wait, Some(Duration::from_secs(5)));
    }

    #[test]
    fn fleet_and_apply_flags() {
        let Command::Status(s) = parse("x status -A -l team=search --to 2.4.9") else {
            panic!("not status")
        };
        assert!(s.fleet.all_namespaces && s.release.is_none());
        assert_eq!(s.fleet.selector.as_deref(), Some("team=search"));
        assert_eq!(s.fleet.to.as_deref(), Some("2.4.9"));
        let bad = |line: &str| Cli::try_parse_from(argv(line)).is_err();
        assert!(bad("x status"), "a release or -A");
        assert!(bad("x status rel -A"), "not both");
        let Command::Status(s) = parse("x status rel --to 2.4.9") else {
            panic!("not status")
        };
        assert!(s.fleet.check().unwrap_err().contains("--to goes with -A"));
        let Command::Apply(a) = parse("x apply plan.json --yes --min-ready-seconds 0") else {
            panic!("not apply")
        };
        assert_eq!(a.file, PathBuf::from("plan.json"));
        assert!(a.exec.yes);
        assert_eq!(a.exec.settings().min_ready_seconds, 0);
        let cli = Cli::try_parse_from(argv("x --progress json apply p.json")).unwrap();
        assert_eq!(cli.global.progress, Progress::Json);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
    }
}
