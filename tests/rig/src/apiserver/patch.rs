//! The three patch formats kube-apiserver accepts, applied to `serde_json::Value`.
//!
//! - JSON Patch as kube-apiserver applies it with `gopkg.in/evanphx/json-patch.v4`: to the stored
//!   object as Go encodes it, `test` comparing leaves byte-wise (escapes included); a `replace` of a
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
    /// More JSON Patch ops than the server takes: 413 with this message.
    TooLarge(String),
}

// ---------------------------------------------------------------- JSON Patch (RFC 6902)
//
// What the real server does, step by step (k8s.io/apiserver `pkg/endpoints/handlers/patch.go`,
// `jsonPatcher.applyPatchToCurrentObject` → `applyJSPatch`):
// 1. The stored object is encoded with Go's `encoding/json` Encoder (apimachinery
//    `pkg/runtime/serializer/json/json.go` `doEncode`): HTML escaping on, so `<` `>` `&` are `\u003c`
//    `\u003e` `\u0026`, U+2028/U+2029 `\u2028`/`\u2029` (Go `src/encoding/json/encode.go` `appendString`).
// 2. gopkg.in/evanphx/json-patch.v4 `patch.go` applies the ops to those bytes. Values stay raw bytes until an
//    op needs their structure (`lazyNode`); `test` compares with `lazyNode.equal`: objects by members (same
//    count, same keys, any order), arrays by length and element, leaves (strings, numbers, booleans) with
//    `bytes.Equal` after `json.Compact`, which changes no escape. So `">"` never equals `"\u003e"` and `1.0`
//    never equals `1`.
// 3. The patched bytes are decoded into the typed object (escapes decoded).

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A JSON value as evanphx holds it: leaves keep the exact text they were written with; a JSON `null` member
/// or element is `None` (Go's nil `*lazyNode`).
#[derive(Debug, Clone)]
enum Node {
    Leaf(String),
    Doc(BTreeMap<String, Option<Node>>),
    Ary(Vec<Option<Node>>),
}

impl Node {
    /// Parses JSON text, keeping each leaf's raw text.
    fn parse(raw: &str) -> Result<Option<Node>, String> {
        let trimmed = raw.trim_start_matches([' ', '\t', '\n', '\r']);
        if trimmed.starts_with('{') {
            let members: BTreeMap<String, Option<Box<RawValue>>> =
                serde_json::from_str(raw).map_err(|e| e.to_string())?;
            let mut doc = BTreeMap::new();
            for (key, value) in members {
                doc.insert(key, Self::parse_optional(value)?);
            }
            Ok(Some(Node::Doc(doc)))
        } else if trimmed.starts_with('[') {
            let items: Vec<Option<Box<RawValue>>> =
                serde_json::from_str(raw).map_err(|e| e.to_string())?;
            let ary = items
                .into_iter()
                .map(Self::parse_optional)
                .collect::<Result<_, _>>()?;
            Ok(Some(Node::Ary(ary)))
        } else if trimmed.trim_end_matches([' ', '\t', '\n', '\r']) == "null" {
            Ok(None)
        } else {
            Ok(Some(Node::Leaf(raw.to_owned())))
        }
    }

    fn parse_optional(raw: Option<Box<RawValue>>) -> Result<Option<Node>, String> {
        match raw {
            Some(raw) => Self::parse(raw.get()),
            None => Ok(None),
        }
    }

    fn write(node: &Option<Node>, out: &mut String) {
        match node {
            None => out.push_str("null"),
            Some(Node::Leaf(raw)) => out.push_str(raw),
            Some(Node::Doc(doc)) => {
                out.push('{');
                for (i, (key, value)) in doc.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_string(key, out);
                    out.push(':');
                    Self::write(value, out);
                }
                out.push('}');
            }
            Some(Node::Ary(items)) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Self::write(item, out);
                }
                out.push(']');
            }
        }
    }

    /// evanphx `lazyNode.equal(o)`: `self` is the stored value, `other` the op value's raw text (a child of
    /// an op value is compared against its own raw text, as evanphx unmarshals one level at a time).
    fn equal(&self, other: &str) -> bool {
        match self {
            Node::Leaf(raw) => compact(raw) == compact(other),
            Node::Doc(doc) => {
                let Ok(theirs) =
                    serde_json::from_str::<BTreeMap<String, Option<Box<RawValue>>>>(other)
                else {
                    return false;
                };
                doc.len() == theirs.len()
                    && doc.iter().all(|(key, ours)| match (ours, theirs.get(key)) {
                        (None, Some(None)) => true,
                        (Some(ours), Some(Some(theirs))) => ours.equal(theirs.get()),
                        _ => false,
                    })
            }
            Node::Ary(items) => {
                let Ok(theirs) = serde_json::from_str::<Vec<Option<Box<RawValue>>>>(other) else {
                    return false;
                };
                items.len() == theirs.len()
                    && items
                        .iter()
                        .zip(&theirs)
                        .all(|(ours, theirs)| match (ours, theirs) {
                            (None, None) => true,
                            (Some(ours), Some(theirs)) => ours.equal(theirs.get()),
                            _ => false,
                        })
            }
        }
    }
}

fn text_of(node: &Option<Node>) -> String {
    let mut out = String::new();
    Node::write(node, &mut out);
    out
}

/// Go's `json.Compact`: drops insignificant whitespace, keeps every byte of strings (escapes included).
fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for character in raw.chars() {
        if in_string {
            out.push(character);
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == '"' {
                in_string = false;
            }
        } else if !matches!(character, ' ' | '\t' | '\n' | '\r') {
            in_string = character == '"';
            out.push(character);
        }
    }
    out
}

/// A string as Go's `encoding/json` writes it with HTML escaping on (`encode.go` `appendString`).
fn go_string(text: &str, out: &mut String) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", character as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The stored object as kube-apiserver encodes it before applying a JSON Patch (member order differs from
/// Go's struct order, which `test` ignores).
pub(crate) fn go_encode(value: &Value) -> String {
    fn encode(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // Go writes an integral float without a fraction (strconv 'f', -1); typed objects hold integers.
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                    out.push_str(&format!("{f:.0}"))
                }
                _ => out.push_str(&n.to_string()),
            },
            Value::String(s) => go_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    encode(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_string(key, out);
                    out.push(':');
                    encode(item, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    encode(value, &mut out);
    out
}

fn decode_key(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}

/// Go's `strconv.Atoi` error, as evanphx passes it on.
fn atoi(key: &str) -> Result<i64, String> {
    key.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {key:?}: invalid syntax"))
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

/// `partialArray` index rules: negative indices count from the end (SupportNegativeIndices is true).
fn array_index(key: &str, len: usize) -> Result<usize, String> {
    let mut index = atoi(key)?;
    let len = len as i64;
    if index < 0 {
        if index < -len {
            return Err(invalid_index(index));
        }
        index += len;
    }
    if index >= len {
        return Err(invalid_index(index));
    }
    Ok(index as usize)
}

/// `container.get`: a missing or null member is nil without an error; a bad array index is an error.
fn get_in<'a>(container: &'a Node, key: &str) -> Result<Option<&'a Node>, String> {
    match container {
        Node::Doc(doc) => Ok(doc.get(key).and_then(Option::as_ref)),
        Node::Ary(items) => Ok(items[array_index(key, items.len())?].as_ref()),
        Node::Leaf(_) => Err("not a container".into()),
    }
}

fn get_in_mut<'a>(container: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match container {
        Node::Doc(doc) => doc.get_mut(key).and_then(Option::as_mut),
        Node::Ary(items) => {
            let index = array_index(key, items.len()).ok()?;
            items[index].as_mut()
        }
        Node::Leaf(_) => None,
    }
}

/// evanphx `findObject`: the container holding the path's last token (decoded), or None when a parent is
/// missing, null or a leaf.
fn find_parent<'a>(doc: &'a mut Node, path: &str) -> Option<(&'a mut Node, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let mut current = doc;
    for part in &split[1..split.len() - 1] {
        current = get_in_mut(current, &decode_key(part))?;
        if matches!(current, Node::Leaf(_)) {
            return None;
        }
    }
    Some((current, decode_key(split[split.len() - 1])))
}

fn add_in(container: &mut Node, key: &str, value: Option<Node>) -> Result<(), String> {
    match container {
        Node::Doc(doc) => {
            doc.insert(key.to_owned(), value);
            Ok(())
        }
        Node::Ary(items) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            let mut index = atoi(key)
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            let size = items.len() as i64 + 1;
            if index >= size || index < -size {
                return Err(invalid_index(index));
            }
            if index < 0 {
                index += size;
            }
            items.insert(index as usize, value);
            Ok(())
        }
        Node::Leaf(_) => Err("not a container".into()),
    }
}

fn remove_in(container: &mut Node, key: &str) -> Result<Option<Node>, String> {
    match container {
        Node::Doc(doc) => doc
            .remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Node::Ary(items) => {
            let index = array_index(key, items.len())?;
            Ok(items.remove(index))
        }
        Node::Leaf(_) => Err("not a container".into()),
    }
}

/// One op as evanphx decodes it: `map[string]*json.RawMessage` (a JSON `null` is a nil entry).
type Operation = BTreeMap<String, Option<Box<RawValue>>>;

/// The op's string field, as `Operation.Kind`/`Path`/`From` read it.
fn op_string(op: &Operation, field: &str) -> Option<String> {
    op.get(field)
        .and_then(Option::as_ref)
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// `Operation.value()`: None without a `value` member; `Some(None)` for `"value": null`.
fn op_value(op: &Operation) -> Option<Option<&str>> {
    op.get("value").map(|raw| raw.as_deref().map(RawValue::get))
}

fn value_node(value: Option<Option<&str>>) -> Result<Option<Node>, String> {
    match value.flatten() {
        Some(raw) => Node::parse(raw),
        None => Ok(None),
    }
}

/// kube-apiserver's limit on the ops of one JSON Patch (`maxJSONPatchOperations` in handlers/patch.go).
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies an RFC 6902 JSON Patch (`body`, the request bytes) to the stored object the way kube-apiserver
/// does (see the top of this section).
pub(crate) fn json_patch(stored: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let ops: Vec<Operation> =
        serde_json::from_slice(body).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let mut doc = Node::parse(&go_encode(stored))
        .map_err(PatchError::Internal)?
        .ok_or_else(|| PatchError::Internal("the stored object is null".into()))?;
    for op in &ops {
        apply_op(&mut doc, op).map_err(PatchError::DoesNotApply)?;
    }
    serde_json::from_str(&text_of(&Some(doc))).map_err(|e| PatchError::DoesNotApply(e.to_string()))
}

fn apply_op(doc: &mut Node, op: &Operation) -> Result<(), String> {
    let kind = op_string(op, "op").unwrap_or_else(|| "unknown".into());
    let path = || {
        op_string(op, "path")
            .ok_or_else(|| format!("{kind} operation failed to decode path: missing value"))
    };
    let missing = |what: &str, path: &str| {
        format!("{kind} operation does not apply: doc is missing {what}: {path}: missing value")
    };
    match kind.as_str() {
        "add" => {
            let path = path()?;
            let value = value_node(op_value(op))?;
            let (parent, key) = find_parent(doc, &path).ok_or_else(|| missing("path", &path))?;
            add_in(parent, &key, value).map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = path()?;
            let (parent, key) = find_parent(doc, &path).ok_or_else(|| missing("path", &path))?;
            remove_in(parent, &key)
                .map(drop)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = path()?;
            let value = value_node(op_value(op))?;
            if path.is_empty() {
                return match value {
                    Some(whole @ (Node::Doc(_) | Node::Ary(_))) => {
                        *doc = whole;
                        Ok(())
                    }
                    _ => Err("replace operation value must be object or array".into()),
                };
            }
            let (parent, key) = find_parent(doc, &path).ok_or_else(|| missing("path", &path))?;
            // A missing object member is no error (`partialDoc.get`): replace adds it.
            get_in(parent, &key).map_err(|_| missing("key", &path))?;
            match parent {
                Node::Doc(members) => {
                    members.insert(key, value);
                }
                Node::Ary(items) => {
                    let index = array_index(&key, items.len())?;
                    items[index] = value;
                }
                Node::Leaf(_) => return Err(missing("path", &path)),
            }
            Ok(())
        }
        "move" | "copy" => {
            let from = op_string(op, "from")
                .ok_or_else(|| format!("{kind} operation failed to decode from: missing value"))?;
            let (source, from_key) =
                find_parent(doc, &from).ok_or_else(|| missing("from path", &from))?;
            let value = if kind == "move" {
                remove_in(source, &from_key)
                    .map_err(|e| format!("error in move for path: '{from_key}': {e}"))?
            } else {
                get_in(source, &from_key)
                    .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                    .cloned()
            };
            let path = path()?;
            let (parent, key) =
                find_parent(doc, &path).ok_or_else(|| missing("destination path", &path))?;
            add_in(parent, &key, value)
                .map_err(|e| format!("error in {kind} for path: '{path}': {e}"))
        }
        "test" => {
            let path = path()?;
            let failed = || format!("testing value {path} failed: test failed");
            let value = op_value(op);
            if path.is_empty() {
                return match value.flatten() {
                    Some(raw) if doc.equal(raw) => Ok(()),
                    _ => Err(failed()),
                };
            }
            let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
                format!("test operation does not apply: is missing path: {path}: missing value")
            })?;
            let found = get_in(parent, &key)
                .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
            match (found, value) {
                // A missing or null member passes a test of null, or of no value at all.
                (None, None | Some(None)) => Ok(()),
                (Some(found), Some(Some(raw))) if found.equal(raw) => Ok(()),
                _ => Err(failed()),
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

    fn bytes(patch: &Value) -> Vec<u8> {
        serde_json::to_vec(patch).unwrap()
    }

    fn test_passes(stored: &Value, body: &str) -> bool {
        match json_patch(stored, body.as_bytes()) {
            Ok(_) => true,
            Err(PatchError::DoesNotApply(_)) => false,
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_patch_test_compares_strings_as_go_encodes_the_stored_object() {
        let stored = json!({"metadata": {"annotations": {"a": "cpu 91% > 80% & <x>\u{2028}"}}});
        let literal = r#"[{"op":"test","path":"/metadata/annotations/a","value":"cpu 91% > 80% & <x>\u2028"}]"#;
        assert!(!test_passes(&stored, literal), "a literal > never matches");
        let go = r#"[{"op":"test","path":"/metadata/annotations/a","value":"cpu 91% \u003e 80% \u0026 \u003cx\u003e\u2028"}]"#;
        assert!(test_passes(&stored, go));
        let upper = r#"[{"op":"test","path":"/metadata/annotations/a","value":"cpu 91% \u003E 80% \u0026 \u003cx\u003e\u2028"}]"#;
        assert!(!test_passes(&stored, upper), "no escape normalisation");
        let control = json!({"a": "\u{1}\t\u{7f}é"});
        let del_escaped = r#"[{"op":"test","path":"/a","value":"\u0001\t\u007fé"}]"#;
        assert!(!test_passes(&control, del_escaped), "Go writes DEL raw");
        assert!(test_passes(
            &control,
            "[{\"op\":\"test\",\"path\":\"/a\",\"value\":\"\\u0001\\t\u{7f}é\"}]"
        ));
    }

    #[test]
    fn json_patch_test_compares_objects_by_members_arrays_by_element_numbers_by_bytes() {
        let stored = json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "n": 1}});
        let any_order = r#"[{"op":"test","path":"/spec/taints","value":[ {"effect":"NoSchedule", "key":"k"} ]}]"#;
        assert!(test_passes(&stored, any_order));
        let extra_key = r#"[{"op":"test","path":"/spec/taints","value":[{"key":"k","effect":"NoSchedule","value":"v"}]}]"#;
        assert!(!test_passes(&stored, extra_key));
        let longer = r#"[{"op":"test","path":"/spec/taints","value":[{"key":"k","effect":"NoSchedule"},{"key":"k","effect":"NoSchedule"}]}]"#;
        assert!(!test_passes(&stored, longer));
        assert!(test_passes(
            &stored,
            r#"[{"op":"test","path":"/spec/n","value":1}]"#
        ));
        assert!(!test_passes(
            &stored,
            r#"[{"op":"test","path":"/spec/n","value":1.0}]"#
        ));
        assert!(!test_passes(
            &stored,
            r#"[{"op":"test","path":"/spec/n","value":"1"}]"#
        ));
    }

    #[test]
    fn json_patch_with_too_many_ops_is_refused_whole() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/a", "value": null}))
            .collect();
        assert!(matches!(
            json_patch(&json!({}), &bytes(&Value::Array(ops))),
            Err(PatchError::TooLarge(_))
        ));
    }

    #[test]
    fn json_patch_result_decodes_the_escapes() {
        let stored = json!({"metadata": {"annotations": {"a": "x > y"}}});
        let body = r#"[{"op":"add","path":"/metadata/annotations/b","value":"\u003c"}]"#;
        let out = json_patch(&stored, body.as_bytes()).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"annotations": {"a": "x > y", "b": "<"}}})
        );
    }

    #[test]
    fn json_patch_test_of_null_on_missing_key_passes_but_missing_parent_fails() {
        let doc = json!({"spec": {}});
        let ok = json!([{"op": "test", "path": "/spec/taints", "value": null}]);
        assert!(json_patch(&doc, &bytes(&ok)).is_ok());
        let missing_parent = json!([{"op": "test", "path": "/status/x", "value": null}]);
        assert!(matches!(
            json_patch(&doc, &bytes(&missing_parent)),
            Err(PatchError::DoesNotApply(_))
        ));
    }

    #[test]
    fn json_patch_replace_of_missing_object_key_adds_it_as_evanphx_v4() {
        let doc = json!({"spec": {}});
        let patch = json!([{"op": "replace", "path": "/spec/taints", "value": []}]);
        assert_eq!(
            json_patch(&doc, &bytes(&patch)).unwrap(),
            json!({"spec": {"taints": []}})
        );
    }

    #[test]
    fn json_patch_remove_of_missing_key_fails() {
        let doc = json!({"metadata": {"labels": {}}});
        let patch = json!([{"op": "remove", "path": "/metadata/labels/a~1b"}]);
        assert!(json_patch(&doc, &bytes(&patch)).is_err());
    }

    #[test]
    fn json_patch_escapes_slash_and_tilde_in_keys() {
        let doc = json!({"metadata": {"annotations": {}}});
        let patch = json!([{"op": "add", "path": "/metadata/annotations/kube-thermostat.io~1last~0x", "value": "v"}]);
        let out = json_patch(&doc, &bytes(&patch)).unwrap();
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
