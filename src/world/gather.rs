//! Gathers the facts about a release from helm and the API server, reads only.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::error::{Error, PlanError};
use crate::planner::facts::{ChartIndex, Facts, LocalChart, Release, ValuesFacts};
use crate::world::cluster;

use crate::world::helm::{is_forbidden, Helm};
use crate::world::retry::Retry;

/// What a command talks to.
pub struct Context {
    pub helm: Helm,
    pub client: Client,
    pub namespace: String,
    /// How long transient API errors are retried (the progress deadline).
    pub retry: Retry,
    /// `--chart` paths: read instead of the repositories (which are not asked at all).
    pub local_charts: Vec<PathBuf>,
}

impl Context {
    /// From here on, transient failures of the API server are retried within
    /// `retry`: the plugin's own requests and helm's commands alike.
    pub fn retrying(&mut self, retry: Retry) {
        self.retry = retry;
        self.helm.retry = retry;
    }

    pub async fn chart_index(&self) -> Result<ChartIndex, Error> {
        let (repos, charts) = tokio::join!(self.helm.repos(), self.helm.charts());
        Ok(ChartIndex {
            repos: repos?,
            charts: charts?,
        })
    }

    /// The repositories' charts, or with `--chart` the local charts and no index.
    async fn charts(&self) -> Result<(ChartIndex, Vec<LocalChart>), Error> {
        if self.local_charts.is_empty() {
            return Ok((self.chart_index().await?, Vec::new()));
        }
        let reads = self
            .local_charts
            .iter()
            .map(|p| crate::world::local_chart::read(&self.helm, p));
        let local = futures::future::join_all(reads).await;
        Ok((
            ChartIndex::default(),
            local.into_iter().collect::<Result<_, _>>()?,
        ))
    }

    pub async fn facts(&self, release_name: &str) -> Result<Facts, Error> {
        let release = self.release(release_name).await?;
        if !release.is_milvus_chart() {
            return Err(PlanError::NotMilvus {
                release: release.name,
                chart: release.chart,
            }
            .into());
        }
        let (values, charts, helm_version) = tokio::join!(
            self.helm.values(release_name),
            self.charts(),
            self.helm.version()
        );
        let (index, local_charts) = charts?;
        let values = match values {
            Err(e) if is_forbidden(&e) => ValuesFacts::unreadable(),
            other => other?,
        };
        let (deployments, api_server_version, mut autoscalers) = tokio::join!(
            cluster::deployments(self, release_name),
            cluster::api_server_version(&self.client),
            cluster::autoscalers(&self.client, &self.namespace)
        );
        let deployments = deployments?;
        let workloads = cluster::workloads_of(&deployments, &values.chart_name);
        autoscalers.retain(|a| workloads.iter().any(|w| w.name == a.deployment));
        // Helm 4 keeps the method a release was installed with (`--server-side=auto`);
        // Helm 3 has no server-side apply, whatever wrote the release before.
        let helm_applies_server_side = cluster::applied_by_helm_server_side(&deployments)
            && helm_version.as_ref().is_some_and(|v| v.major >= 4);
        let config = match cluster::fullname(&workloads) {
            Some(fullname) => {
                cluster::milvus_config(&self.client, &self.namespace, &fullname).await?
            }
            None => None,
        };
        Ok(Facts {
            release,
            workloads,
            values,
            config,
            index,
            helm_version,
            helm_applies_server_side,
            api_server_version,
            local_charts,
            autoscalers,
        })
    }

    /// The release and its Milvus Deployments as they are now, the rest as
    /// `planned` had it: what a run compares with its plan once it holds the
    /// lock (values, charts and versions are not asked again).
    pub async fn refreshed(&self, planned: &Facts) -> Result<Facts, Error> {
        let name = &planned.release.name;
        let (release, deployments) =
            tokio::join!(self.release(name), cluster::deployments(self, name));
        let workloads = cluster::workloads_of(&deployments?, &planned.values.chart_name);
        Ok(Facts {
            release: release?,
            workloads,
            ..planned.clone()
        })
    }

    /// The Helm release `name`, from Helm's records or, where those cannot be
    /// read, from the Deployments' labels.
    async fn release(&self, name: &str) -> Result<Release, Error> {
        match self.helm.release(name).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(self.not_found(name).await),
            Err(e) if is_forbidden(&e) => self.release_from_labels(name).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// Who may not read Helm's release records (Secrets) still sees the chart
    /// in the Deployments' `helm.sh/chart` label: enough to plan, not to run.
    async fn release_from_labels(&self, name: &str) -> Result<Option<Release>, Error> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = ListParams::default().labels(&cluster::release_selector(name));
        let list = api.list(&params).await.map_err(cluster::api_error)?;
        Ok(cluster::release_from_labels(
            name,
            &self.namespace,
            &list.items,
        ))
    }

    async fn not_found(&self, release: &str) -> Error {
        let mut elsewhere = self.helm.namespaces_with(release).await;
        elsewhere.retain(|ns| ns != &self.namespace);
        Error::ReleaseNotFound {
            release: release.into(),
            namespace: self.namespace.clone(),
            elsewhere,
        }
    }
}
