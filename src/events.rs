//! Kubernetes Events on the objects we change (`kubectl describe node/pod` shows them).
//!
//! Pure: the decisions name an Event's [`EventType`] and [`EventAction`], and the bodies are built here without
//! I/O; only serde and the time type are imported. The controllers post them.
//!
//! Bodies are built without I/O; posting is best effort: an Event that cannot be written (RBAC, API trouble,
//! validation) is logged with the server's message and counted (`events_rejected_total`), and never undoes or
//! fails the change it describes.
//!
//! What kube-apiserver checks on an `events.k8s.io/v1` create (kubernetes `pkg/apis/core/validation/events.go`
//! `ValidateEventCreate`, strict branch; apimachinery `pkg/api/validation/objectmeta.go`
//! `ValidateObjectMetaAccessor` with `NameIsDNSSubdomain` from `generic.go`):
//! - `metadata.name` a DNS-1123 subdomain (≤ 253); a `generateName` is checked the same way as a prefix where
//!   only a trailing `-` is excused (`maskTrailingDash`), so the `"worker-1."` we used to send was a 422.
//!   We name Events as client-go does (`tools/events` `makeEvent`: `<regarding name>.<UnixNano in hex>`).
//! - `eventTime` set, `type` `Normal`/`Warning`, `reportingController` a qualified name, `reportingInstance`,
//!   `action` and `reason` non-empty and ≤ 128, `note` ≤ 1024 (`ReasonLengthLimit`... in events.go).
//! - An Event about a cluster-scoped object (a Node) lives in `default` or `kube-system` (`legacyValidateEvent`);
//!   client-go puts it in `default`.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

/// The events API's limits (`events.go`: `ReasonLengthLimit`, `ActionLengthLimit`,
/// `ReportingInstanceLengthLimit`, `NoteLengthLimit`) and the DNS-1123 subdomain maximum.
pub const REASON_MAX_BYTES: usize = 128;
pub const NOTE_MAX_BYTES: usize = 1024;
pub const NAME_MAX_BYTES: usize = 253;

/// `reportingController` of every Event: a qualified name, as the events API asks.
pub const REPORTING_CONTROLLER: &str = "kube-thermostat.io/kube-thermostat";

/// An Event's `type`, serialized as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An Event's `action`: what we did to the object, serialized as the Event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventAction {
    Taint,
    Untaint,
    Resize,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Taint => "Taint",
            EventAction::Untaint => "Untaint",
            EventAction::Resize => "Resize",
        }
    }
}

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
    pub type_: EventType,
    pub action: EventAction,
}

/// The namespace an Event lives in: the object's own, or `default` for cluster-scoped objects such as Nodes
/// (where kubelet and kubectl put node events).
pub fn event_namespace(regarding: &Regarding) -> &str {
    regarding.namespace.as_deref().unwrap_or("default")
}

/// The Event's `metadata.name`, as client-go names Events: `<object name>.<nanos in hex>`. The object name is
/// cut so the whole stays within 253 bytes, and cut further so the part before the `.` ends in a letter or
/// digit (a DNS-1123 subdomain label may not end in `-` or `.`). A name that would still not be a DNS-1123
/// subdomain (not one of a Node or Pod) falls back to `kube-thermostat`.
pub fn event_name(object_name: &str, nanos: i128) -> String {
    let suffix = format!(".{:x}", nanos.max(0));
    let room = NAME_MAX_BYTES - suffix.len();
    let mut prefix = &object_name[..floor_char_boundary(object_name, room)];
    prefix = prefix.trim_end_matches(['-', '.']);
    if !is_dns1123_subdomain(prefix) {
        prefix = "kube-thermostat";
    }
    format!("{prefix}{suffix}")
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `validation.IsDNS1123Subdomain`: dot-separated labels of `[a-z0-9-]`, each starting and ending with a letter
/// or digit, 253 bytes at most.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_BYTES
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            bytes.first().is_some_and(alnum)
                && bytes.last().is_some_and(alnum)
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        })
}

/// An `events.k8s.io/v1` Event body named `name` (see [`event_name`]). `instance` identifies this hook (the
/// pod name under shell-operator).
pub fn event_body(event: &EventSpec, name: &str, now: Timestamp, instance: &str) -> Value {
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
            "name": name,
            "namespace": event_namespace(regarding),
        },
        "eventTime": event_time,
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": truncate(instance, REASON_MAX_BYTES),
        "action": truncate(event.action.as_str(), REASON_MAX_BYTES),
        "reason": truncate(&event.reason, REASON_MAX_BYTES),
        "note": truncate(&event.note, NOTE_MAX_BYTES),
        "type": event.type_.as_str(),
        "regarding": object,
    })
}

/// `text` within `max_bytes`, cut on a character boundary and marked with `...` when cut.
fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    format!("{}...", &text[..floor_char_boundary(text, max_bytes - 3)])
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
            type_: EventType::Normal,
            action: EventAction::Taint,
        }
    }

    const NANOS: i128 = 1_790_000_000_123_456_789;

    #[test]
    fn node_events_live_in_default_and_point_at_the_node() {
        let now = Timestamp::from_second(1_790_000_000).unwrap();
        let name = event_name("worker-1", NANOS);
        let body = event_body(&node_event(), &name, now, "kube-thermostat-5f7c");
        assert_eq!(body["metadata"]["namespace"], "default");
        assert_eq!(body["metadata"]["name"], "worker-1.18d75b842b4ecd15");
        assert!(body["metadata"].get("generateName").is_none());
        assert_eq!(
            body["regarding"],
            json!({"apiVersion": "v1", "kind": "Node", "name": "worker-1", "uid": "u1"})
        );
        assert_eq!(body["eventTime"], "2026-09-21T14:13:20.000000Z");
        assert_eq!(body["reportingController"], REPORTING_CONTROLLER);
        assert_eq!(
            (&body["type"], &body["action"]),
            (&json!("Normal"), &json!("Taint"))
        );
    }

    #[test]
    fn types_and_actions_serialize_as_the_api_spells_them() {
        for (type_, text) in [
            (EventType::Normal, "Normal"),
            (EventType::Warning, "Warning"),
        ] {
            assert_eq!(serde_json::to_value(type_).unwrap(), json!(text));
            assert_eq!(type_.as_str(), text);
        }
        for (action, text) in [
            (EventAction::Taint, "Taint"),
            (EventAction::Untaint, "Untaint"),
            (EventAction::Resize, "Resize"),
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), json!(text));
            assert_eq!(action.as_str(), text);
        }
    }

    #[test]
    fn names_are_client_go_style_and_stay_valid_subdomains_for_the_longest_object_names() {
        assert_eq!(event_name("web-0", 255), "web-0.ff");
        // A 253-byte pod name, cut where the cut would end in '-' or '.': trimmed back to a letter or digit.
        let long = format!("{}-{}.x", "a".repeat(235), "b".repeat(14));
        let name = event_name(&long, NANOS);
        assert!(name.len() <= NAME_MAX_BYTES, "{}", name.len());
        assert!(is_dns1123_subdomain(&name), "{name}");
        assert!(name.ends_with(".18d75b842b4ecd15"));
        for cut_at in 230..253 {
            let name = event_name(
                &format!("{}-.-{}", "a".repeat(cut_at), "z".repeat(20)),
                NANOS,
            );
            assert!(is_dns1123_subdomain(&name), "{name}");
        }
        assert_eq!(event_name("Not_A_Name", 1), "kube-thermostat.1");
    }

    #[test]
    fn long_notes_reasons_and_instances_are_cut_to_the_api_limits_on_a_char_boundary() {
        let mut event = node_event();
        event.note = "é".repeat(600);
        event.reason = "R".repeat(200);
        let body = event_body(&event, "n.1", Timestamp::UNIX_EPOCH, &"i".repeat(300));
        let note = body["note"].as_str().unwrap();
        assert!(note.len() <= NOTE_MAX_BYTES && note.ends_with("..."));
        assert!(body["reason"].as_str().unwrap().len() <= REASON_MAX_BYTES);
        assert!(body["reportingInstance"].as_str().unwrap().len() <= REASON_MAX_BYTES);
    }
}
