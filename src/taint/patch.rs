//! The write for one node: a JSON Patch (RFC 6902, `application/json-patch+json`) guarded by `test` ops.
//!
//! `spec.taints` has no merge key, so any merge patch replaces the whole list; a write built from an old read
//! would drop taints added in between (kubernetes#126755). So the patch first `test`s that the list (and our
//! annotation) are exactly what we read, then sets the new values. If anything changed, the API server applies
//! nothing and answers 422; the caller re-reads the node and decides again.
//!
//! Facts checked in the API server's library, `gopkg.in/evanphx/json-patch.v4` (imported by
//! k8s.io/apiserver/pkg/endpoints/handlers/patch.go, whose failures become 422):
//! - `test` with `"value": null` passes when the path is absent: the parent object's `get` returns nil for a
//!   missing key and a null op value decodes to a nil raw message (`Patch.test` in patch.go). The parent
//!   itself must exist (`/spec` always does on a Node; `/metadata/annotations` may not, hence we test
//!   `/metadata/annotations` for null before creating it).
//! - Values are compared structurally for objects and arrays (same keys, any order) and byte-wise for leaves after
//!   compacting, against the stored object as Go's `encoding/json` writes it (`<` `>` `&` as `\u003c`...). Our
//!   annotation holds the reason text ("cpu 91% > 80%"), so the body is written with those escapes
//!   (`kube::go_json`, used for every JSON Patch body by `kube::Request::patch`); otherwise the `test` never
//!   passes and our taint is never removed. The server omits an empty taint `value` and a missing `timeAdded`,
//!   as k8s-openapi does.
//! - `add` on an existing object member replaces it; `remove` needs the member to exist.
//!
//! Pure: builds the patch without I/O; the shell sends it.

use super::decide::NodeWrite;
use super::policy::TAINT_ANNOTATION;
use crate::kube::json_pointer::escape_pointer_token;
use serde_json::{Value, json};

/// `/metadata/annotations/kube-thermostat.io~1taint`
pub fn annotation_path() -> String {
    format!(
        "/metadata/annotations/{}",
        escape_pointer_token(TAINT_ANNOTATION)
    )
}

/// The JSON Patch for one node's write. Empty (`[]`) when the write changes nothing.
pub fn node_patch(write: &NodeWrite) -> Value {
    let mut ops = Vec::new();
    if write.taints_change() {
        let before = match &write.taints_before {
            Some(taints) => serde_json::to_value(taints).unwrap_or(Value::Null),
            None => Value::Null,
        };
        ops.push(json!({"op": "test", "path": "/spec/taints", "value": before}));
        if !write.taints_after.is_empty() {
            let after = serde_json::to_value(&write.taints_after).unwrap_or(Value::Null);
            ops.push(json!({"op": "add", "path": "/spec/taints", "value": after}));
        } else if write.taints_before.is_some() {
            ops.push(json!({"op": "remove", "path": "/spec/taints"}));
        }
    }
    if write.annotation_changes() {
        let path = annotation_path();
        match (&write.annotation_after, write.annotations_present) {
            (Some(after), true) => {
                ops.push(json!({"op": "test", "path": path, "value": write.annotation_before}));
                ops.push(json!({"op": "add", "path": path, "value": after}));
            }
            (Some(after), false) => {
                ops.push(json!({"op": "test", "path": "/metadata/annotations", "value": null}));
                ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {TAINT_ANNOTATION: after}}));
            }
            (None, _) => {
                ops.push(json!({"op": "test", "path": path, "value": write.annotation_before}));
                ops.push(json!({"op": "remove", "path": path}));
            }
        }
    }
    Value::Array(ops)
}
