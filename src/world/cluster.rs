//! Reads from the Kubernetes API: the release's Milvus Deployments (by labels),
//! its Milvus config, and what the caller may do.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use crate::error::Error;
use crate::planner::component::Component;
use crate::planner::facts::{Autoscaler, MilvusConfig, Release, Rollout, Workload};
use crate::planner::preflight::Access;
use crate::world::gather::Context;
use crate::world::kube_config::server_suffix;

pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const RESOURCE_GROUP_LABEL: &str = "milvus.io/resource-group";

pub fn release_selector(release: &str) -> String {
    format!("{INSTANCE_LABEL}={release},component")
}

/// The Milvus Deployments of a release: labelled with the release instance, the
/// chart name (`milvus` or `nameOverride`) and a Milvus `component`; attu and
/// other Deployments are left out.
pub async fn workloads(
    ctx: &Context,
    release: &str,
    chart_name: &str,
) -> Result<Vec<Workload>, Error> {
    let list = deployments(ctx, release).await?;
    Ok(workloads_of(&list, chart_name))
}

/// Every Deployment labelled with the release instance and a `component`
/// (retried on transient errors as far as the context's budget goes).
pub async fn deployments(ctx: &Context, release: &str) -> Result<Vec<Deployment>, Error> {
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let params = ListParams::default().labels(&release_selector(release));
    let list = ctx
        .retry
        .call(|| api.list(&params))
        .await
        .map_err(api_error)?;
    Ok(list.items)
}

/// The Milvus Deployments among `list`, in component order.
pub fn workloads_of(list: &[Deployment], chart_name: &str) -> Vec<Workload> {
    let mut workloads: Vec<Workload> = list
        .iter()
        .filter_map(|d| workload(d, chart_name))
        .collect();
    workloads.sort_by(|a, b| (a.component, &a.name).cmp(&(b.component, &b.name)));
    workloads
}

/// The namespace's HPAs (autoscaling/v1, which every server serves) that scale a
/// Deployment; none when they cannot be listed.
pub async fn autoscalers(client: &Client, namespace: &str) -> Vec<Autoscaler> {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    list.items.iter().filter_map(autoscaler).collect()
}

fn autoscaler(h: &HorizontalPodAutoscaler) -> Option<Autoscaler> {
    let spec = &h.spec;
    let target = &spec.scale_target_ref;
    (target.kind == "Deployment").then_some(())?;
    let owner = h.metadata.owner_references.iter().flatten().next();
    Some(Autoscaler {
        name: h.metadata.name.clone()?,
        deployment: target.name.clone(),
        min_replicas: spec.min_replicas.unwrap_or(1),
        max_replicas: spec.max_replicas,
        owner: owner.map(|o| format!("{}/{}", o.kind, o.name)),
    })
}

/// Whether Helm wrote these Deployments with server-side apply: a managed-fields
/// entry of manager `helm` with operation `Apply` (Helm 4's default; Helm 3 and
/// Helm 4 with `--server-side=false` leave `Update` entries).
pub fn applied_by_helm_server_side(list: &[Deployment]) -> bool {
    list.iter()
        .flat_map(|d| d.metadata.managed_fields.iter().flatten())
        .any(|m| m.manager.as_deref() == Some("helm") && m.operation.as_deref() == Some("Apply"))
}

/// The release as its Deployments' labels tell it (`helm.sh/chart`,
/// `app.kubernetes.io/version`), for who may not read Helm's release Secrets.
pub fn release_from_labels(name: &str, namespace: &str, list: &[Deployment]) -> Option<Release> {
    let labels = list.iter().find_map(|d| d.metadata.labels.as_ref())?;
    Some(Release {
        name: name.into(),
        namespace: namespace.into(),
        chart: labels.get("helm.sh/chart")?.clone(),
        app_version: labels
            .get("app.kubernetes.io/version")
            .cloned()
            .unwrap_or_default(),
        status: Release::UNREADABLE.into(),
        revision: 0,
    })
}

/// The API server's version (`/version`), major.minor; None when it says something else.
pub async fn api_server_version(client: &Client) -> Option<semver::Version> {
    let info = client.apiserver_version().await.ok()?;
    let number = |s: &str| s.trim_end_matches('+').parse::<u64>().ok();
    Some(semver::Version::new(
        number(&info.major)?,
        number(&info.minor)?,
        0,
    ))
}

pub fn workload(d: &Deployment, chart_name: &str) -> Option<Workload> {
    let labels = d.metadata.labels.as_ref()?;
    if labels.get(NAME_LABEL).map(String::as_str) != Some(chart_name) {
        return None;
    }
    let component = Component::from_label(labels.get("component")?)?;
    // milvus-cdc runs its own image (not image.all): never patched or scaled, like attu.
    if component == Component::Cdc {
        return None;
    }
    let spec = &d.spec;
    let containers = &spec.template.spec.as_ref()?.containers;
    let container = containers
        .iter()
        .find(|c| c.name == component.label())
        .or(containers.first())?;
    Some(Workload {
        name: d.metadata.name.clone()?,
        component,
        resource_group: labels.get(RESOURCE_GROUP_LABEL).cloned(),
        container: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        replicas: spec.replicas.unwrap_or(1),
        strategy: spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "RollingUpdate".into()),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        rollout: rollout(d),
    })
}

pub fn rollout(d: &Deployment) -> Rollout {
    let status = d.status.clone().unwrap_or_default();
    let deadline_exceeded = status.conditions.unwrap_or_default().iter().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    Rollout {
        desired: d.spec.replicas.unwrap_or(1),
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        current: status.replicas.unwrap_or(0),
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        deadline_exceeded,
    }
}

/// The chart's fullname, read off a Deployment `<fullname>-<component>`.
pub fn fullname(workloads: &[Workload]) -> Option<String> {
    workloads
        .iter()
        .filter(|w| w.resource_group.is_none())
        .find_map(|w| {
            w.name
                .strip_suffix(&format!("-{}", w.component.label()))
                .map(String::from)
        })
}

/// The ConfigMap `<fullname>` the chart renders Milvus' config into.
pub async fn milvus_config(
    client: &Client,
    namespace: &str,
    fullname: &str,
) -> Result<Option<MilvusConfig>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(cm) = api.get_opt(fullname).await.map_err(api_error)? else {
        return Ok(None);
    };
    Ok(Some(parse_config(fullname, &cm.data.unwrap_or_default())))
}

pub fn parse_config(name: &str, data: &BTreeMap<String, String>) -> MilvusConfig {
    let key = if data.contains_key("user.yaml") || data.contains_key("default.yaml") {
        "user.yaml"
    } else {
        "milvus.yaml"
    };
    let parsed: Vec<(&str, Result<serde_json::Value, String>)> =
        ["default.yaml", "user.yaml", "milvus.yaml"]
            .into_iter()
            .filter_map(|k| Some((k, data.get(k)?)))
            .map(|(k, text)| (k, parse_yaml(text)))
            .collect();
    let unparseable = parsed
        .iter()
        .find_map(|(k, r)| r.as_ref().err().map(|e| format!("{k}: {e}")));
    let docs: Vec<serde_json::Value> = parsed.into_iter().filter_map(|(_, r)| r.ok()).collect();
    let active_standby = ["rootCoord", "dataCoord", "queryCoord", "indexCoord"]
        .into_iter()
        .filter(|s| {
            docs.iter().any(|d| {
                d.pointer(&format!("/{s}/enableActiveStandby"))
                    == Some(&serde_json::Value::Bool(true))
            })
        })
        .map(String::from)
        .collect();
    let root_path = docs.iter().rev().find_map(|d| {
        d.pointer("/etcd/rootPath")
            .and_then(|v| v.as_str())
            .map(String::from)
    });
    MilvusConfig {
        config_map: name.to_string(),
        key: key.to_string(),
        active_standby,
        root_path,
        unparseable,
    }
}

/// A config file's YAML; an empty file is an empty document.
pub fn parse_yaml(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

/// Asks the API server (SelfSubjectAccessReview) whether each permission is granted.
pub async fn review_access(
    client: &Client,
    namespace: &str,
    wanted: &[(&'static str, &'static str, &'static str)],
) -> Result<Vec<Access>, Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut out = Vec::new();
    for &(verb, group, resource) in wanted {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()),
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(api_error)?;
        let allowed = answer.status.is_some_and(|s| s.allowed);
        out.push(Access {
            verb,
            group,
            resource,
            allowed,
        });
    }
    Ok(out)
}

pub fn api_error(e: kube::Error) -> Error {
    match &e {
        kube::Error::Api(status) if status.code == 403 => Error::Forbidden(status.message.clone()),
        kube::Error::Api(status) if status.code == 401 => Error::Unauthorized {
            server: server_suffix(),
            message: status.message.clone(),
        },
        _ => Error::Cluster {
            server: server_suffix(),
            message: e.to_string(),
            transient: crate::world::retry::is_transient(&e),
        },
    }
}

/// The cluster's StorageClasses: (name, is the default class); None when these
/// credentials may not list them (cluster-scoped; ClusterRole `view` lacks them).
pub async fn storage_classes(client: &Client) -> Result<Option<Vec<(String, bool)>>, Error> {
    let api: Api<StorageClass> = Api::all(client.clone());
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(kube::Error::Api(s)) if s.code == 403 => return Ok(None),
        Err(e) => return Err(api_error(e)),
    };
    Ok(Some(
        list.items
            .iter()
            .map(|c| {
                let annotations = c.metadata.annotations.clone().unwrap_or_default();
                let default = [
                    "storageclass.kubernetes.io/is-default-class",
                    "storageclass.beta.kubernetes.io/is-default-class",
                ]
                .iter()
                .any(|k| annotations.get(*k).map(String::as_str) == Some("true"));
                (c.metadata.name.clone().unwrap_or_default(), default)
            })
            .collect(),
    ))
}
