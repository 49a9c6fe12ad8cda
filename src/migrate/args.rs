//! Flags of the meta migration path, flattened into `upgrade` and `rollback`.

use std::time::Duration;

use clap::Args;

use crate::cli::parse_duration;

pub const DEFAULT_MIGRATION_IMAGE: &str = "milvusdb/meta-migration:v2.2.0";

#[derive(Debug, Clone, Args)]
pub struct MigrationArgs {
    /// Image of the meta backup/migration/rollback pods
    #[arg(long, default_value = DEFAULT_MIGRATION_IMAGE, env = "HELM_MILVUS_UPGRADE_MIGRATION_IMAGE")]
    pub migration_image: String,
    /// Size of the PVC holding the meta backup
    #[arg(long, default_value = "10Gi", env = "HELM_MILVUS_UPGRADE_BACKUP_SIZE")]
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

impl Default for MigrationArgs {
    fn default() -> Self {
        MigrationArgs {
            migration_image: DEFAULT_MIGRATION_IMAGE.into(),
            backup_size: "10Gi".into(),
            storage_class: None,
            etcd_endpoints: Vec::new(),
            root_path: None,
            session_wait: None,
            keep_migration_pods: false,
        }
    }
}

/// `helm milvus-upgrade rollback RELEASE`: undoes a recorded meta migration.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The Helm release name
    pub release: String,
    #[command(flatten)]
    pub run: crate::cli::RunArgs,
    #[command(flatten)]
    pub migration: MigrationArgs,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{with_default_subcommand, Cli, Command};

    fn parse(line: &str) -> Command {
        let argv = line.split_whitespace().map(String::from).collect();
        Cli::try_parse_from(with_default_subcommand(argv))
            .unwrap()
            .command
    }

    #[test]
    fn migration_flags_on_upgrade_and_rollback() {
        let Command::Upgrade(u) = parse(
            "x rel --to 2.2.0 --session-wait 0s --backup-size 5Gi --storage-class fast --etcd-endpoints a:2379,b:2379 --root-path my-root --migration-image m:v1 --keep-migration-pods",
        ) else {
            panic!("not upgrade")
        };
        let m = u.migration;
        assert_eq!(m.session_wait, Some(std::time::Duration::ZERO));
        assert_eq!(m.backup_size, "5Gi");
        assert_eq!(m.storage_class.as_deref(), Some("fast"));
        assert_eq!(m.etcd_endpoints, ["a:2379", "b:2379"]);
        assert_eq!(m.root_path.as_deref(), Some("my-root"));
        assert_eq!(m.migration_image, "m:v1");
        assert!(m.keep_migration_pods);
        let Command::Upgrade(u) = parse("x rel --to 2.2.0") else {
            panic!("not upgrade")
        };
        assert_eq!(u.migration.migration_image, super::DEFAULT_MIGRATION_IMAGE);
        assert_eq!(u.migration.session_wait, None);
        let Command::Rollback(r) = parse("x rollback rel --session-wait 5s --timeout 60s") else {
            panic!("not rollback")
        };
        assert_eq!(r.release, "rel");
        assert_eq!(
            r.migration.session_wait,
            Some(std::time::Duration::from_secs(5))
        );
    }
}
