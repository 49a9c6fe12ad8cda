//! The Kubernetes client, configured the way Helm configures itself: Helm
//! strips `-n`/`--kube-context` and hands them (and the other HELM_KUBE*
//! settings) to a plugin as environment variables.

use std::path::PathBuf;

use http::{header::USER_AGENT, HeaderValue};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::Error;

pub const USER_AGENT_VALUE: &str = concat!("helm-milvus-upgrade/", env!("CARGO_PKG_VERSION"));

/// Connection settings from flags and Helm's environment.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub apiserver: Option<String>,
    pub token: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub as_user: Option<String>,
    pub as_groups: Vec<String>,
}

impl KubeSettings {
    /// Reads HELM_KUBE* (empty means unset) beside the context from flags.
    pub fn from_env(context: Option<String>, kubeconfig: Option<PathBuf>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        KubeSettings {
            context: context.filter(|c| !c.is_empty()),
            kubeconfig,
            apiserver: var("HELM_KUBEAPISERVER"),
            token: var("HELM_KUBETOKEN"),
            ca_file: var("HELM_KUBECAFILE").map(PathBuf::from),
            tls_server_name: var("HELM_KUBETLS_SERVER_NAME"),
            insecure_skip_tls_verify: var("HELM_KUBEINSECURE_SKIP_TLS_VERIFY").as_deref()
                == Some("true"),
            as_user: var("HELM_KUBEASUSER"),
            as_groups: var("HELM_KUBEASGROUPS")
                .map(|g| {
                    g.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    async fn base_config(&self) -> Result<Config, Error> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(cluster_error)?),
            None => Kubeconfig::read().ok(),
        };
        match (kubeconfig, &self.apiserver) {
            (Some(kc), _) => Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(cluster_error),
            (None, Some(url)) => Ok(Config::new(url.parse().map_err(cluster_error)?)),
            (None, None) => Err(cluster_error(
                "no kubeconfig found (KUBECONFIG, ~/.kube/config) and no HELM_KUBEAPISERVER",
            )),
        }
    }

    pub async fn config(&self) -> Result<Config, Error> {
        let mut config = self.base_config().await?;
        if let Some(url) = &self.apiserver {
            config.cluster_url = url.parse().map_err(cluster_error)?;
        }
        if let Some(token) = &self.token {
            config.auth_info.token = Some(secrecy::SecretString::from(token.clone()));
            config.auth_info.token_file = None;
        }
        if let Some(ca) = &self.ca_file {
            config.root_cert_file = Some(ca.clone());
            config.root_cert = None;
        }
        if self.tls_server_name.is_some() {
            config.tls_server_name = self.tls_server_name.clone();
        }
        config.accept_invalid_certs |= self.insecure_skip_tls_verify;
        if let Some(user) = &self.as_user {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !self.as_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(self.as_groups.clone());
        }
        config
            .headers
            .push((USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE)));
        Ok(config)
    }

    pub async fn client(&self) -> Result<Client, Error> {
        let config = self.config().await?;
        let _ = SERVER.set(config.cluster_url.to_string());
        let builder = kube::client::ClientBuilder::try_from(config).map_err(cluster_error)?;
        // --debug: each write request on stderr.
        let log =
            tower::util::MapRequestLayer::new(crate::world::trace::request::<kube::client::Body>);
        Ok(builder.with_layer(&log).build())
    }
}

/// The API server this run talks to, for error messages.
static SERVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// ` at https://host:port` once the client is configured.
pub fn server_suffix() -> String {
    SERVER
        .get()
        .map(|s| format!(" at {}", s.trim_end_matches('/')))
        .unwrap_or_default()
}

fn cluster_error(e: impl std::fmt::Display) -> Error {
    Error::Cluster {
        server: server_suffix(),
        message: e.to_string(),
        transient: false,
    }
}
