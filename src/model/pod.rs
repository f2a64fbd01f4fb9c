//! The Pod as resize-pods reads it: the fields the controller uses, under Kubernetes' JSON names, and nothing
//! else.
//!
//! k8s-openapi's `Pod` models every field of the API: 2,176 bytes before any heap data (a `Container` is
//! 2,120, a `ContainerStatus` 752), about 10 KB a pod once decoded. Holding every non-terminal pod of a
//! 50,000-container cluster (the fit check needs the requests of all pods on a node) cost ~360 MB that way.
//! These types keep the field names and optionality of k8s-openapi for exactly the fields read by
//! resize-pods (its decision and its shell) and kept by `POD_JQ_FILTER`, so snapshot items, LIST and
//! GET/PATCH answers and test fixtures decode the same; unknown fields are ignored. Only `PodCondition` is
//! k8s-openapi's own.
//!
//! Memory, at 36,275 pods (BENCHMARKS.md): maps are short lists sorted by key (labels, annotations, resource
//! lists), not B-trees, whose leaf takes ~550 bytes even for `{cpu, memory}`; strings are `CompactString`s,
//! inline up to 24 bytes, since nearly every name, label and quantity is that short and a heap string costs a
//! 24-byte header plus a 32-byte allocation; cpu and memory have their own slots in a resource list; the rare
//! `spec.overhead` and `spec.resources` are boxed. The pods went from ~150 MB to ~55 MB that way.
//!
//! Serialized (tests edit pods as JSON) like k8s-openapi, without absent fields.
//! Like k8s-openapi, a required field that is missing or null decodes as its default, and an `apiVersion` or
//! `kind` other than `v1` / `Pod` is refused. Unlike it, a key repeated inside one object is refused (the API
//! server never writes one).
//!
//! Pure data: imports nothing of the crate; the hook contract and resize-pods import it.

use std::fmt;

use compact_str::CompactString;
use k8s_openapi::api::core::v1::PodCondition;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Pod: identity, owners and our annotations (`metadata`), placement and container resources (`spec`),
/// phase and resize progress (`status`). Spec and status are boxed so the list of all pods holds little
/// per pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pod {
    pub metadata: PodMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<PodSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<PodStatus>>,
}

/// The part of `ObjectMeta` that resize-pods reads: identity and write guards, labels (opt-in, owner
/// heuristic), annotations (the snapshot keeps only ours) and owners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<Vec<OwnerReference>>,
}

/// What `owners` reads of an owner reference: which object, and whether it is the controller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: CompactString,
    #[serde(deserialize_with = "null_as_default")]
    pub name: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<CompactString>,
    /// Boxed, as is `resources`: both are rare, and inline they would take 216 bytes of every pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<Box<ResourceList>>,
    /// Pod-level resources (1.34+): resized with the containers from 1.36, left alone before; their requests
    /// count in what the pod reserves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<ResourceRequirements>>,
}

/// A container or an init container (`restartPolicy: Always` marks a sidecar).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    #[serde(deserialize_with = "null_as_default")]
    pub name: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_policy: Option<Vec<ContainerResizePolicy>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<CompactString>,
}

/// Whether resizing a resource restarts the container (`NotRequired`, `RestartContainer`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerResizePolicy {
    #[serde(deserialize_with = "null_as_default")]
    pub resource_name: CompactString,
    #[serde(deserialize_with = "null_as_default")]
    pub restart_policy: CompactString,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// Pod-level requests the kubelet allocated (1.36+, pods with pod-level resources only). Boxed, as is
    /// `resources`: rare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<Box<ResourceList>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<CompactString>,
    /// When the kubelet took the pod on: the long view holds no more of its history than that. Text, as
    /// `finishedAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<CompactString>,
    /// How 1.32 servers report a pending resize (replaced by conditions from 1.33).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<CompactString>,
    /// Pod-level resources the kubelet applied (1.36+, pods with pod-level resources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<ResourceRequirements>>,
}

/// What the kubelet has applied to a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<ResourceList>,
    #[serde(deserialize_with = "null_as_default")]
    pub name: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// How the container's previous run ended: an OOM kill raises its memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_state: Option<Box<LastState>>,
}

/// `lastState` of a container status; only `terminated` is read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LastState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Terminated>,
}

/// A run's end as the kubelet reports it. `finishedAt` is kept as text: a malformed time must not make the whole
/// pod unreadable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Terminated {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<CompactString>,
}

/// A container's requests and limits (`claims` is not read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRequirements {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
}

/// A JSON object of strings (labels, annotations) read into a short Vec sorted by key, with a map's lookup
/// and, for a repeated key, a map's last-one-wins. A B-tree leaf takes ~550 bytes even for two entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringMap(Vec<(CompactString, CompactString)>);

impl StringMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|at| self.0[at].1.as_str())
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        entries(&self.0)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes `key`; its value, if it was there.
    pub fn remove(&mut self, key: &str) -> Option<CompactString> {
        let at = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(self.0.remove(at).1)
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub fn insert(&mut self, key: impl Into<CompactString>, value: impl Into<CompactString>) {
        let key = key.into();
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => self.0[at].1 = value.into(),
            Err(at) => self.0.insert(at, (key, value.into())),
        }
    }
}

impl<K: Into<CompactString>, V: Into<CompactString>> FromIterator<(K, V)> for StringMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = StringMap::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

impl<K: Into<CompactString>, V: Into<CompactString>, const N: usize> From<[(K, V); N]>
    for StringMap
{
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

fn entries(part: &[(CompactString, CompactString)]) -> impl Iterator<Item = (&str, &str)> {
    part.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// A resource list such as `{"cpu": "500m", "memory": "1Gi"}`: resource name → quantity text, with a map's
/// lookup and, for a repeated name, a map's last-one-wins. A pod has about a dozen (spec requests and limits,
/// status resources and allocatedResources), nearly all holding cpu and memory only: those two have their own
/// slots, so such a list is one inline value rather than a heap allocation of its own. Values are read as
/// k8s-openapi's `Quantity` reads them: a string, or a JSON number as its decimal text. Parse them with
/// `crate::quantity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceList {
    cpu: Option<CompactString>,
    memory: Option<CompactString>,
    /// Any other resource (ephemeral-storage, hugepages-2Mi, extended resources).
    others: StringMap,
}

impl ResourceList {
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "cpu" => self.cpu.as_deref(),
            "memory" => self.memory.as_deref(),
            _ => self.others.get(name),
        }
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let others = self.others.0.as_slice();
        let before_cpu = others.partition_point(|(name, _)| name.as_str() < "cpu");
        let before_memory = others.partition_point(|(name, _)| name.as_str() < "memory");

        entries(&others[..before_cpu])
            .chain(self.cpu.as_deref().map(|v| ("cpu", v)))
            .chain(entries(&others[before_cpu..before_memory]))
            .chain(self.memory.as_deref().map(|v| ("memory", v)))
            .chain(entries(&others[before_memory..]))
    }

    /// Sets `name` to `quantity`, replacing any previous value (a replay's simulated resize).
    pub fn insert(&mut self, name: CompactString, quantity: CompactString) {
        match name.as_str() {
            "cpu" => self.cpu = Some(quantity),
            "memory" => self.memory = Some(quantity),
            _ => self.others.insert(name, quantity),
        }
    }
}

impl<K: Into<CompactString>, V: Into<CompactString>> FromIterator<(K, V)> for ResourceList {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut list = ResourceList::default();
        for (name, quantity) in entries {
            list.insert(name.into(), quantity.into());
        }
        list
    }
}

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringMapVisitor)
    }
}

struct StringMapVisitor;

impl<'de> Visitor<'de> for StringMapVisitor {
    type Value = StringMap;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
        let mut entries = StringMap(Vec::with_capacity(map.size_hint().unwrap_or(2)));
        while let Some((key, value)) = map.next_entry::<CompactString, CompactString>()? {
            entries.insert(key, value);
        }
        entries.0.shrink_to_fit();
        Ok(entries)
    }
}

impl<'de> Deserialize<'de> for ResourceList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ResourceListVisitor)
    }
}

struct ResourceListVisitor;

impl<'de> Visitor<'de> for ResourceListVisitor {
    type Value = ResourceList;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of resource names to quantities")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResourceList, A::Error> {
        let mut list = ResourceList::default();
        while let Some((name, quantity)) = map.next_entry::<CompactString, QuantityText>()? {
            list.insert(name, quantity.0);
        }
        list.others.0.shrink_to_fit();
        Ok(list)
    }
}

/// A quantity's text, read as k8s-openapi's `Quantity` reads it (a JSON number becomes its decimal text).
struct QuantityText(CompactString);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityTextVisitor)
    }
}

struct QuantityTextVisitor;

impl Visitor<'_> for QuantityTextVisitor {
    type Value = QuantityText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Quantity")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<QuantityText, E> {
        Ok(QuantityText(compact_str::format_compact!("{v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<QuantityText, E> {
        Ok(QuantityText(compact_str::format_compact!("{v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<QuantityText, E> {
        Ok(QuantityText(compact_str::format_compact!("{v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<QuantityText, E> {
        Ok(QuantityText(CompactString::from(v)))
    }
}

impl Serialize for StringMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key.as_str(), value.as_str())?;
        }
        map.end()
    }
}

impl Serialize for ResourceList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, quantity) in self.iter() {
            map.serialize_entry(name, quantity)?;
        }
        map.end()
    }
}

/// k8s-openapi decodes required fields as optional and defaults them.
fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// By hand rather than derived, as k8s-openapi does it: `apiVersion` and `kind` are checked when present
// (answers carry them, list items and snapshot items do not).
impl<'de> Deserialize<'de> for Pod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PodVisitor)
    }
}

struct PodVisitor;

impl<'de> Visitor<'de> for PodVisitor {
    type Value = Pod;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Pod")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pod, A::Error> {
        let mut pod = Pod::default();
        while let Some(key) = map.next_key::<PodField>()? {
            match key {
                PodField::ApiVersion => expect(&mut map, "v1")?,
                PodField::Kind => expect(&mut map, "Pod")?,
                PodField::Metadata => {
                    pod.metadata = map.next_value::<Option<PodMetadata>>()?.unwrap_or_default()
                }
                PodField::Spec => pod.spec = map.next_value()?,
                PodField::Status => pod.status = map.next_value()?,
                PodField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        pod.shrink_lists();
        Ok(pod)
    }
}

impl Pod {
    /// serde grows a decoded list to 4 slots whatever its length (most pods have one container, one owner,
    /// two resize policies): trimmed, 36,000 pods take ~55 MB less.
    fn shrink_lists(&mut self) {
        if let Some(owners) = &mut self.metadata.owner_references {
            owners.shrink_to_fit();
        }
        if let Some(spec) = &mut self.spec {
            spec.containers.shrink_to_fit();
            if let Some(init) = &mut spec.init_containers {
                init.shrink_to_fit();
            }
            let containers = spec.containers.iter_mut();
            for container in containers.chain(spec.init_containers.iter_mut().flatten()) {
                if let Some(policies) = &mut container.resize_policy {
                    policies.shrink_to_fit();
                }
            }
        }
        if let Some(status) = &mut self.status {
            let lists = [
                status.container_statuses.as_mut(),
                status.init_container_statuses.as_mut(),
            ];
            for statuses in lists.into_iter().flatten() {
                statuses.shrink_to_fit();
            }
            if let Some(conditions) = &mut status.conditions {
                conditions.shrink_to_fit();
            }
        }
    }
}

fn expect<'de, A: MapAccess<'de>>(map: &mut A, wanted: &'static str) -> Result<(), A::Error> {
    let value: String = map.next_value()?;
    if value != wanted {
        return Err(de::Error::invalid_value(
            de::Unexpected::Str(&value),
            &wanted,
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PodField {
    ApiVersion,
    Kind,
    Metadata,
    Spec,
    Status,
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1 as full;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn as_map(list: Option<&ResourceList>) -> Option<BTreeMap<String, Quantity>> {
        list.map(|l| {
            l.iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        })
    }

    fn as_strings(map: Option<&StringMap>) -> Option<BTreeMap<String, String>> {
        map.map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    fn as_string(text: Option<&CompactString>) -> Option<String> {
        text.map(|t| t.to_string())
    }

    fn as_requirements(
        resources: Option<&ResourceRequirements>,
    ) -> Option<full::ResourceRequirements> {
        resources.map(|r| full::ResourceRequirements {
            limits: as_map(r.limits.as_ref()),
            requests: as_map(r.requests.as_ref()),
            ..Default::default()
        })
    }

    fn as_policies(policies: Option<&Vec<ContainerResizePolicy>>) -> Option<Vec<(String, String)>> {
        policies.map(|p| {
            p.iter()
                .map(|p| (p.resource_name.to_string(), p.restart_policy.to_string()))
                .collect()
        })
    }

    /// The metadata fields we read, as k8s-openapi's `ObjectMeta` reads them.
    fn same_metadata(
        slim: &PodMetadata,
        full: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        assert_eq!(as_string(slim.name.as_ref()), full.name);
        assert_eq!(as_string(slim.namespace.as_ref()), full.namespace);
        assert_eq!(as_string(slim.uid.as_ref()), full.uid);
        assert_eq!(
            as_string(slim.resource_version.as_ref()),
            full.resource_version
        );
        assert_eq!(slim.generation, full.generation);
        assert_eq!(as_strings(slim.labels.as_ref()), full.labels);
        assert_eq!(as_strings(slim.annotations.as_ref()), full.annotations);
        let owners = |slim: &[OwnerReference]| {
            slim.iter()
                .map(|o| (o.kind.to_string(), o.name.to_string(), o.controller))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            slim.owner_references.as_deref().map(owners),
            full.owner_references.as_ref().map(|full| {
                full.iter()
                    .map(|o| (o.kind.clone(), o.name.clone(), o.controller))
                    .collect()
            })
        );
    }

    #[test]
    fn a_resource_list_reads_like_a_map() {
        let list: ResourceList = serde_json::from_str(
            r#"{"memory":"1Gi","cpu":"1","cpu":"500m","example.com/gpu":"1"}"#,
        )
        .unwrap();
        assert_eq!(list.get("cpu"), Some("500m"));
        assert_eq!(list.get("memory"), Some("1Gi"));
        assert!(list.get("pods").is_none());
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"cpu":"500m","example.com/gpu":"1","memory":"1Gi"}"#
        );
        // Names around and between cpu and memory come out in name order, as from a BTreeMap.
        let text = r#"{"pods":"110","memory":"2Gi","hugepages-2Mi":"0","attachable":"1","cpu":"2","cpu":"3","ephemeral-storage":"10Gi","a":"1"}"#;
        let list: ResourceList = serde_json::from_str(text).unwrap();
        let map: BTreeMap<String, Quantity> = serde_json::from_str(text).unwrap();
        assert_eq!(as_map(Some(&list)), Some(map.clone()));
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(list.get("hugepages-2Mi"), Some("0"));
        assert_eq!(list.get("cpu"), Some("3"));
        // Values decode as k8s-openapi's Quantity does, whatever it accepts or refuses.
        for text in [
            r#"{"cpu":7}"#,
            r#"{"cpu":-2}"#,
            r#"{"cpu":1.5}"#,
            r#"{"cpu":null}"#,
            r#"{"cpu":[]}"#,
            r#"{"cpu":true}"#,
            r#"[]"#,
            r#"{"cpu":"a long quantity text beyond twenty-four bytes"}"#,
        ] {
            let list = serde_json::from_str::<ResourceList>(text);
            let map = serde_json::from_str::<BTreeMap<String, Quantity>>(text);
            assert_eq!(list.is_ok(), map.is_ok(), "{text}");
            if let (Ok(list), Ok(map)) = (list, map) {
                assert_eq!(as_map(Some(&list)), Some(map));
            }
        }
    }

    #[test]
    fn labels_read_like_a_map_with_the_last_repeated_key_winning() {
        let labels: StringMap = serde_json::from_str(
            r#"{"pod-template-hash":"7d9f8b6c5","app":"web","app":"shop","kube-thermostat.io/resize":"true"}"#,
        )
        .unwrap();
        assert_eq!(labels.get("app"), Some("shop"));
        assert_eq!(labels.get("kube-thermostat.io/resize"), Some("true"));
        assert_eq!(labels.get("tier"), None);
        assert_eq!(labels.len(), 3);
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            ["app", "kube-thermostat.io/resize", "pod-template-hash"]
        );
        // Labels and annotations are strings only, as for k8s-openapi's BTreeMap<String, String>.
        for text in [
            r#"{"a":"b","a":"c"}"#,
            r#"{"a":1}"#,
            r#"{"a":null}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"kube-thermostat.io/last-resize":"{\"app\":{\"at\":\"2026-11-20T09:00:00Z\"}}"}"#,
        ] {
            let slim = serde_json::from_str::<StringMap>(text);
            let full = serde_json::from_str::<BTreeMap<String, String>>(text);
            assert_eq!(slim.is_ok(), full.is_ok(), "{text}");
            if let (Ok(slim), Ok(full)) = (slim, full) {
                assert_eq!(as_strings(Some(&slim)), Some(full), "{text}");
            }
        }
    }

    #[test]
    fn an_inserted_annotation_replaces_the_previous_value_and_stays_in_key_order() {
        let mut annotations = StringMap::from([("kube-thermostat.io/cpu-max", "2")]);
        annotations.insert("kube-thermostat.io/cpu-max", "3");
        annotations.insert("a.example/first", "x");
        assert_eq!(
            annotations.iter().collect::<Vec<_>>(),
            [
                ("a.example/first", "x"),
                ("kube-thermostat.io/cpu-max", "3")
            ]
        );
    }

    /// Metadata as the API returns it (GET, PATCH answers, LIST items, snapshot items) reads like
    /// k8s-openapi's ObjectMeta for every field we keep, including nulls and absent fields.
    #[test]
    fn metadata_reads_as_through_k8s_openapi() {
        for text in [
            r#"{}"#,
            r#"{"name":null,"namespace":null,"uid":null,"resourceVersion":null,"generation":null,
                "labels":null,"annotations":null,"ownerReferences":null}"#,
            r#"{"name":"web-1","labels":{},"annotations":{},"ownerReferences":[]}"#,
            r#"{"ownerReferences":[{"kind":null,"name":null,"controller":null},{}]}"#,
            r#"{"name":"a-pod-name-well-beyond-twenty-four-bytes","generation":0,
                "managedFields":[{"manager":"kubelet"}],"finalizers":["x"]}"#,
        ] {
            let slim: PodMetadata = serde_json::from_str(text).unwrap();
            let full: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                serde_json::from_str(text).unwrap();
            same_metadata(&slim, &full);
        }
        for wrong in [
            r#"{"name":7}"#,
            r#"{"generation":"3"}"#,
            r#"{"labels":[]}"#,
            r#"{"ownerReferences":{}}"#,
        ] {
            assert!(
                serde_json::from_str::<PodMetadata>(wrong).is_err(),
                "{wrong}"
            );
            let full = serde_json::from_str::<
                k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            >(wrong);
            assert!(full.is_err(), "{wrong}");
        }
    }

    #[test]
    fn absent_fields_stay_absent_when_a_pod_is_written_back() {
        let text = r#"{"metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"},
            "ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f8b6c5"}]},
            "spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1"}}}]}}"#;
        let pod: Pod = serde_json::from_str(text).unwrap();
        let written = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"},
                "ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f8b6c5"}]},
                "spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1"}}}]}})
        );
        assert_eq!(serde_json::from_value::<Pod>(written).unwrap(), pod);
    }

    /// Every field this model keeps reads the same as through k8s-openapi's full Pod.
    #[test]
    fn a_real_pod_reads_as_through_k8s_openapi() {
        let text = fixture("pod.json");
        let full: full::Pod = serde_json::from_str(&text).unwrap();
        let slim: Pod = serde_json::from_str(&text).unwrap();
        same_metadata(&slim.metadata, &full.metadata);
        let (spec, full_spec) = (slim.spec.unwrap(), full.spec.unwrap());
        assert_eq!(as_string(spec.node_name.as_ref()), full_spec.node_name);
        assert_eq!(as_map(spec.overhead.as_deref()), full_spec.overhead);
        assert_eq!(
            as_requirements(spec.resources.as_deref()),
            full_spec.resources
        );
        let same_containers = |slim: &[Container], full: &[full::Container]| {
            assert_eq!(slim.len(), full.len());
            for (s, f) in slim.iter().zip(full) {
                assert_eq!(
                    (
                        s.name.as_str(),
                        as_requirements(s.resources.as_ref()),
                        as_policies(s.resize_policy.as_ref()),
                        as_string(s.restart_policy.as_ref())
                    ),
                    (
                        f.name.as_str(),
                        f.resources.clone(),
                        f.resize_policy.as_ref().map(|p| p
                            .iter()
                            .map(|p| (p.resource_name.clone(), p.restart_policy.clone()))
                            .collect()),
                        f.restart_policy.clone()
                    )
                );
            }
        };
        same_containers(&spec.containers, &full_spec.containers);
        same_containers(
            spec.init_containers.as_deref().unwrap(),
            full_spec.init_containers.as_deref().unwrap(),
        );
        let (status, full_status) = (slim.status.unwrap(), full.status.unwrap());
        assert_eq!(
            (
                as_string(status.phase.as_ref()),
                status.observed_generation,
                as_string(status.resize.as_ref()),
                &status.conditions
            ),
            (
                full_status.phase.clone(),
                full_status.observed_generation,
                full_status.resize.clone(),
                &full_status.conditions
            )
        );
        let same_statuses = |slim: &[ContainerStatus], full: &[full::ContainerStatus]| {
            assert_eq!(slim.len(), full.len());
            for (s, f) in slim.iter().zip(full) {
                assert_eq!(
                    (
                        s.name.as_str(),
                        as_requirements(s.resources.as_ref()),
                        as_map(s.allocated_resources.as_ref())
                    ),
                    (
                        f.name.as_str(),
                        f.resources.clone(),
                        f.allocated_resources.clone()
                    )
                );
            }
        };
        same_statuses(
            status.container_statuses.as_deref().unwrap(),
            full_status.container_statuses.as_deref().unwrap(),
        );
        same_statuses(
            status
                .init_container_statuses
                .as_deref()
                .unwrap_or_default(),
            full_status
                .init_container_statuses
                .as_deref()
                .unwrap_or_default(),
        );
    }

    #[test]
    fn missing_or_null_required_fields_default_as_in_k8s_openapi() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata":null,"spec":{"containers":null,"initContainers":[{"name":null,
                "resizePolicy":[{"resourceName":null}]}]},
                "status":{"containerStatuses":[{}]}}"#,
        )
        .unwrap();
        let spec = pod.spec.unwrap();
        assert!(spec.containers.is_empty());
        let init = &spec.init_containers.unwrap()[0];
        assert_eq!(init.name, "");
        assert_eq!(
            init.resize_policy.as_deref().unwrap()[0],
            ContainerResizePolicy::default()
        );
        assert_eq!(pod.status.unwrap().container_statuses.unwrap()[0].name, "");
    }

    #[test]
    fn another_kind_is_refused_and_answers_with_ours_are_read() {
        assert!(serde_json::from_str::<Pod>(r#"{"kind":"Node","metadata":{"name":"n"}}"#).is_err());
        assert!(serde_json::from_str::<Pod>(r#"{"apiVersion":"apps/v1"}"#).is_err());
        let pod: Pod =
            serde_json::from_str(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#)
                .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("p"));
    }

    #[test]
    fn the_model_is_small() {
        // The reason this module exists; k8s-openapi's Pod is 2,176 bytes before heap data.
        assert!(
            std::mem::size_of::<Pod>() <= 200,
            "{}",
            std::mem::size_of::<Pod>()
        );
        assert!(std::mem::size_of::<PodSpec>() <= 88);
        assert!(std::mem::size_of::<Container>() <= 216);
        assert!(std::mem::size_of::<ContainerStatus>() <= 248);
    }
}
