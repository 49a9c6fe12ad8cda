//! The helm CLI adapter: `$HELM_BIN` (the helm that called the plugin), else
//! `helm` on PATH. Helm's own JSON output is parsed here and nowhere else.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;
use tokio::process::Command;

use crate::error::Error;
use crate::planner::facts::{ChartEntry, Release, Repo, ValuesFacts};
use crate::planner::plan::Step;
use crate::world::retry::Retry;

#[derive(Debug, Clone)]
pub struct Helm {
    pub bin: PathBuf,
    pub namespace: String,
    pub kube_context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Extra flags for the commands that write (upgrade, rollback).
    pub write_args: Vec<String>,
    /// Renders made for the plan, each handed once to the run that follows.
    pub renders: Renders,
    /// How long helm commands that failed on a transient API error are run
    /// again (none before a run; the progress deadline during one).
    pub retry: Retry,
}

/// Renders kept by `Helm::prerender`, by their helm arguments: the plan's
/// render of a hop is the one its run applies (the release cannot change in
/// between: the run checks it under its lock), so the run does not render the
/// same chart and values twice. Taken once; a later render asks helm again.
#[derive(Debug, Clone, Default)]
pub struct Renders(Arc<Mutex<HashMap<Vec<String>, Vec<Value>>>>);

impl Renders {
    fn keep(&self, args: Vec<String>, objects: &[Value]) {
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(args, objects.to_vec());
        }
    }

    fn take(&self, args: &[String]) -> Option<Vec<Value>> {
        self.0.lock().ok()?.remove(args)
    }
}

#[derive(Deserialize)]
struct ListRow {
    name: String,
    namespace: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    chart: String,
    #[serde(default)]
    app_version: String,
}

#[derive(Deserialize)]
struct SearchRow {
    name: String,
    version: String,
    #[serde(default)]
    app_version: String,
}

#[derive(Deserialize)]
struct RepoRow {
    name: String,
    url: String,
}

impl Helm {
    pub fn locate(helm_bin: Option<String>) -> Result<PathBuf, Error> {
        match helm_bin.filter(|b| !b.is_empty()) {
            Some(bin) => which::which(&bin).map_err(|_| Error::HelmMissing),
            None => which::which("helm").map_err(|_| Error::HelmMissing),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).arg("--namespace").arg(&self.namespace);
        if let Some(ctx) = &self.kube_context {
            cmd.arg("--kube-context").arg(ctx);
        }
        if let Some(path) = &self.kubeconfig {
            cmd.arg("--kubeconfig").arg(path);
        }
        // Its own process group: a Ctrl-C at the terminal stops the plugin between
        // steps, but never kills helm halfway through an upgrade (which would
        // leave the release pending-upgrade).
        cmd.process_group(0);
        crate::world::trace::command(cmd.as_std());
        cmd
    }

    /// Runs helm and returns stdout; stderr becomes the error.
    ///
    /// A command that failed on a transient API error (see `transient`) runs
    /// again within `retry`: a read is the same when asked twice, and a write
    /// (`upgrade`, `rollback`) too: helm records a revision only once it
    /// applied, and refuses to start over one it left pending.
    pub async fn run(&self, args: &[&str]) -> Result<String, Error> {
        self.retry
            .call_when(
                || self.run_once(args),
                transient,
                |e| match e {
                    Error::Helm { command, stderr } => {
                        format!("helm {command}: {}", first_line(stderr))
                    }
                    other => other.to_string(),
                },
            )
            .await
    }

    async fn run_once(&self, args: &[&str]) -> Result<String, Error> {
        let output = self.command(args).output().await.map_err(|e| Error::Helm {
            command: args.join(" "),
            stderr: format!("cannot run {}: {e}", self.bin.display()),
        })?;
        if !output.status.success() {
            return Err(Error::Helm {
                command: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A helm write (`upgrade`, `rollback`; argv from the subcommand on) with the
    /// `--helm-arg` flags and, on a release Helm applies server-side, `--force-conflicts`
    /// (Helm takes back the fields the plugin patched under its own field manager).
    /// Done only when the release's newest revision is then `deployed`.
    pub async fn write(
        &self,
        release: &str,
        args: &[&str],
        server_side: bool,
    ) -> Result<String, Error> {
        let flags = write_flags(&self.write_args, server_side);
        let mut full = args.to_vec();
        full.extend(flags.iter().map(String::as_str));
        let out = self.run(&full).await?;
        let newest = self.newest_revision(release).await?;
        if newest.status != "deployed" {
            return Err(Error::Helm {
                command: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
                stderr: format!(
                    "revision {} of {release} is {}: {}",
                    newest.revision, newest.status, newest.description
                ),
            });
        }
        Ok(out)
    }

    /// The release's newest revision (`helm history --max 1`), whatever its status.
    pub async fn newest_revision(&self, release: &str) -> Result<Revision, Error> {
        let rows: Vec<Revision> = self
            .json(&["history", release, "--max", "1", "-o", "json"])
            .await?;
        rows.into_iter().last().ok_or_else(|| Error::Helm {
            command: format!("history {release}"),
            stderr: "no revision".into(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, Error> {
        let out = self.run(args).await?;
        serde_json::from_str(&out).map_err(|e| Error::Helm {
            command: args.join(" "),
            stderr: format!("unexpected output: {e}"),
        })
    }

    pub async fn version(&self) -> Option<semver::Version> {
        let out = Command::new(&self.bin)
            .args(["version", "--short"])
            .output()
            .await
            .ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    }

    /// The release in this namespace, whatever its status.
    pub async fn release(&self, name: &str) -> Result<Option<Release>, Error> {
        let filter = format!("^{}$", regex_escape(name));
        let rows: Vec<ListRow> = self.json(&list_args(&filter, false)).await?;
        Ok(rows.into_iter().find(|r| r.name == name).map(release))
    }

    /// Every release in every namespace (`helm list -A`, all states, no limit).
    pub async fn releases_everywhere(&self) -> Result<Vec<Release>, Error> {
        let mut args = list_args(".", true);
        args.extend(["--max", "0"]);
        let rows: Vec<ListRow> = self.json(&args).await?;
        Ok(rows.into_iter().map(release).collect())
    }

    /// Every release in `namespace` (all states, no limit).
    pub async fn releases_in(&self, namespace: &str) -> Result<Vec<Release>, Error> {
        let helm = Helm {
            namespace: namespace.to_string(),
            ..self.clone()
        };
        let mut args = list_args(".", false);
        args.extend(["--max", "0"]);
        let rows: Vec<ListRow> = helm.json(&args).await?;
        Ok(rows.into_iter().map(release).collect())
    }

    /// Namespaces that hold a release of this name (for "wrong namespace" hints).
    pub async fn namespaces_with(&self, name: &str) -> Vec<String> {
        let filter = format!("^{}$", regex_escape(name));
        let rows: Vec<ListRow> = self
            .json(&list_args(&filter, true))
            .await
            .unwrap_or_default();
        rows.into_iter().map(|r| r.namespace).collect()
    }

    /// Derived facts only: values can hold secrets and never leave this function.
    pub async fn values(&self, name: &str) -> Result<ValuesFacts, Error> {
        let user: Value = self.json(&["get", "values", name, "-o", "json"]).await?;
        let computed: Value = self
            .json(&["get", "values", name, "--all", "-o", "json"])
            .await?;
        Ok(ValuesFacts::from_values(&user, &computed))
    }

    pub async fn repos(&self) -> Result<Vec<Repo>, Error> {
        match self
            .json::<Vec<RepoRow>>(&["repo", "list", "-o", "json"])
            .await
        {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|r| Repo {
                    name: r.name,
                    url: r.url,
                })
                .collect()),
            Err(Error::Helm { stderr, .. }) if stderr.contains("no repositories") => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every `<repo>/milvus` chart version in the local repository cache.
    pub async fn charts(&self) -> Result<Vec<ChartEntry>, Error> {
        let rows: Vec<SearchRow> = match self
            .json(&["search", "repo", "milvus", "--versions", "-o", "json"])
            .await
        {
            Ok(rows) => rows,
            Err(Error::Helm { stderr, .. }) if stderr.contains("no repositories") => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut charts: Vec<ChartEntry> = rows.into_iter().filter_map(chart_entry).collect();
        attach_origins(&mut charts);
        Ok(charts)
    }
}

impl Helm {
    /// The objects the hop's `helm upgrade` step would apply, rendered by
    /// `helm upgrade --dry-run=server` (the chart's lookups answered by the
    /// cluster; nothing written) with the value flags of `--helm-arg`. Returned
    /// as objects: values, which can hold secrets, never leave as text.
    pub async fn render(&self, step: &Step) -> Result<Vec<Value>, Error> {
        let args = self.render_args(step);
        match self.renders.take(&args) {
            Some(objects) => Ok(objects),
            None => self.render_with(&args).await,
        }
    }

    /// `render`, keeping the objects for the next `render` of the same step.
    pub async fn prerender(&self, step: &Step) -> Result<Vec<Value>, Error> {
        let args = self.render_args(step);
        let objects = self.render_with(&args).await?;
        self.renders.keep(args, &objects);
        Ok(objects)
    }

    fn render_args(&self, step: &Step) -> Vec<String> {
        let mut args = upgrade_args(step);
        args.extend(render_flags(&self.write_args));
        args.extend(["--dry-run=server", "-o", "json"].map(String::from));
        args
    }

    async fn render_with(&self, args: &[String]) -> Result<Vec<Value>, Error> {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let release: Value = self.json(&argv).await?;
        let manifest = release["manifest"].as_str().unwrap_or_default();
        parse_manifest(manifest).map_err(|e| Error::Helm {
            command: "upgrade --dry-run".into(),
            stderr: format!("the rendered manifest does not parse: {e}"),
        })
    }
}

/// What helm says when the API server (or something on its way: a load
/// balancer, an admission webhook) failed the request rather than answered it:
/// the same classes `retry::is_transient` retries for the plugin's own calls
/// (5xx, 429, connections refused, reset or cut short). A timeout of helm's own
/// `--wait` is the cluster's answer (pods not ready) and is not among them.
fn transient(e: &Error) -> bool {
    const SIGNS: [&str; 13] = [
        "connection refused",
        "connection reset by peer",
        "broken pipe",
        "unexpected EOF",
        "http2: client connection lost",
        "TLS handshake timeout",
        "i/o timeout",
        "Internal error occurred",
        "the server is currently unable to handle the request",
        "the server has received too many requests",
        "Too many requests",
        "etcdserver: request timed out",
        "etcdserver: leader changed",
    ];
    match e {
        Error::Helm { stderr, .. } if !stderr.starts_with("cannot run ") => {
            SIGNS.iter().any(|s| stderr.contains(s))
        }
        _ => false,
    }
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}

/// The documents of a rendered manifest, as JSON objects (empty ones left out).
pub fn parse_manifest(manifest: &str) -> Result<Vec<Value>, serde_yaml_ng::Error> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
        let v = <Value as serde::Deserialize>::deserialize(doc)?;
        if v.is_object() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The `--helm-arg` flags that change what the chart renders (values files and
/// `--set` flags), which a render must carry too; `--wait`, `--timeout` and the
/// like only matter to the write.
fn render_flags(write_args: &[String]) -> Vec<String> {
    const VALUE_FLAGS: [&str; 7] = [
        "-f",
        "--values",
        "--set",
        "--set-string",
        "--set-file",
        "--set-json",
        "--set-literal",
    ];
    let mut out = Vec::new();
    let mut args = write_args.iter();
    while let Some(a) = args.next() {
        let name = a.split('=').next().unwrap_or(a);
        if !VALUE_FLAGS.contains(&name) {
            continue;
        }
        out.push(a.clone());
        if !a.contains('=') {
            out.extend(args.next().cloned());
        }
    }
    out
}

/// Helm was refused (its release Secrets are not readable with these credentials).
pub fn is_forbidden(e: &Error) -> bool {
    matches!(e, Error::Helm { stderr, .. } if stderr.contains("forbidden"))
}

/// One row of `helm history -o json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Revision {
    pub revision: u64,
    pub status: String,
    #[serde(default)]
    pub description: String,
}

/// The flags a helm write gets: the `--helm-arg` ones, and `--force-conflicts` where
/// Helm applies server-side, unless those flags ask for client-side apply.
pub fn write_flags(write_args: &[String], server_side: bool) -> Vec<String> {
    let client_side = write_args
        .windows(2)
        .any(|w| w[0] == "--server-side" && w[1] == "false")
        || write_args.iter().any(|a| a == "--server-side=false");
    let mut flags = write_args.to_vec();
    if server_side && !client_side && !flags.iter().any(|a| a == "--force-conflicts") {
        flags.push("--force-conflicts".into());
    }
    flags
}

/// `helm list` of every state (Helm 4 has no `--all`; both know these).
fn list_args(filter: &str, all_namespaces: bool) -> Vec<&str> {
    let mut args = vec![
        "list",
        "--deployed",
        "--failed",
        "--pending",
        "--superseded",
        "--uninstalling",
        "--filter",
        filter,
        "-o",
        "json",
    ];
    if all_namespaces {
        args.push("--all-namespaces");
    }
    args
}

fn release(row: ListRow) -> Release {
    Release {
        name: row.name,
        namespace: row.namespace,
        chart: row.chart,
        app_version: row.app_version,
        status: row.status,
        revision: row.revision.parse().unwrap_or(0),
    }
}

fn chart_entry(row: SearchRow) -> Option<ChartEntry> {
    let (repo, chart) = row.name.split_once('/')?;
    (chart == "milvus").then_some(())?;
    Some(ChartEntry {
        repo: repo.to_string(),
        chart_version: semver::Version::parse(&row.version).ok()?,
        app_version: row.app_version.parse().ok()?,
        origin: None,
    })
}

/// Each chart's index metadata from Helm's repository cache, one index per repository.
fn attach_origins(charts: &mut [ChartEntry]) {
    let Some(cache) = crate::world::repo_index::cache_dir() else {
        return;
    };
    let mut origins = std::collections::HashMap::new();
    for chart in charts.iter_mut() {
        let of_repo = origins
            .entry(chart.repo.clone())
            .or_insert_with(|| crate::world::repo_index::milvus_origins(&cache, &chart.repo));
        chart.origin = of_repo.get(&chart.chart_version.to_string()).cloned();
    }
}

/// `v3.17.3+ge4da497` → 3.17.3
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let v = text.trim().trim_start_matches('v');
    let core = v.split(['+', '-']).next()?;
    semver::Version::parse(core).ok()
}

fn regex_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

/// argv (after the helm binary) of a plan's `helm upgrade` step:
/// `upgrade REL REPO/milvus --version X --reset-then-reuse-values --set k=v ...`;
/// a `--chart` (an absolute path) gets no `--version`: the chart is what it is.
pub fn upgrade_args(step: &Step) -> Vec<String> {
    let Step::HelmUpgrade {
        release,
        chart,
        chart_version,
        values,
    } = step
    else {
        return Vec::new();
    };
    let mut args: Vec<String> = vec!["upgrade".into(), release.clone(), chart.clone()];
    if !std::path::Path::new(chart).is_absolute() {
        args.extend(["--version".into(), chart_version.to_string()]);
    }
    args.push("--reset-then-reuse-values".into());
    for v in values {
        args.push("--set".into());
        args.push(format!("{}={}", v.key, v.value));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_the_api_server_are_transient_its_answers_are_not() {
        let helm = |stderr: &str| Error::Helm {
            command: "upgrade r".into(),
            stderr: stderr.into(),
        };
        for s in [
            "Error: UPGRADE FAILED: create: failed to create: Internal error occurred: failed calling webhook \"policy.example.com\": context deadline exceeded",
            "Error: Kubernetes cluster unreachable: Get \"https://10.0.0.1:6443/version\": dial tcp 10.0.0.1:6443: connect: connection refused",
            "Error: UPGRADE FAILED: the server is currently unable to handle the request (get secrets)",
            "Error: query: failed to query with labels: etcdserver: request timed out",
            "Error: UPGRADE FAILED: http2: client connection lost",
        ] {
            assert!(transient(&helm(s)), "{s}");
        }
        for s in [
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
            "Error: UPGRADE FAILED: context deadline exceeded",
            "Error: UPGRADE FAILED: cannot patch \"r-milvus-proxy\" with kind Deployment: admission webhook \"policy.example.com\" denied the request",
            "Error: release: not found",
            "Error: UPGRADE FAILED: secrets is forbidden: User \"team\" cannot create resource \"secrets\"",
        ] {
            assert!(!transient(&helm(s)), "{s}");
        }
        let missing = helm("cannot run /usr/bin/helm: connection refused");
        assert!(!transient(&missing));
        assert_eq!(first_line("a\nb"), "a");
    }

    #[test]
    fn a_kept_render_is_handed_out_once() {
        let renders = Renders::default();
        let args = vec!["upgrade".to_string(), "r".to_string()];
        renders.keep(args.clone(), &[serde_json::json!({"kind": "ConfigMap"})]);
        assert_eq!(renders.take(&["upgrade".to_string()]), None);
        assert_eq!(renders.take(&args).map(|o| o.len()), Some(1));
        assert_eq!(renders.take(&args), None);
    }

    #[test]
    fn parses_helm_versions() {
        assert_eq!(
            parse_version("v3.17.3+ge4da497\n"),
            Some(semver::Version::new(3, 17, 3))
        );
        assert_eq!(parse_version("v4.1.4"), Some(semver::Version::new(4, 1, 4)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn force_conflicts_only_where_helm_applies_server_side() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(write_flags(&args(&["--wait"]), false), ["--wait"]);
        assert_eq!(
            write_flags(&args(&["--wait"]), true),
            ["--wait", "--force-conflicts"]
        );
        assert_eq!(
            write_flags(&args(&["--server-side=false"]), true),
            ["--server-side=false"]
        );
        assert_eq!(
            write_flags(&args(&["--server-side", "false"]), true),
            ["--server-side", "false"]
        );
        assert_eq!(
            write_flags(&args(&["--force-conflicts"]), true),
            ["--force-conflicts"]
        );
    }

    #[test]
    fn a_local_chart_gets_no_version_flag() {
        let step = |chart: &str| Step::HelmUpgrade {
            release: "r".into(),
            chart: chart.into(),
            chart_version: semver::Version::new(4, 2, 8),
            values: vec![],
        };
        let argv = upgrade_args(&step("zilliztech/milvus"));
        assert_eq!(argv[2..5], ["zilliztech/milvus", "--version", "4.2.8"]);
        let argv = upgrade_args(&step("/charts/milvus-4.2.8.tgz"));
        assert_eq!(
            argv[2..4],
            ["/charts/milvus-4.2.8.tgz", "--reset-then-reuse-values"]
        );
    }

    #[test]
    fn renders_carry_value_flags_only() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            render_flags(&args(&[
                "--wait",
                "-f",
                "prod.yaml",
                "--timeout",
                "5m",
                "--set=a=b",
                "--set-string",
                "c=1"
            ])),
            ["-f", "prod.yaml", "--set=a=b", "--set-string", "c=1"]
        );
    }

    #[test]
    fn manifests_parse_into_objects() {
        let docs = parse_manifest(
            "---\n# Source: x\napiVersion: v1\nkind: ConfigMap\n---\n\n---\nkind: Deployment\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Deployment");
    }

    #[test]
    fn keeps_only_milvus_charts() {
        let row = |name: &str| SearchRow {
            name: name.into(),
            version: "4.2.8".into(),
            app_version: "2.4.9".into(),
        };
        assert!(chart_entry(row("zilliztech/milvus")).is_some());
        assert!(chart_entry(row("zilliztech/milvus-operator")).is_none());
        assert!(chart_entry(row("bitnami/milvus-thing")).is_none());
    }
}
