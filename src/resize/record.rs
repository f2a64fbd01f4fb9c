//! Our pod annotation `kube-thermostat.io/last-resize`: per container, the last resize we made
//! (time, direction, from, to, why) and any back-off, so cooldowns survive hook restarts.
//!
//! Pure: reads and renders the annotation's text.

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::pod::Pod;
use std::collections::BTreeMap;

pub const LAST_RESIZE_ANNOTATION: &str = "kube-thermostat.io/last-resize";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    Up,
    Down,
    /// One resource up, the other down.
    Mixed,
    /// Spec set back to what the kubelet allocated.
    Withdraw,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Mixed => "mixed",
            Direction::Withdraw => "withdraw",
        })
    }
}

/// Requests and limits as canonical quantity texts, as in a container's `resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTexts {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    pub at: Timestamp,
    pub direction: Direction,
    #[serde(default)]
    pub from: ResourceTexts,
    #[serde(default)]
    pub to: ResourceTexts,
    #[serde(default)]
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_reason: Option<String>,
    /// When the OOM kills that raised this container's memory ended (`finishedAt`), within the long window: a
    /// kill is answered once, and a container killed again after `RESIZE_OOM_MAX_BUMPS` raises is left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oom_raises: Vec<Timestamp>,
}

/// The annotation's value: container name → record.
pub type PodRecord = BTreeMap<String, ContainerRecord>;

/// Reads the annotation. Absent → empty; malformed → empty plus the problem to report (a broken
/// annotation must not block resizing for ever, nor fail the tick).
pub fn read_record(pod: &Pod) -> (PodRecord, Option<String>) {
    let Some(text) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_RESIZE_ANNOTATION))
    else {
        return (PodRecord::new(), None);
    };
    match serde_json::from_str::<PodRecord>(text) {
        Ok(record) => (record, None),
        Err(err) => (
            PodRecord::new(),
            Some(format!(
                "annotation {LAST_RESIZE_ANNOTATION} = {text:?} is not valid ({err}); cooldowns ignored and the annotation rewritten on the next resize"
            )),
        ),
    }
}

pub fn render_record(record: &PodRecord) -> String {
    // Serializing maps of strings and timestamps cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}
