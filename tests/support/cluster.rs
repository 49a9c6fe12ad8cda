//! Cluster policy a test puts in the way, as production clusters have it: ResourceQuotas
//! and LimitRanges (the ResourceQuota and LimitRanger admission plugins and the
//! resourcequota controller are on), StorageClasses, HorizontalPodAutoscalers (the
//! horizontalpodautoscaling controller runs; there are no metrics, so it only keeps
//! replicas within min..max); and server-side dry runs, which go through the same admission.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, PersistentVolumeClaim, Pod, ResourceQuota, Secret, ServiceAccount,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use super::ns::unique_name;
use super::wait::wait_objects;
use super::{block_on, client, env, User, TIMEOUT};

const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// A namespaced Kubernetes object type that [`create`] and [`dry_run_create`] take.
pub trait NamespacedObject:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
}

// The object types tests create so far; add a line for another.
impl NamespacedObject for ConfigMap {}
impl NamespacedObject for Deployment {}
impl NamespacedObject for HorizontalPodAutoscaler {}
impl NamespacedObject for LimitRange {}
impl NamespacedObject for PersistentVolumeClaim {}
impl NamespacedObject for Pod {}
impl NamespacedObject for ResourceQuota {}
impl NamespacedObject for Secret {}
impl NamespacedObject for ServiceAccount {}

/// Creates `obj` in `ns` as `user`.
pub fn create<K: NamespacedObject>(user: User, ns: &str, obj: &K) -> kube::Result<K> {
    post(user, ns, obj, false)
}

/// Creates `obj` in `ns` as `user` with `?dryRun=All`: admission (quotas, LimitRanges,
/// ServiceAccounts) answers, nothing is stored.
pub fn dry_run_create<K: NamespacedObject>(user: User, ns: &str, obj: &K) -> kube::Result<K> {
    post(user, ns, obj, true)
}

fn post<K: NamespacedObject>(user: User, ns: &str, obj: &K, dry_run: bool) -> kube::Result<K> {
    let api: Api<K> = Api::namespaced(client(user), ns);
    let obj = obj.clone();
    let params = PostParams {
        dry_run,
        ..PostParams::default()
    };
    block_on(async move { api.create(&params, &obj).await })
}

/// Creates ResourceQuota `name` in `ns` with `hard` limits (e.g. `("pods", "3")`,
/// `("persistentvolumeclaims", "0")`, `("requests.cpu", "1")`) and waits until the
/// resourcequota controller has computed its status: only then does admission enforce it
/// (before, it refuses everything it covers with "status unknown for quota").
pub fn create_resource_quota(ns: &str, name: &str, hard: &[(&str, &str)]) -> ResourceQuota {
    let hard: serde_json::Map<String, Value> = hard
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let quota: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"hard": hard}}))
            .expect("quota");
    let api: Api<ResourceQuota> = Api::namespaced(client(User::Admin), ns);
    block_on({
        let api = api.clone();
        async move { api.create(&PostParams::default(), &quota).await }
    })
    .unwrap_or_else(|e| panic!("create ResourceQuota {name}: {e}"));
    let keys: Vec<String> = hard.keys().cloned().collect();
    let name_owned = name.to_string();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut quotas = wait_objects(
        api,
        config,
        TIMEOUT,
        move |qs| {
            qs.get(&name_owned).is_some_and(|q| {
                let status_hard = q.status.as_ref().and_then(|s| s.hard.as_ref());
                status_hard.is_some_and(|h| keys.iter().all(|k| h.contains_key(k)))
            })
        },
        |q| format!("{} (status {:?})", q.name_any(), q.status),
    );
    quotas.remove(name).expect("the quota")
}

/// Creates LimitRange `name` in `ns` with these `spec.limits` items, e.g.
/// `json!([{"type": "Container", "max": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}}])`.
pub fn create_limit_range(ns: &str, name: &str, limits: Value) -> LimitRange {
    let range: LimitRange =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"limits": limits}}))
            .expect("limit range");
    let api: Api<LimitRange> = Api::namespaced(client(User::Admin), ns);
    block_on(async move { api.create(&PostParams::default(), &range).await })
        .unwrap_or_else(|e| panic!("create LimitRange {name}: {e}"))
}

/// Creates a HorizontalPodAutoscaler (autoscaling/v1, 50% CPU) named `name` for Deployment
/// `deployment`, as `kubectl autoscale` does. The controller keeps the Deployment's
/// replicas within `min..=max` (and leaves a Deployment scaled to 0 alone).
pub fn create_hpa(
    ns: &str,
    name: &str,
    deployment: &str,
    min: i32,
    max: i32,
) -> HorizontalPodAutoscaler {
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": min, "maxReplicas": max, "targetCPUUtilizationPercentage": 50,
        },
    }))
    .expect("hpa");
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client(User::Admin), ns);
    block_on(async move { api.create(&PostParams::default(), &hpa).await })
        .unwrap_or_else(|e| panic!("create HorizontalPodAutoscaler {name}: {e}"))
}

/// (minReplicas, maxReplicas, target Deployment) of HPA `name` in `ns`.
pub fn hpa_spec(ns: &str, name: &str) -> (Option<i32>, i32, String) {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client(User::Admin), ns);
    let name = name.to_string();
    let hpa = block_on(async move { api.get(&name).await }).unwrap_or_else(|e| panic!("{e}"));
    let s = hpa.spec;
    (s.min_replicas, s.max_replicas, s.scale_target_ref.name)
}

/// Writes to a `scale` subresource in `ns` since `mark` ("verb name"): how the HPA
/// controller sets replicas, e.g. correcting a count someone else set.
pub fn scale_writes(mark: &super::audit::Mark, ns: &str) -> Vec<String> {
    let events = mark.events().in_namespace(ns);
    let scales = events.filter(|e| e.subresource == "scale" && e.is_write());
    scales
        .iter()
        .map(|e| format!("{} {}", e.verb, e.name))
        .collect()
}

/// Waits until pods running as ServiceAccount `sa` in `ns` are admitted: the token
/// controller has made its token (ServiceAccount admission refuses pods before, "no API
/// token found for service account"), proven by a dry-run pod create.
pub fn wait_service_account(ns: &str, sa: &str) {
    let api: Api<ServiceAccount> = Api::namespaced(client(User::Admin), ns);
    let sa_owned = sa.to_string();
    wait_objects(
        api,
        watcher::Config::default().fields(&format!("metadata.name={sa}")),
        TIMEOUT,
        move |sas| {
            sas.get(&sa_owned)
                .is_some_and(|s| s.secrets.as_ref().is_some_and(|v| !v.is_empty()))
        },
        |s| format!("{} (secrets {:?})", s.name_any(), s.secrets),
    );
    // The apiserver's admission reads the token from its informer cache, which can lag
    // the watch above by a moment.
    let probe: Pod = serde_json::from_value(json!({
        "metadata": {"name": "service-account-probe"},
        "spec": {"serviceAccountName": sa, "containers": [{"name": "probe", "image": "probe"}]},
    }))
    .expect("probe pod");
    let start = std::time::Instant::now();
    loop {
        match dry_run_create(User::Admin, ns, &probe) {
            Ok(_) => return,
            Err(e) if start.elapsed() < TIMEOUT => {
                eprintln!("waiting for ServiceAccount {ns}/{sa}: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("ServiceAccount {ns}/{sa} not usable after {TIMEOUT:?}: {e}"),
        }
    }
}

/// The name of the testenv's default StorageClass (`standard`, no provisioner: claims
/// stay Pending, which nothing here minds).
pub fn default_storage_class() -> &'static str {
    env().var("DEFAULT_STORAGE_CLASS")
}

/// A StorageClass of this test (unique name, not the default), deleted when dropped.
pub struct TestStorageClass {
    name: String,
}

impl TestStorageClass {
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix);
        let class = storage_class(&name, false);
        let api: Api<StorageClass> = Api::all(client(User::Admin));
        block_on(async move { api.create(&PostParams::default(), &class).await })
            .unwrap_or_else(|e| panic!("create StorageClass: {e}"));
        TestStorageClass { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestStorageClass {
    fn drop(&mut self) {
        let api: Api<StorageClass> = Api::all(client(User::Admin));
        let name = self.name.clone();
        let _ = block_on(async move { api.delete(&name, &DeleteParams::default()).await });
    }
}

fn storage_class(name: &str, default: bool) -> StorageClass {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: default.to_string()}},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer",
    }))
    .expect("storage class")
}

/// Runs `f` on a cluster without a default StorageClass (the default one is unmarked, and
/// marked again afterwards, even if `f` panics). The class is cluster-wide: tests of one
/// test binary that run meanwhile see no default either, so put such tests in a test file
/// whose other tests create no PVC without a storageClassName (test binaries run one at a
/// time; calls within a binary are serialized).
pub fn without_default_storage_class<R>(f: impl FnOnce() -> R) -> R {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _lock = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            mark_default(true);
        }
    }
    mark_default(false);
    let _restore = Restore;
    f()
}

/// Marks the testenv's StorageClass default or not, and returns once admission acts on
/// it (its StorageClass cache lags the write): a dry-run claim in namespace `default`
/// gets the class, or none.
fn mark_default(default: bool) {
    let api: Api<StorageClass> = Api::all(client(User::Admin));
    let name = default_storage_class().to_string();
    let patch =
        json!({"metadata": {"annotations": {DEFAULT_CLASS_ANNOTATION: default.to_string()}}});
    block_on(async move {
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
    })
    .unwrap_or_else(|e| panic!("mark StorageClass default={default}: {e}"));
    let want = default.then(|| default_storage_class().to_string());
    let probe: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "default-storage-class-probe"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .expect("probe claim");
    let start = std::time::Instant::now();
    loop {
        let claim = dry_run_create(User::Admin, "default", &probe)
            .unwrap_or_else(|e| panic!("dry-run claim: {e}"));
        if claim.spec.and_then(|s| s.storage_class_name) == want {
            return;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "admission still assigns the old default StorageClass after {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The namespaced object `name` in `ns` (as admin), if it exists.
pub fn get_opt<K>(ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api: kube::Api<K> = kube::Api::namespaced(super::client(super::User::Admin), ns);
    let name = name.to_string();
    super::block_on(async move { api.get_opt(&name).await }).expect("get")
}
