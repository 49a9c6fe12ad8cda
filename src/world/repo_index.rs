//! What Helm's repository cache says of the `milvus` charts: home, sources and
//! maintainers per chart version, read from `<cache>/<repo>-index.yaml`. A large
//! index (Bitnami's is tens of MB) is not parsed whole: only the `milvus:` block
//! under `entries:` is cut out and parsed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::planner::facts::ChartOrigin;

#[derive(Deserialize)]
struct Index {
    entries: HashMap<String, Vec<ChartMetadata>>,
}

/// A chart's metadata, as a repository index entry or a Chart.yaml has it.
#[derive(Deserialize)]
pub struct ChartMetadata {
    #[serde(default)]
    pub name: String,
    pub version: String,
    #[serde(default, rename = "appVersion")]
    pub app_version: String,
    #[serde(default)]
    home: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    maintainers: Vec<Maintainer>,
}

#[derive(Deserialize)]
struct Maintainer {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    url: String,
}

/// Helm's repository cache: HELM_REPOSITORY_CACHE (set for plugins), else
/// HELM_CACHE_HOME/repository, else the XDG default.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("HELM_REPOSITORY_CACHE")
        .map(PathBuf::from)
        .or_else(|| var("HELM_CACHE_HOME").map(|h| PathBuf::from(h).join("repository")))
        .or_else(|| var("XDG_CACHE_HOME").map(|h| PathBuf::from(h).join("helm/repository")))
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(default_cache())))
}

fn default_cache() -> &'static str {
    if cfg!(target_os = "macos") {
        "Library/Caches/helm/repository"
    } else {
        ".cache/helm/repository"
    }
}

/// chart version → origin of the repository's `milvus` charts; empty when the
/// index cannot be read.
pub fn milvus_origins(cache: &Path, repo: &str) -> HashMap<String, ChartOrigin> {
    let Ok(text) = std::fs::read_to_string(cache.join(format!("{repo}-index.yaml"))) else {
        return HashMap::new();
    };
    let Some(block) = milvus_block(&text) else {
        return HashMap::new();
    };
    let Ok(index) = serde_yaml_ng::from_str::<Index>(&format!("entries:\n{block}")) else {
        return HashMap::new();
    };
    let entries = index.entries.into_values().flatten();
    entries.map(|e| (e.version.clone(), e.origin())).collect()
}

impl ChartMetadata {
    pub fn origin(&self) -> ChartOrigin {
        let maintainers = self.maintainers.iter();
        ChartOrigin {
            home: self.home.clone(),
            sources: self.sources.clone(),
            maintainers: maintainers
                .flat_map(|m| [&m.name, &m.email, &m.url])
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
        }
    }
}

/// The lines of `entries.milvus` (its key line included), as Helm writes an index.
fn milvus_block(text: &str) -> Option<String> {
    let start = text.find("\n  milvus:\n")? + 1;
    let rest = &text[start..];
    let mut lines = rest.lines();
    let mut block = vec![lines.next()?];
    for line in lines {
        let inside = line.starts_with("  -") || line.starts_with("   ") || line.is_empty();
        if !inside {
            break;
        }
        block.push(line);
    }
    Some(block.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_milvus_block() {
        let index = "apiVersion: v1\nentries:\n  etcd:\n  - version: 1.0.0\n    home: https://etcd.io\n  milvus:\n  - apiVersion: v1\n    home: https://milvus.io/\n    maintainers:\n    - email: contact@milvus.io\n      name: contact\n    sources:\n    - https://github.com/zilliztech/milvus-helm\n    version: 4.2.8\n  - home: https://milvus.io/\n    version: 4.2.7\n  minio:\n  - version: 9.9.9\ngenerated: \"2024\"\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("z-index.yaml"), index).unwrap();
        let origins = milvus_origins(dir.path(), "z");
        assert_eq!(origins.len(), 2);
        let o = &origins["4.2.8"];
        assert_eq!(o.home.as_deref(), Some("https://milvus.io/"));
        assert_eq!(o.sources, ["https://github.com/zilliztech/milvus-helm"]);
        assert_eq!(o.maintainers, ["contact", "contact@milvus.io"]);
        assert!(milvus_origins(dir.path(), "missing").is_empty());
    }
}
