//! Plan files: `--dry-run -o json` writes the plan (`helm-milvus-upgrade/plan/v1`)
//! with what it was asked (`request`), what it was made from (`basis`) and that
//! basis' digest; `apply` re-plans from fresh facts with the same request and
//! carries the plan out only if the facts have the same digest and the plan made
//! from them is the file's. Values never enter a plan file except the `--set`
//! values the plan makes (image tag, queue and layout switches).

use std::path::PathBuf;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::planner::basis::Basis;
use crate::planner::plan::{Options, PathChoice, Plan, SCHEMA};

/// What the plan was asked for: target and planner options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub to: String,
    pub path: String,
    pub chart_version: Option<String>,
    pub repo: Option<String>,
    pub image: Option<String>,
    pub allow_downgrade: bool,
    pub force: bool,
    /// `--all-at-once`: chart hops as one `helm upgrade`.
    #[serde(default)]
    pub all_at_once: bool,
    /// `--chart` paths (local charts); their content is not in the digest.
    #[serde(default)]
    pub charts: Vec<PathBuf>,
}

impl Request {
    pub fn of(to: &str, options: &Options, charts: &[PathBuf]) -> Request {
        let path = options
            .path
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        Request {
            to: to.to_string(),
            path,
            chart_version: options.chart_version.as_ref().map(ToString::to_string),
            repo: options.repo.clone(),
            image: options.image_repository.clone(),
            allow_downgrade: options.allow_downgrade,
            force: options.force,
            all_at_once: options.all_at_once,
            charts: charts.to_vec(),
        }
    }

    pub fn options(&self) -> Result<Options, String> {
        let path = PathChoice::from_str(&self.path, true)
            .map_err(|_| format!("request.path '{}' is not a path", self.path))?;
        let chart_version = match &self.chart_version {
            Some(v) => Some(
                semver::Version::parse(v)
                    .map_err(|_| format!("request.chart_version '{v}' is not a chart version"))?,
            ),
            None => None,
        };
        Ok(Options {
            path,
            chart_version,
            repo: self.repo.clone(),
            image_repository: self.image.clone(),
            allow_downgrade: self.allow_downgrade,
            force: self.force,
            all_at_once: self.all_at_once,
            ..Options::default()
        })
    }
}

/// The fields a plan file adds to the plan document.
pub fn fields(request: &Request, basis: &Basis) -> Value {
    serde_json::json!({"request": request, "basis": basis, "digest": basis.digest()})
}

/// A plan file as `apply` reads it.
#[derive(Debug, Deserialize)]
pub struct PlanFile {
    pub schema: String,
    pub request: Option<Request>,
    pub basis: Option<Basis>,
    pub digest: Option<String>,
    pub plan: Value,
}

/// Why a plan file cannot be applied.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Not a plan file this plugin reads (the fix is to make one).
    Unusable(String),
    /// The release, its Deployments or the charts changed since the plan was made.
    Stale(Vec<String>),
    /// Same facts, other plan: edited by hand or made by another plugin version.
    Differs(String),
}

impl PlanFile {
    pub fn parse(text: &str) -> Result<PlanFile, Refusal> {
        let file: PlanFile = serde_json::from_str(text)
            .map_err(|e| Refusal::Unusable(format!("not a plan file ({e})")))?;
        if file.schema != SCHEMA {
            return Err(Refusal::Unusable(format!(
                "schema '{}' is not {SCHEMA}",
                file.schema
            )));
        }
        if file.request.is_none() || file.basis.is_none() || file.digest.is_none() {
            return Err(Refusal::Unusable(
                "it has no request, basis and digest (made by an older plugin, or not by --dry-run -o json)".into(),
            ));
        }
        Ok(file)
    }

    pub fn release(&self) -> (String, String) {
        let text = |k: &str| self.plan[k].as_str().unwrap_or_default().to_string();
        (text("release"), text("namespace"))
    }

    pub fn request(&self) -> &Request {
        self.request.as_ref().expect("checked by parse")
    }

    pub fn basis(&self) -> &Basis {
        self.basis.as_ref().expect("checked by parse")
    }

    /// The release changed since the plan was made: what changed.
    pub fn stale(&self, now: &Basis) -> Result<(), Refusal> {
        let digest = self.digest.as_deref().unwrap_or_default();
        if digest != self.basis().digest() {
            return Err(Refusal::Differs(
                "its digest is not the digest of its basis: the file was edited".into(),
            ));
        }
        if now.digest() == digest {
            return Ok(());
        }
        let mut changes = self.basis().changes(now);
        if changes.is_empty() {
            changes.push(format!("digest {digest} → {}", now.digest()));
        }
        Err(Refusal::Stale(changes))
    }

    /// The plan made now from the same facts must be the file's.
    pub fn same_plan(&self, now: &Plan) -> Result<(), Refusal> {
        let now = serde_json::to_value(now).unwrap_or_default();
        match first_difference(&self.plan, &now, String::new()) {
            None => Ok(()),
            Some(at) => Err(Refusal::Differs(format!(
                "its plan differs from the one made from the same facts at {at} (edited, or made by another version of the plugin)"
            ))),
        }
    }
}

/// The JSON pointer of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let missing = Value::Null;
                first_difference(
                    x.get(k).unwrap_or(&missing),
                    y.get(k).unwrap_or(&missing),
                    format!("{at}/{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}/{i}"))),
        _ if a == b => None,
        _ => Some(if at.is_empty() { "/".into() } else { at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_round_trips_into_the_same_options() {
        let options = Options {
            path: PathChoice::Helm,
            chart_version: Some(semver::Version::new(4, 2, 8)),
            repo: Some("zilliztech".into()),
            ..Options::default()
        };
        let request = Request::of("2.4.9", &options, &[]);
        assert_eq!(request.path, "helm");
        let back = request.options().unwrap();
        assert_eq!(back.path, PathChoice::Helm);
        assert_eq!(back.chart_version, options.chart_version);
        assert_eq!(back.repo, options.repo);
        assert!(Request {
            path: "sideways".into(),
            ..request
        }
        .options()
        .is_err());
    }

    #[test]
    fn files_without_a_digest_or_of_another_schema_are_unusable() {
        let old = json!({"schema": SCHEMA, "plan": {}}).to_string();
        assert!(matches!(PlanFile::parse(&old), Err(Refusal::Unusable(_))));
        let other = json!({"schema": "x/v9", "plan": {}}).to_string();
        assert!(matches!(PlanFile::parse(&other), Err(Refusal::Unusable(_))));
        assert!(matches!(PlanFile::parse("{"), Err(Refusal::Unusable(_))));
    }

    #[test]
    fn differences_are_found_where_they_are() {
        let a = json!({"hops": [{"image": "m:v2.4.9", "steps": [1, 2]}], "to": "2.4.9"});
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b, String::new()), None);
        b["hops"][0]["image"] = json!("m:v2.4.10");
        assert_eq!(
            first_difference(&a, &b, String::new()).as_deref(),
            Some("/hops/0/image")
        );
        b = a.clone();
        b["hops"][0]["steps"] = json!([1]);
        assert_eq!(
            first_difference(&a, &b, String::new()).as_deref(),
            Some("/hops/0/steps")
        );
    }
}
