//! The object store: resource types, resourceVersion, uid, generation, LIST paging.

use super::selectors::{FieldSelector, LabelSelector};
use super::status::{self, ApiError, Qualified};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A REST resource the stand-in serves.
#[derive(Debug)]
pub(crate) struct ResourceType {
    pub plural: &'static str,
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    /// Extra `fieldSelector` fields beyond `metadata.name` / `metadata.namespace`.
    pub fields: &'static [&'static str],
    /// Whether `metadata.generation` tracks spec changes.
    pub has_generation: bool,
    /// Custom resources do not support strategic merge patch.
    pub custom: bool,
}

pub(crate) const RESOURCES: &[ResourceType] = &[
    ResourceType {
        plural: "nodes",
        kind: "Node",
        group: "",
        version: "v1",
        namespaced: false,
        fields: &["spec.unschedulable"],
        has_generation: false,
        custom: false,
    },
    ResourceType {
        plural: "pods",
        kind: "Pod",
        group: "",
        version: "v1",
        namespaced: true,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        has_generation: true,
        custom: false,
    },
    ResourceType {
        plural: "namespaces",
        kind: "Namespace",
        group: "",
        version: "v1",
        namespaced: false,
        fields: &["status.phase"],
        has_generation: false,
        custom: false,
    },
    ResourceType {
        plural: "events",
        kind: "Event",
        group: "",
        version: "v1",
        namespaced: true,
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "reason",
            "type",
            "source",
        ],
        has_generation: false,
        custom: false,
    },
    ResourceType {
        plural: "events",
        kind: "Event",
        group: "events.k8s.io",
        version: "v1",
        namespaced: true,
        fields: &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "reason",
            "type",
            "reportingController",
        ],
        has_generation: false,
        custom: false,
    },
    // Served as plain objects for the hook's LISTs: the stand-in's admission enforces neither LimitRanges nor
    // quotas (tests/it/real_apiserver.rs checks the hook's model against the real plugins).
    ResourceType {
        plural: "limitranges",
        kind: "LimitRange",
        group: "",
        version: "v1",
        namespaced: true,
        fields: &[],
        has_generation: false,
        custom: false,
    },
    ResourceType {
        plural: "resourcequotas",
        kind: "ResourceQuota",
        group: "",
        version: "v1",
        namespaced: true,
        fields: &[],
        has_generation: false,
        custom: false,
    },
    ResourceType {
        plural: "horizontalpodautoscalers",
        kind: "HorizontalPodAutoscaler",
        group: "autoscaling",
        version: "v2",
        namespaced: true,
        fields: &[],
        has_generation: true,
        custom: false,
    },
    ResourceType {
        plural: "verticalpodautoscalers",
        kind: "VerticalPodAutoscaler",
        group: "autoscaling.k8s.io",
        version: "v1",
        namespaced: true,
        fields: &[],
        has_generation: true,
        custom: true,
    },
];

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn qualified(&self) -> Qualified<'static> {
        Qualified {
            group: self.group,
            plural: self.plural,
        }
    }

    pub fn index(&self) -> usize {
        RESOURCES
            .iter()
            .position(|r| std::ptr::eq(r, self))
            .unwrap_or_default()
    }

    /// The resource for a `kind` (and `apiVersion`, to tell the two Event APIs apart).
    pub fn for_kind(kind: &str, api_version: Option<&str>) -> Option<&'static ResourceType> {
        RESOURCES.iter().find(|r| {
            r.kind.eq_ignore_ascii_case(kind)
                && match api_version {
                    Some(v) => {
                        r.api_version() == v
                            || (r.kind == "Event" && r.group.is_empty() && v == "v1")
                    }
                    None => r.kind != "Event" || r.group.is_empty(),
                }
        })
    }

    pub fn for_path(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }
}

/// RFC 3339 UTC time, second precision, as Kubernetes writes `metav1.Time`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(crate) type Key = (usize, String, String);

/// All objects, keyed by resource, namespace and name (etcd key order).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub objects: BTreeMap<Key, Value>,
    pub resource_version: u64,
    uid_counter: u64,
    /// Bumped to make every continue token issued so far expire (etcd compaction).
    pub continue_epoch: u64,
}

pub(crate) fn key(resource: &ResourceType, namespace: Option<&str>, name: &str) -> Key {
    (
        resource.index(),
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    )
}

fn without_resource_version(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    object
}

impl Store {
    pub fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uid_counter)
    }

    /// Stores a new object: fills uid, creationTimestamp, generation, resourceVersion.
    pub fn create(&mut self, resource: &ResourceType, mut object: Value) -> Value {
        object["kind"] = json!(resource.kind);
        object["apiVersion"] = json!(resource.api_version());
        let uid = self.next_uid();
        let meta = object["metadata"]
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut meta = Value::Object(meta);
        if meta.get("uid").is_none_or(Value::is_null) {
            meta["uid"] = json!(uid);
        }
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            meta["creationTimestamp"] = json!(rfc3339(SystemTime::now()));
        }
        if resource.has_generation {
            meta["generation"] = json!(1);
        }
        self.resource_version += 1;
        meta["resourceVersion"] = json!(self.resource_version.to_string());
        object["metadata"] = meta;
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
        self.objects
            .insert(key(resource, namespace.as_deref(), &name), object.clone());
        object
    }

    /// Replaces an existing object when it changed: bumps resourceVersion (and generation on a
    /// spec change). Returns the stored object; an unchanged write stores nothing.
    pub fn replace(&mut self, resource: &ResourceType, key: &Key, mut object: Value) -> Value {
        let Some(current) = self.objects.get(key) else {
            return object;
        };
        if without_resource_version(current) == without_resource_version(&object) {
            return current.clone();
        }
        if resource.has_generation && current.get("spec") != object.get("spec") {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(0);
            object["metadata"]["generation"] = json!(generation + 1);
        }
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.objects.insert(key.clone(), object.clone());
        object
    }

    /// One page of a LIST.
    pub fn list(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        query: &ListQuery,
    ) -> Result<Value, ApiError> {
        let index = resource.index();
        let start_after = match &query.continue_token {
            Some(token) => {
                let (epoch, start) = decode_continue(token).ok_or_else(|| {
                    status::bad_request(format!("continue key is not valid: {token}"))
                })?;
                if epoch != self.continue_epoch {
                    return Err(status::expired_continue());
                }
                Some(start)
            }
            None => None,
        };
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        let mut remaining = 0usize;
        for ((r, ns, name), object) in &self.objects {
            if *r != index || namespace.is_some_and(|wanted| wanted != ns) {
                continue;
            }
            let position = format!("{ns}/{name}");
            if start_after
                .as_ref()
                .is_some_and(|s| position.as_str() <= s.as_str())
            {
                continue;
            }
            let labels = object["metadata"]
                .get("labels")
                .cloned()
                .unwrap_or(json!({}));
            if !query.labels.matches(&labels) || !query.fields.matches(object) {
                continue;
            }
            if query.limit.is_some_and(|limit| items.len() >= limit) {
                remaining += 1;
                continue;
            }
            let mut item = object.clone();
            // List items carry no kind/apiVersion in kube-apiserver's JSON.
            if let Some(map) = item.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            items.push(item);
            next = Some(position);
        }
        let mut metadata = json!({ "resourceVersion": self.resource_version.to_string() });
        if remaining > 0 {
            if let Some(last) = next {
                metadata["continue"] = json!(encode_continue(self.continue_epoch, &last));
            }
            if query.labels.is_empty() && query.fields.is_empty() {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        Ok(json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }
}

/// What a LIST asked for.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

fn encode_continue(epoch: u64, start: &str) -> String {
    let raw = format!("{epoch}:{start}");
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let (epoch, start) = raw.split_once(':')?;
    Some((epoch.parse().ok()?, start.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(
            decode_continue(&encode_continue(3, "ns/a")),
            Some((3, "ns/a".into()))
        );
        assert_eq!(decode_continue("zz"), None);
    }
}
