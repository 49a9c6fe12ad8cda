//! What each published Milvus chart version ships: app version, default image,
//! component layout and default message queue. Read off the chart's own
//! history (`chart_history.tsv`); rules cover chart versions newer than it.

use std::sync::LazyLock;

use semver::Version;

use crate::planner::component::Layout;
use crate::planner::version::{image_tag, MilvusVersion};

#[derive(Debug, Clone, PartialEq)]
pub struct ChartFacts {
    pub chart_version: Version,
    pub app_version: MilvusVersion,
    /// `milvusdb/milvus:v2.2.5`; `None` where the history does not say.
    pub default_image: Option<String>,
    pub layout: Layout,
    /// The default message queue value key (`pulsar`, `pulsarv3`).
    pub default_mq: Option<String>,
}

impl ChartFacts {
    pub fn default_tag(&self) -> Option<&str> {
        self.default_image.as_deref().and_then(image_tag)
    }

    /// The Milvus version the chart runs when no tag is set.
    pub fn default_version(&self) -> MilvusVersion {
        self.default_tag()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| self.app_version.clone())
    }
}

pub static HISTORY: LazyLock<Vec<ChartFacts>> = LazyLock::new(|| {
    include_str!("chart_history.tsv")
        .lines()
        .skip(1)
        .filter_map(parse_row)
        .collect()
});

fn parse_row(line: &str) -> Option<ChartFacts> {
    let cols: Vec<&str> = line.split('\t').collect();
    let known = |s: &str| (s != "?" && !s.is_empty()).then(|| s.to_string());
    let layout = match (cols.get(3)?, cols.get(5)?) {
        (_, &"yes") => Layout::Streaming,
        (&"mixcoord", _) => Layout::MixCoord,
        _ => Layout::Separate,
    };
    Some(ChartFacts {
        chart_version: Version::parse(cols[0]).ok()?,
        app_version: cols.get(1)?.parse().ok()?,
        default_image: known(cols.get(2)?).filter(|i| i != "?:?"),
        layout,
        default_mq: known(cols.get(6)?),
    })
}

/// Facts of a chart version: from the history, else by the chart's rules.
pub fn facts_for(chart_version: &Version, app_version: &MilvusVersion) -> ChartFacts {
    HISTORY
        .iter()
        .find(|c| &c.chart_version == chart_version)
        .cloned()
        .unwrap_or_else(|| ChartFacts {
            chart_version: chart_version.clone(),
            app_version: app_version.clone(),
            default_image: None,
            layout: layout_by_rule(chart_version),
            default_mq: None,
        })
}

/// Chart 5.0.0 brought streamingnode, 4.2.4 made mixcoord the default.
pub fn layout_by_rule(chart_version: &Version) -> Layout {
    if chart_version >= &Version::new(5, 0, 0) {
        Layout::Streaming
    } else if chart_version >= &Version::new(4, 2, 4) {
        Layout::MixCoord
    } else {
        Layout::Separate
    }
}

/// Chart versions whose templates the old `milvus-io` repository still serves.
pub fn in_archived_repo(chart_version: &Version) -> bool {
    chart_version <= &Version::new(4, 0, 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_row_of_the_history() {
        assert_eq!(HISTORY.len(), 311);
        let c4013 = facts_for(&Version::new(4, 0, 13), &"2.2.3".parse().unwrap());
        assert_eq!(c4013.app_version.as_str(), "2.2.3");
        assert_eq!(c4013.default_tag(), Some("v2.2.5"));
        assert_eq!(c4013.layout, Layout::Separate);
        let c500 = facts_for(&Version::new(5, 0, 0), &"2.6.0".parse().unwrap());
        assert_eq!(c500.layout, Layout::Streaming);
        assert_eq!(c500.default_mq.as_deref(), Some("pulsarv3"));
    }

    #[test]
    fn rules_agree_with_the_history() {
        for chart in HISTORY.iter().filter(|c| c.chart_version.major >= 4) {
            assert_eq!(
                layout_by_rule(&chart.chart_version),
                chart.layout,
                "{}",
                chart.chart_version
            );
        }
    }

    #[test]
    fn many_charts_ship_another_image_than_they_say() {
        let mismatched = HISTORY
            .iter()
            .filter(|c| {
                c.default_tag()
                    .is_some_and(|t| t.parse::<MilvusVersion>().ok() != Some(c.app_version.clone()))
            })
            .count();
        assert!(mismatched >= 70, "{mismatched}");
    }
}
