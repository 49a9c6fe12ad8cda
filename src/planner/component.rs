//! Milvus components as the chart deploys them, and the order they roll in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    // Declared in rolling order: a component rolls only after everything it
    // depends on runs the new image (milvus-operator's order for all three
    // layouts: classic, mixcoord, and 2.6 with streamingnode).
    IndexNode,
    RootCoord,
    DataCoord,
    IndexCoord,
    QueryCoord,
    MixCoord,
    StreamingNode,
    QueryNode,
    DataNode,
    Proxy,
    Standalone,
    Cdc,
}

pub const ALL: [Component; 12] = [
    Component::IndexNode,
    Component::RootCoord,
    Component::DataCoord,
    Component::IndexCoord,
    Component::QueryCoord,
    Component::MixCoord,
    Component::StreamingNode,
    Component::QueryNode,
    Component::DataNode,
    Component::Proxy,
    Component::Standalone,
    Component::Cdc,
];

impl Component {
    /// The value of the chart's bare `component` label.
    pub fn label(self) -> &'static str {
        match self {
            Component::IndexNode => "indexnode",
            Component::RootCoord => "rootcoord",
            Component::DataCoord => "datacoord",
            Component::IndexCoord => "indexcoord",
            Component::QueryCoord => "querycoord",
            Component::MixCoord => "mixcoord",
            Component::StreamingNode => "streamingnode",
            Component::QueryNode => "querynode",
            Component::DataNode => "datanode",
            Component::Proxy => "proxy",
            Component::Standalone => "standalone",
            Component::Cdc => "cdc",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        ALL.into_iter().find(|c| c.label() == label)
    }

    pub fn is_coordinator(self) -> bool {
        matches!(
            self,
            Component::RootCoord
                | Component::DataCoord
                | Component::IndexCoord
                | Component::QueryCoord
                | Component::MixCoord
        )
    }

    /// The chart values key of the separate coordinators (`rootCoordinator`).
    pub fn values_key(self) -> Option<&'static str> {
        match self {
            Component::RootCoord => Some("rootCoordinator"),
            Component::DataCoord => Some("dataCoordinator"),
            Component::IndexCoord => Some("indexCoordinator"),
            Component::QueryCoord => Some("queryCoordinator"),
            Component::MixCoord => Some("mixCoordinator"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// How the coordinators and nodes of a release are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// rootcoord, datacoord, querycoord, indexcoord as their own Deployments.
    Separate,
    /// One mixcoord Deployment runs all coordinators.
    MixCoord,
    /// 2.6: mixcoord with streamingnode and no indexnode.
    Streaming,
    /// One standalone Deployment.
    Standalone,
}

impl Layout {
    /// The layout of a set of running components.
    pub fn of(components: &[Component]) -> Layout {
        let has = |c| components.contains(&c);
        if has(Component::Standalone) {
            Layout::Standalone
        } else if has(Component::StreamingNode) {
            Layout::Streaming
        } else if has(Component::MixCoord) {
            Layout::MixCoord
        } else {
            Layout::Separate
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Separate => "separate coordinators",
            Layout::MixCoord => "mixcoord",
            Layout::Streaming => "mixcoord + streamingnode",
            Layout::Standalone => "standalone",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Component::*;

    fn ordered(mut components: Vec<Component>) -> Vec<Component> {
        components.sort();
        components
    }

    #[test]
    fn rolling_order_matches_the_operator_for_every_layout() {
        let classic = vec![
            Proxy, DataNode, QueryNode, QueryCoord, IndexCoord, DataCoord, RootCoord, IndexNode,
        ];
        assert_eq!(
            ordered(classic),
            [IndexNode, RootCoord, DataCoord, IndexCoord, QueryCoord, QueryNode, DataNode, Proxy]
        );
        let mix = vec![Proxy, DataNode, QueryNode, MixCoord, IndexNode];
        assert_eq!(
            ordered(mix),
            [IndexNode, MixCoord, QueryNode, DataNode, Proxy]
        );
        let streaming = vec![Proxy, DataNode, QueryNode, StreamingNode, MixCoord];
        assert_eq!(
            ordered(streaming),
            [MixCoord, StreamingNode, QueryNode, DataNode, Proxy]
        );
    }

    #[test]
    fn labels_round_trip() {
        for c in ALL {
            assert_eq!(Component::from_label(c.label()), Some(c));
        }
        assert_eq!(Component::from_label("attu"), None);
    }

    #[test]
    fn layout_of_components() {
        assert_eq!(Layout::of(&[RootCoord, Proxy]), Layout::Separate);
        assert_eq!(Layout::of(&[MixCoord, Proxy]), Layout::MixCoord);
        assert_eq!(Layout::of(&[MixCoord, StreamingNode]), Layout::Streaming);
        assert_eq!(Layout::of(&[Standalone]), Layout::Standalone);
    }
}
