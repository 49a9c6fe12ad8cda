//! Runs a plan: takes the lock, records progress in the cluster, then one
//! executor per path.

use crate::cli::{GlobalArgs, UpgradeArgs};
use crate::error::Error;
use crate::facts::Facts;
use crate::gather::Context;
use crate::plan::Plan;

pub async fn run(
    _ctx: &Context,
    _facts: &Facts,
    _plan: &Plan,
    _args: &UpgradeArgs,
    _global: &GlobalArgs,
) -> Result<(), Error> {
    Err(Error::Failed(
        "executing a plan is not built yet; use --dry-run".into(),
    ))
}
