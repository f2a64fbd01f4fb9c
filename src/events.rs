//! Kubernetes Events on the objects we change (`kubectl describe node/pod` shows them).
//!
//! Bodies are built without I/O; posting is best effort: an Event that cannot be written (RBAC, API trouble)
//! is logged and counted, and never undoes or fails the change it describes.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// `reportingController` of every Event: a qualified name, as the events API asks.
pub const REPORTING_CONTROLLER: &str = "kube-thermostat.io/kube-thermostat";

/// What an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regarding {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// One Event to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub regarding: Regarding,
    /// CamelCase machine-readable reason, e.g. `ThermostatTainted`.
    pub reason: String,
    /// What a person reads: values, thresholds, from and to.
    pub note: String,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// What we did, e.g. `Taint`, `Untaint`, `Resize`.
    pub action: &'static str,
}

/// The namespace an Event lives in: the object's own, or `default` for cluster-scoped objects such as Nodes
/// (where kubelet and kubectl put node events).
pub fn event_namespace(regarding: &Regarding) -> &str {
    regarding.namespace.as_deref().unwrap_or("default")
}

/// An `events.k8s.io/v1` Event body. `instance` identifies this hook (the pod name under shell-operator).
pub fn event_body(event: &EventSpec, now: Timestamp, instance: &str) -> Value {
    let regarding = &event.regarding;
    let mut object = json!({
        "apiVersion": "v1",
        "kind": regarding.kind,
        "name": regarding.name,
    });
    if let Some(namespace) = &regarding.namespace {
        object["namespace"] = json!(namespace);
    }
    if let Some(uid) = &regarding.uid {
        object["uid"] = json!(uid);
    }
    if let Some(resource_version) = &regarding.resource_version {
        object["resourceVersion"] = json!(resource_version);
    }
    // eventTime is a MicroTime: RFC 3339 with microseconds.
    let event_time = now.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string();
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            // The API server completes generateName; names stay unique without a read.
            "generateName": format!("{}.", regarding.name),
            "namespace": event_namespace(regarding),
        },
        "eventTime": event_time,
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": event.action,
        "reason": event.reason,
        // The events API caps note at 1 kB.
        "note": truncate(&event.note, 1024),
        "type": event.type_,
        "regarding": object,
    })
}

fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_event() -> EventSpec {
        EventSpec {
            regarding: Regarding {
                kind: "Node",
                namespace: None,
                name: "worker-1".into(),
                uid: Some("u1".into()),
                resource_version: None,
            },
            reason: "ThermostatTainted".into(),
            note: "cpu 91.2% above 80% for 3m".into(),
            type_: "Normal",
            action: "Taint",
        }
    }

    #[test]
    fn node_events_live_in_default_and_point_at_the_node() {
        let now = Timestamp::from_second(1_790_000_000).unwrap();
        let body = event_body(&node_event(), now, "kube-thermostat-5f7c");
        assert_eq!(body["metadata"]["namespace"], "default");
        assert_eq!(body["metadata"]["generateName"], "worker-1.");
        assert_eq!(
            body["regarding"],
            json!({"apiVersion": "v1", "kind": "Node", "name": "worker-1", "uid": "u1"})
        );
        assert_eq!(body["eventTime"], "2026-09-21T14:13:20.000000Z");
        assert_eq!(body["reportingController"], REPORTING_CONTROLLER);
    }

    #[test]
    fn long_notes_are_cut_to_the_api_limit_on_a_char_boundary() {
        let mut event = node_event();
        event.note = "é".repeat(600);
        let body = event_body(&event, Timestamp::UNIX_EPOCH, "i");
        let note = body["note"].as_str().unwrap();
        assert!(note.len() <= 1024 && note.ends_with("..."));
    }
}
