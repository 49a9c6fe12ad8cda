//! Which charts are the Milvus Helm chart (zilliztech/milvus-helm, formerly
//! milvus-io/milvus-helm). The name `milvus` proves nothing: Bitnami ships
//! another chart of that name, and repositories are named at will. A chart
//! version is the Milvus chart when its (chart version, app version) pair is
//! one of the real chart's history; a chart version newer than the history is
//! taken when its index entry's home, sources or maintainers are Milvus'.

use serde::Serialize;

use crate::planner::chart_history::HISTORY;
use crate::planner::facts::{ChartEntry, ChartOrigin};

/// Why a chart version is, or is not, the Milvus Helm chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "why", rename_all = "snake_case")]
pub enum Identity {
    /// Its chart version ↔ app version pair is in the Milvus chart's history.
    History(String),
    /// Newer than the history; its index metadata is the Milvus chart's.
    Metadata(String),
    NotMilvus(String),
}

impl Identity {
    pub fn is_milvus(&self) -> bool {
        !matches!(self, Identity::NotMilvus(_))
    }

    pub fn why(&self) -> &str {
        match self {
            Identity::History(w) | Identity::Metadata(w) | Identity::NotMilvus(w) => w,
        }
    }
}

/// Marks of the Milvus chart in index metadata.
const MILVUS_MARKS: [&str; 4] = [
    "milvus-io/milvus-helm",
    "zilliztech/milvus-helm",
    "milvus.io",
    "contact@milvus.io",
];

fn milvus_metadata(origin: &ChartOrigin) -> Option<&str> {
    let home = origin.home.iter();
    let all = home.chain(&origin.sources).chain(&origin.maintainers);
    let marked = |text: &&String| MILVUS_MARKS.iter().any(|m| text.contains(m));
    all.into_iter().find(marked).map(String::as_str)
}

pub fn identify(entry: &ChartEntry) -> Identity {
    let known = HISTORY
        .iter()
        .find(|c| c.chart_version == entry.chart_version);
    match known {
        Some(c) if c.app_version == entry.app_version => Identity::History(format!(
            "chart {} ships Milvus {} as in the Milvus chart's history",
            entry.chart_version, entry.app_version
        )),
        Some(c) => Identity::NotMilvus(format!(
            "not the Milvus Helm chart: Milvus chart {} ships {}, this one says {}",
            entry.chart_version, c.app_version, entry.app_version
        )),
        None => match entry.origin.as_ref().and_then(milvus_metadata) {
            Some(mark) => Identity::Metadata(format!(
                "chart {} is newer than the history this plugin knows; its index metadata names {mark}",
                entry.chart_version
            )),
            None => Identity::NotMilvus(format!(
                "not the Milvus Helm chart: chart {} is in no Milvus chart history and its metadata is {}",
                entry.chart_version,
                entry
                    .origin
                    .as_ref()
                    .and_then(|o| o.home.clone().or_else(|| o.sources.first().cloned()))
                    .unwrap_or_else(|| "unreadable".into())
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(chart: &str, app: &str, home: Option<&str>, sources: &[&str]) -> ChartEntry {
        ChartEntry {
            repo: "r".into(),
            chart_version: chart.parse().unwrap(),
            app_version: app.parse().unwrap(),
            origin: Some(ChartOrigin {
                home: home.map(String::from),
                sources: sources.iter().map(|s| s.to_string()).collect(),
                maintainers: Vec::new(),
                ..ChartOrigin::default()
            }),
        }
    }

    #[test]
    fn milvus_chart_by_history_or_metadata_never_by_name() {
        let real = entry("4.2.8", "2.4.9", None, &[]);
        assert!(matches!(identify(&real), Identity::History(_)));
        let wrong_pair = entry("4.2.8", "2.5.4", None, &[]);
        assert!(!identify(&wrong_pair).is_milvus());
        let bitnami = entry(
            "16.1.0",
            "2.6.3",
            Some("https://bitnami.com"),
            &["https://github.com/bitnami/charts/tree/main/bitnami/milvus"],
        );
        assert!(!identify(&bitnami).is_milvus(), "{:?}", identify(&bitnami));
        let newer = entry(
            "6.0.0",
            "2.7.0",
            Some("https://milvus.io/"),
            &["https://github.com/zilliztech/milvus-helm"],
        );
        assert!(matches!(identify(&newer), Identity::Metadata(_)));
        let unknown = ChartEntry {
            origin: None,
            ..newer
        };
        assert!(!identify(&unknown).is_milvus());
    }

    #[test]
    fn every_history_pair_is_the_milvus_chart() {
        for c in HISTORY.iter() {
            let e = entry(
                &c.chart_version.to_string(),
                c.app_version.as_str(),
                None,
                &[],
            );
            assert!(identify(&e).is_milvus(), "{}", c.chart_version);
        }
    }
}
