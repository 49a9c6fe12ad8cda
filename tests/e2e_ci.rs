//! For teams with many releases, upgrading through review and CI: the fleet view
//! (`status -A`: one list per resource kind, namespaces the user may not read named,
//! not an error), reviewed plan files (`apply` of an unchanged plan upgrades, rolling
//! or a chart hop; of a stale or edited one exits 6 with no write) and
//! `--progress json` (every stderr line one JSON event, covering every step of a
//! rolling and a migration run).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};
use support::{
    audit, create, helm_cmd, install_release, outcome, plugin_cmd, plugin_cmd_as, release_images,
    run_plugin, wait_release_available, Helm, Outcome, TestNs, User, PLUGIN_USER_AGENT, TIMEOUT,
};

/// The fleet tests count cluster-wide requests in the audit log: one at a time.
static FLEET: Mutex<()> = Mutex::new(());

/// Lets the `team` user read `ns` as ClusterRole `view` does (no Secrets).
fn grant_team_view(ns: &TestNs) {
    let binding = serde_json::from_value(json!({
        "metadata": {"name": "team-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "testenv:team"}]
    }))
    .unwrap();
    create::<k8s_openapi::api::rbac::v1::RoleBinding>(User::Admin, ns.name(), &binding)
        .expect("create rolebinding");
}

/// A lock Lease as a running upgrade holds it.
fn hold_lock(ns: &TestNs, release: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let lease = serde_json::from_value(json!({
        "metadata": {"name": format!("{release}-milvus-upgrade-lock"),
            "labels": {"milvus-upgrade.zilliz.io/release": release}},
        "spec": {"holderIdentity": "ci-runner/42", "leaseDurationSeconds": 3600,
            "acquireTime": now, "renewTime": now}
    }))
    .unwrap();
    create::<k8s_openapi::api::coordination::v1::Lease>(User::Admin, ns.name(), &lease)
        .expect("create lease");
}

/// The fleet's rows in these namespaces (other tests' releases are in the cluster too).
fn rows(fleet: &Value, namespaces: &[&TestNs]) -> Vec<Value> {
    let names: Vec<&str> = namespaces.iter().map(|n| n.name()).collect();
    fleet["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| names.contains(&r["namespace"].as_str().unwrap_or_default()))
        .cloned()
        .collect()
}

fn row<'a>(rows: &'a [Value], release: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["release"] == release)
        .unwrap_or_else(|| panic!("no row for {release}: {rows:#?}"))
}

fn fleet(helm: Helm) {
    let tag = helm.name();
    let (a, b, c) = (
        TestNs::new(&format!("fleet-a-{tag}")),
        TestNs::new(&format!("fleet-b-{tag}")),
        TestNs::new(&format!("fleet-c-{tag}")),
    );
    install_release(helm, &a, "alpha", "4.0.13", &[]);
    install_release(helm, &b, "beta", "4.2.8", &[("cluster.enabled", "false")]);
    install_release(helm, &c, "gamma", "4.0.13", &[]);
    hold_lock(&a, "alpha");
    grant_team_view(&a);
    grant_team_view(&b);
    let _one_at_a_time = FLEET.lock().unwrap_or_else(|e| e.into_inner());

    // Admin: every release, one list per kind for the whole cluster.
    let mark = audit::mark();
    let all = run_plugin(helm, &a, &["status", "-A", "--to", "2.4.9", "-o", "json"]);
    all.assert_code(0);
    let fleet = all.json();
    assert_eq!(fleet["schema"], "helm-milvus-upgrade/fleet/v1");
    let ours = rows(&fleet, &[&a, &b, &c]);
    assert_eq!(ours.len(), 3, "{ours:#?}");
    let alpha = row(&ours, "alpha");
    assert_eq!(alpha["running"], "2.2.5");
    assert_eq!(alpha["status"], "deployed");
    assert_eq!(alpha["layout"], "separate coordinators");
    assert_eq!(alpha["path"]["paths"], json!(["rolling"]));
    assert_eq!(alpha["path"]["hops"], 1);
    assert_eq!(alpha["lock"]["holder"], "ci-runner/42");
    assert_eq!(alpha["lock"]["expired"], false);
    assert!(alpha["drift"][0]
        .as_str()
        .unwrap()
        .contains("appVersion 2.2.3"));
    let beta = row(&ours, "beta");
    assert_eq!(beta["layout"], "standalone");
    assert_eq!(beta["path"]["note"], "running");
    assert_eq!(row(&ours, "gamma")["running"], "2.2.5");
    // Other tests run the plugin meanwhile in their own namespaces: count the
    // cluster-wide lists, and that nothing was asked in these namespaces.
    let requests = mark.wait_for(std::time::Duration::from_secs(5), |e| {
        !e.clone()
            .by_user_agent("Helm/")
            .resource("secrets")
            .is_empty()
    });
    let cluster_wide = |agent: &str, kinds: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = requests
            .clone()
            .by_user_agent(agent)
            .filter(|e| e.namespace.is_empty() && kinds.contains(&e.resource.as_str()))
            .iter()
            .map(|e| format!("{} {}", e.verb, e.resource))
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        cluster_wide(PLUGIN_USER_AGENT, &["deployments", "configmaps", "leases"]),
        ["list configmaps", "list deployments", "list leases"],
        "one list per kind for the whole cluster"
    );
    assert_eq!(
        cluster_wide("Helm/", &["secrets"]),
        ["list secrets"],
        "one helm list -A"
    );
    let per_release: Vec<_> = requests
        .clone()
        .filter(|e| [a.name(), b.name(), c.name()].contains(&e.namespace.as_str()))
        .filter(|e| {
            e.user_agent.starts_with(PLUGIN_USER_AGENT) || e.user_agent.starts_with("Helm/")
        })
        .0;
    assert!(
        per_release.is_empty(),
        "requests per namespace: {per_release:#?}"
    );

    // A user who may read a and b (no Secrets): c is named as not readable.
    let team = outcome(plugin_cmd_as(helm, &a, User::Team).args(["status", "-A", "-o", "json"]));
    team.assert_code(0);
    let fleet = team.json();
    let seen = rows(&fleet, &[&a, &b, &c]);
    let names: BTreeSet<&str> = seen.iter().filter_map(|r| r["release"].as_str()).collect();
    assert_eq!(names, BTreeSet::from(["alpha", "beta"]));
    assert!(row(&seen, "alpha")["status"]
        .as_str()
        .unwrap()
        .starts_with("unreadable"));
    assert_eq!(row(&seen, "beta")["running"], "2.4.9");
    let unreadable: Vec<&str> = fleet["not_readable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(unreadable.contains(&c.name()), "{unreadable:?}");
    assert!(!unreadable.contains(&a.name()) && !unreadable.contains(&b.name()));
    let text = outcome(plugin_cmd_as(helm, &a, User::Team).args(["status", "-A"]));
    text.assert_code(0);
    text.assert_stdout_has(&["alpha", "beta", "Not readable", c.name()]);

    // -l on the Deployments' labels; versions -A: the way to the newest version.
    let only = run_plugin(
        helm,
        &a,
        &[
            "status",
            "-A",
            "-l",
            "app.kubernetes.io/instance=beta",
            "-o",
            "json",
        ],
    );
    only.assert_code(0);
    let only = rows(&only.json(), &[&a, &b, &c]);
    assert_eq!(only.len(), 1, "{only:#?}");
    assert_eq!(only[0]["release"], "beta");
    let versions = run_plugin(helm, &a, &["versions", "-A", "-o", "json"]);
    versions.assert_code(0);
    let versions = versions.json();
    assert!(versions["to"].as_str().unwrap().starts_with("2.6."));
    let alpha = rows(&versions, &[&a]);
    assert!(
        alpha[0]["path"]["hops"].as_u64().unwrap() >= 2,
        "{alpha:#?}"
    );
}

#[test]
fn fleet_status_over_namespaces_helm3() {
    fleet(Helm::V3);
}

#[test]
fn fleet_status_over_namespaces_helm4() {
    fleet(Helm::V4);
}

/// A secret in the release's own values (the chart's defaults hold others).
const USER_SECRET: (&str, &str) = ("minio.secretKey", "user-minio-secret-DO-NOT-PRINT");

/// `RELEASE --to TO --dry-run -o json [EXTRA] > DIR/plan.json`; no secret in it.
fn make_plan(
    helm: Helm,
    ns: &TestNs,
    (release, to): (&str, &str),
    extra: &[&str],
    dir: &Path,
) -> (PathBuf, Value) {
    let mut args = vec![release, "--to", to, "--dry-run", "-o", "json"];
    args.extend(extra);
    let out = run_plugin(helm, ns, &args);
    out.assert_code(0);
    out.assert_never_printed("DO-NOT-PRINT");
    let path = dir.join("plan.json");
    std::fs::write(&path, &out.stdout).unwrap();
    (path, out.json())
}

fn apply(helm: Helm, ns: &TestNs, plan: &Path) -> Outcome {
    let plan = plan.to_str().unwrap();
    run_plugin(
        helm,
        ns,
        &[
            "apply",
            plan,
            "--yes",
            "--min-ready-seconds",
            "0",
            "--timeout",
            "120s",
            "--progress",
            "json",
        ],
    )
}

/// Every stderr line is one JSON event with a time and a kind.
fn progress_events(out: &Outcome) -> Vec<Value> {
    out.stderr
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{}", out.stderr));
            let time = v["time"].as_str().expect("time");
            time.parse::<k8s_openapi::jiff::Timestamp>()
                .unwrap_or_else(|e| panic!("time {time} is not RFC 3339: {e}"));
            assert!(v["kind"].is_string(), "{v}");
            v
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["kind"].as_str()).collect()
}

/// Deployments with an event of `kind`, in order.
fn deployments_with(events: &[Value], kind: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .filter_map(|e| e["deployment"].as_str().map(String::from))
        .collect()
}

fn apply_unchanged_plan(helm: Helm) {
    let ns = TestNs::new(&format!("apply-{}", helm.name()));
    install_release(helm, &ns, "ci", "4.0.13", &[USER_SECRET]);
    let dir = tempfile::tempdir().unwrap();
    let (plan, doc) = make_plan(helm, &ns, ("ci", "2.4.9"), &[], dir.path());
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(doc["request"]["to"], "2.4.9");
    assert_eq!(doc["basis"]["release"]["revision"], 1);
    assert_eq!(doc["basis"]["deployments"].as_array().unwrap().len(), 8);

    let out = apply(helm, &ns, &plan);
    out.assert_code(0);
    let images: BTreeSet<String> = release_images(ns.name(), "ci").into_values().collect();
    assert_eq!(
        images,
        BTreeSet::from(["milvusdb/milvus:v2.4.9".to_string()])
    );

    // Every step of the rolling run, as JSON lines.
    let events = progress_events(&out);
    let k = kinds(&events);
    for kind in [
        "locked",
        "hop_started",
        "config_patched",
        "hop_done",
        "helm_sync",
        "done",
    ] {
        assert!(k.contains(&kind), "no {kind} event: {k:?}");
    }
    let deployments: Vec<String> = release_images(ns.name(), "ci").into_keys().collect();
    let patched = deployments_with(&events, "patched");
    let rolled = deployments_with(&events, "rolled_out");
    assert_eq!(patched.len(), 8, "{patched:?}");
    assert_eq!(
        patched, rolled,
        "each patched Deployment rolls out, in order"
    );
    for d in &deployments {
        assert!(patched.contains(d), "{d} never patched: {patched:?}");
    }
    let patch = events.iter().find(|e| e["kind"] == "patched").unwrap();
    assert_eq!(patch["image"], "milvusdb/milvus:v2.4.9");
    let done = events.last().unwrap();
    assert_eq!(done["kind"], "done");
    assert_eq!(done["outcome"], "upgraded");
}

#[test]
fn apply_of_an_unchanged_plan_upgrades_helm3() {
    apply_unchanged_plan(Helm::V3);
}

#[test]
fn apply_of_an_unchanged_plan_upgrades_helm4() {
    apply_unchanged_plan(Helm::V4);
}

fn apply_stale_plan(helm: Helm) {
    let ns = TestNs::new(&format!("stale-{}", helm.name()));
    install_release(helm, &ns, "ci", "4.0.13", &[USER_SECRET]);
    let dir = tempfile::tempdir().unwrap();
    // A helm hop: the plan carries its chart (and the index's digest of it) and values.
    let helm_path = ["--path", "helm"];
    let (plan, doc) = make_plan(helm, &ns, ("ci", "2.4.9"), &helm_path, dir.path());
    let chart = &doc["basis"]["charts"][0];
    assert_eq!(chart["app_version"], "2.4.9", "{doc:#}");
    assert_eq!(chart["digest"].as_str().map(str::len), Some(64), "{chart}");
    // Someone changes the release after the plan was reviewed.
    let changed = helm_cmd(
        helm,
        &ns,
        &[
            "upgrade",
            "ci",
            "zilliztech/milvus",
            "--version",
            "4.0.13",
            "--reuse-values",
            "--set",
            "queryNode.replicas=2",
        ],
    )
    .output()
    .unwrap();
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    wait_release_available(ns.name(), "ci", TIMEOUT);

    let mark = audit::mark();
    let stale = apply(helm, &ns, &plan);
    stale.assert_code(6);
    let error = progress_events(&stale).pop().unwrap();
    assert_eq!(error["kind"], "error");
    assert_eq!(error["exit_code"], 6);
    let message = error["message"].as_str().unwrap();
    for needle in [
        "is stale",
        "revision 1 milvus-4.0.13 (deployed) → revision 2",
        "nothing was changed",
        "--dry-run -o json",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    support::assert_no_writes(&mark, ns.name());

    // A plan edited after it was made is refused too, though the release is as planned.
    let (plan, doc) = make_plan(helm, &ns, ("ci", "2.4.9"), &helm_path, dir.path());
    let mut edited = doc.clone();
    edited["plan"]["hops"][0]["image"] = json!("evil/milvus:v2.4.9");
    std::fs::write(&plan, edited.to_string()).unwrap();
    let mark = audit::mark();
    let refused = apply(helm, &ns, &plan);
    refused.assert_code(6);
    let message = progress_events(&refused).pop().unwrap()["message"].to_string();
    assert!(message.contains("/hops/0/image"), "{message}");
    support::assert_no_writes(&mark, ns.name());

    // The same plan as made: its chart hop (rendered and compared again) is carried out.
    std::fs::write(&plan, doc.to_string()).unwrap();
    let applied = apply(helm, &ns, &plan);
    applied.assert_code(0);
    let images: BTreeSet<String> = release_images(ns.name(), "ci").into_values().collect();
    assert_eq!(
        images,
        BTreeSet::from(["milvusdb/milvus:v2.4.9".to_string()])
    );
    let events = progress_events(&applied);
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "stage")
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(steps.first(), Some(&"configmaps"), "{steps:?}");
    assert!(steps.contains(&"roll:proxy"), "{steps:?}");
    let patched = deployments_with(&events, "patched");
    assert!(!patched.is_empty(), "{:?}", kinds(&events));
    assert_eq!(patched, deployments_with(&events, "rolled_out"));
    assert_eq!(events.last().unwrap()["outcome"], "upgraded");
}

#[test]
fn apply_refuses_stale_and_edited_plans_then_runs_a_chart_hop_plan_helm3() {
    apply_stale_plan(Helm::V3);
}

#[test]
fn apply_refuses_stale_and_edited_plans_then_runs_a_chart_hop_plan_helm4() {
    apply_stale_plan(Helm::V4);
}

fn migration_progress(helm: Helm) {
    let ns = TestNs::new(&format!("jsonmig-{}", helm.name()));
    install_release(helm, &ns, "old", "3.2.18", &[]);
    let mut cmd = plugin_cmd(helm, &ns);
    cmd.env("HELM_MILVUS_UPGRADE_PROGRESS", "json").args([
        "old",
        "--to",
        "2.2.0",
        "--yes",
        "--session-wait",
        "0s",
        "--timeout",
        "120s",
    ]);
    let out = outcome(&mut cmd);
    out.assert_code(0);
    let events = progress_events(&out);
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "stage")
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(
        stages,
        ["record", "stop", "sessions", "backup", "migrate", "start"]
    );
    let k = kinds(&events);
    for kind in [
        "locked",
        "hop_started",
        "scaled",
        "waiting",
        "helm",
        "hop_done",
        "done",
    ] {
        assert!(k.contains(&kind), "no {kind} event: {k:?}");
    }
    let stopped = events
        .iter()
        .filter(|e| e["kind"] == "scaled" && e["to"] == 0)
        .count();
    assert_eq!(stopped, release_images(ns.name(), "old").len(), "{k:?}");
    let helm_event = events.iter().find(|e| e["kind"] == "helm").unwrap();
    assert!(helm_event["command"]
        .as_str()
        .unwrap()
        .starts_with("upgrade old "));
    assert_eq!(events.last().unwrap()["outcome"], "upgraded");
}

#[test]
fn json_progress_covers_a_migration_helm3() {
    migration_progress(Helm::V3);
}

#[test]
fn json_progress_covers_a_migration_helm4() {
    migration_progress(Helm::V4);
}
