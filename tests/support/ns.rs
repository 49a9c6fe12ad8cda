//! A fresh namespace per test (and the test's isolated helm homes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::json;

use super::{block_on, client, wait_service_account, Helm, User};

/// A namespace created for one test (unique name; ready for pods: its default
/// ServiceAccount has a token) and deleted when dropped (best-effort, without waiting).
/// Also owns the test's helm homes: copies of the prepared ones.
pub struct TestNs {
    name: String,
    tmp: tempfile::TempDir,
}

pub(super) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let prefix: String = prefix
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfff)
}

impl TestNs {
    /// Creates namespace `<prefix>-<unique suffix>` as admin.
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix);
        let api: Api<Namespace> = Api::all(client(User::Admin));
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        block_on(async move { api.create(&PostParams::default(), &ns).await })
            .unwrap_or_else(|e| panic!("create namespace: {e}"));
        // Pods are admitted once the default ServiceAccount has its token.
        wait_service_account(&name, "default");
        let tmp = tempfile::Builder::new()
            .prefix("e2e-helm-")
            .tempdir()
            .expect("tempdir");
        TestNs { name, tmp }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This test's helm home for `helm` (HELM_CONFIG_HOME etc. below it), created on
    /// first use as a copy of the prepared home (the default repositories; see
    /// [`TestNs::set_repos`] for others).
    pub fn helm_home(&self, helm: Helm) -> PathBuf {
        let home = self.tmp.path().join(helm.name());
        // Tests install releases from several threads: copy the home once.
        static COPYING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = COPYING.lock().unwrap_or_else(|e| e.into_inner());
        if !home.exists() {
            copy_dir(&helm.template_home(), &home);
        }
        home
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "copy {} to {}", from.display(), to.display());
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if std::env::var_os("E2E_KEEP_NAMESPACES").is_some() {
            eprintln!("keeping namespace {}", self.name);
            return;
        }
        let api: Api<Namespace> = Api::all(client(User::Admin));
        let name = self.name.clone();
        let _ = block_on(async move { api.delete(&name, &DeleteParams::background()).await });
    }
}
