//! Proves the writes before the first one: every object a run will create is
//! submitted as a server-side dry run (`dryRun=All`), so ResourceQuotas,
//! LimitRanges and admission webhooks answer while nothing has changed yet.
//! The answers are plain data for the pre-flight rules (`planner::preflight`).

use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::{Api, Client};
use serde_json::Value;

use crate::error::Error;
use crate::exec::lock;
use crate::exec::migrate::objects::{self, Job, Objects};
use crate::exec::run::Settings;
use crate::exec::state::{self, Progress};
use crate::planner::plan::{Path, Plan};
use crate::planner::preflight::{Admission, Probes, Storage};
use crate::world::cluster::{self, api_error};

/// The objects this plan creates, in the order a run creates them.
pub async fn planned_objects(
    client: &Client,
    namespace: &str,
    plan: &Plan,
    settings: &Settings,
) -> Result<Vec<Value>, Error> {
    let release = plan.release.as_str();
    let lease = lock::lease(&lock::lock_name(release), release, &lock::identity(), None);
    let progress = Progress {
        schema: state::SCHEMA.into(),
        release: release.into(),
        from: plan.from.to_string(),
        to: plan.to.to_string(),
        hops: Vec::new(),
        deployments: Default::default(),
        updated_at: state::now_rfc3339(),
        layout: Some(plan.layout),
    };
    let mut out = vec![
        serde_json::to_value(&lease).unwrap_or_default(),
        state::body(&progress),
    ];
    if plan.paths().contains(&Path::Migrate) {
        let m = &settings.migration;
        out.push(objects::pvc_body(
            release,
            &m.backup_size,
            m.storage_class.as_deref(),
        ));
        out.push(objects::config_body(release, &Default::default()));
        let fit = Objects {
            client,
            namespace,
            release,
            retry: crate::world::retry::Retry::none(),
        }
        .pod_fit()
        .await?;
        for job in [Job::Backup, Job::Migrate, Job::Rollback] {
            out.push(objects::pod_body(job, release, &m.migration_image, &fit));
        }
    }
    Ok(out)
}

/// Submits each object as a dry run; an object that exists already answers 409
/// (a resumed run reuses it).
pub async fn dry_run(
    client: &Client,
    namespace: &str,
    bodies: &[Value],
) -> Result<Vec<Admission>, Error> {
    let mut out = Vec::new();
    for body in bodies {
        let kind = body["kind"].as_str().unwrap_or_default();
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        let resource = api_resource(body);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let object: DynamicObject = serde_json::from_value(body.clone())
            .map_err(|e| Error::Failed(format!("{kind} spec: {e}")))?;
        let params = PostParams {
            dry_run: true,
            field_manager: Some(state::FIELD_MANAGER.into()),
        };
        let (exists, refused) = match api.create(&params, &object).await {
            Ok(_) => (false, None),
            Err(kube::Error::Api(s)) if s.code == 409 => (true, None),
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 || s.code == 400 => {
                (false, Some(s.message.clone()))
            }
            Err(e) => return Err(api_error(e)),
        };
        out.push(Admission {
            object: format!("{}/{name}", kind.to_ascii_lowercase()),
            exists,
            refused,
        });
    }
    Ok(out)
}

fn api_resource(body: &Value) -> ApiResource {
    let api_version = body["apiVersion"].as_str().unwrap_or("v1");
    let kind = body["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "PersistentVolumeClaim" => "persistentvolumeclaims".to_string(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural,
    }
}

/// The dry runs and the StorageClass check's facts. `permitted`: the caller may
/// create these objects at all (else the dry runs would only say 403 again).
pub async fn probe(
    client: &Client,
    namespace: &str,
    plan: &Plan,
    settings: &Settings,
    permitted: bool,
) -> Result<Probes, Error> {
    if !permitted {
        return Ok(Probes::default());
    }
    let bodies = planned_objects(client, namespace, plan, settings).await?;
    let admission = dry_run(client, namespace, &bodies).await?;
    let storage = if plan.paths().contains(&Path::Migrate) {
        Some(Storage {
            requested: settings.migration.storage_class.clone(),
            classes: cluster::storage_classes(client).await?,
            pvc_exists: admission
                .iter()
                .any(|a| a.exists && a.object.starts_with("persistentvolumeclaim/")),
        })
    } else {
        None
    };
    Ok(Probes {
        admission: Some(admission),
        storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_of_the_created_kinds() {
        let lease = api_resource(&json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}));
        assert_eq!(
            (
                lease.group.as_str(),
                lease.version.as_str(),
                lease.plural.as_str()
            ),
            ("coordination.k8s.io", "v1", "leases")
        );
        let pvc = api_resource(&json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim"}));
        assert_eq!(
            (pvc.group.as_str(), pvc.plural.as_str()),
            ("", "persistentvolumeclaims")
        );
        assert_eq!(
            api_resource(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).plural,
            "configmaps"
        );
        assert_eq!(
            api_resource(&json!({"apiVersion": "v1", "kind": "Pod"})).plural,
            "pods"
        );
    }
}
