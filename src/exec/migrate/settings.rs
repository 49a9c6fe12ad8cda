//! How the meta migration runs: the settings the CLI maps its flags into.

use std::time::Duration;

pub const DEFAULT_MIGRATION_IMAGE: &str = "milvusdb/meta-migration:v2.2.0";
pub const DEFAULT_BACKUP_SIZE: &str = "10Gi";

#[derive(Debug, Clone)]
pub struct MigrationSettings {
    /// Image of the meta backup/migration/rollback pods.
    pub migration_image: String,
    /// Size of the PVC holding the meta backup.
    pub backup_size: String,
    /// Storage class of the backup PVC (None: the cluster's default class).
    pub storage_class: Option<String>,
    /// etcd endpoints for the migration pods (empty: the release's etcd Service, else externalEtcd).
    pub etcd_endpoints: Vec<String>,
    /// etcd root path of the Milvus meta (None: the release's etcd.rootPath, else by-dev).
    pub root_path: Option<String>,
    /// Wait after the last Milvus pod is gone (None: the release's session TTL).
    pub session_wait: Option<Duration>,
    /// Keep the migration pods afterwards (for their logs).
    pub keep_migration_pods: bool,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        MigrationSettings {
            migration_image: DEFAULT_MIGRATION_IMAGE.into(),
            backup_size: DEFAULT_BACKUP_SIZE.into(),
            storage_class: None,
            etcd_endpoints: Vec::new(),
            root_path: None,
            session_wait: None,
            keep_migration_pods: false,
        }
    }
}
