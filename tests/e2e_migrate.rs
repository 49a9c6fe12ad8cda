//! The meta migration path (2.1.x → 2.2+) on a real cluster: objects named after the
//! release, replicas restored by component, the Helm release on the target chart,
//! resume after kill -9 past the scale-down, rollback of a failing migration pod, an
//! HPA on a Milvus Deployment (paused at 0 replicas, left as it was).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::Api;
use serde_json::Value;
use support::{
    audit, block_on, client, fullname, helm_cmd, install_release, release_deployments, run_plugin,
    Helm, TestNs, User, PLUGIN_USER_AGENT,
};

const OLD_CHART: &str = "3.2.18";
const OLD_IMAGE: &str = "milvusdb/milvus:v2.1.4";
const MIGRATION_IMAGE: &str = "milvusdb/meta-migration:v2.2.0";
const SETS: [(&str, &str); 3] = [
    ("proxy.replicas", "2"),
    ("queryNode.replicas", "3"),
    ("attu.enabled", "true"),
];

fn migrate_args<'a>(release: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        release,
        "--to",
        to,
        "--yes",
        "--session-wait",
        "0s",
        "--timeout",
        "120s",
    ]
}

/// component → (replicas, image) of the release's Deployments, attu included.
fn layout(ns: &TestNs, release: &str) -> BTreeMap<String, (i32, String)> {
    release_deployments(ns.name(), release)
        .into_iter()
        .map(|(name, d)| {
            assert!(support::deployment_complete(&d), "{name} not complete");
            let component = d.metadata.labels.as_ref().unwrap()["component"].clone();
            let image = support::first_image(&d).unwrap();
            (component, (d.spec.replicas.unwrap_or(1), image))
        })
        .collect()
}

fn expect_layout(ns: &TestNs, release: &str, components: &[&str], image: &str) {
    let got = layout(ns, release);
    let mut want: BTreeMap<String, (i32, String)> = components
        .iter()
        .map(|c| {
            let replicas = match *c {
                "proxy" => 2,
                "querynode" => 3,
                "datanode" => 2,
                _ => 1,
            };
            (c.to_string(), (replicas, image.to_string()))
        })
        .collect();
    want.insert("attu".into(), (1, "zilliz/attu:v2.4.7".into()));
    assert_eq!(got, want);
}

/// The release with proxy 2 and querynode 3 replicas from values, and datanode
/// scaled to 2 by hand (as `kubectl scale` would): a count the chart does not know.
fn install(helm: Helm, ns: &TestNs, release: &str) {
    install_release(helm, ns, release, OLD_CHART, &SETS);
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = api(ns);
    let name = format!("{}-datanode", fullname(release));
    block_on(async move {
        deployments
            .patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
            )
            .await
    })
    .unwrap();
    support::wait_release_available(ns.name(), release, support::TIMEOUT);
}

const SEPARATE: [&str; 8] = [
    "rootcoord",
    "datacoord",
    "querycoord",
    "indexcoord",
    "querynode",
    "datanode",
    "indexnode",
    "proxy",
];
const MIXCOORD: [&str; 5] = ["mixcoord", "querynode", "datanode", "indexnode", "proxy"];

fn api<K>(ns: &TestNs) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    Api::namespaced(client(User::Admin), ns.name())
}

fn pod_names(ns: &TestNs) -> Vec<String> {
    let pods: Api<Pod> = api(ns);
    block_on(async move { pods.list(&Default::default()).await })
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .filter(|n| n.starts_with("milvus-meta-migration"))
        .collect()
}

fn helm_json(helm: Helm, ns: &TestNs, args: &[&str]) -> Value {
    let out = helm_cmd(helm, ns, args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The release is on `chart` and its values say tag v`to`.
fn assert_helm_describes(helm: Helm, ns: &TestNs, release: &str, chart: &str, to: &str) {
    let list = helm_json(helm, ns, &["list", "-o", "json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == release)
        .unwrap();
    assert_eq!(row["chart"], format!("milvus-{chart}"));
    assert_eq!(row["app_version"], to);
    assert_eq!(row["status"], "deployed");
    let values = helm_json(helm, ns, &["get", "values", release, "--all", "-o", "json"]);
    assert_eq!(values["image"]["all"]["tag"], format!("v{to}"));
}

fn migrates(helm: Helm, release: &str, to: &str, chart: &str, after: &[&str]) {
    let ns = TestNs::new(&format!("mig-{}", helm.name()));
    install(helm, &ns, release);
    expect_layout(&ns, release, &SEPARATE, OLD_IMAGE);
    let mark = audit::mark();
    let child = support::plugin_cmd(helm, &ns)
        .args(migrate_args(release, to))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The pods are removed at the end: look at them while they run.
    let pods: Vec<Pod> = ["milvus-meta-migration-backup-", "milvus-meta-migration-"]
        .iter()
        .map(|prefix| {
            support::wait_pod(
                ns.name(),
                &format!("{prefix}{release}"),
                Duration::from_secs(120),
                |p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"),
            )
        })
        .collect();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    for (pod, file) in pods.iter().zip(["backup.yaml", "migration.yaml"]) {
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some(MIGRATION_IMAGE));
        assert_eq!(
            c.args.as_ref().unwrap()[1],
            format!("/milvus/bin/meta-migration -config=/milvus/configs/meta/{file}")
        );
        let volumes = spec.volumes.as_ref().unwrap();
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            format!("milvus-meta-migration-backup-{release}")
        );
        assert_eq!(
            volumes[1].config_map.as_ref().unwrap().name,
            format!("milvus-meta-migration-config-{release}")
        );
    }
    // The config, from the API.
    let cms: Api<ConfigMap> = api(&ns);
    let name = format!("milvus-meta-migration-config-{release}");
    let cm = block_on(async move { cms.get(&name).await }).unwrap();
    let data = cm.data.unwrap();
    for (file, cmd) in [
        ("backup.yaml", "backup"),
        ("migration.yaml", "run"),
        ("rollback.yaml", "rollback"),
    ] {
        let doc: Value = serde_yaml_ng::from_str(&data[file]).unwrap();
        assert_eq!(doc["cmd"]["type"], cmd);
        assert_eq!(doc["config"]["sourceVersion"], "2.1.4");
        assert_eq!(doc["config"]["targetVersion"], to);
        assert_eq!(
            doc["config"]["backupFilePath"],
            "/milvus/data/migration.bak"
        );
        assert_eq!(doc["etcd"]["endpoints"][0], format!("{release}-etcd:2379"));
        assert_eq!(doc["etcd"]["rootPath"], "by-dev");
        assert_eq!(doc["etcd"]["metaSubPath"], "meta");
        assert_eq!(doc["etcd"]["kvSubPath"], "kv");
    }
    assert_eq!(cm.metadata.annotations.unwrap()["backup"], "succeed");
    let pvcs: Api<PersistentVolumeClaim> = api(&ns);
    let name = format!("milvus-meta-migration-backup-{release}");
    let pvc = block_on(async move { pvcs.get(&name).await }).unwrap();
    let size = &pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"];
    assert_eq!(size.0, "10Gi");
    // What the plugin wrote, from the audit log.
    let writes = mark
        .events()
        .in_namespace(ns.name())
        .by_user_agent(PLUGIN_USER_AGENT)
        .writes();
    let did = |verb: &str, resource: &str, name: &str| {
        writes
            .iter()
            .any(|e| e.verb == verb && e.resource == resource && e.name == name)
    };
    for pod in [
        format!("milvus-meta-migration-backup-{release}"),
        format!("milvus-meta-migration-{release}"),
    ] {
        assert!(did("create", "pods", &pod), "no create of {pod}");
        assert!(did("delete", "pods", &pod), "no delete of {pod}");
    }
    assert!(did(
        "create",
        "persistentvolumeclaims",
        &format!("milvus-meta-migration-backup-{release}")
    ));
    assert!(did(
        "patch",
        "configmaps",
        &format!("milvus-meta-migration-config-{release}")
    ));
    let attu = format!("{}-attu", fullname(release));
    assert!(
        !writes.iter().any(|e| e.name == attu),
        "attu was written: {:?}",
        writes.iter().filter(|e| e.name == attu).collect::<Vec<_>>()
    );
    let scaled: Vec<&str> = writes
        .iter()
        .filter(|e| e.verb == "patch" && e.resource == "deployments")
        .map(|e| e.name.as_str())
        .collect();
    for c in SEPARATE {
        let d = format!("{}-{c}", fullname(release));
        assert!(scaled.contains(&d.as_str()), "{d} not scaled: {scaled:?}");
    }
    // The new version runs with the recorded replicas, Helm says so, pods gone.
    let image = format!("milvusdb/milvus:v{to}");
    expect_layout(&ns, release, after, &image);
    assert_helm_describes(helm, &ns, release, chart, to);
    assert_eq!(pod_names(&ns), Vec::<String>::new());
    let status = run_plugin(helm, &ns, &["status", release, "-o", "json"]);
    let s: Value = status.json();
    assert_eq!(s["running"], to);
    assert_eq!(s["upgrade"], Value::Null);
}

#[test]
fn migrates_2_1_4_to_2_2_0_helm3() {
    migrates(Helm::V3, "mig", "2.2.0", "3.3.6", &SEPARATE);
}

#[test]
fn migrates_2_1_4_to_2_4_9_onto_mixcoord_helm4() {
    migrates(Helm::V4, "milvus-m4", "2.4.9", "4.2.8", &MIXCOORD);
}

#[test]
fn killed_after_scale_down_resumes_with_the_recorded_replicas() {
    let helm = Helm::V3;
    let ns = TestNs::new("mig-kill");
    install(helm, &ns, "mk");
    let mark = audit::mark();
    let mut child = support::spawn_plugin(helm, &ns, &migrate_args("mk", "2.2.0"));
    let ns_name = ns.name().to_string();
    mark.wait_for(Duration::from_secs(60), move |e| {
        e.clone()
            .in_namespace(&ns_name)
            .by_user_agent(PLUGIN_USER_AGENT)
            .verb("patch")
            .resource("deployments")
            .len()
            >= SEPARATE.len()
    });
    child.kill().unwrap();
    let _ = child.wait();
    // Killed with everything at 0 replicas.
    let now = layout_replicas(&ns, "mk");
    assert!(
        now.iter()
            .filter(|(c, _)| *c != "attu")
            .all(|(_, r)| *r == 0),
        "{now:?}"
    );
    let out = run_plugin(helm, &ns, &migrate_args("mk", "2.2.0"));
    out.assert_code(0);
    out.assert_stderr_has(&["resuming"]);
    expect_layout(&ns, "mk", &SEPARATE, "milvusdb/milvus:v2.2.0");
    assert_helm_describes(helm, &ns, "mk", "3.3.6", "2.2.0");
}

fn layout_replicas(ns: &TestNs, release: &str) -> BTreeMap<String, i32> {
    release_deployments(ns.name(), release)
        .into_values()
        .map(|d| {
            (
                d.metadata.labels.as_ref().unwrap()["component"].clone(),
                d.spec.replicas.unwrap_or(1),
            )
        })
        .collect()
}

#[test]
fn a_failing_migration_pod_is_rolled_back() {
    let helm = Helm::V3;
    let ns = TestNs::new("mig-fail");
    install(helm, &ns, "mf");
    let mut args = migrate_args("mf", "2.2.0");
    args.extend(["--migration-image", "milvusdb/meta-migration:v2.2.0-fail"]);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(8);
    out.assert_stderr_has(&[
        "rolled back",
        "milvus-meta-migration-backup-mf",
        "marked to fail",
    ]);
    expect_layout(&ns, "mf", &SEPARATE, OLD_IMAGE);
    assert_helm_describes(helm, &ns, "mf", OLD_CHART, "2.1.4");
    assert_eq!(pod_names(&ns), Vec::<String>::new());
    let status = run_plugin(helm, &ns, &["status", "mf", "-o", "json"]);
    assert_eq!(status.json()["upgrade"], Value::Null);
}

#[test]
fn rollback_command_undoes_a_failure_left_by_no_rollback() {
    let helm = Helm::V4;
    let ns = TestNs::new("mig-rb");
    let nothing = run_plugin(helm, &ns, &["rollback", "mr"]);
    nothing.assert_code(0);
    nothing.assert_stdout_has(&["Nothing to roll back"]);
    install(helm, &ns, "mr");
    let mut args = migrate_args("mr", "2.2.0");
    args.extend([
        "--migration-image",
        "milvusdb/meta-migration:v2.2.0-fail",
        "--no-rollback",
    ]);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(9);
    let stopped = layout_replicas(&ns, "mr");
    assert!(stopped
        .iter()
        .filter(|(c, _)| *c != "attu")
        .all(|(_, r)| *r == 0));
    let out = run_plugin(
        helm,
        &ns,
        &[
            "rollback",
            "mr",
            "--session-wait",
            "0s",
            "--timeout",
            "120s",
        ],
    );
    out.assert_code(0);
    out.assert_stdout_has(&["Rolled back"]);
    expect_layout(&ns, "mr", &SEPARATE, OLD_IMAGE);
    support::assert_release_deployed(helm, &ns, "mr");
    let again = run_plugin(helm, &ns, &["rollback", "mr"]);
    again.assert_stdout_has(&["Nothing to roll back"]);
}

/// A helm that hangs after `upgrade` (having upgraded), so the run can be killed
/// between the chart upgrade and the replica restore.
fn hanging_helm(
    dir: &std::path::Path,
    real: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let marker = dir.join("upgraded");
    let wrapper = dir.join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\"{}\" \"$@\" || exit $?\nif [ \"$1\" = upgrade ]; then echo $$ > \"{}.tmp\"; mv \"{}.tmp\" \"{}\"; exec sleep 600; fi\n",
            real.display(),
            marker.display(),
            marker.display(),
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, marker)
}

#[test]
fn killed_after_the_chart_upgrade_finishes_with_the_recorded_replicas() {
    let helm = Helm::V3;
    let ns = TestNs::new("mig-kill-helm");
    install(helm, &ns, "mh");
    let dir = tempfile::tempdir().unwrap();
    let (wrapper, marker) = hanging_helm(dir.path(), &helm.bin());
    let mut child = support::plugin_cmd(helm, &ns)
        .env("HELM_BIN", &wrapper)
        .args(migrate_args("mh", "2.2.0"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "helm upgrade never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let pid = std::fs::read_to_string(&marker).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status();
    // Helm set the chart's count; the recorded one comes back on the next run.
    assert_eq!(layout_replicas(&ns, "mh")["datanode"], 1);
    let out = run_plugin(helm, &ns, &migrate_args("mh", "2.2.0"));
    out.assert_code(0);
    out.assert_stderr_has(&["resuming at stage 'start'"]);
    expect_layout(&ns, "mh", &SEPARATE, "milvusdb/milvus:v2.2.0");
    assert_helm_describes(helm, &ns, "mh", "3.3.6", "2.2.0");
    assert_eq!(pod_names(&ns), Vec::<String>::new());
    let status = run_plugin(helm, &ns, &["status", "mh", "-o", "json"]);
    assert_eq!(status.json()["upgrade"], Value::Null);
}

#[test]
fn a_target_that_never_comes_up_is_rolled_back_to_the_old_chart_and_meta() {
    let helm = Helm::V4;
    let ns = TestNs::new("mig-broken");
    install(helm, &ns, "mb");
    let mark = audit::mark();
    let mut args = migrate_args("mb", "2.2.0");
    args.truncate(args.len() - 2);
    args.extend(["--image", "milvusdb/milvus-broken", "--timeout", "20s"]);
    let out = run_plugin(helm, &ns, &args);
    out.assert_code(8);
    out.assert_stderr_has(&[
        "stage 'start'",
        "CrashLoopBackOff",
        "restored the meta from the backup",
        "helm rollback to revision 1",
    ]);
    let writes = mark
        .events()
        .in_namespace(ns.name())
        .by_user_agent(PLUGIN_USER_AGENT)
        .writes();
    let rollback_pod = "milvus-meta-migration-rollback-mb";
    assert!(writes
        .iter()
        .any(|e| e.verb == "create" && e.resource == "pods" && e.name == rollback_pod));
    expect_layout(&ns, "mb", &SEPARATE, OLD_IMAGE);
    assert_helm_describes(helm, &ns, "mb", OLD_CHART, "2.1.4");
    assert_eq!(pod_names(&ns), Vec::<String>::new());
    let status = run_plugin(helm, &ns, &["status", "mb", "-o", "json"]);
    assert_eq!(status.json()["upgrade"], Value::Null);
}

/// SIGKILL as soon as the plugin creates pod `pod`, then the same command again.
fn killed_once_pod_created(release: &str, pod: &str) {
    let helm = Helm::V3;
    let ns = TestNs::new("mig-kill-pod");
    install(helm, &ns, release);
    let mark = audit::mark();
    let mut child = support::plugin_cmd(helm, &ns)
        .args(migrate_args(release, "2.2.0"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (ns_name, pod_name) = (ns.name().to_string(), pod.to_string());
    mark.wait_for(Duration::from_secs(60), move |e| {
        !e.clone()
            .in_namespace(&ns_name)
            .by_user_agent(PLUGIN_USER_AGENT)
            .verb("create")
            .resource("pods")
            .named(&pod_name)
            .is_empty()
    });
    child.kill().unwrap();
    let _ = child.wait();
    let out = run_plugin(helm, &ns, &migrate_args(release, "2.2.0"));
    out.assert_code(0);
    expect_layout(&ns, release, &SEPARATE, "milvusdb/milvus:v2.2.0");
    assert_helm_describes(helm, &ns, release, "3.3.6", "2.2.0");
}

#[test]
fn killed_during_backup_resumes() {
    killed_once_pod_created("mb", "milvus-meta-migration-backup-mb");
}

#[test]
fn killed_during_migrate_resumes() {
    killed_once_pod_created("mm", "milvus-meta-migration-mm");
}

/// 2.1.4 → 2.6.1: the meta migration lands on 2.5.16 with mixcoord, then the helm hop to 2.6.
#[test]
fn migrates_2_1_4_through_2_5_16_to_2_6() {
    let helm = Helm::V3;
    let ns = TestNs::new("mig26");
    install(helm, &ns, "m26");
    let out = run_plugin(helm, &ns, &migrate_args("m26", "2.6.1"));
    out.assert_code(0);
    let components: Vec<String> = layout(&ns, "m26").into_keys().collect();
    assert_eq!(
        components,
        [
            "attu",
            "datanode",
            "mixcoord",
            "proxy",
            "querynode",
            "streamingnode"
        ]
    );
    assert!(layout(&ns, "m26")
        .iter()
        .filter(|(c, _)| *c != "attu")
        .all(|(_, (_, image))| image == "milvusdb/milvus:v2.6.1"));
    assert_helm_describes(helm, &ns, "m26", "5.0.2", "2.6.1");
}

/// An HPA made by hand for the querynode (the 3.x charts of 2.1.x have no hpa values).
fn an_hpa_pauses_while_stopped_and_is_left_as_it_was(helm: Helm) {
    let ns = TestNs::new(&format!("mig-hpa-{}", helm.name()));
    install(helm, &ns, "mh");
    let querynode = format!("{}-querynode", fullname("mh"));
    support::create_hpa(ns.name(), "mh-querynode", &querynode, 2, 5);
    let spec = (Some(2), 5, querynode.clone());
    let dry = run_plugin(
        helm,
        &ns,
        &["mh", "--to", "2.2.0", "--dry-run", "-o", "json"],
    );
    dry.assert_code(0);
    let checks = dry.json()["checks"].as_array().cloned().unwrap();
    let check = checks
        .iter()
        .find(|c| c["name"] == "autoscalers leave Milvus stopped")
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(check["ok"], true, "{check}");
    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &migrate_args("mh", "2.2.0"));
    out.assert_code(0);
    // Every Deployment at its recorded replicas (querynode 3, inside the HPA's 2..5).
    expect_layout(&ns, "mh", &SEPARATE, "milvusdb/milvus:v2.2.0");
    assert_eq!(support::hpa_spec(ns.name(), "mh-querynode"), spec);
    // The HPA never had to correct a count: it paused at 0 and found 3 back.
    assert_eq!(
        support::scale_writes(&mark, ns.name()),
        Vec::<String>::new()
    );
    let writes = mark.events().in_namespace(ns.name()).writes();
    let plugin = writes.by_user_agent(PLUGIN_USER_AGENT);
    let hpa_writes = plugin.filter(|e| e.resource == "horizontalpodautoscalers");
    assert!(hpa_writes.is_empty(), "{:?}", hpa_writes.0);
}

#[test]
fn an_hpa_pauses_while_stopped_and_is_left_as_it_was_helm3() {
    an_hpa_pauses_while_stopped_and_is_left_as_it_was(Helm::V3);
}

#[test]
fn an_hpa_pauses_while_stopped_and_is_left_as_it_was_helm4() {
    an_hpa_pauses_while_stopped_and_is_left_as_it_was(Helm::V4);
}

/// Something scales a Milvus Deployment up while the meta would be migrated (here a
/// person; on clusters also a controller that owns an HPA): the backup stage refuses to
/// run on a live Milvus and the run rolls back.
#[test]
fn a_deployment_scaled_up_while_stopped_fails_the_migration_and_rolls_back() {
    let helm = Helm::V3;
    let ns = TestNs::new("mig-scaled");
    install(helm, &ns, "ms");
    let mut args = migrate_args("ms", "2.2.0");
    // Long enough to scale up in between; the run waits that long, the test does not.
    args[5] = "30s";
    let child = support::plugin_cmd(helm, &ns)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let milvus = format!(
        "app.kubernetes.io/instance=ms,component in ({})",
        SEPARATE.join(",")
    );
    support::wait_pods(ns.name(), &milvus, support::TIMEOUT, |pods| pods.is_empty());
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = api(&ns);
    let querynode = format!("{}-querynode", fullname("ms"));
    block_on(async move {
        let one = serde_json::json!({"spec": {"replicas": 1}});
        let patch = kube::api::Patch::Merge(&one);
        let params = kube::api::PatchParams::default();
        deployments.patch(&querynode, &params, &patch).await
    })
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(8), "stderr:\n{stderr}");
    assert!(
        stderr.contains("while Milvus must stay stopped"),
        "{stderr}"
    );
    expect_layout(&ns, "ms", &SEPARATE, OLD_IMAGE);
}
