//! What the adapters read about a release: the plain data the planner decides on.

use serde::Serialize;
use serde_json::Value;

use crate::planner::chart_history::{self, ChartFacts};
use crate::planner::component::{Component, Layout};
use crate::planner::version::{image_repository, image_tag, MilvusVersion};

/// One row of `helm list -o json`.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    /// `milvus-4.0.13`
    pub chart: String,
    pub app_version: String,
    pub status: String,
    pub revision: u64,
}

impl Release {
    /// The release status when Helm's records cannot be read.
    pub const UNREADABLE: &str = "unreadable (no permission to read Helm's release Secrets)";

    /// (`milvus`, `4.0.13`) from `milvus-4.0.13`.
    pub fn chart_name_version(&self) -> (&str, Option<semver::Version>) {
        for (i, _) in self.chart.match_indices('-').rev() {
            if let Ok(v) = semver::Version::parse(&self.chart[i + 1..]) {
                return (&self.chart[..i], Some(v));
            }
        }
        (&self.chart, None)
    }

    pub fn is_milvus_chart(&self) -> bool {
        self.chart_name_version().0 == "milvus"
    }
}

/// Rollout progress with `kubectl rollout status` semantics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rollout {
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// All pods of every ReplicaSet, old ones included.
    pub current: i32,
    pub generation: i64,
    pub observed_generation: i64,
    /// `ProgressDeadlineExceeded` seen on the Progressing condition.
    pub deadline_exceeded: bool,
}

impl Rollout {
    pub fn is_complete(&self) -> bool {
        self.generation <= self.observed_generation
            && self.updated == self.desired
            && self.current == self.updated
            && self.available == self.updated
    }
}

/// A Milvus Deployment of the release, found by labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub name: String,
    pub component: Component,
    /// `milvus.io/resource-group` when the chart split a component by group.
    pub resource_group: Option<String>,
    /// The Milvus container: named after the component, else the first.
    pub container: String,
    pub image: String,
    pub replicas: i32,
    pub strategy: String,
    pub min_ready_seconds: i32,
    pub rollout: Rollout,
}

impl Workload {
    pub fn version(&self) -> Option<MilvusVersion> {
        image_tag(&self.image).and_then(|t| t.parse().ok())
    }
}

/// A HorizontalPodAutoscaler whose target is one of the release's Milvus Deployments
/// (the chart's `<component>.hpa`, or one made by hand).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Autoscaler {
    pub name: String,
    pub deployment: String,
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// `ScaledObject/web` when a controller manages the HPA (KEDA): such a
    /// controller may scale its target up from 0 itself.
    pub owner: Option<String>,
}

/// The message queue a release uses, by the chart's value keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageQueue {
    ExternalPulsar,
    /// Pulsar v2 from the `pulsar` subchart.
    Pulsar,
    PulsarV3,
    Woodpecker,
    Kafka,
    RocksMq,
    NatsMq,
    Unknown,
}

impl MessageQueue {
    /// The first enabled queue in the chart's own precedence.
    pub fn from_values(values: &Value) -> MessageQueue {
        let enabled =
            |key: &str| values.pointer(&format!("/{key}/enabled")) == Some(&Value::Bool(true));
        let cluster = values.pointer("/cluster/enabled") != Some(&Value::Bool(false));
        if !cluster {
            return match values
                .pointer("/standalone/messageQueue")
                .and_then(Value::as_str)
            {
                Some("natsmq") => MessageQueue::NatsMq,
                Some("woodpecker") => MessageQueue::Woodpecker,
                Some("pulsar") if enabled("externalPulsar") => MessageQueue::ExternalPulsar,
                Some("kafka") => MessageQueue::Kafka,
                _ => MessageQueue::RocksMq,
            };
        }
        [
            ("externalPulsar", MessageQueue::ExternalPulsar),
            ("pulsar", MessageQueue::Pulsar),
            ("woodpecker", MessageQueue::Woodpecker),
            ("pulsarv3", MessageQueue::PulsarV3),
            ("externalKafka", MessageQueue::Kafka),
            ("kafka", MessageQueue::Kafka),
        ]
        .into_iter()
        .find(|(key, _)| enabled(key))
        .map_or(MessageQueue::Unknown, |(_, mq)| mq)
    }
}

/// A chart repository from `helm repo list`.
#[derive(Debug, Clone, Serialize)]
pub struct Repo {
    pub name: String,
    pub url: String,
}

impl Repo {
    pub const CURRENT_URL: &'static str = "https://zilliztech.github.io/milvus-helm";

    pub fn is_archived_url(&self) -> bool {
        self.url.contains("milvus-io.github.io/milvus-helm")
    }
}

/// One chart version a repository offers (`helm search repo --versions`).
#[derive(Debug, Clone, Serialize)]
pub struct ChartEntry {
    pub repo: String,
    pub chart_version: semver::Version,
    pub app_version: MilvusVersion,
    /// What the repository's index says of the chart; None when it cannot be read.
    #[serde(skip)]
    pub origin: Option<ChartOrigin>,
}

/// A chart version's metadata in its repository index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartOrigin {
    pub home: Option<String>,
    pub sources: Vec<String>,
    /// Names, emails and URLs of the maintainers.
    pub maintainers: Vec<String>,
    /// The index's `digest` of the chart archive (sha256).
    pub digest: Option<String>,
}

impl ChartEntry {
    pub fn reference(&self) -> String {
        format!("{}/milvus", self.repo)
    }

    pub fn facts(&self) -> ChartFacts {
        chart_history::facts_for(&self.chart_version, &self.app_version)
    }
}

/// A chart given with `--chart` (a directory or a packaged `.tgz`), as its
/// Chart.yaml says: for air-gapped clusters, where no repository is reachable.
#[derive(Debug, Clone, Serialize)]
pub struct LocalChart {
    /// Absolute path, as helm gets it.
    pub path: String,
    pub name: String,
    pub version: String,
    pub app_version: String,
    #[serde(skip)]
    pub origin: ChartOrigin,
}

/// The chart versions every configured repository offers, with the repositories.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChartIndex {
    pub repos: Vec<Repo>,
    pub charts: Vec<ChartEntry>,
}

impl ChartIndex {
    /// A repository is archived when its URL is the old one, or when it has
    /// Milvus charts and none newer than the old repository's last (4.0.31).
    pub fn is_archived(&self, repo: &str) -> bool {
        let url_says = self
            .repos
            .iter()
            .any(|r| r.name == repo && r.is_archived_url());
        let mut charts = self.charts.iter().filter(|c| c.repo == repo).peekable();
        let only_old = charts.peek().is_some()
            && charts.all(|c| chart_history::in_archived_repo(&c.chart_version));
        url_says || only_old
    }

    pub fn archived_repos(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.charts.iter().map(|c| c.repo.as_str()).collect();
        names.extend(
            self.repos
                .iter()
                .filter(|r| r.is_archived_url())
                .map(|r| r.name.as_str()),
        );
        names.sort();
        names.dedup();
        names.retain(|n| self.is_archived(n));
        names
    }
}

/// What the release's values say that matters to an upgrade. Values can hold
/// secrets, so only these derived facts leave the adapter.
#[derive(Debug, Clone, Serialize)]
pub struct ValuesFacts {
    pub message_queue: MessageQueue,
    /// `image.all.tag` set by the user, if any.
    pub image_tag: Option<String>,
    pub image_repository: Option<String>,
    pub cluster_enabled: bool,
    /// The chart's `nameOverride`: the `app.kubernetes.io/name` label value.
    pub chart_name: String,
}

impl ValuesFacts {
    /// What is assumed when the values cannot be read (no access to Helm's records).
    pub fn unreadable() -> ValuesFacts {
        ValuesFacts::from_values(&Value::Null, &Value::Null)
    }

    pub fn from_values(user: &Value, computed: &Value) -> ValuesFacts {
        let text = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        ValuesFacts {
            message_queue: MessageQueue::from_values(computed),
            image_tag: text(user, "/image/all/tag"),
            image_repository: text(computed, "/image/all/repository"),
            cluster_enabled: computed.pointer("/cluster/enabled") != Some(&Value::Bool(false)),
            chart_name: text(computed, "/nameOverride").unwrap_or_else(|| "milvus".into()),
        }
    }
}

/// The Milvus config the chart renders into its ConfigMap.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MilvusConfig {
    pub config_map: String,
    /// `user.yaml` (4.x charts) or `milvus.yaml` (3.x).
    pub key: String,
    /// Coordinator sections (`rootCoord`, ...) with `enableActiveStandby: true`.
    pub active_standby: Vec<String>,
    pub root_path: Option<String>,
    /// `user.yaml: <parser message>` when a config key does not parse as YAML.
    pub unparseable: Option<String>,
}

/// Everything the planner needs, gathered before any decision.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub release: Release,
    pub workloads: Vec<Workload>,
    pub values: ValuesFacts,
    pub config: Option<MilvusConfig>,
    pub index: ChartIndex,
    /// `helm version`, e.g. 3.17.3.
    pub helm_version: Option<semver::Version>,
    /// Helm (4) writes this release with server-side apply: its Deployments carry
    /// a `helm` `Apply` managed-fields entry. Helm then needs `--force-conflicts`
    /// to take back the fields the plugin patched under its own field manager.
    pub helm_applies_server_side: bool,
    /// The API server's major.minor (`/version`).
    pub api_server_version: Option<semver::Version>,
    /// `--chart` paths read: helm and migration hops use these, never a repository.
    pub local_charts: Vec<LocalChart>,
    /// HPAs that scale the release's Milvus Deployments.
    pub autoscalers: Vec<Autoscaler>,
}

impl Facts {
    /// The HPA that scales this Deployment, if any.
    pub fn autoscaler_of(&self, deployment: &str) -> Option<&Autoscaler> {
        self.autoscalers.iter().find(|a| a.deployment == deployment)
    }

    pub fn layout(&self) -> Layout {
        let components: Vec<Component> = self.workloads.iter().map(|w| w.component).collect();
        Layout::of(&components)
    }

    /// Versions the Milvus containers run, oldest first, without repeats.
    pub fn running_versions(&self) -> Vec<MilvusVersion> {
        let mut versions: Vec<MilvusVersion> = self
            .workloads
            .iter()
            .filter_map(Workload::version)
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }

    /// The image repository to keep using: what runs, else the values'.
    pub fn image_repository(&self) -> String {
        self.workloads
            .first()
            .map(|w| image_repository(&w.image).to_string())
            .or_else(|| self.values.image_repository.clone())
            .unwrap_or_else(|| "milvusdb/milvus".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chart_name_and_version_from_helm_list() {
        let mut r = Release {
            name: "m".into(),
            namespace: "ns".into(),
            chart: "milvus-4.0.13".into(),
            app_version: "2.2.3".into(),
            status: "deployed".into(),
            revision: 1,
        };
        assert_eq!(
            r.chart_name_version(),
            ("milvus", Some(semver::Version::new(4, 0, 13)))
        );
        r.chart = "my-chart-1.2.3-rc.1".into();
        assert_eq!(r.chart_name_version().0, "my-chart");
        assert!(!r.is_milvus_chart());
    }

    #[test]
    fn message_queue_follows_the_chart_precedence() {
        let v = json!({"pulsar": {"enabled": true}, "pulsarv3": {"enabled": true}});
        assert_eq!(MessageQueue::from_values(&v), MessageQueue::Pulsar);
        let v = json!({"pulsar": {"enabled": false}, "pulsarv3": {"enabled": true}});
        assert_eq!(MessageQueue::from_values(&v), MessageQueue::PulsarV3);
        let v = json!({"cluster": {"enabled": false}, "standalone": {"messageQueue": "rocksmq"}});
        assert_eq!(MessageQueue::from_values(&v), MessageQueue::RocksMq);
        let v =
            json!({"cluster": {"enabled": false}, "standalone": {"messageQueue": "woodpecker"}});
        assert_eq!(MessageQueue::from_values(&v), MessageQueue::Woodpecker);
        let v = json!({"kafka": {"enabled": true}});
        assert_eq!(MessageQueue::from_values(&v), MessageQueue::Kafka);
    }

    #[test]
    fn rollout_complete_needs_observed_generation_and_no_old_pods() {
        let done = Rollout {
            desired: 2,
            updated: 2,
            ready: 2,
            available: 2,
            current: 2,
            generation: 3,
            observed_generation: 3,
            deadline_exceeded: false,
        };
        assert!(done.is_complete());
        assert!(!Rollout {
            observed_generation: 2,
            ..done.clone()
        }
        .is_complete());
        assert!(!Rollout {
            current: 3,
            ..done.clone()
        }
        .is_complete());
        assert!(!Rollout {
            available: 1,
            ..done
        }
        .is_complete());
    }
}
