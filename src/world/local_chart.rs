//! `--chart PATH`: what a chart directory or packaged `.tgz` says of itself, read
//! with `helm show chart` (helm unpacks archives and reads Chart.yaml as it will
//! for the upgrade). No repository is consulted.

use std::path::Path;

use crate::error::{Error, PlanError};
use crate::planner::facts::LocalChart;
use crate::world::helm::Helm;
use crate::world::repo_index::ChartMetadata;

pub async fn read(helm: &Helm, path: &Path) -> Result<LocalChart, Error> {
    let absolute = std::fs::canonicalize(path).map_err(|e| {
        Error::Usage(format!(
            "--chart {}: {e}; give a chart directory or a packaged chart (.tgz)",
            path.display()
        ))
    })?;
    let shown = absolute.display().to_string();
    let not_a_chart = |why: String| PlanError::LocalChartNotMilvus {
        path: shown.clone(),
        why,
    };
    let yaml = match helm.run(&["show", "chart", &shown]).await {
        Ok(out) => out,
        Err(Error::Helm { stderr, .. }) => {
            return Err(not_a_chart(format!("helm cannot read it as a chart ({stderr})")).into())
        }
        Err(e) => return Err(e),
    };
    let meta: ChartMetadata = serde_yaml_ng::from_str(&yaml)
        .map_err(|e| not_a_chart(format!("its Chart.yaml does not parse ({e})")))?;
    let mut origin = meta.origin();
    origin.digest =
        Some(content_digest(&absolute).map_err(|e| {
            Error::Usage(format!("--chart {shown}: {e}; the chart must be readable"))
        })?);
    Ok(LocalChart {
        path: shown,
        origin,
        name: meta.name,
        version: meta.version,
        app_version: meta.app_version,
    })
}

/// sha256 (hex) of a packaged chart's bytes (what a repository index's digest
/// is), or of a chart directory's files: each relative path and content, in
/// path order. A plan file carries it, so `apply` notices an edited chart.
fn content_digest(path: &Path) -> std::io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    if path.is_dir() {
        for file in files_under(path)? {
            let relative = file.strip_prefix(path).unwrap_or(&file);
            ctx.update(relative.to_string_lossy().as_bytes());
            ctx.update(&[0]);
            let content = std::fs::read(&file)?;
            ctx.update(&(content.len() as u64).to_le_bytes());
            ctx.update(&content);
        }
    } else {
        ctx.update(&std::fs::read(path)?);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Every file below `dir`, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_directory_digest_follows_every_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("Chart.yaml"), "name: milvus\n").unwrap();
        std::fs::write(dir.path().join("templates/a.yaml"), "a: 1\n").unwrap();
        let first = content_digest(dir.path()).unwrap();
        assert_eq!(content_digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("templates/a.yaml"), "a: 2\n").unwrap();
        let edited = content_digest(dir.path()).unwrap();
        assert_ne!(edited, first);
        std::fs::rename(
            dir.path().join("templates/a.yaml"),
            dir.path().join("templates/b.yaml"),
        )
        .unwrap();
        assert_ne!(content_digest(dir.path()).unwrap(), edited);
    }
}
