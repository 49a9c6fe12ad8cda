//! Gathers the facts about a release from helm and the API server, reads only.

use kube::Client;

use crate::cluster;
use crate::error::{Error, PlanError};
use crate::facts::{ChartIndex, Facts};
use crate::helm::Helm;

/// What a command talks to.
pub struct Context {
    pub helm: Helm,
    pub client: Client,
    pub namespace: String,
}

impl Context {
    pub async fn chart_index(&self) -> Result<ChartIndex, Error> {
        let (repos, charts) = tokio::join!(self.helm.repos(), self.helm.charts());
        Ok(ChartIndex {
            repos: repos?,
            charts: charts?,
        })
    }

    pub async fn facts(&self, release_name: &str) -> Result<Facts, Error> {
        let release = match self.helm.release(release_name).await? {
            Some(r) => r,
            None => return Err(self.not_found(release_name).await),
        };
        if !release.is_milvus_chart() {
            return Err(PlanError::NotMilvus {
                release: release.name,
                chart: release.chart,
            }
            .into());
        }
        let (values, index, helm_version) = tokio::join!(
            self.helm.values(release_name),
            self.chart_index(),
            self.helm.version()
        );
        let values = values?;
        let workloads = cluster::workloads(
            &self.client,
            &self.namespace,
            release_name,
            &values.chart_name,
        )
        .await?;
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
            index: index?,
            helm_version,
        })
    }

    async fn not_found(&self, release: &str) -> Error {
        Error::ReleaseNotFound {
            release: release.into(),
            namespace: self.namespace.clone(),
            elsewhere: self.helm.namespaces_with(release).await,
        }
    }
}
