//! What a run tells as it goes. The executors call these; how they are shown
//! (bars, plain lines) is the presentation's business (`ui::progress`).

use crate::planner::facts::Rollout;

pub trait Events: Send + Sync {
    /// A line of narrative: a hop started, a helm command ran, a rollback step.
    fn line(&self, message: &str);
    /// A Deployment started changing (`what`: e.g. the new image).
    fn started(&self, deployment: &str, what: &str);
    /// The rollout of a Deployment moved.
    fn rollout(&self, deployment: &str, rollout: &Rollout);
    /// A Deployment finished (`what`: rolled out, rolled back ...).
    fn finished(&self, deployment: &str, what: &str);
}
