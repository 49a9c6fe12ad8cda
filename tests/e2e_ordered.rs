//! Ordered chart hops on a real cluster with real charts, Helm 3 and Helm 4
//! (server-side apply): the order proven from the audit log (the plugin's
//! Deployment writes, and the node stand-in making each rolled component's pod
//! ready before the next component is touched), each Deployment's revision moved
//! exactly once per hop (the final helm upgrade starts no second rollout), Helm
//! saying what runs, kill -9 at every recorded step then a rerun, and a
//! never-ready querynode undone to the pre-hop objects with Helm untouched.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;
use support::audit::{self, Events};
use support::{
    assert_no_writes, create_resource_quota, dry_runs_since, get_opt, helm_json, install_release,
    kill_9, release_deployments, release_history, run_plugin, spawn_plugin, Helm, TestNs,
    NODE_STANDIN_USER_AGENT, PLUGIN_USER_AGENT,
};

const REVISION: &str = "deployment.kubernetes.io/revision";

/// 2.5.0 with separate coordinators (chart 4.2.33 defaults to mixcoord).
const SEPARATE_2_5: [(&str, &str); 5] = [
    ("mixCoordinator.enabled", "false"),
    ("rootCoordinator.enabled", "true"),
    ("dataCoordinator.enabled", "true"),
    ("queryCoordinator.enabled", "true"),
    ("indexCoordinator.enabled", "true"),
];

/// 2.5.16 on Pulsar v2 (chart 4.2.58 defaults to pulsarv3).
const PULSAR_V2: [(&str, &str); 2] = [("pulsar.enabled", "true"), ("pulsarv3.enabled", "false")];

fn upgrade<'a>(release: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![release, "--to", to, "--yes", "--timeout", "120s"]
}

/// The plugin's Deployment writes (main resource), in order, as `verb name`.
fn deployment_writes(events: &Events, ns: &str) -> Vec<String> {
    events
        .clone()
        .in_namespace(ns)
        .by_user_agent(PLUGIN_USER_AGENT)
        .resource("deployments")
        .writes()
        .filter(|e| e.subresource.is_empty() && !e.request_uri.contains("dryRun"))
        .iter()
        .map(|e| format!("{} {}", e.verb, e.name))
        .collect()
}

/// The audit log since `mark` once it holds `n` plugin Deployment writes (the API
/// server logs a request just after answering it).
fn events_with_writes(mark: &audit::Mark, ns: &str, n: usize) -> Events {
    mark.wait_for(Duration::from_secs(30), |e| {
        deployment_writes(e, ns).len() >= n
    })
}

/// Every plugin write of a Deployment of `component` is followed by the node
/// stand-in making one of its new pods ready before the plugin's next
/// Deployment write: the plugin waited for the rollout.
fn assert_waited_for(events: &Events, ns: &str, release: &str, component: &str) {
    let all: Vec<_> = events.clone().in_namespace(ns).0;
    let name = format!("{release}-milvus-{component}");
    let is_plugin_write = |e: &audit::AuditEvent| {
        e.user_agent.starts_with(PLUGIN_USER_AGENT)
            && e.resource == "deployments"
            && e.subresource.is_empty()
            && e.is_write()
            && !e.request_uri.contains("dryRun")
    };
    let writes: Vec<usize> = (0..all.len())
        .filter(|&i| is_plugin_write(&all[i]) && all[i].name == name)
        .collect();
    assert!(!writes.is_empty(), "no write of {name}");
    for at in writes {
        let next = (at + 1..all.len()).find(|&i| is_plugin_write(&all[i]));
        let Some(next) = next else { continue };
        let ready = all[at..next].iter().any(|e| {
            e.user_agent.starts_with(NODE_STANDIN_USER_AGENT)
                && e.resource == "pods"
                && e.subresource == "status"
                && e.name.starts_with(&format!("{name}-"))
        });
        assert!(
            ready,
            "{name}: the next Deployment ({}) was written before a {component} pod was ready",
            all[next].name
        );
    }
}

/// Deployment name → `deployment.kubernetes.io/revision`.
fn revisions(ns: &TestNs, release: &str) -> BTreeMap<String, String> {
    release_deployments(ns.name(), release)
        .into_iter()
        .map(|(name, d)| {
            let r = d
                .metadata
                .annotations
                .and_then(|a| a.get(REVISION).cloned());
            (name, r.unwrap_or_default())
        })
        .collect()
}

fn expect_revisions(release: &str, pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(c, r)| (format!("{release}-milvus-{c}"), r.to_string()))
        .collect()
}

/// Helm says what runs: the manifest's Deployment images are the live ones.
fn assert_helm_says_what_runs(helm: Helm, ns: &TestNs, release: &str, image: &str) {
    let out = support::helm_cmd(helm, ns, &["get", "manifest", release])
        .output()
        .unwrap();
    let manifest = String::from_utf8_lossy(&out.stdout).to_string();
    let mut from_helm = BTreeMap::new();
    for doc in manifest.split("\n---") {
        let Ok(v) = serde_yaml_ng::from_str::<Value>(doc) else {
            continue;
        };
        if v["kind"] == "Deployment" && v["metadata"]["labels"]["component"].is_string() {
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            let img = v["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string();
            from_helm.insert(name, img);
        }
    }
    let live: BTreeMap<String, String> = support::release_images(ns.name(), release)
        .into_iter()
        .filter(|(n, _)| !n.ends_with("-attu"))
        .collect();
    assert_eq!(from_helm, live, "helm get manifest vs live Deployments");
    assert!(live.values().all(|i| i == image), "{live:?}");
    let values: Value = helm_json(helm, ns, &["get", "values", release, "-o", "json"]);
    assert_eq!(
        values["image"]["all"]["tag"],
        image.rsplit(':').next().unwrap()
    );
    support::assert_release_deployed(helm, ns, release);
}

fn charts(helm: Helm, ns: &TestNs, release: &str) -> Vec<String> {
    release_history(helm, ns, release)
        .into_iter()
        .map(|r| r.chart)
        .collect()
}

fn separate_2_5_to_2_6_in_dependency_order(helm: Helm) {
    let ns = TestNs::new(&format!("ord-{}", helm.name()));
    let release = "o";
    install_release(helm, &ns, release, "4.2.33", &SEPARATE_2_5);
    let plan = run_plugin(
        helm,
        &ns,
        &[release, "--to", "2.6.1", "--dry-run", "-o", "json"],
    );
    plan.assert_code(0);
    let hops = plan.json()["plan"]["hops"].clone();
    assert_eq!(hops[0]["ordered"], true);
    let changes = |h: &Value| -> Vec<String> {
        h["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["action"].as_str().unwrap(),
                    c["deployment"].as_str().unwrap()
                )
            })
            .collect()
    };
    let first = changes(&hops[0]);
    assert!(
        first.contains(&"created o-milvus-mixcoord".to_string()),
        "{first:?}"
    );
    assert!(
        first.contains(&"removed o-milvus-rootcoord".to_string()),
        "{first:?}"
    );
    let second = changes(&hops[1]);
    assert!(
        second.contains(&"created o-milvus-streamingnode".to_string()),
        "{second:?}"
    );
    assert!(
        second.contains(&"removed o-milvus-indexnode".to_string()),
        "{second:?}"
    );
    assert_eq!(
        hops[1]["changes"][1]["config_checksum_changed"], true,
        "{}",
        hops[1]["changes"]
    );
    plan.assert_never_printed("minioadmin");

    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &upgrade(release, "2.6.1"));
    out.assert_code(0);
    let events = events_with_writes(&mark, ns.name(), 10);
    let writes = deployment_writes(&events, ns.name());
    assert_eq!(
        writes,
        [
            "update o-milvus-indexnode",
            "create o-milvus-mixcoord",
            "update o-milvus-querynode",
            "update o-milvus-datanode",
            "update o-milvus-proxy",
            "create o-milvus-streamingnode",
            "update o-milvus-mixcoord",
            "update o-milvus-querynode",
            "update o-milvus-datanode",
            "update o-milvus-proxy",
        ],
        "the plugin's Deployment writes"
    );
    for c in ["indexnode", "mixcoord", "querynode", "datanode"] {
        assert_waited_for(&events, ns.name(), release, c);
    }
    // The old layout goes last: Helm deletes the coordinators after the first hop's
    // proxy, indexnode after the second's.
    let all: Vec<_> = events.clone().in_namespace(ns.name()).0;
    let pos = |f: &dyn Fn(&audit::AuditEvent) -> bool| all.iter().position(f).unwrap();
    let helm_deletes = |name: &'static str| {
        move |e: &audit::AuditEvent| {
            e.user_agent.starts_with("Helm/")
                && e.verb == "delete"
                && e.resource == "deployments"
                && e.name == name
        }
    };
    let plugin_write = |name: &'static str| {
        move |e: &audit::AuditEvent| {
            e.user_agent.starts_with(PLUGIN_USER_AGENT)
                && e.verb == "update"
                && e.resource == "deployments"
                && e.name == name
        }
    };
    assert!(pos(&helm_deletes("o-milvus-rootcoord")) > pos(&plugin_write("o-milvus-proxy")));
    let last_proxy = all
        .iter()
        .rposition(|e| plugin_write("o-milvus-proxy")(e))
        .unwrap();
    assert!(pos(&helm_deletes("o-milvus-indexnode")) > last_proxy);
    assert_eq!(
        revisions(&ns, release),
        expect_revisions(
            release,
            &[
                ("datanode", "3"),
                ("mixcoord", "2"),
                ("proxy", "3"),
                ("querynode", "3"),
                ("streamingnode", "1")
            ]
        ),
        "each Deployment rolled once per hop that changed it"
    );
    assert_eq!(
        charts(helm, &ns, release),
        ["milvus-4.2.33", "milvus-4.2.58", "milvus-5.0.2"]
    );
    assert_helm_says_what_runs(helm, &ns, release, "milvusdb/milvus:v2.6.1");
}

#[test]
fn separate_2_5_to_2_6_in_dependency_order_helm3() {
    separate_2_5_to_2_6_in_dependency_order(Helm::V3);
}

#[test]
fn separate_2_5_to_2_6_in_dependency_order_helm4() {
    separate_2_5_to_2_6_in_dependency_order(Helm::V4);
}

fn mixcoord_2_5_16_on_pulsar_v2_to_2_6(helm: Helm) {
    let ns = TestNs::new(&format!("ordpv2-{}", helm.name()));
    let release = "p";
    install_release(helm, &ns, release, "4.2.58", &PULSAR_V2);
    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &upgrade(release, "2.6.15"));
    out.assert_code(0);
    let events = events_with_writes(&mark, ns.name(), 5);
    assert_eq!(
        deployment_writes(&events, ns.name()),
        [
            "create p-milvus-streamingnode",
            "update p-milvus-mixcoord",
            "update p-milvus-querynode",
            "update p-milvus-datanode",
            "update p-milvus-proxy",
        ]
    );
    // streamingnode is not waited for before mixcoord, but before querynode.
    let all: Vec<_> = events.clone().in_namespace(ns.name()).0;
    let querynode = all
        .iter()
        .position(|e| {
            e.user_agent.starts_with(PLUGIN_USER_AGENT)
                && e.resource == "deployments"
                && e.name == "p-milvus-querynode"
                && e.is_write()
        })
        .unwrap();
    assert!(
        all[..querynode]
            .iter()
            .any(|e| e.user_agent.starts_with(NODE_STANDIN_USER_AGENT)
                && e.subresource == "status"
                && e.name.starts_with("p-milvus-streamingnode-")),
        "streamingnode ready before querynode"
    );
    for c in ["mixcoord", "querynode", "datanode"] {
        assert_waited_for(&events, ns.name(), release, c);
    }
    let values: Value = helm_json(helm, &ns, &["get", "values", release, "-o", "json"]);
    assert_eq!(
        values["pulsar"]["enabled"], true,
        "Pulsar v2 kept: {values}"
    );
    assert_eq!(values["pulsarv3"]["enabled"], false, "{values}");
    assert_eq!(
        revisions(&ns, release),
        expect_revisions(
            release,
            &[
                ("datanode", "2"),
                ("mixcoord", "2"),
                ("proxy", "2"),
                ("querynode", "2"),
                ("streamingnode", "1")
            ]
        )
    );
    assert_helm_says_what_runs(helm, &ns, release, "milvusdb/milvus:v2.6.15");
}

#[test]
fn mixcoord_2_5_16_on_pulsar_v2_to_2_6_helm3() {
    mixcoord_2_5_16_on_pulsar_v2_to_2_6(Helm::V3);
}

#[test]
fn mixcoord_2_5_16_on_pulsar_v2_to_2_6_helm4() {
    mixcoord_2_5_16_on_pulsar_v2_to_2_6(Helm::V4);
}

/// Each Deployment's pod template and the chart's ConfigMap, as JSON.
fn snapshot(ns: &TestNs, release: &str) -> (BTreeMap<String, Value>, Value) {
    let templates = release_deployments(ns.name(), release)
        .into_iter()
        .map(|(n, d)| (n, serde_json::to_value(&d.spec.template).unwrap()))
        .collect();
    let cm: ConfigMap = get_opt(ns.name(), &format!("{release}-milvus")).unwrap();
    (templates, serde_json::to_value(cm.data).unwrap())
}

/// The upgrade to 2.6.1 with the new querynode pods never ready (the node
/// stand-in's annotation, set through the chart's values).
fn upgrade_with_a_broken_querynode(
    helm: Helm,
    ns: &TestNs,
    release: &str,
    extra: &[&str],
) -> support::Outcome {
    let mut args = vec![
        release,
        "--to",
        "2.6.1",
        "--yes",
        "--timeout",
        "20s",
        "--helm-arg=--set-string=queryNode.podAnnotations.node-standin/broken=true",
    ];
    args.extend(extra);
    run_plugin(helm, ns, &args)
}

fn never_ready_querynode_is_undone_with_helm_untouched(helm: Helm) {
    let ns = TestNs::new(&format!("ordfail-{}", helm.name()));
    let release = "f";
    install_release(helm, &ns, release, "4.2.58", &[]);
    let before = snapshot(&ns, release);
    let out = upgrade_with_a_broken_querynode(helm, &ns, release, &[]);
    out.assert_code(8);
    out.assert_stderr_has(&["f-milvus-querynode", "Helm's release was not changed"]);
    assert_eq!(
        charts(helm, &ns, release),
        ["milvus-4.2.58"],
        "no Helm revision"
    );
    let after = snapshot(&ns, release);
    assert_eq!(
        after.0.keys().collect::<Vec<_>>(),
        before.0.keys().collect::<Vec<_>>(),
        "streamingnode deleted, nothing else gone"
    );
    assert_eq!(after, before, "every object as before the hop");
    support::assert_release_deployed(helm, &ns, release);
}

#[test]
fn never_ready_querynode_is_undone_with_helm_untouched_helm3() {
    never_ready_querynode_is_undone_with_helm_untouched(Helm::V3);
}

#[test]
fn never_ready_querynode_is_undone_with_helm_untouched_helm4() {
    never_ready_querynode_is_undone_with_helm_untouched(Helm::V4);
}

/// How much the recorded progress says is done: revisions, objects recorded,
/// steps done, helm upgrades and hops finished. Each kill lands right after it grew.
fn recorded_progress(ns: &str, release: &str) -> Option<usize> {
    let cm: ConfigMap = get_opt(ns, &format!("{release}-milvus-upgrade-state"))?;
    let p: Value = serde_json::from_str(cm.data?.get("progress.json")?).ok()?;
    let hops = p["hops"].as_array()?;
    Some(
        hops.iter()
            .map(|h| {
                let o = &h["ordered"];
                let len = |k: &str| o[k].as_array().map_or(0, Vec::len);
                len("objects")
                    + len("done")
                    + usize::from(o["helm_upgraded"] == true)
                    + usize::from(h["phase"] == "done")
                    + usize::from(h["revision_before"].is_u64())
            })
            .sum(),
    )
}

/// Starts the upgrade and kills it (-9) as soon as the recorded progress grows
/// past `seen`; returns the new progress, or None when the run finished first.
fn run_until_progress(
    helm: Helm,
    ns: &TestNs,
    release: &str,
    to: &str,
    seen: usize,
) -> Option<usize> {
    let mut child = spawn_plugin(helm, ns, &upgrade(release, to));
    let start = Instant::now();
    loop {
        if let Some(now) = recorded_progress(ns.name(), release).filter(|n| *n > seen) {
            kill_9(child);
            return Some(now);
        }
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "a run exited {status}");
            return None;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no progress past {seen}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn killed_at_every_step_then_rerun_finishes(
    helm: Helm,
    chart: &str,
    sets: &[(&str, &str)],
    want: &[(&str, &str)],
) {
    let ns = TestNs::new(&format!("ordkill-{}", helm.name()));
    let release = "k";
    install_release(helm, &ns, release, chart, sets);
    let mut seen = 0;
    let mut kills = 0;
    while let Some(now) = run_until_progress(helm, &ns, release, "2.6.1", seen) {
        seen = now;
        kills += 1;
        // Killed just as the run cleared its state: the upgrade is done (a rerun
        // would rightly say the release already runs the target).
        let cleared = get_opt::<ConfigMap>(ns.name(), "k-milvus-upgrade-state").is_none();
        let on_target = support::release_images(ns.name(), release)
            .iter()
            .filter(|(n, _)| !n.ends_with("-attu"))
            .all(|(_, i)| i == "milvusdb/milvus:v2.6.1");
        if cleared && on_target {
            break;
        }
    }
    eprintln!("{}: killed {kills} times, then a run finished", helm.name());
    assert!(kills >= 10, "only {kills} kills");
    assert_eq!(
        revisions(&ns, release),
        expect_revisions(release, want),
        "no Deployment rolled twice for a hop"
    );
    assert_helm_says_what_runs(helm, &ns, release, "milvusdb/milvus:v2.6.1");
    assert!(
        get_opt::<ConfigMap>(ns.name(), "k-milvus-upgrade-state").is_none(),
        "state cleared"
    );
}

#[test]
fn killed_at_every_step_then_rerun_finishes_helm3() {
    killed_at_every_step_then_rerun_finishes(
        Helm::V3,
        "4.2.58",
        &[],
        &[
            ("datanode", "2"),
            ("mixcoord", "2"),
            ("proxy", "2"),
            ("querynode", "2"),
            ("streamingnode", "1"),
        ],
    );
}

#[test]
fn killed_at_every_step_of_two_hops_then_rerun_finishes_helm4() {
    killed_at_every_step_then_rerun_finishes(
        Helm::V4,
        "4.2.33",
        &SEPARATE_2_5,
        &[
            ("datanode", "3"),
            ("mixcoord", "2"),
            ("proxy", "3"),
            ("querynode", "3"),
            ("streamingnode", "1"),
        ],
    );
}

/// A quota that admits no more Deployments refuses the hop's new streamingnode at
/// pre-flight (its rendered object submitted as a server-side dry run): exit 6, no write.
fn a_quota_on_deployments_refuses_the_new_streamingnode(helm: Helm) {
    let ns = TestNs::new(&format!("ordquota-{}", helm.name()));
    let release = "q";
    install_release(helm, &ns, release, "4.2.58", &[]);
    create_resource_quota(
        ns.name(),
        "five-deployments",
        &[("count/deployments.apps", "5")],
    );
    let mark = audit::mark();
    let out = run_plugin(helm, &ns, &upgrade(release, "2.6.1"));
    out.assert_code(6);
    out.assert_stdout_has(&["deployment/q-milvus-streamingnode", "exceeded quota"]);
    assert_no_writes(&mark, ns.name());
    assert!(
        dry_runs_since(&mark, ns.name())
            .contains(&"deployments/q-milvus-streamingnode".to_string()),
        "{:?}",
        dry_runs_since(&mark, ns.name())
    );
}

#[test]
fn a_quota_on_deployments_refuses_the_new_streamingnode_helm3() {
    a_quota_on_deployments_refuses_the_new_streamingnode(Helm::V3);
}

#[test]
fn a_quota_on_deployments_refuses_the_new_streamingnode_helm4() {
    a_quota_on_deployments_refuses_the_new_streamingnode(Helm::V4);
}

/// `--no-rollback` leaves the failed hop as it is (exit 9, state kept, `status`
/// naming the undo); `rollback` then puts every object back, Helm untouched.
fn a_hop_left_by_no_rollback_is_undone_by_the_rollback_command(helm: Helm) {
    let ns = TestNs::new(&format!("ordleft-{}", helm.name()));
    let release = "l";
    install_release(helm, &ns, release, "4.2.58", &[]);
    let before = snapshot(&ns, release);
    upgrade_with_a_broken_querynode(helm, &ns, release, &["--no-rollback"]).assert_code(9);
    assert!(
        get_opt::<k8s_openapi::api::apps::v1::Deployment>(ns.name(), "l-milvus-streamingnode")
            .is_some()
    );
    let status = run_plugin(helm, &ns, &["status", release]);
    status.assert_stdout_has(&["rollback l", "ordered chart hop"]);
    let out = run_plugin(helm, &ns, &["rollback", release]);
    out.assert_code(0);
    out.assert_stdout_has(&["Helm's release was not changed"]);
    assert_eq!(
        snapshot(&ns, release),
        before,
        "every object as before the hop"
    );
    assert_eq!(charts(helm, &ns, release), ["milvus-4.2.58"]);
    assert!(
        get_opt::<ConfigMap>(ns.name(), "l-milvus-upgrade-state").is_none(),
        "state cleared"
    );
}

#[test]
fn a_hop_left_by_no_rollback_is_undone_by_the_rollback_command_helm3() {
    a_hop_left_by_no_rollback_is_undone_by_the_rollback_command(Helm::V3);
}

#[test]
fn a_hop_left_by_no_rollback_is_undone_by_the_rollback_command_helm4() {
    a_hop_left_by_no_rollback_is_undone_by_the_rollback_command(Helm::V4);
}

/// A hand-made HPA (kubectl autoscale) keeps the proxy at 3 where the chart renders
/// one replica. The plan warns that the hop's final helm upgrade sets it to 1 (as any helm
/// upgrade does: Helm 3's three-way merge and Helm 4's apply alike); the ordered
/// apply itself keeps 3, so the HPA scales the proxy back only after Helm's write.
fn a_hand_made_hpa_keeps_its_count_through_the_hop(helm: Helm) {
    let ns = TestNs::new(&format!("ordhpa-{}", helm.name()));
    let release = "h";
    install_release(helm, &ns, release, "4.2.58", &[]);
    let proxy = format!("{release}-milvus-proxy");
    support::create_hpa(ns.name(), "h-proxy", &proxy, 3, 4);
    let at = |n: i32| {
        move |d: &BTreeMap<String, k8s_openapi::api::apps::v1::Deployment>| {
            d.values()
                .all(|d| d.spec.replicas == Some(n) && support::deployment_complete(d))
        }
    };
    let selector = format!("app.kubernetes.io/instance={release},component=proxy");
    support::wait_deployments(ns.name(), &selector, support::TIMEOUT, at(3));
    let dry = run_plugin(helm, &ns, &[release, "--to", "2.6.1", "--dry-run"]);
    dry.assert_code(0);
    dry.assert_stdout_has(&[&format!(
        "helm would scale deployment/{proxy} to the 1 replicas of the values (HorizontalPodAutoscaler h-proxy keeps 3"
    )]);

    let mark = audit::mark();
    run_plugin(helm, &ns, &upgrade(release, "2.6.1")).assert_code(0);
    support::wait_deployments(ns.name(), &selector, support::TIMEOUT, at(3));
    // The HPA scaled the proxy back once: after Helm's write, not after the plugin's.
    let is_scale = |e: &audit::AuditEvent| e.subresource == "scale" && e.is_write();
    let events = mark.wait_for(Duration::from_secs(30), |e| {
        deployment_writes(e, ns.name()).len() >= 5 && e.0.iter().any(is_scale)
    });
    let all = events.in_namespace(ns.name()).0;
    let helm_wrote_proxy = all.iter().position(|e| {
        e.user_agent.starts_with("Helm/")
            && e.resource == "deployments"
            && e.name == proxy
            && e.is_write()
    });
    let first_scale = all.iter().position(is_scale);
    assert!(
        helm_wrote_proxy.is_some_and(|h| first_scale > Some(h)),
        "the HPA scaled the proxy back before Helm's upgrade wrote it (at {helm_wrote_proxy:?}): the ordered apply changed its count"
    );
    assert_helm_says_what_runs(helm, &ns, release, "milvusdb/milvus:v2.6.1");
}

#[test]
fn a_hand_made_hpa_keeps_its_count_through_the_hop_helm3() {
    a_hand_made_hpa_keeps_its_count_through_the_hop(Helm::V3);
}

#[test]
fn a_hand_made_hpa_keeps_its_count_through_the_hop_helm4() {
    a_hand_made_hpa_keeps_its_count_through_the_hop(Helm::V4);
}
