//! The three patch formats kube-apiserver accepts, applied to `serde_json::Value`.
//!
//! - JSON Patch as `gopkg.in/evanphx/json-patch.v4` does it (Kubernetes' choice): a `replace` of a
//!   missing object key adds it, a `test` of `null` against a missing key succeeds, a missing
//!   parent fails.
//! - JSON merge patch (RFC 7386): lists are replaced, `null` deletes.
//! - Strategic merge patch with the core/v1 merge keys kube-thermostat meets (containers by `name`,
//!   conditions by `type`, ...); lists without a merge key (`spec.taints`, `tolerations`,
//!   `resizePolicy`) are replaced whole.

use serde_json::{Map, Value};

/// Why a patch could not be applied, split the way `endpoints/handlers/patch.go` answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchError {
    /// The patch itself is malformed: 400 BadRequest with this message.
    BadRequest(String),
    /// The patch does not apply to the object: 422, generic message (the detail is only logged).
    DoesNotApply(String),
    /// A strategic merge patch list item without its merge key: 500, as `mergepatch.ErrNoMergeKey`.
    Internal(String),
}

// ---------------------------------------------------------------- JSON Patch (RFC 6902)

fn decode_key(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}

fn split_path(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    if !path.starts_with('/') {
        return Err(PatchError::DoesNotApply(format!(
            "invalid JSON pointer {path:?}"
        )));
    }
    Ok(path[1..].split('/').map(decode_key).collect())
}

fn array_index(key: &str, len: usize, allow_end: bool) -> Option<usize> {
    let index: i64 = key.parse().ok()?;
    let len = len as i64;
    let index = if index < 0 { index + len } else { index };
    let max = if allow_end { len } else { len - 1 };
    (0..=max).contains(&index).then_some(index as usize)
}

/// evanphx `findObject`: the container holding the last path element, or None.
fn find_parent<'a>(doc: &'a mut Value, parts: &[String]) -> Option<&'a mut Value> {
    let mut current = doc;
    for part in &parts[..parts.len() - 1] {
        current = match current {
            Value::Object(map) => match map.get_mut(part) {
                Some(Value::Null) | None => return None,
                Some(next) => next,
            },
            Value::Array(items) => {
                let len = items.len();
                items.get_mut(array_index(part, len, false)?)?
            }
            _ => return None,
        };
    }
    match current {
        Value::Object(_) | Value::Array(_) => Some(current),
        _ => None,
    }
}

fn get_in<'a>(container: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match container {
        // evanphx v4 `partialDoc.get` returns nil for a missing key, without an error.
        Value::Object(map) => Ok(map.get(key).filter(|v| !v.is_null())),
        Value::Array(items) => match array_index(key, items.len(), false) {
            Some(i) => Ok(Some(&items[i])),
            None => Err(format!("Unable to access invalid index: {key}")),
        },
        _ => Err("not a container".into()),
    }
}

fn add_in(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            let index = array_index(key, items.len(), true)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err("not a container".into()),
    }
}

fn set_in(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = array_index(key, items.len(), false)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))?;
            items[index] = value;
            Ok(())
        }
        _ => Err("not a container".into()),
    }
}

fn remove_in(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(map) => map
            .remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}")),
        Value::Array(items) => {
            let index = array_index(key, items.len(), false)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))?;
            Ok(items.remove(index))
        }
        _ => Err("not a container".into()),
    }
}

/// Applies an RFC 6902 JSON Patch the way Kubernetes' vendored evanphx/json-patch v4 does.
pub(crate) fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Some(ops) = patch.as_array() else {
        return Err(PatchError::BadRequest(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into(),
        ));
    };
    let mut doc = doc.clone();
    for op in ops {
        let Some(op) = op.as_object() else {
            return Err(PatchError::BadRequest(
                "json: cannot unmarshal into Go value of type jsonpatch.Operation".into(),
            ));
        };
        apply_op(&mut doc, op).map_err(PatchError::DoesNotApply)?;
    }
    Ok(doc)
}

fn apply_op(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = op.get("path").and_then(Value::as_str);
    let value = op.get("value").cloned();
    let require_path = || path.ok_or_else(|| format!("{kind} operation failed to decode path"));
    let parts_of = |p: &str| split_path(p).map_err(|e| format!("{e:?}"));
    match kind {
        "add" => {
            let path = require_path()?;
            let parts = parts_of(path)?;
            let value = value.ok_or("add operation has no value")?;
            if parts.is_empty() {
                *doc = value;
                return Ok(());
            }
            let parent = find_parent(doc, &parts).ok_or_else(|| {
                format!("add operation does not apply: doc is missing path: \"{path}\"")
            })?;
            add_in(
                parent,
                parts.last().map(String::as_str).unwrap_or_default(),
                value,
            )
            .map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = require_path()?;
            let parts = parts_of(path)?;
            if parts.is_empty() {
                return Err("unable to remove the whole document".into());
            }
            let parent = find_parent(doc, &parts).ok_or_else(|| {
                format!("remove operation does not apply: doc is missing path: \"{path}\"")
            })?;
            remove_in(parent, parts.last().map(String::as_str).unwrap_or_default())
                .map(drop)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = require_path()?;
            let parts = parts_of(path)?;
            let value = value.unwrap_or(Value::Null);
            if parts.is_empty() {
                *doc = value;
                return Ok(());
            }
            let parent = find_parent(doc, &parts).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing path: {path}")
            })?;
            let key = parts.last().map(String::as_str).unwrap_or_default();
            get_in(parent, key).map_err(|_| {
                format!("replace operation does not apply: doc is missing key: {path}")
            })?;
            set_in(parent, key, value)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "move" | "copy" => {
            let from = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{kind} operation failed to decode from"))?;
            let from_parts = parts_of(from)?;
            if from_parts.is_empty() {
                return Err(format!("unable to {kind} the entire document"));
            }
            let source = find_parent(doc, &from_parts).ok_or_else(|| {
                format!("{kind} operation does not apply: doc is missing from path: {from}")
            })?;
            let from_key = from_parts.last().map(String::as_str).unwrap_or_default();
            let value = if kind == "move" {
                remove_in(source, from_key)
                    .map_err(|e| format!("error in move for path: '{from_key}': {e}"))?
            } else {
                get_in(source, from_key)?.cloned().ok_or_else(|| {
                    format!("copy operation does not apply: doc is missing from path: {from}")
                })?
            };
            let path = require_path()?;
            let parts = parts_of(path)?;
            if parts.is_empty() {
                *doc = value;
                return Ok(());
            }
            let parent = find_parent(doc, &parts).ok_or_else(|| {
                format!("{kind} operation does not apply: doc is missing destination path: {path}")
            })?;
            add_in(
                parent,
                parts.last().map(String::as_str).unwrap_or_default(),
                value,
            )
        }
        "test" => {
            let path = require_path()?;
            let parts = parts_of(path)?;
            let expected = value.unwrap_or(Value::Null);
            if parts.is_empty() {
                return if *doc == expected {
                    Ok(())
                } else {
                    Err(format!("testing value {path} failed: test failed"))
                };
            }
            let parent = find_parent(doc, &parts)
                .ok_or_else(|| format!("test operation does not apply: is missing path: {path}"))?;
            let found = get_in(parent, parts.last().map(String::as_str).unwrap_or_default())
                .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
            match (found, &expected) {
                // A missing (or null) value equals a null or absent `value`.
                (None, Value::Null) => Ok(()),
                (Some(found), expected) if found == expected => Ok(()),
                _ => Err(format!("testing value {path} failed: test failed")),
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

// ---------------------------------------------------------------- JSON merge patch (RFC 7386)

/// RFC 7386: objects merge recursively, `null` deletes, anything else (lists included) replaces.
pub(crate) fn merge_patch(doc: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(patch_map) => {
            let mut result = match doc {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            for (key, value) in patch_map {
                if value.is_null() {
                    result.remove(key);
                } else {
                    let merged = merge_patch(result.get(key).unwrap_or(&Value::Null), value);
                    result.insert(key.clone(), merged);
                }
            }
            Value::Object(result)
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------- strategic merge patch

/// How a list field merges in a strategic merge patch (from the core/v1 struct tags).
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListStrategy {
    /// No `patchStrategy`: the patch's list replaces the whole list.
    Replace,
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`.
    MergeByKey(&'static str),
    /// `patchStrategy:"merge"` on a list of scalars: union.
    MergePrimitives,
}

/// The field names from the object root to a list, indices left out.
fn list_strategy(kind: &str, path: &[String]) -> ListStrategy {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let container_list = |name: &str| {
        matches!(
            name,
            "containers" | "initContainers" | "ephemeralContainers"
        )
    };
    match (kind, p.as_slice()) {
        (_, ["metadata", "ownerReferences"]) => ListStrategy::MergeByKey("uid"),
        (_, ["metadata", "finalizers"]) => ListStrategy::MergePrimitives,
        ("Pod", ["spec", list]) if container_list(list) => ListStrategy::MergeByKey("name"),
        ("Pod", ["spec", list, "env"]) if container_list(list) => ListStrategy::MergeByKey("name"),
        ("Pod", ["spec", list, "ports"]) if container_list(list) => {
            ListStrategy::MergeByKey("containerPort")
        }
        ("Pod", ["spec", list, "volumeMounts"]) if container_list(list) => {
            ListStrategy::MergeByKey("mountPath")
        }
        ("Pod", ["spec", list, "volumeDevices"]) if container_list(list) => {
            ListStrategy::MergeByKey("devicePath")
        }
        ("Pod", ["spec", "volumes"]) => ListStrategy::MergeByKey("name"),
        ("Pod", ["spec", "imagePullSecrets"]) => ListStrategy::MergeByKey("name"),
        ("Pod", ["spec", "hostAliases"]) => ListStrategy::MergeByKey("ip"),
        ("Pod", ["spec", "topologySpreadConstraints"]) => ListStrategy::MergeByKey("topologyKey"),
        ("Pod", ["status", "conditions"]) => ListStrategy::MergeByKey("type"),
        ("Pod", ["status", "podIPs"]) => ListStrategy::MergeByKey("ip"),
        ("Node", ["spec", "podCIDRs"]) => ListStrategy::MergePrimitives,
        ("Node", ["status", "conditions"]) => ListStrategy::MergeByKey("type"),
        ("Node", ["status", "addresses"]) => ListStrategy::MergeByKey("type"),
        ("Namespace", ["status", "conditions"]) => ListStrategy::MergeByKey("type"),
        // spec.taints, spec.tolerations, resizePolicy, containerStatuses and the rest are atomic.
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `doc`, an object of `kind` (core/v1 or autoscaling/v2).
pub(crate) fn strategic_merge_patch(
    kind: &str,
    doc: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Value::Object(patch_map) = patch else {
        return Err(PatchError::BadRequest(
            "unable to find api field in struct for the patch".into(),
        ));
    };
    smp_map(
        kind,
        doc.as_object().cloned().unwrap_or_default(),
        patch_map,
        &mut Vec::new(),
    )
    .map(Value::Object)
}

fn smp_map(
    kind: &str,
    mut doc: Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Map<String, Value>, PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            return Ok(replaced);
        }
        Some("delete") => return Ok(Map::new()),
        Some("merge") | None => {}
        Some(other) => {
            return Err(PatchError::BadRequest(format!(
                "Unknown patch type: {other} in map: {patch:?}"
            )));
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let Some(retain) = retain.as_array() else {
            return Err(PatchError::BadRequest(
                "invalid patch format of retainKeys".into(),
            ));
        };
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        doc.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<Value> = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = doc.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if value.is_null() {
            doc.remove(key);
            continue;
        }
        path.push(key.clone());
        let merged = match (doc.remove(key), value) {
            (Some(Value::Object(current)), Value::Object(patch_child)) => {
                Value::Object(smp_map(kind, current, patch_child, path)?)
            }
            (None, Value::Object(patch_child)) => {
                Value::Object(smp_map(kind, Map::new(), patch_child, path)?)
            }
            (current, Value::Array(patch_items)) => {
                let current = match current {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                Value::Array(smp_list(kind, current, patch_items, path)?)
            }
            (_, other) => other.clone(),
        };
        path.pop();
        doc.insert(key.clone(), merged);
    }
    Ok(doc)
}

fn smp_list(
    kind: &str,
    mut current: Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    // `{"$patch": "replace"}` as an element replaces the list with the other elements.
    let replace_marker = |v: &Value| v.get("$patch").and_then(Value::as_str) == Some("replace");
    if patch.iter().any(replace_marker) {
        return Ok(patch
            .iter()
            .filter(|v| !replace_marker(v))
            .cloned()
            .collect());
    }
    match list_strategy(kind, path) {
        ListStrategy::Replace => Ok(patch.to_vec()),
        ListStrategy::MergePrimitives => {
            for item in patch {
                if !current.contains(item) {
                    current.push(item.clone());
                }
            }
            Ok(current)
        }
        ListStrategy::MergeByKey(merge_key) => {
            for item in patch {
                let Some(item_map) = item.as_object() else {
                    return Err(PatchError::BadRequest(format!(
                        "unable to merge a non-object into a list merged by {merge_key}"
                    )));
                };
                let Some(key_value) = item_map.get(merge_key) else {
                    return Err(PatchError::Internal(format!(
                        "map: {} does not contain declared merge key: {merge_key}",
                        go_map(item)
                    )));
                };
                let position = current
                    .iter()
                    .position(|c| c.get(merge_key) == Some(key_value));
                let directive = item_map.get("$patch").and_then(Value::as_str);
                match (position, directive) {
                    (Some(i), Some("delete")) => {
                        current.remove(i);
                    }
                    (None, Some("delete")) => {}
                    (Some(i), _) => {
                        let existing = current[i].as_object().cloned().unwrap_or_default();
                        current[i] = Value::Object(smp_map(kind, existing, item_map, path)?);
                    }
                    (None, _) => {
                        let mut fresh = item_map.clone();
                        fresh.remove("$patch");
                        current.push(Value::Object(smp_map(kind, Map::new(), &fresh, path)?));
                    }
                }
            }
            Ok(current)
        }
    }
}

/// Roughly Go's `%v` of a `map[string]interface{}`, for the merge-key error message.
fn go_map(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_map(&map[k.as_str()])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_map).collect::<Vec<_>>().join(" ")
        ),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_test_of_null_on_missing_key_passes_but_missing_parent_fails() {
        let doc = json!({"spec": {}});
        let ok = json!([{"op": "test", "path": "/spec/taints", "value": null}]);
        assert!(json_patch(&doc, &ok).is_ok());
        let missing_parent = json!([{"op": "test", "path": "/status/x", "value": null}]);
        assert!(matches!(
            json_patch(&doc, &missing_parent),
            Err(PatchError::DoesNotApply(_))
        ));
    }

    #[test]
    fn json_patch_replace_of_missing_object_key_adds_it_as_evanphx_v4() {
        let doc = json!({"spec": {}});
        let patch = json!([{"op": "replace", "path": "/spec/taints", "value": []}]);
        assert_eq!(
            json_patch(&doc, &patch).unwrap(),
            json!({"spec": {"taints": []}})
        );
    }

    #[test]
    fn json_patch_remove_of_missing_key_fails() {
        let doc = json!({"metadata": {"labels": {}}});
        let patch = json!([{"op": "remove", "path": "/metadata/labels/a~1b"}]);
        assert!(json_patch(&doc, &patch).is_err());
    }

    #[test]
    fn json_patch_escapes_slash_and_tilde_in_keys() {
        let doc = json!({"metadata": {"annotations": {}}});
        let patch = json!([{"op": "add", "path": "/metadata/annotations/kube-thermostat.io~1last~0x", "value": "v"}]);
        let out = json_patch(&doc, &patch).unwrap();
        assert_eq!(
            out["metadata"]["annotations"]["kube-thermostat.io/last~x"],
            "v"
        );
    }

    #[test]
    fn merge_patch_replaces_lists_and_deletes_on_null() {
        let doc = json!({"spec": {"taints": [{"key": "a"}, {"key": "b"}], "x": 1}});
        let patch = json!({"spec": {"taints": [{"key": "c"}], "x": null}});
        assert_eq!(
            merge_patch(&doc, &patch),
            json!({"spec": {"taints": [{"key": "c"}]}})
        );
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_and_replaces_taints() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "resources": {"requests": {"cpu": "1"}}},
            {"name": "b", "image": "y"}]}});
        let patch =
            json!({"spec": {"containers": [{"name": "b", "resources": {"limits": {"cpu": "2"}}}]}});
        let out = strategic_merge_patch("Pod", &pod, &patch).unwrap();
        assert_eq!(
            out["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
        assert_eq!(out["spec"]["containers"][1]["image"], "y");
        assert_eq!(
            out["spec"]["containers"][1]["resources"]["limits"]["cpu"],
            "2"
        );

        let node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
        let patch = json!({"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}});
        let out = strategic_merge_patch("Node", &node, &patch).unwrap();
        assert_eq!(
            out["spec"]["taints"],
            json!([{"key": "b", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn strategic_merge_without_merge_key_is_an_internal_error() {
        let pod = json!({"spec": {"containers": [{"name": "a"}]}});
        let patch = json!({"spec": {"containers": [{"resources": {}}]}});
        assert!(matches!(
            strategic_merge_patch("Pod", &pod, &patch),
            Err(PatchError::Internal(_))
        ));
    }

    #[test]
    fn strategic_merge_delete_directive_removes_list_item() {
        let pod = json!({"status": {"conditions": [{"type": "A"}, {"type": "B"}]}});
        let patch = json!({"status": {"conditions": [{"type": "A", "$patch": "delete"}]}});
        let out = strategic_merge_patch("Pod", &pod, &patch).unwrap();
        assert_eq!(out["status"]["conditions"], json!([{"type": "B"}]));
    }
}
