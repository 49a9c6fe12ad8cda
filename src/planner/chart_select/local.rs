//! `--chart PATH`: charts the user brings (air-gapped clusters reach no
//! repository). Each must be the Milvus Helm chart by the same rules as a
//! repository's (`provenance`), and every chart hop of the plan must find one
//! that ships its target: one `--chart` per chart hop (2.5.x → 2.6 needs the
//! 2.5.16 chart and the 2.6 one). A chart no hop uses is a usage error.

use crate::planner::chart_history::HISTORY;
use crate::planner::error::PlanError;
use crate::planner::facts::{ChartEntry, LocalChart, MessageQueue};
use crate::planner::provenance::identify;
use crate::planner::version::MilvusVersion;

use super::{bad_for_pulsar_v2, choice, unsupported_pair, ChartChoice, ChartRequest};

/// The local chart as a chart entry, or why it is not the Milvus chart.
fn entry(chart: &LocalChart) -> Result<ChartEntry, String> {
    if chart.name != "milvus" {
        return Err(format!(
            "its Chart.yaml names chart '{}', the Milvus chart is 'milvus'",
            chart.name
        ));
    }
    let version = semver::Version::parse(&chart.version)
        .map_err(|_| format!("its version '{}' is not a chart version", chart.version))?;
    let app_version = chart.app_version.parse().map_err(|_| {
        format!(
            "its appVersion '{}' is no Milvus version",
            chart.app_version
        )
    })?;
    let entry = ChartEntry {
        repo: String::new(),
        chart_version: version,
        app_version,
        origin: Some(chart.origin.clone()),
    };
    match identify(&entry) {
        id if id.is_milvus() => Ok(entry),
        id => Err(id.why().to_string()),
    }
}

fn ships(entry: &ChartEntry, target: &MilvusVersion) -> bool {
    &entry.app_version == target || &entry.facts().default_version() == target
}

/// `path (chart 4.2.8, Milvus 2.4.9)` for messages.
fn described(chart: &LocalChart) -> String {
    format!(
        "{} (chart {}, Milvus {})",
        chart.path, chart.version, chart.app_version
    )
}

/// The newest Milvus chart of the history that ships `target` for this queue.
pub fn suggested_chart(target: &MilvusVersion, mq: &MessageQueue) -> Option<semver::Version> {
    HISTORY
        .iter()
        .filter(|c| &c.app_version == target || &c.default_version() == target)
        .filter(|c| !(mq == &MessageQueue::Pulsar && bad_for_pulsar_v2(&c.chart_version)))
        .filter(|c| !unsupported_pair(&c.chart_version, target))
        .map(|c| c.chart_version.clone())
        .max()
}

fn how_to_get(target: &MilvusVersion, mq: &MessageQueue) -> String {
    match suggested_chart(target, mq) {
        Some(v) => format!(
            "the Milvus chart {v} (on a connected machine: `helm pull milvus --repo {} --version {v}`)",
            crate::planner::facts::Repo::CURRENT_URL
        ),
        None => "a Milvus chart whose appVersion is the target".into(),
    }
}

/// Before any hop is built: every `--chart` is the Milvus chart, every chart
/// hop (its target in `chart_hops`) has one, and every one is used.
pub fn check(
    charts: &[LocalChart],
    chart_hops: &[MilvusVersion],
    mq: &MessageQueue,
) -> Result<(), PlanError> {
    let mut entries = Vec::new();
    for chart in charts {
        let e = entry(chart).map_err(|why| PlanError::LocalChartNotMilvus {
            path: chart.path.clone(),
            why,
        })?;
        entries.push(e);
    }
    if chart_hops.is_empty() {
        return Err(PlanError::LocalChartUnused {
            path: charts[0].path.clone(),
            why: "the plan is rolling: it patches images and uses no chart (add --path helm to upgrade through the chart)".into(),
        });
    }
    for target in chart_hops {
        if !entries.iter().any(|e| ships(e, target)) {
            let others: Vec<String> = chart_hops.iter().map(|t| format!("Milvus {t}")).collect();
            return Err(PlanError::LocalChartMissingTarget {
                target: target.to_string(),
                given: charts.iter().map(described).collect(),
                hops: others,
                fix: how_to_get(target, mq),
            });
        }
    }
    for (chart, e) in charts.iter().zip(&entries) {
        if !chart_hops.iter().any(|t| ships(e, t)) {
            return Err(PlanError::LocalChartUnused {
                path: chart.path.clone(),
                why: format!(
                    "it ships Milvus {}, and the plan's chart hops go to {}",
                    e.app_version,
                    chart_hops
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The hop's chart among the `--chart` ones (`check` has passed).
pub fn select(request: &ChartRequest) -> Result<ChartChoice, PlanError> {
    let target = request.target;
    let found = request
        .local
        .iter()
        .filter_map(|c| entry(c).ok().map(|e| (c, e)))
        .filter(|(_, e)| ships(e, target))
        .max_by(|(_, a), (_, b)| a.chart_version.cmp(&b.chart_version));
    let Some((chart, e)) = found else {
        return Err(PlanError::LocalChartMissingTarget {
            target: target.to_string(),
            given: request.local.iter().map(described).collect(),
            hops: vec![format!("Milvus {target}")],
            fix: how_to_get(target, request.message_queue),
        });
    };
    let pulsar_v2 = request.message_queue == &MessageQueue::Pulsar;
    if pulsar_v2 && bad_for_pulsar_v2(&e.chart_version) && !request.force {
        return Err(PlanError::ChartBreaksPulsarV2 {
            chart_version: e.chart_version.to_string(),
        });
    }
    if unsupported_pair(&e.chart_version, target) {
        return Err(PlanError::ChartDoesNotCarryTarget {
            chart_version: e.chart_version.to_string(),
            app_version: e.app_version.to_string(),
            target: target.to_string(),
            hint: format!(
                "chart 4.2.0 and later no longer support Milvus 2.3.x: pass --chart with {}",
                how_to_get(target, request.message_queue)
            ),
        });
    }
    let mut chosen = choice(&e);
    chosen.why = format!(
        "local chart (--chart), no repository consulted; {}",
        chosen.why
    );
    chosen.repo = None;
    chosen.path = Some(chart.path.clone());
    chosen.reference = chart.path.clone();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::facts::ChartOrigin;

    fn local(path: &str, name: &str, version: &str, app: &str, home: &str) -> LocalChart {
        LocalChart {
            path: path.into(),
            name: name.into(),
            version: version.into(),
            app_version: app.into(),
            origin: ChartOrigin {
                home: Some(home.into()),
                sources: vec![],
                maintainers: vec![],
            },
        }
    }

    fn v(s: &str) -> MilvusVersion {
        s.parse().unwrap()
    }

    const MQ: MessageQueue = MessageQueue::PulsarV3;

    #[test]
    fn only_the_milvus_chart_and_only_when_it_ships_a_hop() {
        let real = local(
            "/c/milvus-4.2.58.tgz",
            "milvus",
            "4.2.58",
            "2.5.16",
            "https://milvus.io/",
        );
        assert_eq!(
            check(std::slice::from_ref(&real), &[v("2.5.16")], &MQ),
            Ok(())
        );
        let bitnami = local(
            "/c/milvus-15.0.9.tgz",
            "milvus",
            "15.0.9",
            "2.5.16",
            "https://bitnami.com",
        );
        let e = check(&[bitnami], &[v("2.5.16")], &MQ).unwrap_err();
        assert!(matches!(e, PlanError::LocalChartNotMilvus { .. }), "{e}");
        assert!(e.to_string().contains("not the Milvus Helm chart"), "{e}");
        let renamed = local("/c/x", "vectordb", "4.2.58", "2.5.16", "https://milvus.io/");
        assert!(check(&[renamed], &[v("2.5.16")], &MQ).is_err());
        let garbage = local("/c/x", "milvus", "4.2.58", "latest", "https://milvus.io/");
        assert!(check(&[garbage], &[v("2.5.16")], &MQ).is_err());
        let e = check(std::slice::from_ref(&real), &[v("2.6.15")], &MQ).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("2.6.15") && text.contains("5.0.19"), "{text}");
        let e = check(&[real], &[], &MQ).unwrap_err();
        assert!(matches!(e, PlanError::LocalChartUnused { .. }), "{e}");
    }

    #[test]
    fn two_chart_hops_need_both_charts_and_each_is_used() {
        let stop = local(
            "/c/milvus-4.2.58.tgz",
            "milvus",
            "4.2.58",
            "2.5.16",
            "https://milvus.io/",
        );
        let last = local(
            "/c/milvus-5.0.19.tgz",
            "milvus",
            "5.0.19",
            "2.6.15",
            "https://milvus.io/",
        );
        let hops = [v("2.5.16"), v("2.6.15")];
        let e = check(std::slice::from_ref(&last), &hops, &MQ).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Milvus 2.5.16") && text.contains("4.2.58"),
            "{text}"
        );
        assert_eq!(check(&[stop.clone(), last.clone()], &hops, &MQ), Ok(()));
        let e = check(&[stop, last], &hops[1..], &MQ).unwrap_err();
        assert!(
            matches!(e, PlanError::LocalChartUnused { ref path, .. } if path.ends_with("4.2.58.tgz")),
            "{e}"
        );
    }

    #[test]
    fn the_suggestion_skips_charts_bad_for_pulsar_v2() {
        let s = |t: &str, mq| suggested_chart(&v(t), &mq).map(|c| c.to_string());
        assert_eq!(s("2.4.9", MessageQueue::Pulsar).as_deref(), Some("4.2.8"));
        let beta = s("2.5.0-beta", MessageQueue::Pulsar);
        assert!(
            beta.as_ref()
                .is_none_or(|c| !bad_for_pulsar_v2(&c.parse().unwrap())),
            "{beta:?}"
        );
    }
}
