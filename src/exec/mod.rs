//! Carrying a plan out. `run` is what executors share (context, facts, recorded
//! progress, settings); `runner` takes the lock, records progress and calls one
//! executor per hop: `rolling`, `ordered_hop` (chart hops, component by
//! component), `helm_hop` (all at once), `migrate`, then `helm_sync`.
//! `rollout` waits on watches, `state` and `lock` live in the cluster, `events`
//! is what a run tells (shown by `ui::progress`), `status` reads what a run left.
//! Depends on `planner` and `world`.

pub mod admission;
pub mod deadline;
pub mod events;
pub mod fleet;
pub mod helm_hop;
pub mod helm_sync;
pub mod lock;
pub mod migrate;
pub mod ordered_hop;
pub mod rolling;
pub mod rollout;
pub mod run;
pub mod runner;
pub mod state;
pub mod status;
