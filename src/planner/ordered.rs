//! Ordered chart hops: Helm's upgrade carried out one component at a time in
//! Milvus' dependency order, then recorded by a `helm upgrade` that changes no pod
//! template. The orders are data here, beside the rolling order of `component`;
//! what each Deployment's change is (the reviewer's diff) is computed from the
//! live and rendered objects, as plain JSON.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::planner::component::{Component, Layout};

/// The template annotation the chart sets to the config's checksum.
pub const CONFIG_CHECKSUM: &str = "checksum/config";

/// One step of an ordered chart hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "component", rename_all = "snake_case")]
pub enum OrderStep {
    /// Create or change the component's Deployment(s), then wait for the rollout.
    Roll(Component),
    /// Create or change them without waiting (2.6 streamingnodes cannot become
    /// ready before a 2.6 mixcoord exists).
    Start(Component),
    /// Wait for the rollout of a component started earlier.
    Await(Component),
}

impl OrderStep {
    pub fn component(self) -> Component {
        match self {
            OrderStep::Roll(c) | OrderStep::Start(c) | OrderStep::Await(c) => c,
        }
    }

    /// The key the step's progress is recorded under.
    pub fn key(self) -> String {
        let verb = match self {
            OrderStep::Roll(_) => "roll",
            OrderStep::Start(_) => "start",
            OrderStep::Await(_) => "await",
        };
        format!("{verb}:{}", self.component())
    }
}

/// Into 2.6 (milvus-operator's 2.6 graph, with its open bug fixed): cdc first;
/// streamingnodes created without waiting, mixcoord, then the streamingnodes
/// waited for; nodes, proxy; standalone where the operator puts it.
const INTO_STREAMING: [OrderStep; 8] = [
    OrderStep::Roll(Component::Cdc),
    OrderStep::Start(Component::StreamingNode),
    OrderStep::Roll(Component::MixCoord),
    OrderStep::Await(Component::StreamingNode),
    OrderStep::Roll(Component::QueryNode),
    OrderStep::Roll(Component::DataNode),
    OrderStep::Roll(Component::Proxy),
    OrderStep::Roll(Component::Standalone),
];

/// The steps that change `components` (the Deployments the target chart
/// renders) going from `from` to `to`. Into 2.6 the order above; every other
/// chart hop the rolling order (mixcoord is rolled out before the separate
/// coordinators go: they are removed by the final helm upgrade).
pub fn order(from: Layout, to: Layout, components: &[Component]) -> Vec<OrderStep> {
    let present: BTreeSet<Component> = components.iter().copied().collect();
    if to == Layout::Streaming && from != Layout::Streaming {
        let mut steps: Vec<OrderStep> = INTO_STREAMING
            .into_iter()
            .filter(|s| present.contains(&s.component()))
            .collect();
        let listed: BTreeSet<Component> = INTO_STREAMING.iter().map(|s| s.component()).collect();
        steps.extend(present.difference(&listed).map(|c| OrderStep::Roll(*c)));
        return steps;
    }
    present.into_iter().map(OrderStep::Roll).collect()
}

/// The components a chart hop leaves: those the old layout has and the new one
/// does not (removed by the final helm upgrade, i.e. last), and those it adds.
pub fn layout_change(
    live: &[Component],
    to: Layout,
) -> (Vec<Component>, Vec<Component>, Vec<Component>) {
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for c in live.iter().copied().collect::<BTreeSet<_>>() {
        if belongs(to, c) {
            kept.push(c);
        } else {
            removed.push(c);
        }
    }
    let added: Vec<Component> = match to {
        Layout::MixCoord => vec![Component::MixCoord],
        Layout::Streaming => vec![Component::MixCoord, Component::StreamingNode],
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|c| !kept.contains(c))
    .collect();
    (kept, added, removed)
}

/// Whether a layout has the component.
pub fn belongs(layout: Layout, c: Component) -> bool {
    use Component::*;
    match layout {
        Layout::Separate => !matches!(c, MixCoord | StreamingNode),
        Layout::MixCoord => !matches!(
            c,
            RootCoord | DataCoord | QueryCoord | IndexCoord | StreamingNode
        ),
        Layout::Streaming => !matches!(
            c,
            RootCoord | DataCoord | QueryCoord | IndexCoord | IndexNode
        ),
        Layout::Standalone => c == Standalone,
    }
}

/// What an ordered hop does to one Deployment, for a reviewer: names, images
/// and keys only, never values (env values and config can hold secrets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentChange {
    pub deployment: String,
    pub component: Option<Component>,
    /// created, removed, changed, unchanged
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<(String, String)>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub config_checksum_changed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_removed: Vec<String>,
    /// Other pod template fields that differ (args, probes, resources ...), by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

impl DeploymentChange {
    /// One line for the plan text.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match &self.image {
            Some((from, to)) if from.is_empty() => parts.push(format!("image {to}")),
            Some((from, to)) => parts.push(format!("image {from} → {to}")),
            None => {}
        }
        if self.config_checksum_changed {
            parts.push("config checksum changes".into());
        }
        let keys = |what: &str, sign: char, names: &[String]| {
            (!names.is_empty()).then(|| format!("{what} {sign}{}", names.join(&format!(" {sign}"))))
        };
        parts.extend(keys("env", '+', &self.env_added));
        parts.extend(keys("env", '-', &self.env_removed));
        parts.extend(keys("volumes", '+', &self.volumes_added));
        parts.extend(keys("volumes", '-', &self.volumes_removed));
        if !self.other.is_empty() {
            parts.push(format!("also {}", self.other.join(", ")));
        }
        let what = if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join("; "))
        };
        format!("{} deployment/{}{what}", self.action, self.deployment)
    }
}

/// The change from `live` to `rendered` (Deployments as JSON; either may be absent).
pub fn deployment_change(
    name: &str,
    live: Option<&Value>,
    rendered: Option<&Value>,
) -> DeploymentChange {
    let component = live
        .or(rendered)
        .and_then(|d| d.pointer("/metadata/labels/component"))
        .and_then(Value::as_str)
        .and_then(Component::from_label);
    let mut change = DeploymentChange {
        deployment: name.to_string(),
        component,
        ..Default::default()
    };
    let (live, rendered) = match (live, rendered) {
        (None, Some(r)) => {
            change.action = "created".into();
            change.image = first_image(r).map(|i| (String::new(), i));
            return change;
        }
        (Some(_), None) | (None, None) => {
            change.action = "removed".into();
            return change;
        }
        (Some(l), Some(r)) => (l, r),
    };
    let (from, to) = (first_image(live), first_image(rendered));
    if from != to {
        change.image = Some((from.unwrap_or_default(), to.unwrap_or_default()));
    }
    let checksum = |d: &Value| {
        d.pointer(&format!(
            "/spec/template/metadata/annotations/{}",
            CONFIG_CHECKSUM.replace('/', "~1")
        ))
        .cloned()
    };
    change.config_checksum_changed = checksum(live) != checksum(rendered);
    let env = |d: &Value| names(d, "/spec/template/spec/containers", "env");
    (change.env_added, change.env_removed) = added_removed(&env(live), &env(rendered));
    let volumes = |d: &Value| names(d, "/spec/template/spec", "volumes");
    (change.volumes_added, change.volumes_removed) =
        added_removed(&volumes(live), &volumes(rendered));
    change.other = other_fields(live, rendered);
    let changed = change.image.is_some()
        || change.config_checksum_changed
        || !change.env_added.is_empty()
        || !change.env_removed.is_empty()
        || !change.volumes_added.is_empty()
        || !change.volumes_removed.is_empty()
        || !change.other.is_empty();
    change.action = if changed { "changed" } else { "unchanged" }.into();
    change
}

fn first_image(d: &Value) -> Option<String> {
    d.pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Names of the entries of `list` (under each container when `at` is the
/// containers array, else directly under `at`).
fn names(d: &Value, at: &str, list: &str) -> BTreeSet<String> {
    let holders: Vec<&Value> = match d.pointer(at) {
        Some(Value::Array(containers)) => containers.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    };
    holders
        .into_iter()
        .filter_map(|h| h.get(list).and_then(Value::as_array))
        .flatten()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn added_removed(
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    (
        after.difference(before).cloned().collect(),
        before.difference(after).cloned().collect(),
    )
}

/// Container fields the render sets and the live object has otherwise (live
/// objects carry the API server's defaults, so only fields the render names count).
fn other_fields(live: &Value, rendered: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    let containers = |d: &Value| {
        d.pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let live_containers = containers(live);
    for r in containers(rendered) {
        let name = r.get("name").cloned().unwrap_or(Value::Null);
        let Some(l) = live_containers
            .iter()
            .find(|l| l.get("name") == Some(&name))
        else {
            out.insert("containers".to_string());
            continue;
        };
        for (field, value) in r.as_object().into_iter().flatten() {
            if matches!(field.as_str(), "image" | "env" | "name") {
                continue;
            }
            if !covers(l.get(field), value) {
                out.insert(field.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// Whether `live` has everything `rendered` says (extra defaulted fields allowed;
/// quantities and numbers compared as text).
fn covers(live: Option<&Value>, rendered: &Value) -> bool {
    match (live, rendered) {
        (Some(Value::Object(l)), Value::Object(r)) => r.iter().all(|(k, v)| covers(l.get(k), v)),
        (Some(Value::Array(l)), Value::Array(r)) => {
            l.len() == r.len() && l.iter().zip(r).all(|(l, r)| covers(Some(l), r))
        }
        (Some(l), r) => l == r || scalar_text(l) == scalar_text(r),
        (None, Value::Null) => true,
        (None, Value::Object(r)) => r.is_empty(),
        (None, Value::Array(r)) => r.is_empty(),
        (None, _) => false,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use Component::*;

    #[test]
    fn into_2_6_starts_streamingnodes_before_mixcoord_and_waits_after() {
        let rendered = [MixCoord, StreamingNode, QueryNode, DataNode, Proxy];
        assert_eq!(
            order(Layout::MixCoord, Layout::Streaming, &rendered),
            [
                OrderStep::Start(StreamingNode),
                OrderStep::Roll(MixCoord),
                OrderStep::Await(StreamingNode),
                OrderStep::Roll(QueryNode),
                OrderStep::Roll(DataNode),
                OrderStep::Roll(Proxy),
            ]
        );
        let with_cdc = [Cdc, MixCoord, StreamingNode, Proxy];
        assert_eq!(
            order(Layout::MixCoord, Layout::Streaming, &with_cdc)[0],
            OrderStep::Roll(Cdc)
        );
    }

    #[test]
    fn other_chart_hops_take_the_rolling_order() {
        // → 2.5.16 with mixcoord: indexnode, mixcoord, nodes, proxy (the separate
        // coordinators are not rendered: the final helm upgrade removes them).
        let rendered = [Proxy, DataNode, QueryNode, MixCoord, IndexNode];
        assert_eq!(
            order(Layout::Separate, Layout::MixCoord, &rendered),
            [
                OrderStep::Roll(IndexNode),
                OrderStep::Roll(MixCoord),
                OrderStep::Roll(QueryNode),
                OrderStep::Roll(DataNode),
                OrderStep::Roll(Proxy),
            ]
        );
        let classic = [
            Proxy, RootCoord, QueryCoord, DataCoord, IndexCoord, QueryNode,
        ];
        let steps = order(Layout::Separate, Layout::Separate, &classic);
        assert_eq!(steps.first(), Some(&OrderStep::Roll(RootCoord)));
        assert_eq!(steps.last(), Some(&OrderStep::Roll(Proxy)));
    }

    #[test]
    fn layout_changes_name_what_comes_and_goes() {
        let live = [
            RootCoord, DataCoord, QueryCoord, IndexCoord, IndexNode, QueryNode, Proxy,
        ];
        let (kept, added, removed) = layout_change(&live, Layout::MixCoord);
        assert_eq!(kept, [IndexNode, QueryNode, Proxy]);
        assert_eq!(added, [MixCoord]);
        assert_eq!(removed, [RootCoord, DataCoord, IndexCoord, QueryCoord]);
        let (_, added, removed) = layout_change(&[MixCoord, IndexNode, Proxy], Layout::Streaming);
        assert_eq!(added, [StreamingNode]);
        assert_eq!(removed, [IndexNode]);
    }

    fn deployment(image: &str, checksum: &str, env: &[&str], volumes: &[&str]) -> Value {
        json!({
            "metadata": {"labels": {"component": "querynode"}},
            "spec": {"template": {
                "metadata": {"annotations": {"checksum/config": checksum}},
                "spec": {
                    "containers": [{
                        "name": "querynode", "image": image,
                        "env": env.iter().map(|n| json!({"name": n, "value": "secret-value"})).collect::<Vec<_>>(),
                        "resources": {"limits": {"cpu": "1"}},
                    }],
                    "volumes": volumes.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
                }
            }}
        })
    }

    #[test]
    fn a_change_names_image_checksum_env_and_volume_keys_never_values() {
        let live = deployment("m:v2.5.16", "aaa", &["A", "B"], &["config"]);
        let rendered = deployment("m:v2.6.3", "bbb", &["B", "C"], &["config", "wal"]);
        let c = deployment_change("r-milvus-querynode", Some(&live), Some(&rendered));
        assert_eq!(c.action, "changed");
        assert_eq!(c.component, Some(QueryNode));
        assert_eq!(c.image, Some(("m:v2.5.16".into(), "m:v2.6.3".into())));
        assert!(c.config_checksum_changed);
        assert_eq!(
            (c.env_added.clone(), c.env_removed.clone()),
            (vec!["C".to_string()], vec!["A".to_string()])
        );
        assert_eq!(c.volumes_added, ["wal"]);
        assert!(c.other.is_empty(), "{:?}", c.other);
        let text = serde_json::to_string(&c).unwrap() + &c.summary();
        assert!(!text.contains("secret-value"), "{text}");
        assert!(c.summary().contains("env +C"), "{}", c.summary());
    }

    #[test]
    fn defaults_on_the_live_object_are_no_change_but_other_fields_are() {
        let mut live = deployment("m:v1", "x", &[], &[]);
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
            json!("/dev/termination-log");
        live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!(1);
        let rendered = deployment("m:v1", "x", &[], &[]);
        assert_eq!(
            deployment_change("d", Some(&live), Some(&rendered)).action,
            "unchanged"
        );
        let mut args = rendered.clone();
        args["spec"]["template"]["spec"]["containers"][0]["args"] =
            json!(["milvus", "run", "mixture"]);
        assert_eq!(
            deployment_change("d", Some(&live), Some(&args)).other,
            ["args"]
        );
    }

    #[test]
    fn created_and_removed() {
        let r = deployment("m:v2.6.3", "x", &[], &[]);
        assert_eq!(deployment_change("d", None, Some(&r)).action, "created");
        assert_eq!(deployment_change("d", Some(&r), None).action, "removed");
    }
}
