//! What a plan was made from: the Helm release, its Milvus Deployments' images
//! and the charts its hops install. A plan file carries this and its digest, so
//! `apply` can tell whether the release is still what was reviewed, and say what
//! changed. Replica counts and rollout progress are left out (an HPA moves them,
//! and a run records them itself); values never enter it (they can hold secrets).

use serde::{Deserialize, Serialize};

use crate::planner::facts::Facts;
use crate::planner::plan::Plan;

/// The digest of the `--chart` at `path`, read with the facts.
fn local_digest(facts: &Facts, path: &str) -> Option<String> {
    let chart = facts.local_charts.iter().find(|l| l.path == path)?;
    chart.origin.digest.clone()
}

/// The Helm release as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseBasis {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    /// `milvus-4.0.13`
    pub chart: String,
    pub status: String,
}

/// One Milvus Deployment and the image its Milvus container ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentBasis {
    pub name: String,
    pub image: String,
}

/// A chart a hop installs, as the repository index described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartBasis {
    /// `zilliztech/milvus`
    pub reference: String,
    pub chart_version: String,
    pub app_version: String,
    /// The index's `digest` of the chart archive (sha256), when it has one; for
    /// a `--chart`, the sha256 of the archive or of the directory's files.
    #[serde(default)]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    pub release: ReleaseBasis,
    pub deployments: Vec<DeploymentBasis>,
    pub charts: Vec<ChartBasis>,
}

impl Basis {
    /// The release and its Deployments (no charts): what a run compares once it holds the lock.
    pub fn of_release(facts: &Facts) -> Basis {
        let r = &facts.release;
        Basis {
            release: ReleaseBasis {
                name: r.name.clone(),
                namespace: r.namespace.clone(),
                revision: r.revision,
                chart: r.chart.clone(),
                status: r.status.clone(),
            },
            deployments: facts
                .workloads
                .iter()
                .map(|w| DeploymentBasis {
                    name: w.name.clone(),
                    image: w.image.clone(),
                })
                .collect(),
            charts: Vec::new(),
        }
    }

    /// Everything `plan` was made from, charts of its hops included.
    pub fn of_plan(facts: &Facts, plan: &Plan) -> Basis {
        let charts = plan
            .hops
            .iter()
            .filter_map(|h| h.chart.as_ref())
            .map(|c| ChartBasis {
                reference: c.reference.clone(),
                chart_version: c.chart_version.to_string(),
                app_version: c.app_version.to_string(),
                digest: facts
                    .index
                    .charts
                    .iter()
                    .find(|e| {
                        Some(&e.repo) == c.repo.as_ref() && e.chart_version == c.chart_version
                    })
                    .and_then(|e| e.origin.as_ref())
                    .and_then(|o| o.digest.clone())
                    .or_else(|| local_digest(facts, c.path.as_deref()?)),
            })
            .collect();
        Basis {
            charts,
            ..Basis::of_release(facts)
        }
    }

    /// `sha256:<hex>` of the basis as compact JSON (field order is the struct's).
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let hash = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// What differs from `self` (the plan's) in `now`, one line per change.
    pub fn changes(&self, now: &Basis) -> Vec<String> {
        let mut out = Vec::new();
        let (a, b) = (&self.release, &now.release);
        if a != b {
            out.push(format!(
                "release {}: revision {} {} ({}) → revision {} {} ({})",
                a.name, a.revision, a.chart, a.status, b.revision, b.chart, b.status
            ));
        }
        for w in &self.deployments {
            match now.deployments.iter().find(|n| n.name == w.name) {
                None => out.push(format!("deployment/{} is gone", w.name)),
                Some(n) if n.image != w.image => out.push(format!(
                    "deployment/{}: image {} → {}",
                    w.name, w.image, n.image
                )),
                Some(_) => {}
            }
        }
        for n in &now.deployments {
            if !self.deployments.iter().any(|w| w.name == n.name) {
                out.push(format!("deployment/{} is new ({})", n.name, n.image));
            }
        }
        if self.charts != now.charts {
            let list = |charts: &[ChartBasis]| {
                let names: Vec<String> = charts.iter().map(ChartBasis::describe).collect();
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            };
            out.push(format!(
                "charts: {} → {}",
                list(&self.charts),
                list(&now.charts)
            ));
        }
        out
    }
}

impl ChartBasis {
    fn describe(&self) -> String {
        let digest = self
            .digest
            .as_deref()
            .map(|d| format!(" digest {}", &d[..d.len().min(19)]))
            .unwrap_or_default();
        format!(
            "{} {} (Milvus {}{digest})",
            self.reference, self.chart_version, self.app_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis() -> Basis {
        Basis {
            release: ReleaseBasis {
                name: "r".into(),
                namespace: "ns".into(),
                revision: 1,
                chart: "milvus-4.0.13".into(),
                status: "deployed".into(),
            },
            deployments: vec![DeploymentBasis {
                name: "r-milvus-proxy".into(),
                image: "milvusdb/milvus:v2.2.5".into(),
            }],
            charts: vec![ChartBasis {
                reference: "zilliztech/milvus".into(),
                chart_version: "4.2.8".into(),
                app_version: "2.4.9".into(),
                digest: Some("sha256:abc".into()),
            }],
        }
    }

    #[test]
    fn the_digest_follows_every_field_and_nothing_else() {
        let a = basis();
        assert_eq!(a.digest(), basis().digest());
        assert!(a.digest().starts_with("sha256:") && a.digest().len() == 71);
        let mut b = basis();
        b.charts[0].digest = Some("sha256:def".into());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(
            a.changes(&b),
            ["charts: zilliztech/milvus 4.2.8 (Milvus 2.4.9 digest sha256:abc) → zilliztech/milvus 4.2.8 (Milvus 2.4.9 digest sha256:def)"]
        );
        let mut c = basis();
        c.release.revision = 2;
        c.deployments[0].name = "r-milvus-proxy-2".into();
        assert_eq!(
            a.changes(&c),
            [
                "release r: revision 1 milvus-4.0.13 (deployed) → revision 2 milvus-4.0.13 (deployed)",
                "deployment/r-milvus-proxy is gone",
                "deployment/r-milvus-proxy-2 is new (milvusdb/milvus:v2.2.5)",
            ]
        );
        assert!(a.changes(&basis()).is_empty());
    }

    #[test]
    fn a_basis_survives_the_plan_file() {
        let text = serde_json::to_string(&basis()).unwrap();
        let back: Basis = serde_json::from_str(&text).unwrap();
        assert_eq!(back, basis());
    }
}
