//! A read-only user (ClusterRole `view`, no Secrets): the plan and `versions`
//! still work from what the Deployments say; an upgrade is refused before any
//! write, naming the permissions that are missing.

mod support;

use support::{audit, install_release, outcome, plugin_cmd_as, Helm, TestNs, User};

fn viewer(helm: Helm) {
    let ns = TestNs::new(&format!("view-{}", helm.name()));
    install_release(helm, &ns, "ro", "4.0.13", &[]);
    let mark = audit::mark();
    let run = |args: &[&str]| outcome(plugin_cmd_as(helm, &ns, User::Viewer).args(args));

    let dry = run(&["ro", "--to", "2.4.9", "--dry-run"]);
    dry.assert_code(6);
    dry.assert_stdout_has(&[
        "rolling 2.2.5 → 2.4.9",
        "[FAIL] permission to write",
        "patch deployments.apps",
        "get/list on secrets",
    ]);

    let versions = run(&["versions", "ro", "-o", "json"]);
    versions.assert_code(0);
    assert_eq!(versions.json()["running"], "2.2.5");

    let upgrade = run(&["ro", "--to", "2.4.9", "--yes"]);
    upgrade.assert_code(6);
    upgrade.assert_stderr_has(&["pre-flight checks failed", "permission to write"]);

    let viewer_writes = mark
        .events()
        .writes()
        .by_user("viewer")
        .filter(|e| e.resource != "selfsubjectaccessreviews");
    assert!(viewer_writes.is_empty(), "{:#?}", viewer_writes.0);
    support::assert_no_writes(&mark, ns.name());
}

#[test]
fn read_only_user_plans_but_cannot_upgrade_helm3() {
    viewer(Helm::V3);
}

#[test]
fn read_only_user_plans_but_cannot_upgrade_helm4() {
    viewer(Helm::V4);
}
