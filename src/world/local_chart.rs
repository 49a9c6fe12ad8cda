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
    Ok(LocalChart {
        path: shown,
        origin: meta.origin(),
        name: meta.name,
        version: meta.version,
        app_version: meta.app_version,
    })
}
