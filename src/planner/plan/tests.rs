//! The planner over real version pairs from the chart history.

use super::*;
use crate::planner::chart_history::HISTORY;
use crate::planner::component::Component::*;
use crate::planner::facts::{
    ChartEntry, ChartIndex, MilvusConfig, Release, Repo, Rollout, ValuesFacts,
};

fn v(s: &str) -> MilvusVersion {
    s.parse().unwrap()
}

fn index() -> ChartIndex {
    ChartIndex {
        repos: vec![Repo {
            name: "zilliztech".into(),
            url: Repo::CURRENT_URL.into(),
        }],
        charts: HISTORY
            .iter()
            .map(|c| ChartEntry {
                repo: "zilliztech".into(),
                chart_version: c.chart_version.clone(),
                app_version: c.app_version.clone(),
                origin: None,
            })
            .collect(),
    }
}

fn components(layout: Layout) -> Vec<Component> {
    match layout {
        Layout::Separate => vec![
            RootCoord, DataCoord, QueryCoord, IndexCoord, DataNode, QueryNode, IndexNode, Proxy,
        ],
        Layout::MixCoord => vec![MixCoord, DataNode, QueryNode, IndexNode, Proxy],
        Layout::Streaming => vec![MixCoord, StreamingNode, DataNode, QueryNode, Proxy],
        Layout::Standalone => vec![Standalone],
    }
}

fn facts(version: &str, layout: Layout, mq: MessageQueue) -> Facts {
    let workloads = components(layout)
        .into_iter()
        .map(|c| Workload {
            name: format!("my-release-milvus-{c}"),
            component: c,
            resource_group: None,
            container: c.label().into(),
            image: format!("milvusdb/milvus:v{version}"),
            replicas: 2,
            strategy: "RollingUpdate".into(),
            min_ready_seconds: 0,
            rollout: Rollout::default(),
        })
        .collect();
    Facts {
        release: Release {
            name: "my-release".into(),
            namespace: "milvus".into(),
            chart: "milvus-4.0.13".into(),
            app_version: version.into(),
            status: "deployed".into(),
            revision: 3,
        },
        workloads,
        values: ValuesFacts {
            message_queue: mq,
            image_tag: None,
            image_repository: Some("milvusdb/milvus".into()),
            cluster_enabled: layout != Layout::Standalone,
            chart_name: "milvus".into(),
        },
        config: Some(MilvusConfig {
            config_map: "my-release-milvus".into(),
            key: "user.yaml".into(),
            active_standby: vec![],
            root_path: None,
            unparseable: None,
        }),
        index: index(),
        helm_version: Some(semver::Version::new(3, 17, 3)),
        helm_applies_server_side: false,
        api_server_version: Some(semver::Version::new(1, 30, 0)),
        local_charts: Vec::new(),
        autoscalers: Vec::new(),
    }
}

fn plan_for(from: &str, to: &str, layout: Layout, mq: MessageQueue) -> Result<Plan, PlanError> {
    plan(&facts(from, layout, mq), &v(to), &Options::default())
}

/// (path, hop target, chart version)
type HopSummary = (Path, String, Option<String>);

fn summary(p: &Plan) -> Vec<HopSummary> {
    p.hops
        .iter()
        .map(|h| {
            (
                h.path,
                h.to.to_string(),
                h.chart.as_ref().map(|c| c.chart_version.to_string()),
            )
        })
        .collect()
}

fn set_values(hop: &Hop) -> Vec<String> {
    hop.values
        .iter()
        .map(|s| format!("{}={}", s.key, s.value))
        .collect()
}

#[test]
fn real_pairs_take_the_documented_paths() {
    use Layout::*;
    use MessageQueue::*;
    // from, to, layout, queue, hops as `path to@chart`.
    #[rustfmt::skip]
    let table = [
        ("2.1.4", "2.2.0", Separate, Pulsar, "migrate 2.2.0@3.3.6"),
        ("2.1.4", "2.4.9", Separate, Pulsar, "migrate 2.4.9@4.2.8"),
        ("2.2.2", "2.4.9", Separate, Pulsar, "helm 2.4.9@4.2.8"),
        ("2.2.5", "2.4.9", Separate, Pulsar, "rolling 2.4.9"),
        ("2.3.4", "2.4.5", Separate, Pulsar, "rolling 2.4.5"),
        ("2.4.5", "2.5.16", Separate, Pulsar, "rolling 2.5.16"),
        ("2.4.9", "2.5.4", MixCoord, PulsarV3, "rolling 2.5.4"),
        ("2.5.16", "2.6.0", MixCoord, PulsarV3, "helm 2.6.0@5.0.1"),
        ("2.5.4", "2.6.3", Separate, PulsarV3, "helm 2.5.16@4.2.58, helm 2.6.3@5.0.5"),
        ("2.5.4", "2.6.3", MixCoord, PulsarV3, "rolling 2.5.16, helm 2.6.3@5.0.5"),
        ("2.1.4", "2.6.0", Separate, Pulsar, "migrate 2.5.16@4.2.58, helm 2.6.0@5.0.1"),
        ("2.6.0", "2.6.3", Streaming, PulsarV3, "rolling 2.6.3"),
        ("2.4.9", "2.5.4", Standalone, RocksMq, "helm 2.5.4@4.2.39"),
    ];
    for (from, to, layout, mq, expected) in table {
        let p = plan_for(from, to, layout, mq).unwrap_or_else(|e| panic!("{from}->{to}: {e}"));
        let hops: Vec<String> = summary(&p)
            .into_iter()
            .map(|(path, to, chart)| match chart {
                Some(c) => format!("{path} {to}@{c}"),
                None => format!("{path} {to}"),
            })
            .collect();
        assert_eq!(hops.join(", "), expected, "{from} -> {to} ({layout:?})");
    }
}

#[test]
fn refuses_same_version_downgrade_and_unknown() {
    use Layout::*;
    assert!(matches!(
        plan_for("2.4.9", "2.4.9", Separate, MessageQueue::Pulsar),
        Err(PlanError::SameVersion { .. })
    ));
    assert!(matches!(
        plan_for("2.4.9", "2.3.4", Separate, MessageQueue::Pulsar),
        Err(PlanError::Downgrade { .. })
    ));
    assert!(matches!(
        plan_for("2.4.9", "2.4.99", Separate, MessageQueue::Pulsar),
        Err(PlanError::UnknownTarget { .. })
    ));
    let f = facts("2.4.9", Separate, MessageQueue::Pulsar);
    let forced = Options {
        allow_downgrade: true,
        ..Options::default()
    };
    assert_eq!(
        plan(&f, &v("2.4.5"), &forced).unwrap().paths(),
        [Path::Rolling]
    );
}

#[test]
fn hotfix_is_an_upgrade() {
    let p = plan_for(
        "2.4.13",
        "2.4.13-hotfix",
        Layout::MixCoord,
        MessageQueue::Pulsar,
    )
    .unwrap();
    assert_eq!(p.paths(), [Path::Rolling]);
}

#[test]
fn rolling_patches_in_dependency_order_with_active_standby_first() {
    let p = plan_for("2.2.5", "2.4.9", Layout::Separate, MessageQueue::Pulsar).unwrap();
    let steps = &p.hops[0].steps;
    assert!(matches!(&steps[0], Step::EnableActiveStandby { sections, .. } if sections.len() == 4));
    let order: Vec<Component> = steps
        .iter()
        .filter_map(|s| match s {
            Step::PatchImage { component, to, .. } => {
                assert_eq!(to, "milvusdb/milvus:v2.4.9");
                Some(*component)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        [IndexNode, RootCoord, DataCoord, IndexCoord, QueryCoord, QueryNode, DataNode, Proxy]
    );
    assert_eq!(p.hops[0].downtime, Downtime::None);
}

#[test]
fn single_replica_querynode_is_not_zero_downtime() {
    let mut f = facts("2.4.5", Layout::MixCoord, MessageQueue::Pulsar);
    f.workloads.iter_mut().for_each(|w| w.replicas = 1);
    let p = plan(&f, &v("2.4.9"), &Options::default()).unwrap();
    assert!(matches!(p.hops[0].downtime, Downtime::Partial(_)));
}

#[test]
fn helm_hops_pin_tag_queue_and_layout() {
    // 4.1.34 says 2.4.5 but runs v2.4.4: the tag must be set.
    let f = facts("2.2.2", Layout::Separate, MessageQueue::Pulsar);
    let pinned = Options {
        chart_version: Some(semver::Version::new(4, 1, 34)),
        ..Options::default()
    };
    let p = plan(&f, &v("2.4.5"), &pinned).unwrap();
    assert!(set_values(&p.hops[0]).contains(&"image.all.tag=v2.4.5".to_string()));
    // Pulsar v2 release on a pulsarv3-default chart keeps Pulsar v2, and 4.2.21-29 are skipped.
    let p = plan_for("2.4.5", "2.6.0", Layout::Separate, MessageQueue::Pulsar).unwrap();
    let first = set_values(&p.hops[0]);
    for want in [
        "pulsar.enabled=true",
        "pulsarv3.enabled=false",
        "mixCoordinator.enabled=true",
        "rootCoordinator.enabled=false",
    ] {
        assert!(first.contains(&want.to_string()), "{want} in {first:?}");
    }
    let last = set_values(&p.hops[1]);
    assert!(last.contains(&"streaming.enabled=true".to_string()));
    assert!(last.contains(&"indexNode.enabled=false".to_string()));
    assert_eq!(p.hops[1].layout_after, Layout::Streaming);
    match p.hops[1].helm_upgrade() {
        Some(Step::HelmUpgrade {
            release,
            chart,
            chart_version,
            ..
        }) => assert_eq!(
            (release.as_str(), chart.as_str(), chart_version.to_string()),
            ("my-release", "zilliztech/milvus", "5.0.1".into())
        ),
        _ => panic!("no helm step"),
    }
}

#[test]
fn standalone_2_6_gets_neither_streaming_nor_indexnode_values() {
    let p = plan_for(
        "2.5.16",
        "2.6.0",
        Layout::Standalone,
        MessageQueue::Woodpecker,
    )
    .unwrap();
    assert_eq!(p.paths(), [Path::Helm]);
    let values = set_values(&p.hops[0]);
    assert!(
        !values
            .iter()
            .any(|s| s.starts_with("streaming") || s.starts_with("indexNode")),
        "{values:?}"
    );
}

#[test]
fn pulsar_v2_never_gets_a_known_bad_chart() {
    let p = plan_for(
        "2.4.9",
        "2.5.0-beta",
        Layout::Standalone,
        MessageQueue::Pulsar,
    )
    .unwrap();
    let chart = p.hops[0].chart.as_ref().unwrap().chart_version.clone();
    assert!(
        !crate::planner::chart_select::bad_for_pulsar_v2(&chart),
        "{chart}"
    );
    assert_eq!(chart, semver::Version::new(4, 2, 32));
}

#[test]
fn path_flag_is_honoured_or_explained() {
    let f = facts("2.2.5", Layout::Separate, MessageQueue::Pulsar);
    let helm = Options {
        path: PathChoice::Helm,
        ..Options::default()
    };
    assert_eq!(plan(&f, &v("2.4.9"), &helm).unwrap().paths(), [Path::Helm]);
    let rolling = Options {
        path: PathChoice::Rolling,
        ..Options::default()
    };
    let f = facts("2.2.2", Layout::Separate, MessageQueue::Pulsar);
    assert!(matches!(
        plan(&f, &v("2.4.9"), &rolling),
        Err(PlanError::PathNotPossible { .. })
    ));
    let f = facts("2.4.5", Layout::Standalone, MessageQueue::RocksMq);
    let err = plan(&f, &v("2.4.9"), &rolling).unwrap_err();
    assert!(err.to_string().contains("rocksmq"), "{err}");
    let migrate = Options {
        path: PathChoice::Migrate,
        ..Options::default()
    };
    assert!(plan(
        &facts("2.2.5", Layout::Separate, MessageQueue::Pulsar),
        &v("2.4.9"),
        &migrate
    )
    .is_err());
}

#[test]
fn chart_version_flag_is_validated() {
    let f = facts("2.2.2", Layout::Separate, MessageQueue::Pulsar);
    let pin = |c: &str| Options {
        chart_version: Some(semver::Version::parse(c).unwrap()),
        ..Options::default()
    };
    let p = plan(&f, &v("2.4.9"), &pin("4.2.6")).unwrap();
    assert_eq!(summary(&p)[0].2.as_deref(), Some("4.2.6"));
    assert!(matches!(
        plan(&f, &v("2.4.9"), &pin("4.2.9")),
        Err(PlanError::ChartDoesNotCarryTarget { .. })
    ));
    assert!(matches!(
        plan(&f, &v("2.4.9"), &pin("9.9.9")),
        Err(PlanError::ChartVersionNotFound { .. })
    ));
}

#[test]
fn archived_repository_only_names_the_fix() {
    let mut f = facts("2.2.5", Layout::Separate, MessageQueue::Pulsar);
    f.index.repos = vec![Repo {
        name: "milvus".into(),
        url: "https://milvus-io.github.io/milvus-helm".into(),
    }];
    f.index
        .charts
        .retain(|c| crate::planner::chart_history::in_archived_repo(&c.chart_version));
    f.index
        .charts
        .iter_mut()
        .for_each(|c| c.repo = "milvus".into());
    let helm = Options {
        path: PathChoice::Helm,
        ..Options::default()
    };
    let err = plan(&f, &v("2.4.9"), &helm).unwrap_err();
    assert!(matches!(err, PlanError::ArchivedRepository { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("helm repo add zilliztech https://zilliztech.github.io/milvus-helm"));
}

#[test]
fn warns_about_what_lies_and_what_is_mixed() {
    let mut f = facts("2.2.5", Layout::Separate, MessageQueue::Pulsar);
    f.release.app_version = "2.2.3".into();
    f.workloads[0].image = "milvusdb/milvus:v2.4.9".into();
    let p = plan(&f, &v("2.4.9"), &Options::default()).unwrap();
    let all = p.warnings.join("\n");
    assert!(all.contains("appVersion 2.2.3"), "{all}");
    assert!(all.contains("mixed versions"), "{all}");
    assert!(all.contains("skips a minor"), "{all}");
}

#[test]
fn flavour_and_mirror_are_kept_in_every_hop() {
    let mut f = facts("2.4.9-gpu", Layout::Separate, MessageQueue::Pulsar);
    let mirror = "registry.example.com/milvusdb/milvus";
    for w in &mut f.workloads {
        w.image = format!("{mirror}:v2.4.9-gpu");
    }
    f.values.image_repository = Some(mirror.into());
    let rolling = plan(&f, &v("2.5.16"), &Options::default()).unwrap();
    assert_eq!(rolling.hops[0].image, format!("{mirror}:v2.5.16-gpu"));
    let to_26 = plan(&f, &v("2.6.3"), &Options::default()).unwrap();
    for hop in &to_26.hops {
        assert!(hop.image.ends_with("-gpu"), "{}", hop.image);
        let values = set_values(hop);
        assert!(values.contains(&format!("image.all.tag={}", hop.to.image_tag())));
        assert!(values.contains(&format!("image.all.repository={mirror}")));
    }
    assert_eq!(
        plan(&f, &v("2.4.9"), &Options::default()).unwrap_err(),
        PlanError::SameVersion {
            version: "2.4.9-gpu".into()
        }
    );
}

#[test]
fn pre_releases_only_when_asked_and_with_the_26_rules() {
    let p = plan_for(
        "2.5.4",
        "2.6.0-rc1",
        Layout::Separate,
        MessageQueue::PulsarV3,
    );
    if let Ok(p) = p {
        assert_eq!(p.hops[0].to, v("2.5.16"), "2.6 rules for a 2.6 pre-release");
    }
    let to_release = plan_for("2.4.9", "2.5.4", Layout::MixCoord, MessageQueue::PulsarV3).unwrap();
    assert!(to_release.hops.iter().all(|h| !h.to.is_pre_release()));
    let rc = plan_for(
        "2.6.0-rc1",
        "2.6.3",
        Layout::Streaming,
        MessageQueue::PulsarV3,
    );
    assert!(matches!(rc, Err(PlanError::CannotUpgradeFrom { .. })));
}

#[test]
fn a_pinned_chart_that_breaks_pulsar_v2_needs_force() {
    let f = facts("2.4.5", Layout::Separate, MessageQueue::Pulsar);
    let mut pinned = Options {
        chart_version: Some(semver::Version::new(4, 2, 21)),
        path: PathChoice::Helm,
        ..Options::default()
    };
    let target = HISTORY
        .iter()
        .find(|c| c.chart_version == semver::Version::new(4, 2, 21))
        .unwrap()
        .app_version
        .clone();
    let refused = plan(&f, &target, &pinned).unwrap_err();
    assert!(
        matches!(refused, PlanError::ChartBreaksPulsarV2 { .. }),
        "{refused}"
    );
    pinned.force = true;
    assert!(plan(&f, &target, &pinned).is_ok());
}

#[test]
fn fresh_facts_name_what_changed_since_the_plan() {
    use crate::planner::preflight::changed_since_plan;
    let planned = facts("2.4.5", Layout::MixCoord, MessageQueue::Pulsar);
    let mut now = planned.clone();
    now.workloads[0].replicas = 7;
    now.workloads[0].rollout.ready = 1;
    assert!(
        changed_since_plan(&planned, &now).is_empty(),
        "replicas and rollout are not changes"
    );
    now.release.revision = 4;
    now.workloads[1].image = "milvusdb/milvus:v2.4.9".into();
    now.workloads.pop();
    let changed = changed_since_plan(&planned, &now);
    assert_eq!(
        changed,
        [
            "release my-release: revision 3 milvus-4.0.13 (deployed) → revision 4 milvus-4.0.13 (deployed)",
            "deployment/my-release-milvus-datanode: image milvusdb/milvus:v2.4.5 → milvusdb/milvus:v2.4.9",
            "deployment/my-release-milvus-proxy is gone",
        ]
    );
}

#[test]
fn admission_and_storage_checks_carry_the_api_servers_words_and_the_fix() {
    use crate::planner::preflight::{checks, Admission, Probes, Storage};
    let f = facts("2.1.4", Layout::Separate, MessageQueue::Pulsar);
    let p = plan(&f, &v("2.2.0"), &Options::default()).unwrap();
    let find = |probes: &Probes, name: &str| {
        checks(&p, &f, &[], false, probes)
            .into_iter()
            .find(|c| c.name.starts_with(name))
    };
    assert!(find(&Probes::default(), "cluster admits").is_none());
    let refused = Probes {
        admission: Some(vec![
            Admission {
                object: "lease/l".into(),
                exists: false,
                refused: None,
            },
            Admission {
                object: "persistentvolumeclaim/b".into(),
                exists: false,
                refused: Some("exceeded quota: q, requested: persistentvolumeclaims=1".into()),
            },
        ]),
        storage: Some(Storage {
            requested: None,
            classes: Some(vec![("slow".into(), false)]),
            pvc_exists: false,
        }),
    };
    let c = find(&refused, "cluster admits").unwrap();
    assert!(!c.ok);
    assert!(
        c.detail
            .contains("persistentvolumeclaim/b refused: exceeded quota: q"),
        "{}",
        c.detail
    );
    assert!(c.fix.unwrap().contains("ResourceQuota"));
    let s = find(&refused, "storage class").unwrap();
    assert!(
        !s.ok && s.detail.contains("no default StorageClass") && s.detail.contains("slow"),
        "{}",
        s.detail
    );
    let fine = Probes {
        admission: Some(vec![Admission {
            object: "lease/l".into(),
            exists: true,
            refused: None,
        }]),
        storage: Some(Storage {
            requested: Some("slow".into()),
            classes: Some(vec![("slow".into(), false)]),
            pvc_exists: false,
        }),
    };
    assert!(find(&fine, "cluster admits").unwrap().ok);
    assert!(find(&fine, "storage class").unwrap().ok);
    let unreadable = Probes {
        admission: None,
        storage: Some(Storage {
            requested: Some("x".into()),
            classes: None,
            pvc_exists: false,
        }),
    };
    assert!(find(&unreadable, "storage class").unwrap().ok);
}

fn local_chart(version: &str, app: &str) -> crate::planner::facts::LocalChart {
    crate::planner::facts::LocalChart {
        path: format!("/charts/milvus-{version}.tgz"),
        name: "milvus".into(),
        version: version.into(),
        app_version: app.into(),
        origin: crate::planner::facts::ChartOrigin {
            home: Some("https://milvus.io/".into()),
            ..Default::default()
        },
    }
}

#[test]
fn local_charts_serve_chart_hops_without_any_repository() {
    let mut f = facts("2.1.4", Layout::Separate, MessageQueue::Pulsar);
    f.index = ChartIndex::default();
    f.local_charts = vec![local_chart("3.3.6", "2.2.0")];
    let p = plan(&f, &v("2.2.0"), &Options::default()).unwrap();
    assert_eq!(p.paths(), [Path::Migrate]);
    let chart = p.hops[0].chart.as_ref().unwrap();
    assert_eq!(chart.repo, None);
    assert_eq!(chart.path.as_deref(), Some("/charts/milvus-3.3.6.tgz"));
    assert!(chart.why.contains("--chart"), "{}", chart.why);
    let Some(Step::HelmUpgrade { chart, .. }) = p.hops[0].helm_upgrade() else {
        panic!("no helm upgrade")
    };
    assert_eq!(chart, "/charts/milvus-3.3.6.tgz");
    // 2.5.x separate → 2.6: two chart hops, one --chart each.
    let mut f = facts("2.5.4", Layout::Separate, MessageQueue::PulsarV3);
    f.index = ChartIndex::default();
    f.local_charts = vec![local_chart("5.0.2", "2.6.1")];
    let err = plan(&f, &v("2.6.1"), &Options::default()).unwrap_err();
    assert!(
        matches!(err, PlanError::LocalChartMissingTarget { ref target, .. } if target == "2.5.16"),
        "{err}"
    );
    assert!(err.to_string().contains("4.2.58"), "{err}");
    f.local_charts.push(local_chart("4.2.58", "2.5.16"));
    let p = plan(&f, &v("2.6.1"), &Options::default()).unwrap();
    let charts: Vec<_> = summary(&p).into_iter().map(|h| h.2.unwrap()).collect();
    assert_eq!(charts, ["4.2.58", "5.0.2"]);
    // A rolling plan uses no chart.
    let mut f = facts("2.4.5", Layout::MixCoord, MessageQueue::Pulsar);
    f.local_charts = vec![local_chart("4.2.8", "2.4.9")];
    assert!(matches!(
        plan(&f, &v("2.4.9"), &Options::default()),
        Err(PlanError::LocalChartUnused { .. })
    ));
}

#[test]
fn a_migration_with_an_hpa_passes_unless_a_controller_owns_it() {
    use crate::planner::facts::Autoscaler;
    use crate::planner::preflight::{checks, Probes};
    let mut f = facts("2.1.4", Layout::Separate, MessageQueue::Pulsar);
    let find = |f: &Facts, to: &str| {
        let p = plan(f, &v(to), &Options::default()).unwrap();
        checks(&p, f, &[], false, &Probes::default())
            .into_iter()
            .find(|c| c.name == "autoscalers leave Milvus stopped")
    };
    assert!(find(&f, "2.2.0").is_none());
    f.autoscalers = vec![Autoscaler {
        name: "qn".into(),
        deployment: "my-release-milvus-querynode".into(),
        min_replicas: 2,
        max_replicas: 5,
        owner: None,
    }];
    let c = find(&f, "2.2.0").unwrap();
    assert!(c.ok && c.detail.contains("pauses"), "{}", c.detail);
    f.autoscalers[0].owner = Some("ScaledObject/qn".into());
    let c = find(&f, "2.2.0").unwrap();
    assert!(
        !c.ok && c.detail.contains("ScaledObject/qn"),
        "{}",
        c.detail
    );
    assert!(c.fix.unwrap().contains("paused"));
    // Rolling leaves replicas alone: no such check.
    let mut rolling = facts("2.4.5", Layout::MixCoord, MessageQueue::Pulsar);
    rolling.autoscalers = f.autoscalers.clone();
    assert!(find(&rolling, "2.4.9").is_none());
}

#[test]
fn helm_scaling_a_deployment_away_from_its_count_is_named_with_its_hpa() {
    use crate::planner::facts::Autoscaler;
    use crate::planner::warnings::helm_scales;
    let mut f = facts("2.5.16", Layout::MixCoord, MessageQueue::Pulsar);
    let proxy = "my-release-milvus-proxy";
    assert_eq!(helm_scales(&f, proxy, Some(1), 1), None);
    assert_eq!(
        helm_scales(&f, proxy, None, 3),
        None,
        "replicas left to an HPA"
    );
    let scaled = helm_scales(&f, proxy, Some(1), 3).unwrap();
    assert!(
        scaled.contains("to the 1 replicas of the values (it runs 3)"),
        "{scaled}"
    );
    f.autoscalers = vec![Autoscaler {
        name: "px".into(),
        deployment: proxy.into(),
        min_replicas: 3,
        max_replicas: 4,
        owner: None,
    }];
    let by_hpa = helm_scales(&f, proxy, Some(1), 3).unwrap();
    assert!(
        by_hpa.contains("HorizontalPodAutoscaler px keeps 3 (min 3, max 4)"),
        "{by_hpa}"
    );
}

fn ordered_steps(hop: &Hop) -> Vec<OrderStep> {
    hop.steps
        .iter()
        .filter_map(|s| match s {
            Step::Ordered(o) => Some(*o),
            _ => None,
        })
        .collect()
}

#[test]
fn chart_hops_are_ordered_unless_all_at_once() {
    use OrderStep::*;
    let p = plan_for("2.5.4", "2.6.15", Layout::Separate, MessageQueue::Pulsar).unwrap();
    let (first, second) = (&p.hops[0], &p.hops[1]);
    assert!(first.ordered && second.ordered);
    assert_eq!(
        ordered_steps(first),
        [
            Roll(IndexNode),
            Roll(MixCoord),
            Roll(QueryNode),
            Roll(DataNode),
            Roll(Proxy)
        ]
    );
    assert!(first.steps.contains(&Step::RemovedByHelm {
        components: vec![RootCoord, DataCoord, IndexCoord, QueryCoord]
    }));
    assert_eq!(
        ordered_steps(second),
        [
            Start(StreamingNode),
            Roll(MixCoord),
            Await(StreamingNode),
            Roll(QueryNode),
            Roll(DataNode),
            Roll(Proxy)
        ]
    );
    assert!(second.steps.contains(&Step::RemovedByHelm {
        components: vec![IndexNode]
    }));
    assert!(matches!(second.downtime, Downtime::Partial(ref w) if w.contains("WAL")));
    // Below 2.2.3 the old version cannot serve while the coordinators change.
    let old = plan_for("2.2.2", "2.4.9", Layout::Separate, MessageQueue::Pulsar).unwrap();
    assert!(old.hops[0].ordered);
    assert!(matches!(&old.hops[0].downtime, Downtime::Full(w) if w.contains("active-standby")));
    // The meta migration and rolling hops are never ordered chart hops.
    let mig = plan_for("2.1.4", "2.4.9", Layout::Separate, MessageQueue::Pulsar).unwrap();
    assert!(mig.hops.iter().all(|h| !h.ordered));
    let all_at_once = Options {
        all_at_once: true,
        ..Options::default()
    };
    let f = facts("2.5.4", Layout::Separate, MessageQueue::Pulsar);
    let p = plan(&f, &v("2.6.15"), &all_at_once).unwrap();
    assert!(p
        .hops
        .iter()
        .all(|h| !h.ordered && ordered_steps(h).is_empty()));
}

#[test]
fn a_half_done_chart_hop_is_planned_as_it_began() {
    // Killed in the middle of 2.5.4 separate → 2.5.16 mixcoord: both layouts' Deployments.
    let mut f = facts("2.5.4", Layout::Separate, MessageQueue::Pulsar);
    let mut mix = f.workloads[0].clone();
    mix.name = "my-release-milvus-mixcoord".into();
    mix.component = MixCoord;
    mix.image = "milvusdb/milvus:v2.5.16".into();
    f.workloads.push(mix);
    let resumed = Options {
        resume_from: Some(v("2.5.4")),
        resume_layout: Some(Layout::Separate),
        ..Options::default()
    };
    let p = plan(&f, &v("2.6.15"), &resumed).unwrap();
    assert_eq!(
        summary(&p).iter().map(|h| h.0).collect::<Vec<_>>(),
        [Path::Helm, Path::Helm]
    );
    assert_eq!(p.hops[0].layout_before, Layout::Separate);
    // Half into 2.6 (a streamingnode already there) still needs no second stop.
    let mut f = facts("2.5.16", Layout::MixCoord, MessageQueue::Pulsar);
    let mut sn = f.workloads[0].clone();
    sn.name = "my-release-milvus-streamingnode".into();
    sn.component = StreamingNode;
    f.workloads.push(sn);
    let p = plan(&f, &v("2.6.15"), &Options::default()).unwrap();
    assert_eq!(p.hops.len(), 1, "{:?}", summary(&p));
}
