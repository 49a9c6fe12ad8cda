//! Bad input and unhealthy clusters: each case gets a clear message naming the
//! fix, its documented exit code, and not a single write in the audit log.

mod support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use support::{
    audit, block_on, client, env, helm_cmd, install_release, outcome, plugin_cmd,
    try_install_release, Helm, TestNs, User,
};

/// One bad invocation and what it must produce.
struct Case {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, String)>,
    code: i32,
    says: Vec<String>,
}

fn case(name: &'static str, args: &[&'static str], code: i32, says: &[&'static str]) -> Case {
    Case {
        name,
        args: args.to_vec(),
        env: Vec::new(),
        code,
        says: says.iter().map(ToString::to_string).collect(),
    }
}

impl Case {
    fn saying(mut self, text: String) -> Case {
        self.says.push(text);
        self
    }

    fn with_env(mut self, key: &'static str, value: impl Into<String>) -> Case {
        self.env.push((key, value.into()));
        self
    }
}

/// A kubeconfig like the admin's, with the server or the token replaced.
fn altered_kubeconfig(
    dir: &Path,
    name: &str,
    server: Option<&str>,
    token: Option<&str>,
) -> PathBuf {
    let text = std::fs::read_to_string(env().kubeconfig(User::Admin)).unwrap();
    let mut config: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    if let Some(server) = server {
        config["clusters"][0]["cluster"]["server"] = json!(server);
    }
    if let Some(token) = token {
        config["users"][0]["user"]["token"] = json!(token);
    }
    let path = dir.join(name);
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    path
}

/// A helm that says it is 3.13 and otherwise is the real one.
fn old_helm(dir: &Path, helm: Helm) -> PathBuf {
    let path = dir.join("helm-3.13");
    let script = format!("#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.13.0+gdeadbee; exit 0; fi\nexec {} \"$@\"\n", helm.bin().display());
    std::fs::write(&path, script).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .unwrap();
    path
}

fn install_other_chart(helm: Helm, ns: &TestNs, dir: &Path) {
    let chart = dir.join("webapp");
    let created = helm_cmd(helm, ns, &["create", chart.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let out = helm_cmd(helm, ns, &["install", "other", chart.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A release whose last helm operation failed.
fn install_failed_release(helm: Helm, ns: &TestNs) {
    install_release(helm, ns, "failed", "4.2.8", &[]);
    let out = helm_cmd(
        helm,
        ns,
        &[
            "upgrade",
            "failed",
            "zilliztech/milvus",
            "--version",
            "4.2.8",
            "--reuse-values",
            "--set",
            "image.all.tag=v2.4.9-broken",
            "--wait",
            "--timeout",
            "3s",
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success(), "the upgrade was meant to fail");
}

/// A healthy release, then one Deployment broken by hand.
fn break_a_deployment(ns: &TestNs) {
    let api: Api<Deployment> = Api::namespaced(client(User::Admin), ns.name());
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "milvusdb/milvus:v2.4.9-broken"}]}}}});
    block_on(async move {
        api.patch(
            "broken-milvus-proxy",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    })
    .unwrap();
}

fn hold_lock(ns: &TestNs, release: &str) {
    let api: Api<Lease> = Api::namespaced(client(User::Admin), ns.name());
    let now = k8s_openapi::jiff::Timestamp::now();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": format!("{release}-milvus-upgrade-lock")},
        "spec": {"holderIdentity": "another-host/4242", "leaseDurationSeconds": 3600, "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now)},
    }))
    .unwrap();
    block_on(async move { api.create(&PostParams::default(), &lease).await }).unwrap();
}

fn cases(helm: Helm, ns: &TestNs, dir: &Path) -> Vec<Case> {
    let dry = |to: &'static str| -> Vec<&'static str> { vec!["good", "--to", to, "--dry-run"] };
    let helm_dry = |extra: &[&'static str]| -> Vec<&'static str> {
        [
            &["good", "--to", "2.4.9", "--dry-run", "--path", "helm"][..],
            extra,
        ]
        .concat()
    };
    let empty_repos = dir.join("repositories.yaml");
    std::fs::write(&empty_repos, "apiVersion: v1\nrepositories: []\n").unwrap();
    vec![
        case(
            "unknown release",
            &["nope", "--to", "2.4.9", "--dry-run"],
            3,
            &["release 'nope' not found", "helm list"],
        ),
        case(
            "wrong namespace",
            &dry("2.4.9"),
            3,
            &["not found in namespace 'default'"],
        )
        .with_env("HELM_NAMESPACE", "default")
        .saying(ns.name().to_string()),
        case(
            "wrong namespace, none elsewhere",
            &["nope", "--to", "2.4.9", "--dry-run"],
            3,
            &["check the name with `helm list -n default`"],
        )
        .with_env("HELM_NAMESPACE", "default"),
        case(
            "release of another chart",
            &["other", "--to", "2.4.9", "--dry-run"],
            3,
            &["not the Milvus chart"],
        ),
        case(
            "failed release",
            &["failed", "--to", "2.5.0", "--dry-run"],
            6,
            &["status failed", "helm rollback failed"],
        ),
        case(
            "garbage target",
            &dry("latest"),
            4,
            &["'latest' is not a Milvus version"],
        ),
        case(
            "unknown target",
            &dry("2.4.99"),
            4,
            &[
                "2.4.99 is not a Milvus version any chart ships",
                "helm milvus-upgrade versions",
            ],
        ),
        case(
            "downgrade",
            &dry("2.2.2"),
            5,
            &["older than the running 2.2.5", "--allow-downgrade"],
        ),
        case("same version", &dry("2.2.5"), 5, &["already runs 2.2.5"]),
        case(
            "chart without the target",
            &helm_dry(&["--chart-version", "4.2.0"]),
            4,
            &[
                "chart 4.2.0 ships Milvus 2.4.6, not 2.4.9",
                "--chart-version 4.2.8",
            ],
        ),
        case(
            "unknown chart version",
            &helm_dry(&["--chart-version", "9.9.9"]),
            4,
            &["9.9.9 is in no configured repository", "helm repo update"],
        ),
        case(
            "chart version on a rolling plan",
            &[
                "good",
                "--to",
                "2.4.9",
                "--dry-run",
                "--chart-version",
                "4.2.8",
            ],
            2,
            &["--path helm"],
        ),
        case(
            "conflicting flags",
            &[
                "good",
                "--to",
                "2.4.9",
                "--path",
                "rolling",
                "--chart-version",
                "4.2.8",
            ],
            2,
            &["conflicts with --path rolling"],
        ),
        case(
            "dry run with take-over",
            &["good", "--to", "2.4.9", "--dry-run", "--take-over"],
            2,
            &["--take-over conflicts with --dry-run"],
        ),
        case(
            "no --yes without a terminal",
            &["good", "--to", "2.4.9"],
            2,
            &["pass --yes"],
        ),
        case(
            "bad timeout",
            &["good", "--to", "2.4.9", "--timeout", "soon"],
            2,
            &["600s, 15m or 1h"],
        ),
        case(
            "progress deadline not longer than minReadySeconds",
            &["good", "--to", "2.4.9", "--progress-deadline", "20s"],
            2,
            &[
                "--progress-deadline 20s must be longer than --min-ready-seconds 30",
                "pass a longer --progress-deadline",
            ],
        ),
        case(
            "path not possible",
            &["good", "--to", "2.4.9", "--dry-run", "--path", "migrate"],
            5,
            &["the migrate path cannot do this hop"],
        ),
        case(
            "standalone rocksmq rolling",
            &["sa", "--to", "2.5.0", "--dry-run", "--path", "rolling"],
            5,
            &["rocksmq", "--path helm"],
        ),
        case(
            "unknown repo",
            &helm_dry(&["--repo", "nosuch"]),
            6,
            &["'nosuch' has no Milvus Helm chart"],
        ),
        case(
            "no repository added",
            &helm_dry(&[]),
            6,
            &["helm repo add zilliztech https://zilliztech.github.io/milvus-helm"],
        )
        .with_env("HELM_REPOSITORY_CONFIG", empty_repos.display().to_string()),
        case("no helm", &dry("2.4.9"), 7, &["helm not found", "HELM_BIN"])
            .with_env("HELM_BIN", "")
            .with_env("PATH", "/nonexistent"),
        case(
            "helm too old",
            &helm_dry(&[]),
            6,
            &["helm 3.13.0", "Helm 3.14 or later"],
        )
        .with_env("HELM_BIN", old_helm(dir, helm).display().to_string()),
        case(
            "unreachable API server",
            &dry("2.4.9"),
            7,
            &["127.0.0.1:1", "that the API server is up"],
        )
        .with_env(
            "KUBECONFIG",
            altered_kubeconfig(dir, "down", Some("https://127.0.0.1:1"), None)
                .display()
                .to_string(),
        ),
        case(
            "token refused",
            &dry("2.4.9"),
            7,
            &["credentials", "renew them in your kubeconfig"],
        )
        .with_env(
            "KUBECONFIG",
            altered_kubeconfig(dir, "expired", None, Some("expired-token"))
                .display()
                .to_string(),
        ),
        case("unknown kube context", &dry("2.4.9"), 7, &["nope"])
            .with_env("HELM_KUBECONTEXT", "nope"),
        case(
            "unhealthy Deployment",
            &["broken", "--to", "2.5.0", "--yes"],
            6,
            &["broken-milvus-proxy", "kubectl rollout status"],
        ),
        case(
            "another upgrade running",
            &["good", "--to", "2.4.9", "--yes"],
            6,
            &[
                "another upgrade of 'good' is running",
                "another-host/4242",
                "--take-over",
            ],
        ),
    ]
}

fn bad_input(helm: Helm) {
    let ns = TestNs::new(&format!("bad-{}", helm.name()));
    let dir = tempfile::tempdir().unwrap();
    install_release(helm, &ns, "good", "4.0.13", &[]);
    install_release(
        helm,
        &ns,
        "sa",
        "4.2.8",
        &[
            ("cluster.enabled", "false"),
            ("standalone.messageQueue", "rocksmq"),
        ],
    );
    install_release(helm, &ns, "broken", "4.2.8", &[]);
    break_a_deployment(&ns);
    install_failed_release(helm, &ns);
    install_other_chart(helm, &ns, dir.path());
    assert!(try_install_release(helm, &ns, "unused", "4.2.8", &[])
        .status
        .success());
    hold_lock(&ns, "good");
    let mut failures = Vec::new();
    for c in cases(helm, &ns, dir.path()) {
        let mark = audit::mark();
        let mut cmd = plugin_cmd(helm, &ns);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let out = outcome(cmd.args(&c.args));
        let said = format!("{}{}", out.stdout, out.stderr);
        let missing: Vec<&String> = c
            .says
            .iter()
            .filter(|s| !said.contains(s.as_str()))
            .collect();
        if out.code != c.code || !missing.is_empty() {
            failures.push(format!(
                "{}: exit {} (want {}), missing {missing:?}\n{said}",
                c.name, out.code, c.code
            ));
        }
        let writes = support::writes_since(&mark, ns.name());
        if !writes.is_empty() {
            failures.push(format!(
                "{}: wrote {:?}",
                c.name,
                writes
                    .iter()
                    .map(|e| format!("{} {}/{}", e.verb, e.resource, e.name))
                    .collect::<Vec<_>>()
            ));
        }
        eprintln!("{:<34} exit {} writes {}", c.name, out.code, writes.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_input_is_refused_with_the_fix_and_no_write_helm3() {
    bad_input(Helm::V3);
}

#[test]
fn bad_input_is_refused_with_the_fix_and_no_write_helm4() {
    bad_input(Helm::V4);
}
