//! The objects of a meta migration (as Milvus' migrate.sh creates them), named
//! after the release: backup PVC, config ConfigMap and the three pods. Pure
//! rendering first, then the API calls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use serde_json::{json, Value};

use crate::error::Error;
use crate::exec::deadline::Clock;
use crate::exec::rollout::Interrupt;
use crate::exec::state::{FIELD_MANAGER, RELEASE_LABEL};
use crate::planner::component::Component;
use crate::world::cluster::{api_error, release_selector, INSTANCE_LABEL, NAME_LABEL};
use crate::world::retry::Retry;

pub const DEFAULT_ROOT_PATH: &str = "by-dev";
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30);
pub const BACKUP_FILE: &str = "/milvus/data/migration.bak";
const BACKUP_ANNOTATION: &str = "backup";

/// The three things the migration image does, each with its pod and config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Backup,
    Migrate,
    Rollback,
}

impl Job {
    pub fn pod_name(self, release: &str) -> String {
        match self {
            Job::Backup => format!("milvus-meta-migration-backup-{release}"),
            Job::Migrate => format!("milvus-meta-migration-{release}"),
            Job::Rollback => format!("milvus-meta-migration-rollback-{release}"),
        }
    }

    pub fn config_file(self) -> &'static str {
        match self {
            Job::Backup => "backup.yaml",
            Job::Migrate => "migration.yaml",
            Job::Rollback => "rollback.yaml",
        }
    }

    /// `cmd.type` of the meta-migration tool.
    fn command(self) -> &'static str {
        match self {
            Job::Backup => "backup",
            Job::Migrate => "run",
            Job::Rollback => "rollback",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Job::Backup => "meta backup",
            Job::Migrate => "meta migration",
            Job::Rollback => "meta restore",
        }
    }
}

pub fn pvc_name(release: &str) -> String {
    format!("milvus-meta-migration-backup-{release}")
}

pub fn config_name(release: &str) -> String {
    format!("milvus-meta-migration-config-{release}")
}

/// What the config files say besides the command.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaConfig {
    pub source: String,
    pub target: String,
    pub endpoints: Vec<String>,
    pub root_path: String,
}

/// One config file of the meta-migration tool (the format migrate.sh writes).
pub fn render(job: Job, c: &MetaConfig) -> String {
    let doc = json!({
        "cmd": {"type": job.command()},
        "config": {"sourceVersion": c.source, "targetVersion": c.target, "backupFilePath": BACKUP_FILE},
        "metastore": {"type": "etcd"},
        "etcd": {"endpoints": c.endpoints, "rootPath": c.root_path, "metaSubPath": "meta", "kvSubPath": "kv"},
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

pub fn config_files(c: &MetaConfig) -> BTreeMap<String, String> {
    [Job::Backup, Job::Migrate, Job::Rollback]
        .into_iter()
        .map(|j| (j.config_file().to_string(), render(j, c)))
        .collect()
}

/// An etcd Service of the release: name, headless, client port.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdService {
    pub name: String,
    pub headless: bool,
    pub port: i32,
}

/// Where the etcd endpoints come from, in order: `--etcd-endpoints` (explicit),
/// the release's non-headless etcd Service, the values' `externalEtcd.endpoints`.
pub fn resolve_endpoints(
    flag: &[String],
    services: &[EtcdService],
    external: Option<Vec<String>>,
) -> Option<(Vec<String>, String)> {
    if !flag.is_empty() {
        return Some((flag.to_vec(), "--etcd-endpoints".into()));
    }
    if let Some(s) = services
        .iter()
        .find(|s| !s.headless && !s.name.ends_with("-headless"))
    {
        return Some((
            vec![format!("{}:{}", s.name, s.port)],
            format!("service/{}", s.name),
        ));
    }
    external
        .filter(|e| !e.is_empty())
        .map(|e| (e, "values externalEtcd.endpoints".into()))
}

/// `externalEtcd.endpoints` when `externalEtcd.enabled` (values, computed).
pub fn external_endpoints(values: &Value) -> Option<Vec<String>> {
    if values.pointer("/externalEtcd/enabled") != Some(&Value::Bool(true)) {
        return None;
    }
    let list = values.pointer("/externalEtcd/endpoints")?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
    )
}

/// `common.session.ttl` (seconds) from the rendered Milvus config documents.
pub fn session_ttl(data: &BTreeMap<String, String>) -> Option<Duration> {
    ["default.yaml", "milvus.yaml", "user.yaml"]
        .iter()
        .rev()
        .filter_map(|k| data.get(*k))
        .filter_map(|text| serde_yaml_ng::from_str::<Value>(text).ok())
        .filter_map(|doc| {
            let v = doc.pointer("/common/session/ttl")?.clone();
            v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
        })
        .next()
        .map(Duration::from_secs)
}

fn managed_labels(release: &str) -> Value {
    json!({RELEASE_LABEL: release, "app.kubernetes.io/managed-by": FIELD_MANAGER})
}

pub fn pvc_body(release: &str, size: &str, storage_class: Option<&str>) -> Value {
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    });
    if let Some(class) = storage_class {
        spec["storageClassName"] = json!(class);
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": pvc_name(release), "labels": managed_labels(release)},
        "spec": spec,
    })
}

/// Small, so quotas that demand limits accept the pods and LimitRanges leave them be.
pub const POD_RESOURCES: (&str, &str, &str, &str) = ("100m", "128Mi", "500m", "512Mi");

/// Pod spec fields the migration pods take from the release's Milvus pods, so they
/// pull, schedule and run where those do (pull secrets, placement, security,
/// service account).
const INHERITED: [&str; 7] = [
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "affinity",
    "securityContext",
    "serviceAccountName",
    "priorityClassName",
];

/// The inherited fields of a Milvus pod spec (JSON of a PodSpec).
pub fn inherited(pod_spec: &Value) -> Value {
    let picked: serde_json::Map<String, Value> = INHERITED
        .iter()
        .filter_map(|k| Some((k.to_string(), pod_spec.get(*k)?.clone())))
        .filter(|(_, v)| !v.is_null())
        .collect();
    Value::Object(picked)
}

/// `fit`: what [`inherited`] took from the release's Milvus pods.
pub fn pod_body(job: Job, release: &str, image: &str, fit: &Value) -> Value {
    let (req_cpu, req_mem, lim_cpu, lim_mem) = POD_RESOURCES;
    let mut body = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": job.pod_name(release), "labels": managed_labels(release)},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "meta-migration",
                "image": image,
                "command": ["/bin/sh"],
                "args": ["-c", format!("/milvus/bin/meta-migration -config=/milvus/configs/meta/{}", job.config_file())],
                "resources": {
                    "requests": {"cpu": req_cpu, "memory": req_mem},
                    "limits": {"cpu": lim_cpu, "memory": lim_mem},
                },
                "volumeMounts": [
                    {"name": "backup", "mountPath": "/milvus/data"},
                    {"name": "config", "mountPath": "/milvus/configs/meta"},
                ],
            }],
            "volumes": [
                {"name": "backup", "persistentVolumeClaim": {"claimName": pvc_name(release)}},
                {"name": "config", "configMap": {"name": config_name(release)}},
            ],
        },
    });
    if let (Some(spec), Some(fit)) = (body["spec"].as_object_mut(), fit.as_object()) {
        for (k, v) in fit {
            spec.insert(k.clone(), v.clone());
        }
    }
    body
}

pub fn config_body(release: &str, files: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_name(release), "labels": managed_labels(release)},
        "data": files,
    })
}

/// The API side: one namespace, one release.
pub struct Objects<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub release: &'a str,
    /// Every request is retried on transient errors; creates take 409 as done.
    pub retry: Retry,
}

impl Objects<'_> {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), self.namespace)
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), self.namespace)
    }

    /// What the migration pods inherit from the first Milvus Deployment's pod
    /// template (in the order the facts list them: by component, then name).
    pub async fn pod_fit(&self) -> Result<Value, Error> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), self.namespace);
        let params = ListParams::default().labels(&release_selector(self.release));
        let list = self
            .retry
            .call(|| api.list(&params))
            .await
            .map_err(api_error)?;
        let first = list
            .items
            .iter()
            .filter_map(|d| {
                let labels = d.metadata.labels.as_ref()?;
                let component = Component::from_label(labels.get("component")?)?;
                Some(((component, d.metadata.name.clone()?), d))
            })
            .min_by(|a, b| a.0.cmp(&b.0));
        Ok(first
            .and_then(|(_, d)| serde_json::to_value(d.spec.template.spec.as_ref()?).ok())
            .map_or_else(|| json!({}), |spec| inherited(&spec)))
    }

    /// The release's etcd Services (labels of the etcd subchart).
    pub async fn etcd_services(&self) -> Result<Vec<EtcdService>, Error> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), self.namespace);
        let selector = format!("{NAME_LABEL}=etcd,{INSTANCE_LABEL}={}", self.release);
        let params = ListParams::default().labels(&selector);
        let list = self
            .retry
            .call(|| api.list(&params))
            .await
            .map_err(api_error)?;
        let mut out: Vec<EtcdService> = list
            .items
            .iter()
            .map(|s| {
                let spec = s.spec.clone().unwrap_or_default();
                let ports = spec.ports.unwrap_or_default();
                let port = ports
                    .iter()
                    .find(|p| p.name.as_deref() == Some("client"))
                    .or(ports.first())
                    .map_or(2379, |p| p.port);
                EtcdService {
                    name: s.metadata.name.clone().unwrap_or_default(),
                    headless: spec.cluster_ip.as_deref() == Some("None"),
                    port,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates the backup PVC unless it exists (its spec is immutable).
    pub async fn ensure_pvc(&self, size: &str, class: Option<&str>) -> Result<bool, Error> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), self.namespace);
        let body: PersistentVolumeClaim =
            serde_json::from_value(pvc_body(self.release, size, class))
                .map_err(|e| Error::Failed(format!("pvc spec: {e}")))?;
        let params = PostParams::default();
        match self.retry.call(|| api.create(&params, &body)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(api_error(e)),
        }
    }

    pub async fn apply_config(&self, files: &BTreeMap<String, String>) -> Result<(), Error> {
        let name = config_name(self.release);
        let body = config_body(self.release, files);
        let api = self.config_maps();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&body);
        self.retry
            .call(|| api.patch(&name, &params, &patch))
            .await
            .map_err(api_error)?;
        Ok(())
    }

    /// `backup: succeed` on the config ConfigMap, as migrate.sh marks it.
    pub async fn mark_backup(&self, value: Option<&str>) -> Result<(), Error> {
        let body = json!({"metadata": {"annotations": {BACKUP_ANNOTATION: value}}});
        let (api, name) = (self.config_maps(), config_name(self.release));
        let (params, patch) = (PatchParams::default(), Patch::Merge(&body));
        match self.retry.call(|| api.patch(&name, &params, &patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_error(e)),
        }
    }

    pub async fn backup_marked(&self) -> Result<bool, Error> {
        let (api, name) = (self.config_maps(), config_name(self.release));
        let cm = self
            .retry
            .call(|| api.get_opt(&name))
            .await
            .map_err(api_error)?;
        Ok(cm
            .and_then(|c| c.metadata.annotations)
            .and_then(|a| a.get(BACKUP_ANNOTATION).cloned())
            .as_deref()
            == Some("succeed"))
    }

    /// Deletes a job's pod and waits (on a watch) until it is gone.
    pub async fn delete_pod(&self, job: Job, clock: &Clock) -> Result<(), Error> {
        let name = job.pod_name(self.release);
        // The pod has run to completion: nothing to shut down gracefully.
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::background()
        };
        let api = self.pods();
        match self.retry.call(|| api.delete(&name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(api_error(e)),
        }
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut stream = watcher::watcher(self.pods(), config)
            .default_backoff()
            .boxed();
        let mut present = true;
        let stall = clock.watch::<()>();
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                why = stall.expired() => return Err(Error::Failed(format!("pod/{name} was not deleted: {why}"))),
            };
            match event {
                Some(Ok(Event::Init)) => present = false,
                Some(Ok(Event::InitApply(_) | Event::Apply(_))) => present = true,
                Some(Ok(Event::Delete(_))) => return Ok(()),
                Some(Ok(Event::InitDone)) if !present => return Ok(()),
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }

    /// Runs a job's pod to completion: creates it unless it exists (a resumed
    /// run waits on the one it started) and waits on a watch for its phase.
    pub async fn run_pod(
        &self,
        job: Job,
        image: &str,
        clock: &Clock,
        interrupt: &Interrupt,
    ) -> Result<(), Error> {
        let name = job.pod_name(self.release);
        let fit = self.pod_fit().await?;
        let body: Pod = serde_json::from_value(pod_body(job, self.release, image, &fit))
            .map_err(|e| Error::Failed(format!("pod spec: {e}")))?;
        let (api, params) = (self.pods(), PostParams::default());
        match self.retry.call(|| api.create(&params, &body)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(api_error(e)),
        }
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut stream = watcher::watcher(self.pods(), config)
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut last = String::from("Pending");
        // Pending (scheduling, pulling) must progress; a Running pod is doing its
        // job, however long the meta takes: only --timeout bounds it.
        let mut stall = clock.watch::<String>();
        let mut failing: Option<String> = None;
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                why = stall.expired() => return Err(match failing {
                    Some(e) => Error::Unavailable(format!("pod/{name}: {e}")),
                    None => Error::Failed(format!("pod/{name} ({}) still {last}: {why}", job.what())),
                }),
                _ = interrupt.wait() => return Err(Error::Interrupted),
            };
            let pod = match next {
                Some(Ok(pod)) => pod,
                Some(Err(e)) => {
                    failing = Some(e.to_string());
                    continue;
                }
                None => return Err(Error::Failed(format!("pod/{name}: watch ended"))),
            };
            failing = None;
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into());
            stall.observe(format!("{phase} {}", failure_message(&pod)));
            stall.hold(phase == "Running");
            match phase.as_str() {
                "Succeeded" => return Ok(()),
                "Failed" => {
                    let why = failure_message(&pod);
                    let logs = self.log_tail(&name).await;
                    return Err(Error::Failed(format!(
                        "pod/{name} ({}) failed: {why}{logs}",
                        job.what()
                    )));
                }
                _ => last = phase,
            }
        }
    }

    /// The last lines of the pod's log, when the API can serve them.
    async fn log_tail(&self, name: &str) -> String {
        let params = LogParams {
            tail_lines: Some(20),
            ..LogParams::default()
        };
        match self.pods().logs(name, &params).await {
            Ok(text) if !text.trim().is_empty() => {
                format!("\n--- log tail ---\n{}", text.trim_end())
            }
            Ok(_) => String::new(),
            Err(_) => format!(
                " (no log available: see `kubectl logs {name} -n {}`)",
                self.namespace
            ),
        }
    }
}

/// The pod's own status message and its container's termination.
pub fn failure_message(pod: &Pod) -> String {
    let Some(status) = &pod.status else {
        return "no status".into();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = status.message.as_ref().filter(|m| !m.is_empty()) {
        parts.push(m.clone());
    }
    for c in status.container_statuses.iter().flatten() {
        if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            let mut what = format!(
                "container {} exited {} ({})",
                c.name,
                t.exit_code,
                t.reason.clone().unwrap_or_default()
            );
            if let Some(m) = t.message.as_ref().filter(|m| !m.is_empty()) {
                what.push_str(&format!(": {m}"));
            }
            parts.push(what);
        }
    }
    let unique: BTreeSet<String> = parts.into_iter().collect();
    if unique.is_empty() {
        "phase Failed".into()
    } else {
        unique.into_iter().collect::<Vec<_>>().join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MetaConfig {
        MetaConfig {
            source: "2.1.4".into(),
            target: "2.2.0".into(),
            endpoints: vec!["rel-etcd:2379".into()],
            root_path: "by-dev".into(),
        }
    }

    #[test]
    fn config_files_have_the_meta_migration_format() {
        let files = config_files(&config());
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["backup.yaml", "migration.yaml", "rollback.yaml"]
        );
        let doc: Value = serde_yaml_ng::from_str(&files["migration.yaml"]).unwrap();
        assert_eq!(
            doc,
            json!({
                "cmd": {"type": "run"},
                "config": {"sourceVersion": "2.1.4", "targetVersion": "2.2.0", "backupFilePath": "/milvus/data/migration.bak"},
                "metastore": {"type": "etcd"},
                "etcd": {"endpoints": ["rel-etcd:2379"], "rootPath": "by-dev", "metaSubPath": "meta", "kvSubPath": "kv"},
            })
        );
        let backup: Value = serde_yaml_ng::from_str(&files["backup.yaml"]).unwrap();
        assert_eq!(backup["cmd"]["type"], "backup");
        let rollback: Value = serde_yaml_ng::from_str(&files["rollback.yaml"]).unwrap();
        assert_eq!(rollback["cmd"]["type"], "rollback");
    }

    #[test]
    fn names_follow_migrate_sh() {
        assert_eq!(Job::Backup.pod_name("r"), "milvus-meta-migration-backup-r");
        assert_eq!(Job::Migrate.pod_name("r"), "milvus-meta-migration-r");
        assert_eq!(
            Job::Rollback.pod_name("r"),
            "milvus-meta-migration-rollback-r"
        );
        assert_eq!(pvc_name("r"), "milvus-meta-migration-backup-r");
        assert_eq!(config_name("r"), "milvus-meta-migration-config-r");
        let pod = pod_body(Job::Migrate, "r", "img:1", &json!({}));
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(
            pod["spec"]["containers"][0]["args"][1],
            "/milvus/bin/meta-migration -config=/milvus/configs/meta/migration.yaml"
        );
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "milvus-meta-migration-backup-r"
        );
        let pvc = pvc_body("r", "5Gi", Some("fast"));
        assert_eq!(pvc["spec"]["storageClassName"], "fast");
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "5Gi");
        assert!(pvc_body("r", "5Gi", None)["spec"]
            .get("storageClassName")
            .is_none());
    }

    #[test]
    fn pods_inherit_placement_and_security_and_carry_small_limits() {
        let milvus_pod = json!({
            "containers": [{"name": "proxy", "image": "milvusdb/milvus:v2.1.4"}],
            "imagePullSecrets": [{"name": "regcred"}],
            "nodeSelector": {"pool": "milvus"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {}},
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "serviceAccountName": "milvus",
            "hostNetwork": true,
        });
        let fit = inherited(&milvus_pod);
        assert_eq!(
            fit.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "affinity",
                "imagePullSecrets",
                "nodeSelector",
                "securityContext",
                "serviceAccountName",
                "tolerations"
            ]
        );
        let pod = pod_body(Job::Backup, "r", "img:1", &fit);
        assert_eq!(pod["spec"]["serviceAccountName"], "milvus");
        assert_eq!(pod["spec"]["nodeSelector"]["pool"], "milvus");
        assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "regcred");
        assert!(pod["spec"].get("hostNetwork").is_none());
        assert!(pod["spec"].get("containers").is_some());
        let resources = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(
            resources["limits"],
            json!({"cpu": "500m", "memory": "512Mi"})
        );
        assert_eq!(
            resources["requests"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        let _: Pod = serde_json::from_value(pod).unwrap();
        assert_eq!(inherited(&json!({"containers": []})), json!({}));
    }

    #[test]
    fn endpoints_flag_then_service_then_external_values() {
        let services = vec![
            EtcdService {
                name: "r-etcd".into(),
                headless: false,
                port: 2379,
            },
            EtcdService {
                name: "r-etcd-headless".into(),
                headless: true,
                port: 2379,
            },
        ];
        let external = Some(vec!["ext:2379".to_string()]);
        let (e, from) = resolve_endpoints(&[], &services, external.clone()).unwrap();
        assert_eq!(
            (e, from.as_str()),
            (vec!["r-etcd:2379".to_string()], "service/r-etcd")
        );
        let (e, _) = resolve_endpoints(&[], &services[1..], external.clone()).unwrap();
        assert_eq!(e, ["ext:2379"]);
        let (e, _) = resolve_endpoints(&["f:1".into()], &services, external).unwrap();
        assert_eq!(e, ["f:1"]);
        assert_eq!(resolve_endpoints(&[], &[], None), None);
        let values = json!({"externalEtcd": {"enabled": true, "endpoints": ["a:2379", "b:2379"]}});
        assert_eq!(
            external_endpoints(&values),
            Some(vec!["a:2379".to_string(), "b:2379".to_string()])
        );
        assert_eq!(
            external_endpoints(&json!({"externalEtcd": {"enabled": false, "endpoints": ["a"]}})),
            None
        );
    }

    #[test]
    fn session_ttl_from_the_config_user_yaml_last() {
        let mut data = BTreeMap::new();
        assert_eq!(session_ttl(&data), None);
        data.insert(
            "milvus.yaml".into(),
            "common:\n  session:\n    ttl: 20\n".into(),
        );
        assert_eq!(session_ttl(&data), Some(Duration::from_secs(20)));
        data.insert(
            "user.yaml".into(),
            "common:\n  session:\n    ttl: \"45\"\n".into(),
        );
        assert_eq!(session_ttl(&data), Some(Duration::from_secs(45)));
    }
}
