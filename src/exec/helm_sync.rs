//! After a rolling upgrade, make the Helm release say what runs, so the next
//! `helm upgrade --reuse-values` cannot bring the old image back. Done only
//! when Helm would render exactly the pod templates that already run (no
//! second rollout); otherwise the exact command is printed with the reason.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use crate::error::Error;
use crate::planner::component::Component;
use crate::planner::facts::Facts;
use crate::planner::plan::Plan;
use crate::planner::warnings;
use crate::world::gather::Context;
use crate::world::helm::write_flags;

/// What became of the sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Sync {
    Done(String),
    /// The command to run by hand, and why it was not run.
    Manual {
        command: String,
        why: String,
    },
    /// Helm's newest revision is not `deployed` after the sync's `helm upgrade`.
    Failed {
        command: String,
        why: String,
    },
}

pub fn sync_args(facts: &Facts, plan: &Plan) -> Option<Vec<String>> {
    let (_, chart_version) = facts.release.chart_name_version();
    let chart_version = chart_version?;
    let index = &facts.index;
    let mut entries: Vec<_> = index
        .charts
        .iter()
        .filter(|c| c.chart_version == chart_version)
        .collect();
    entries.sort_by_key(|c| index.is_archived(&c.repo));
    let entry = entries.first()?;
    // Only the tag: values the release never had would change the rendered
    // config and, through the chart's checksum annotation, restart every pod.
    let args = vec![
        "upgrade".to_string(),
        plan.release.clone(),
        entry.reference(),
        "--version".into(),
        chart_version.to_string(),
        "--reuse-values".into(),
        "--set".into(),
        format!("image.all.tag={}", plan.to.image_tag()),
    ];
    Some(args)
}

/// A sync whose safety is known: `helm upgrade` with these arguments restarts nothing.
pub struct Prepared {
    args: Vec<String>,
    /// The command as printed (with the flags the write gets).
    command: String,
    server_side: bool,
}

/// Everything that can be decided while the last Deployment still rolls: the
/// command, whether Helm already says the tag, and whether Helm would render
/// other pod templates than the ones the rollout leaves. `Err` is the final word.
pub async fn prepare(ctx: &Context, facts: &Facts, plan: &Plan) -> Result<Prepared, Sync> {
    // Printed with `--force-conflicts` where Helm applies server-side: run by hand
    // without it, Helm would refuse the fields the rollout patched.
    let server_side = facts.helm_applies_server_side;
    let flags = write_flags(&ctx.helm.write_args, server_side);
    let Some(args) = sync_args(facts, plan) else {
        let mut command = format!(
            "helm upgrade {} <repo>/milvus --version <chart> --reuse-values --set image.all.tag={}",
            plan.release,
            plan.to.image_tag()
        );
        for f in &flags {
            command.push(' ');
            command.push_str(f);
        }
        return Err(Sync::Manual {
            command,
            why: format!(
                "chart {} is in no configured repository",
                facts.release.chart
            ),
        });
    };
    let printed: Vec<&String> = args.iter().chain(&flags).collect();
    let printed: Vec<&str> = printed.into_iter().map(String::as_str).collect();
    let command = format!("helm {} --namespace {}", printed.join(" "), ctx.namespace);
    // A resumed run whose sync already happened (killed after helm wrote it): no
    // second revision.
    let tag = plan.to.image_tag();
    if let Ok(values) = ctx.helm.values(&plan.release).await {
        if values.image_tag.as_deref() == Some(tag.as_str()) {
            return Err(Sync::Done(format!(
                "helm release already says image.all.tag={tag}"
            )));
        }
    }
    let image = plan
        .hops
        .last()
        .map(|h| h.image.as_str())
        .unwrap_or_default();
    match would_restart(ctx, facts, &args, image).await {
        Ok(None) => Ok(Prepared {
            args,
            command,
            server_side,
        }),
        Ok(Some(why)) => Err(Sync::Manual { command, why }),
        Err(e) => Err(Sync::Manual {
            command,
            why: format!("could not render the chart to check: {e}"),
        }),
    }
}

/// Runs the prepared `helm upgrade`. A failure that left Helm's newest revision
/// other than `deployed` is `Failed`; one that changed nothing leaves the command
/// to run by hand.
pub async fn apply(ctx: &Context, prepared: Prepared, plan: &Plan) -> Sync {
    let args: Vec<&str> = prepared.args.iter().map(String::as_str).collect();
    let why = match ctx
        .helm
        .write(&plan.release, &args, prepared.server_side)
        .await
    {
        Ok(_) => {
            return Sync::Done(format!(
                "helm release now says image.all.tag={} (no pod restarted; config and strategy are the chart's again)",
                plan.to.image_tag()
            ))
        }
        Err(e) => e.to_string(),
    };
    let command = prepared.command;
    match ctx.helm.newest_revision(&plan.release).await {
        Ok(r) if r.status == "deployed" => Sync::Manual { command, why },
        _ => Sync::Failed { command, why },
    }
}

/// `prepare` then `apply`, one after the other.
pub async fn run(ctx: &Context, facts: &Facts, plan: &Plan) -> Sync {
    match prepare(ctx, facts, plan).await {
        Ok(prepared) => apply(ctx, prepared, plan).await,
        Err(sync) => sync,
    }
}

#[derive(Deserialize)]
struct DryRun {
    #[serde(default)]
    manifest: String,
}

/// Renders the upgrade with `--dry-run` and compares each Milvus pod template
/// with the live one as the rollout leaves it (the Milvus container on
/// `image`); `Some(reason)` when Helm would restart pods.
async fn would_restart(
    ctx: &Context,
    facts: &Facts,
    args: &[String],
    image: &str,
) -> Result<Option<String>, Error> {
    let mut dry: Vec<&str> = args.iter().map(String::as_str).collect();
    dry.extend(["--dry-run", "-o", "json"]);
    let out = ctx.helm.run(&dry).await?;
    let parsed: DryRun = serde_json::from_str(&out).map_err(|e| Error::Failed(e.to_string()))?;
    let live: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for (name, rendered) in rendered_deployments(&parsed.manifest) {
        let deployment = live
            .get(&name)
            .await
            .map_err(crate::world::cluster::api_error)?;
        let spec = deployment.spec;
        let mut current = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
        if let Some(w) = facts.workloads.iter().find(|w| w.name == name) {
            set_image(&mut current, &w.container, image);
        }
        if let Some(field) = template_difference(&rendered.template, &current) {
            return Ok(Some(format!(
                "helm would change {field} of deployment/{name}, restarting its pods"
            )));
        }
        let now = spec.replicas.unwrap_or(1);
        if let Some(why) = replicas_change(facts, &name, rendered.replicas, now) {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Where an HPA or a person scaled the Deployment, the sync would stop pods:
/// never done for the user.
fn replicas_change(facts: &Facts, name: &str, rendered: Option<i64>, now: i32) -> Option<String> {
    let scales = warnings::helm_scales(facts, name, rendered, i64::from(now))?;
    Some(format!(
        "{scales}; leave that component's replicas to the HPA in the values, or run it when that is fine"
    ))
}

/// The pod template as it is once `container` runs `image`.
fn set_image(template: &mut Value, container: &str, image: &str) {
    if let Some(containers) = template
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers.iter_mut().filter(|c| c["name"] == container) {
            c["image"] = Value::String(image.to_string());
        }
    }
}

/// What a rendered manifest sets for a Milvus Deployment.
#[derive(Debug, PartialEq)]
struct Rendered {
    template: Value,
    /// None when the chart leaves replicas out (to an HPA).
    replicas: Option<i64>,
}

/// Milvus Deployments in a rendered manifest, by name.
fn rendered_deployments(manifest: &str) -> BTreeMap<String, Rendered> {
    let mut out = BTreeMap::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
        let Ok(value) = Value::deserialize(doc) else {
            continue;
        };
        let milvus = value["metadata"]["labels"]["component"]
            .as_str()
            .and_then(Component::from_label)
            .is_some();
        if value["kind"] == "Deployment" && milvus {
            if let Some(name) = value["metadata"]["name"].as_str() {
                let rendered = Rendered {
                    template: value["spec"]["template"].clone(),
                    replicas: value["spec"]["replicas"].as_i64(),
                };
                out.insert(name.to_string(), rendered);
            }
        }
    }
    out
}

/// The first pod-template field Helm would change: labels, annotations or an image.
fn template_difference(rendered: &Value, live: &Value) -> Option<&'static str> {
    let map = |v: &Value, p: &str| {
        v.pointer(p)
            .cloned()
            .filter(|x| x.as_object().is_some_and(|o| !o.is_empty()))
            .unwrap_or(Value::Null)
    };
    if map(rendered, "/metadata/labels") != map(live, "/metadata/labels") {
        return Some("the pod labels");
    }
    if map(rendered, "/metadata/annotations") != map(live, "/metadata/annotations") {
        return Some("the pod annotations");
    }
    let images = |v: &Value| -> Vec<Value> {
        v.pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| cs.iter().map(|c| c["image"].clone()).collect())
            .unwrap_or_default()
    };
    (images(rendered) != images(live)).then_some("a container image")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_milvus_deployments_in_a_manifest() {
        let manifest = "---\nkind: Deployment\nmetadata:\n  name: r-milvus-proxy\n  labels:\n    component: proxy\nspec:\n  template:\n    spec:\n      containers:\n      - name: proxy\n        image: milvusdb/milvus:v2.4.9\n---\nkind: Deployment\nmetadata:\n  name: r-milvus-attu\n  labels:\n    component: attu\n---\nkind: Service\nmetadata:\n  name: x\n";
        let t = rendered_deployments(manifest);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["r-milvus-proxy"]);
        assert_eq!(t["r-milvus-proxy"].replicas, None);
        let scaled = manifest.replace("spec:\n  template", "spec:\n  replicas: 1\n  template");
        assert_eq!(
            rendered_deployments(&scaled)["r-milvus-proxy"].replicas,
            Some(1)
        );
    }

    #[test]
    fn a_checksum_change_is_a_restart() {
        let live = json!({"metadata": {"labels": {"a": "b"}, "annotations": {"checksum/config": "1"}}, "spec": {"containers": [{"image": "m:v2.4.9"}]}});
        let mut rendered = live.clone();
        assert_eq!(template_difference(&rendered, &live), None);
        rendered["metadata"]["annotations"]["checksum/config"] = json!("2");
        assert_eq!(
            template_difference(&rendered, &live),
            Some("the pod annotations")
        );
    }
}
