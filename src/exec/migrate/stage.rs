//! The migration state machine's position, kept in `hops[i].step` and written
//! before the effects of each stage.

use k8s_openapi::jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Recording replicas and images of every Milvus Deployment.
    Record,
    /// Scaling every Milvus Deployment to 0 and waiting for the pods to go.
    Stop,
    /// The last pod went at `since`; etcd sessions expire one TTL later.
    Sessions {
        since: Timestamp,
    },
    Backup,
    Migrate,
    /// The target chart is installed and the recorded replicas restored.
    Start,
    Done,
}

impl Stage {
    pub fn rank(self) -> u8 {
        match self {
            Stage::Record => 0,
            Stage::Stop => 1,
            Stage::Sessions { .. } => 2,
            Stage::Backup => 3,
            Stage::Migrate => 4,
            Stage::Start => 5,
            Stage::Done => 6,
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        Some(match text {
            "record" => Stage::Record,
            "stop" => Stage::Stop,
            "backup" => Stage::Backup,
            "migrate" => Stage::Migrate,
            "start" => Stage::Start,
            "done" => Stage::Done,
            other => {
                let since = other.strip_prefix("sessions since ")?;
                Stage::Sessions {
                    since: since.parse().ok()?,
                }
            }
        })
    }

    /// The stage's name in progress events (`sessions` without its time).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Record => "record",
            Stage::Stop => "stop",
            Stage::Sessions { .. } => "sessions",
            Stage::Backup => "backup",
            Stage::Migrate => "migrate",
            Stage::Start => "start",
            Stage::Done => "done",
        }
    }

    /// Whether a rollback has to restore the meta from the backup.
    pub fn meta_touched(self) -> bool {
        self.rank() >= Stage::Migrate.rank()
    }

    /// Whether the new version may have been started (helm upgrade ran).
    pub fn new_version_started(self) -> bool {
        self.rank() >= Stage::Start.rank()
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Sessions { since } => write!(f, "sessions since {since}"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_survives_the_round_trip_through_the_state() {
        let since: Timestamp = "2026-11-25T15:30:00.5Z".parse().unwrap();
        for s in [
            Stage::Record,
            Stage::Stop,
            Stage::Sessions { since },
            Stage::Backup,
            Stage::Migrate,
            Stage::Start,
            Stage::Done,
        ] {
            assert_eq!(Stage::parse(&s.to_string()), Some(s), "{s}");
        }
        assert_eq!(Stage::parse("sessions since yesterday"), None);
        assert_eq!(Stage::parse("rolling"), None);
    }

    #[test]
    fn ranks_follow_the_order_of_the_stages() {
        let since = Timestamp::UNIX_EPOCH;
        let order = [
            Stage::Record,
            Stage::Stop,
            Stage::Sessions { since },
            Stage::Backup,
            Stage::Migrate,
            Stage::Start,
            Stage::Done,
        ];
        assert!(order.windows(2).all(|w| w[0].rank() < w[1].rank()));
        assert!(!Stage::Backup.meta_touched());
        assert!(Stage::Migrate.meta_touched());
        assert!(!Stage::Migrate.new_version_started());
        assert!(Stage::Start.new_version_started());
    }
}
