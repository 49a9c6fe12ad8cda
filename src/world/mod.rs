//! Thin adapters to the world: the helm CLI (`$HELM_BIN`, else helm on PATH),
//! the Kubernetes client configured as Helm configures itself (HELM_NAMESPACE,
//! HELM_KUBECONTEXT, KUBECONFIG, HELM_KUBE*), reading a release's facts
//! (`gather`), and the `--debug` trace of what is sent. Depends on `planner`'s
//! types only.

pub mod cluster;
pub mod fleet;
pub mod gather;
pub mod helm;
pub mod kube_config;
pub mod local_chart;
pub mod repo_index;
pub mod retry;
pub mod trace;
