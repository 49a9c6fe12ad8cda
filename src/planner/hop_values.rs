//! The `--set` values a chart hop needs so that only the intended things change:
//! the image tag, the message queue kept as it is, and the layout the hop asks for.

use crate::planner::chart_select::ChartChoice;
use crate::planner::component::{Component, Layout};
use crate::planner::facts::{Facts, MessageQueue};
use crate::planner::plan::{Options, SetValue};
use crate::planner::version::{image_repository, MilvusVersion};

const DEFAULT_REPOSITORY: &str = "milvusdb/milvus";

pub fn for_hop(
    facts: &Facts,
    options: &Options,
    chart: &ChartChoice,
    to: &MilvusVersion,
    layout: Layout,
    to_mixcoord: bool,
) -> Vec<SetValue> {
    let mut values = Vec::new();
    let mut set = |key: &str, value: &str| {
        values.push(SetValue {
            key: key.into(),
            value: value.into(),
        })
    };
    let default_image = chart.default_image.as_deref();
    let repository = options
        .image_repository
        .clone()
        .unwrap_or_else(|| facts.image_repository());
    let default_repository = default_image.map_or(DEFAULT_REPOSITORY, image_repository);
    if repository != default_repository
        || facts
            .values
            .image_repository
            .as_deref()
            .is_some_and(|r| r != repository)
    {
        set("image.all.repository", &repository);
    }
    // Always the tag, even where the chart's default is the target: the release's
    // values then say what runs, and no reused old tag can linger.
    set("image.all.tag", &to.image_tag());
    if facts.values.message_queue == MessageQueue::Pulsar
        && chart.default_mq.as_deref() != Some("pulsar")
    {
        set("pulsar.enabled", "true");
        set("pulsarv3.enabled", "false");
    }
    let cluster = layout != Layout::Standalone;
    if cluster && to_mixcoord {
        set("mixCoordinator.enabled", "true");
        for c in [
            Component::RootCoord,
            Component::IndexCoord,
            Component::QueryCoord,
            Component::DataCoord,
        ] {
            set(
                &format!("{}.enabled", c.values_key().unwrap_or_default()),
                "false",
            );
        }
    }
    if cluster && chart.layout == Layout::Streaming && layout != Layout::Streaming {
        set("streaming.enabled", "true");
        set("indexNode.enabled", "false");
    }
    values
}
