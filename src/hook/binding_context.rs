//! The binding context shell-operator hands a run (`BINDING_CONTEXT_PATH`): which controllers to run, and the
//! cached objects (snapshots) they may use instead of a LIST.
//!
//! Real binding contexts vary (see `shared/reference/shell-operator.md`): several queued runs merged into one
//! array, elements without `type`, `Synchronization`/`Event` elements of watch bindings, `snapshots` absent, `{}`
//! or with items that have only `filterResult`. Everything malformed is an error naming the file, the element
//! and the field, before anything is written.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::binding;

/// What one hook run has to do.
#[derive(Debug, Default)]
pub struct HookRun {
    /// Controllers to run, each once even when several runs were merged.
    pub taint_nodes: Option<Snapshots>,
    pub resize_pods: Option<Snapshots>,
    /// Elements that asked for no work, as `binding (type)`, for the log.
    pub skipped: Vec<String>,
}

/// Cached objects from shell-operator. `None` means "not passed": the tick reads that kind with a LIST.
#[derive(Debug, Default)]
pub struct Snapshots {
    pub nodes: Option<Vec<Node>>,
    pub pods: Option<Vec<Pod>>,
    pub namespaces: Option<Vec<Namespace>>,
}

/// Reads and checks the binding context file.
pub fn read(path: &Path) -> Result<HookRun> {
    let text = std::fs::read(path)
        .with_context(|| format!("reading binding context {}", path.display()))?;
    parse(&text).with_context(|| format!("binding context {}", path.display()))
}

/// Parses a binding context. Merged runs of one controller collapse to one run with the newest snapshots.
pub fn parse(text: &[u8]) -> Result<HookRun> {
    let document: Value = serde_json::from_slice(text).context("not JSON")?;
    let Value::Array(elements) = document else {
        bail!(
            "must be a JSON array of binding contexts, found {}",
            kind_of(&document)
        );
    };

    let mut run = HookRun::default();
    // The newest element of each controller wins: shell-operator appends newer runs at the end.
    let mut newest_taint = None;
    let mut newest_resize = None;
    for (index, element) in elements.iter().enumerate() {
        let Value::Object(fields) = element else {
            bail!(
                "element {index}: must be an object, found {}",
                kind_of(element)
            );
        };
        let name = match fields.get("binding") {
            Some(Value::String(name)) => name.as_str(),
            Some(other) => bail!(
                "element {index}: \"binding\" must be a string, found {}",
                kind_of(other)
            ),
            None => bail!("element {index}: has no \"binding\" field"),
        };
        let context_type = match fields.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(other) => bail!(
                "element {index} (binding {name}): \"type\" must be a string, found {}",
                kind_of(other)
            ),
        };
        match (name, context_type) {
            (binding::TAINT_NODES, None | Some("Schedule" | "Group")) => newest_taint = Some(index),
            (binding::RESIZE_PODS, None | Some("Schedule" | "Group")) => {
                newest_resize = Some(index)
            }
            _ => run
                .skipped
                .push(format!("{name} ({})", context_type.unwrap_or("no type"))),
        }
    }

    if let Some(index) = newest_taint {
        run.taint_nodes = Some(snapshots_of(&elements[index], index)?);
    }
    if let Some(index) = newest_resize {
        run.resize_pods = Some(snapshots_of(&elements[index], index)?);
    }
    Ok(run)
}

fn snapshots_of(element: &Value, index: usize) -> Result<Snapshots> {
    let name = element["binding"].as_str().unwrap_or_default();
    let where_ = || format!("element {index} (binding {name})");
    let snapshots = match element.get("snapshots") {
        None | Some(Value::Null) => return Ok(Snapshots::default()),
        Some(Value::Object(map)) => map,
        Some(other) => bail!(
            "{}: \"snapshots\" must be an object, found {}",
            where_(),
            kind_of(other)
        ),
    };
    // Snapshots of bindings we do not know are ignored: a newer config may pass more than this version reads.
    Ok(Snapshots {
        nodes: objects(snapshots.get(binding::NODES), binding::NODES).with_context(where_)?,
        pods: objects(snapshots.get(binding::PODS), binding::PODS).with_context(where_)?,
        namespaces: objects(snapshots.get(binding::NAMESPACES), binding::NAMESPACES)
            .with_context(where_)?,
    })
}

/// Decodes one snapshot: each item's `filterResult` (our jqFilter keeps the object's shape) or else its `object`.
fn objects<T: DeserializeOwned>(snapshot: Option<&Value>, name: &str) -> Result<Option<Vec<T>>> {
    let items = match snapshot {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => bail!(
            "snapshots.{name}: must be an array, found {}",
            kind_of(other)
        ),
    };
    let mut decoded = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (field, object) = match (item.get("filterResult"), item.get("object")) {
            (Some(result), _) if !result.is_null() => ("filterResult", result),
            (_, Some(object)) if !object.is_null() => ("object", object),
            _ if item.is_object() => {
                bail!(
                    "snapshots.{name}[{i}]: has neither \"filterResult\" nor \"object\" (is the jqFilter ours?)"
                )
            }
            _ => bail!(
                "snapshots.{name}[{i}]: must be an object, found {}",
                kind_of(item)
            ),
        };
        let value: T = serde_path_to_error::deserialize(object)
            .map_err(|e| anyhow!("snapshots.{name}[{i}].{field}.{}: {}", e.path(), e.inner()))?;
        decoded.push(value);
    }
    Ok(Some(decoded))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<HookRun> {
        parse(text.as_bytes())
    }

    #[test]
    fn schedule_without_snapshots_asks_for_a_list() {
        let run = parse_str(r#"[{"binding":"taint-nodes","type":"Schedule"}]"#).unwrap();
        let snapshots = run.taint_nodes.unwrap();
        assert!(snapshots.nodes.is_none());
        assert!(run.resize_pods.is_none());
    }

    #[test]
    fn merged_runs_of_one_binding_run_once_with_the_newest_snapshot() {
        let text = r#"[
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"metadata":{"name":"old"}}}]}},
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"metadata":{"name":"new"}}}]}}
        ]"#;
        let nodes = parse_str(text).unwrap().taint_nodes.unwrap().nodes.unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].metadata.name.as_deref(), Some("new"));
    }

    #[test]
    fn elements_for_other_bindings_are_skipped_not_fatal() {
        let text = r#"[{"binding":"onStartup"},{"binding":"nodes","type":"Synchronization","objects":[]},
                      {"binding":"beforeAll"},{"binding":"resize-pods"}]"#;
        let run = parse_str(text).unwrap();
        assert!(run.resize_pods.is_some());
        assert_eq!(
            run.skipped,
            [
                "onStartup (no type)",
                "nodes (Synchronization)",
                "beforeAll (no type)"
            ]
        );
    }

    #[test]
    fn an_empty_snapshot_is_an_empty_cluster_not_a_missing_one() {
        let run =
            parse_str(r#"[{"binding":"resize-pods","type":"Schedule","snapshots":{"pods":[]}}]"#)
                .unwrap();
        let snapshots = run.resize_pods.unwrap();
        assert_eq!(snapshots.pods.map(|p| p.len()), Some(0));
        assert!(snapshots.nodes.is_none());
    }

    #[test]
    fn object_is_used_when_there_is_no_filter_result() {
        let text = r#"[{"binding":"taint-nodes","type":"Schedule",
                        "snapshots":{"nodes":[{"object":{"metadata":{"name":"n1"}},"filterResult":null}]}}]"#;
        let nodes = parse_str(text).unwrap().taint_nodes.unwrap().nodes.unwrap();
        assert_eq!(nodes[0].metadata.name.as_deref(), Some("n1"));
    }

    #[test]
    fn real_shapes_are_accepted_tabs_key_order_groups_and_filter_result_only_items() {
        // As shell-operator writes them: TAB-indented, `snapshots` before `binding`, a Group element, items
        // with only `filterResult` (keepFullObjectsInMemory: false), an Event with `object: null`.
        let text = "[\n\t{\n\t\t\"snapshots\": {\"nodes\": [{\"filterResult\": {\"metadata\": {\"name\": \"n1\"}}}]},\n\t\t\"binding\": \"taint-nodes\",\n\t\t\"type\": \"Group\",\n\t\t\"groupName\": \"g\"\n\t},\n\t{\"binding\": \"pods\", \"type\": \"Event\", \"watchEvent\": \"Deleted\", \"object\": null, \"filterResult\": \"\"}\n]";
        let run = parse_str(text).unwrap();
        assert_eq!(
            run.taint_nodes.unwrap().nodes.unwrap()[0]
                .metadata
                .name
                .as_deref(),
            Some("n1")
        );
        assert_eq!(run.skipped, ["pods (Event)"]);
    }

    #[test]
    fn malformed_contexts_name_the_element_and_field() {
        let cases = [
            ("not json", "not JSON"),
            (
                r#"{"binding":"taint-nodes"}"#,
                "must be a JSON array of binding contexts, found an object",
            ),
            (
                r#"[{"type":"Schedule"}]"#,
                "element 0: has no \"binding\" field",
            ),
            (
                r#"[{"binding":"taint-nodes"}, 3]"#,
                "element 1: must be an object, found a number",
            ),
            (
                r#"[{"binding":"taint-nodes","snapshots":{"nodes":{}}}]"#,
                "element 0 (binding taint-nodes): snapshots.nodes: must be an array, found an object",
            ),
            (
                r#"[{"binding":"taint-nodes","snapshots":{"nodes":[{"filterResult":{"spec":{"taints":[{"key":"k","effect":7}]}}}]}}]"#,
                "element 0 (binding taint-nodes): snapshots.nodes[0].filterResult.spec.taints[0].effect: invalid type",
            ),
        ];
        for (text, expected) in cases {
            let message = format!("{:#}", parse_str(text).unwrap_err());
            assert!(
                message.contains(expected),
                "{text}\n  gave: {message}\n  wanted: {expected}"
            );
        }
    }
}
