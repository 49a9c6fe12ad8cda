//! The loopback chart repositories and which of them a test's helm home lists.
//!
//! Served by `scripts/testenv` (built by `tests/charts/generate`):
//! - [`ChartRepo::Milvus`]: the Milvus Helm chart, every test version (like
//!   `https://zilliztech.github.io/milvus-helm`);
//! - [`ChartRepo::MilvusArchived`]: the same chart up to 4.0.31 (like the archived
//!   `https://milvus-io.github.io/milvus-helm`);
//! - [`ChartRepo::MilvusMirror`]: a copy of `Milvus` at another URL (a company mirror);
//! - [`ChartRepo::Bitnami`]: another vendor's chart that is also named `milvus` (chart
//!   versions 15.x–16.x, app versions that overlap the Milvus chart's: 2.5.16, 2.6.1).
//!
//! Helm homes list [`DEFAULT_REPOS`] unless a test says otherwise with
//! [`TestNs::set_repos`] (e.g. [`WITH_BITNAMI`]): the other repositories are opt-in so
//! tests written before them keep their meaning.

use std::process::{Command, Output};

use serde::Deserialize;

use super::helm::helm_home_env;
use super::{env, Helm, TestNs};

/// A loopback chart repository (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChartRepo {
    Milvus,
    MilvusArchived,
    MilvusMirror,
    Bitnami,
}

impl ChartRepo {
    pub fn url(self) -> &'static str {
        env().var(match self {
            ChartRepo::Milvus => "CHART_REPO_URL",
            ChartRepo::MilvusArchived => "OLD_CHART_REPO_URL",
            ChartRepo::MilvusMirror => "MIRROR_CHART_REPO_URL",
            ChartRepo::Bitnami => "BITNAMI_CHART_REPO_URL",
        })
    }
}

/// The repositories of the prepared helm homes: `zilliztech` (the Milvus chart) and
/// `milvus` (archived-like, charts <= 4.0.31).
pub const DEFAULT_REPOS: [(&str, ChartRepo); 2] = [
    ("zilliztech", ChartRepo::Milvus),
    ("milvus", ChartRepo::MilvusArchived),
];

/// The defaults plus `bitnami`, as on many machines.
pub const WITH_BITNAMI: [(&str, ChartRepo); 3] = [
    ("zilliztech", ChartRepo::Milvus),
    ("milvus", ChartRepo::MilvusArchived),
    ("bitnami", ChartRepo::Bitnami),
];

/// As the Milvus docs set it up: the Milvus chart added as `milvus` (a mirror URL here)
/// as well as `zilliztech`, and `bitnami`.
pub const MILVUS_TWICE_AND_BITNAMI: [(&str, ChartRepo); 3] = [
    ("zilliztech", ChartRepo::Milvus),
    ("milvus", ChartRepo::MilvusMirror),
    ("bitnami", ChartRepo::Bitnami),
];

#[derive(Deserialize)]
struct RepoRow {
    name: String,
    url: String,
}

impl TestNs {
    /// Makes this test's helm home for `helm` list exactly `repos` (name, repository),
    /// with their indexes downloaded, as `helm repo add`/`helm repo remove` leave it.
    /// Call before running helm or the plugin with that home.
    pub fn set_repos(&self, helm: Helm, repos: &[(&str, ChartRepo)]) {
        let have: Vec<RepoRow> = repo_cmd(self, helm, &["repo", "list", "-o", "json"])
            .ok()
            .and_then(|out| serde_json::from_slice(&out.stdout).ok())
            .unwrap_or_default();
        let wanted = |r: &RepoRow| repos.iter().any(|(n, c)| *n == r.name && c.url() == r.url);
        let remove: Vec<&str> = have
            .iter()
            .filter(|r| !wanted(r))
            .map(|r| r.name.as_str())
            .collect();
        if !remove.is_empty() {
            let mut args = vec!["repo", "remove"];
            args.extend(remove);
            repo_cmd(self, helm, &args).expect("helm repo remove");
        }
        for (name, repo) in repos {
            if !have.iter().any(|r| r.name == *name && r.url == repo.url()) {
                repo_cmd(self, helm, &["repo", "add", name, repo.url()]).expect("helm repo add");
            }
        }
    }
}

/// `helm <args>` with the test's helm home (no kubeconfig, no namespace); Err with
/// helm's stderr when it fails.
fn repo_cmd(ns: &TestNs, helm: Helm, args: &[&str]) -> Result<Output, String> {
    let home = ns.helm_home(helm);
    let out = Command::new(helm.bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .envs(helm_home_env(&home))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{} {}: {}",
            helm.name(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
