//! The kube-apiserver audit log (level Metadata, stage ResponseComplete): which requests
//! a command made, by whom, with which user agent.
//!
//! ```ignore
//! let mark = audit::mark();
//! run_something();
//! let writes = mark.events().in_namespace(ns.name()).by_user_agent(PLUGIN_USER_AGENT).writes();
//! assert!(writes.is_empty(), "{writes:#?}");
//! ```

use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

use super::env;

/// Verbs that change state.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One completed API request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub user: String,
    pub groups: Vec<String>,
    pub user_agent: String,
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub code: Option<i32>,
    pub request_uri: String,
    pub stage_timestamp: Timestamp,
}

impl AuditEvent {
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb.as_str())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    stage: String,
    verb: String,
    #[serde(rename = "requestURI")]
    request_uri: String,
    user: RawUser,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    object_ref: RawObjectRef,
    response_status: Option<RawStatus>,
    stage_timestamp: Timestamp,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawObjectRef {
    api_group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
struct RawStatus {
    code: Option<i32>,
}

impl From<RawEvent> for AuditEvent {
    fn from(r: RawEvent) -> Self {
        AuditEvent {
            user: r.user.username,
            groups: r.user.groups,
            user_agent: r.user_agent,
            verb: r.verb,
            api_group: r.object_ref.api_group,
            resource: r.object_ref.resource,
            subresource: r.object_ref.subresource,
            namespace: r.object_ref.namespace,
            name: r.object_ref.name,
            code: r.response_status.and_then(|s| s.code),
            request_uri: r.request_uri,
            stage_timestamp: r.stage_timestamp,
        }
    }
}

/// Parses audit log lines, keeping one event per request (stage ResponseComplete or Panic).
pub fn parse(text: &str) -> Vec<AuditEvent> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<RawEvent>(l).ok())
        .filter(|e| e.stage == "ResponseComplete" || e.stage == "Panic")
        .map(AuditEvent::from)
        .collect()
}

/// Reads the audit log from byte `offset`; returns the complete lines' events and the
/// offset after the last complete line.
fn read_from(offset: u64) -> (Vec<AuditEvent>, u64) {
    let mut file = std::fs::File::open(env().audit_log()).expect("open audit log");
    file.seek(SeekFrom::Start(offset)).expect("seek audit log");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read audit log");
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    (parse(&text[..complete]), offset + complete as u64)
}

/// Every event in the audit log.
pub fn read_all() -> Events {
    Events(read_from(0).0)
}

/// Events whose stageTimestamp is at or after `t` (e.g. `Timestamp::now()` taken before
/// the command under test).
pub fn events_since(t: Timestamp) -> Events {
    read_all().filter(|e| e.stage_timestamp >= t)
}

/// A position in the audit log; events after it are the ones a command made.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    offset: u64,
}

/// Marks the current end of the audit log.
pub fn mark() -> Mark {
    let len = std::fs::metadata(env().audit_log())
        .map(|m| m.len())
        .unwrap_or(0);
    Mark { offset: len }
}

impl Mark {
    /// Events logged after the mark (so far).
    pub fn events(&self) -> Events {
        Events(read_from(self.offset).0)
    }

    /// Polls the log until `pred` holds for the events after the mark (the apiserver logs
    /// a request when it completes, which can be just after the client saw the response).
    pub fn wait_for<F: Fn(&Events) -> bool>(&self, timeout: Duration, pred: F) -> Events {
        let start = Instant::now();
        loop {
            let events = self.events();
            if pred(&events) {
                return events;
            }
            assert!(
                start.elapsed() < timeout,
                "audit log: condition not met after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A list of audit events with chainable filters.
#[derive(Debug, Clone, Default)]
pub struct Events(pub Vec<AuditEvent>);

impl Events {
    pub fn filter<F: Fn(&AuditEvent) -> bool>(self, f: F) -> Events {
        Events(self.0.into_iter().filter(|e| f(e)).collect())
    }

    pub fn in_namespace(self, ns: &str) -> Events {
        self.filter(|e| e.namespace == ns)
    }

    /// create/update/patch/delete/deletecollection only.
    pub fn writes(self) -> Events {
        self.filter(AuditEvent::is_write)
    }

    /// Requests whose user agent starts with `prefix` (e.g. `"Helm/"`, `PLUGIN_USER_AGENT`).
    pub fn by_user_agent(self, prefix: &str) -> Events {
        self.filter(|e| e.user_agent.starts_with(prefix))
    }

    pub fn by_user(self, user: &str) -> Events {
        self.filter(|e| e.user == user)
    }

    pub fn verb(self, verb: &str) -> Events {
        self.filter(|e| e.verb == verb)
    }

    pub fn resource(self, resource: &str) -> Events {
        self.filter(|e| e.resource == resource)
    }

    pub fn named(self, name: &str) -> Events {
        self.filter(|e| e.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, AuditEvent> {
        self.0.iter()
    }
}
