//! Reads for the fleet view: one list per resource kind for the whole cluster
//! (Milvus Deployments, the plugin's state ConfigMaps and lock Leases, and one
//! `helm list -A`). Where the caller may not list a kind cluster-wide, it is listed
//! namespace by namespace; namespaces it may not read are named, not an error.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::NamespaceResourceScope;
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::planner::facts::Release;
use crate::world::cluster::{api_error, INSTANCE_LABEL};
use crate::world::helm::{is_forbidden, Helm};

/// What the fleet view reads, all of it.
#[derive(Debug, Default)]
pub struct FleetReads {
    /// Deployments labelled with a release instance and a `component`.
    pub deployments: Vec<Deployment>,
    /// The plugin's state ConfigMaps.
    pub state: Vec<ConfigMap>,
    /// The plugin's lock Leases.
    pub leases: Vec<Lease>,
    /// Helm's releases, in the namespaces whose records could be read.
    pub releases: Vec<Release>,
    /// Namespaces whose Deployments may not be listed: not readable.
    pub unreadable: Vec<String>,
    /// Namespaces with Milvus Deployments whose state ConfigMaps, Leases or Helm
    /// records (Secrets) may not be read.
    pub state_unreadable: BTreeSet<String>,
    pub leases_unreadable: BTreeSet<String>,
    pub helm_unreadable: BTreeSet<String>,
    /// Deployments were listed namespace by namespace (no cluster-wide list).
    pub by_namespace: bool,
}

/// One kind, cluster-wide; `None` when the caller may not list it so.
async fn list_all<K>(client: &Client, selector: &str) -> Result<Option<Vec<K>>, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::all(client.clone());
    allowed(api.list(&ListParams::default().labels(selector)).await)
}

fn allowed<K: Clone>(
    answer: kube::Result<kube::api::ObjectList<K>>,
) -> Result<Option<Vec<K>>, Error> {
    match answer {
        Ok(list) => Ok(Some(list.items)),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
        Err(e) => Err(api_error(e)),
    }
}

/// One kind in each namespace; the namespaces that refused it.
async fn list_each<K>(
    client: &Client,
    selector: &str,
    namespaces: &[String],
) -> Result<(Vec<K>, Vec<String>), Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let params = ListParams::default().labels(selector);
    let lists = namespaces.iter().map(|ns| {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let params = params.clone();
        async move { allowed(api.list(&params).await) }
    });
    let mut items = Vec::new();
    let mut refused = Vec::new();
    for (ns, answer) in namespaces
        .iter()
        .zip(futures::future::join_all(lists).await)
    {
        match answer? {
            Some(list) => items.extend(list),
            None => refused.push(ns.clone()),
        }
    }
    Ok((items, refused))
}

/// The cluster's namespaces, or only `fallback` when they may not be listed.
async fn namespaces(client: &Client, fallback: &str) -> Result<Vec<String>, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    Ok(match allowed(api.list(&ListParams::default()).await)? {
        Some(list) => list.into_iter().filter_map(|n| n.metadata.name).collect(),
        None => vec![fallback.to_string()],
    })
}

/// Everything the fleet view needs. `selector`: the user's `-l`, added to the
/// Deployments' own; `state_label`: the label of the plugin's ConfigMaps and Leases;
/// `current`: the namespace tried when namespaces may not be listed. Kinds that may
/// not be listed cluster-wide are listed in each namespace that matters: every
/// namespace for Deployments, those with Milvus Deployments for the rest.
pub async fn read(
    client: &Client,
    helm: &Helm,
    selector: Option<&str>,
    state_label: &str,
    current: &str,
) -> Result<FleetReads, Error> {
    let mut deployment_selector = format!("{INSTANCE_LABEL},component");
    if let Some(more) = selector.filter(|s| !s.is_empty()) {
        deployment_selector = format!("{deployment_selector},{more}");
    }
    let (deployments, state, leases, releases) = tokio::join!(
        list_all::<Deployment>(client, &deployment_selector),
        list_all::<ConfigMap>(client, state_label),
        list_all::<Lease>(client, state_label),
        helm.releases_everywhere()
    );
    let mut reads = FleetReads::default();
    match deployments? {
        Some(list) => reads.deployments = list,
        None => {
            let names = namespaces(client, current).await?;
            (reads.deployments, reads.unreadable) =
                list_each(client, &deployment_selector, &names).await?;
            reads.by_namespace = true;
        }
    }
    let milvus: Vec<String> = reads
        .deployments
        .iter()
        .filter_map(|d| d.metadata.namespace.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if milvus.is_empty() {
        return Ok(reads);
    }
    (reads.state, reads.state_unreadable) = match state? {
        Some(list) => (list, BTreeSet::new()),
        None => refused_set(list_each(client, state_label, &milvus).await?),
    };
    (reads.leases, reads.leases_unreadable) = match leases? {
        Some(list) => (list, BTreeSet::new()),
        None => refused_set(list_each(client, state_label, &milvus).await?),
    };
    match releases {
        Ok(list) => reads.releases = list,
        Err(e) if is_forbidden(&e) => releases_by_namespace(helm, &milvus, &mut reads).await?,
        Err(e) => return Err(e),
    }
    Ok(reads)
}

fn refused_set<K>((items, refused): (Vec<K>, Vec<String>)) -> (Vec<K>, BTreeSet<String>) {
    (items, refused.into_iter().collect())
}

/// `helm list -A` was refused: each namespace that has Milvus Deployments on its own.
async fn releases_by_namespace(
    helm: &Helm,
    namespaces: &[String],
    reads: &mut FleetReads,
) -> Result<(), Error> {
    let lists = namespaces.iter().map(|ns| helm.releases_in(ns));
    for (ns, answer) in namespaces
        .iter()
        .zip(futures::future::join_all(lists).await)
    {
        match answer {
            Ok(list) => reads.releases.extend(list),
            Err(e) if is_forbidden(&e) => {
                reads.helm_unreadable.insert(ns.clone());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
