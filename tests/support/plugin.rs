//! The plugin binary run as Helm runs a plugin.

use std::process::Command;

use super::helm::helm_home_env;
use super::{env, Helm, TestNs, User};

/// `helm-milvus-upgrade` with the environment a Helm plugin gets from `helm` (as admin).
pub fn plugin_cmd(helm: Helm, ns: &TestNs) -> Command {
    plugin_cmd_as(helm, ns, User::Admin)
}

/// The plugin started in the background with `args`, its output discarded (a test
/// that kills it reads the cluster, not what it printed).
pub fn spawn_plugin(helm: Helm, ns: &TestNs, args: &[&str]) -> std::process::Child {
    plugin_cmd(helm, ns)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the plugin")
}

/// `plugin_cmd` with the kubeconfig of `user`.
pub fn plugin_cmd_as(helm: Helm, ns: &TestNs, user: User) -> Command {
    let home = ns.helm_home(helm);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helm-milvus-upgrade"));
    cmd.env("HELM_BIN", helm.bin())
        .env("HELM_NAMESPACE", ns.name())
        .env("HELM_KUBECONTEXT", "")
        .env("HELM_DEBUG", "false")
        .env("HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "false")
        .env("HELM_PLUGIN_NAME", "milvus-upgrade")
        .env("KUBECONFIG", env().kubeconfig(user))
        .env("NO_COLOR", "1")
        .envs(helm_home_env(&home));
    cmd
}

/// Makes the plugin's helm writes apply client-side (Helm 4: `--server-side=false`
/// through `HELM_MILVUS_UPGRADE_HELM_ARGS`), as a user would for a chart the API server
/// cannot apply server-side. By default the plugin's helm keeps its own default.
pub fn client_side_apply(cmd: &mut Command, helm: Helm) -> &mut Command {
    let flags = helm.client_side_apply();
    if !flags.is_empty() {
        cmd.env("HELM_MILVUS_UPGRADE_HELM_ARGS", flags.join(" "));
    }
    cmd
}
