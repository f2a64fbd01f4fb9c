//! The Pod as resize-pods reads it: the fields the controller uses, under Kubernetes' JSON names, and nothing
//! else.
//!
//! k8s-openapi's `Pod` models every field of the API: 2,176 bytes before any heap data (a `Container` is
//! 2,120, a `ContainerStatus` 752), about 10 KB a pod once decoded. Holding every non-terminal pod of a
//! 50,000-container cluster (the fit check needs the requests of all pods on a node) cost ~360 MB that way.
//! These types keep the field names, types and optionality of k8s-openapi for exactly the fields read by
//! `resize::{decide, fit, owners, record, apply}` and kept by `POD_JQ_FILTER`, so snapshot items, LIST and
//! GET/PATCH answers and test fixtures decode the same; unknown fields are ignored. Small k8s-openapi types
//! (`ObjectMeta`, `Quantity`, `ContainerResizePolicy`, `PodCondition`) are kept. Resource lists are not
//! BTreeMaps: a B-tree leaf takes ~550 bytes even for `{cpu, memory}`, and a pod has about a dozen of them
//! (spec requests and limits, status resources and allocatedResources): 240 MB of the 320 MB that 36,000 pods
//! took before [`ResourceList`].
//!
//! Serialized (tests edit pods as JSON) like k8s-openapi, without absent fields.
//! Like k8s-openapi, a required field that is missing or null decodes as its default, and an `apiVersion` or
//! `kind` other than `v1` / `Pod` is refused.

use std::fmt;

use k8s_openapi::api::core::v1::{ContainerResizePolicy, PodCondition};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Pod: identity, owners and our annotations (`metadata`), placement and container resources (`spec`),
/// phase and resize progress (`status`). Spec and status are boxed so the list of all pods holds 376 bytes a
/// pod, not 688.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pod {
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<PodSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<PodStatus>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<ResourceList>,
    /// Pod-level resources (1.34+): only whether they are set matters (such pods are left alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A container or an init container (`restartPolicy: Always` marks a sidecar).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_policy: Option<Vec<ContainerResizePolicy>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// How 1.32 servers report a pending resize (replaced by conditions from 1.33).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<String>,
}

/// What the kubelet has applied to a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<ResourceList>,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
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

/// A resource list such as `{"cpu": "500m", "memory": "1Gi"}`: a JSON object read into a short Vec sorted by
/// name, with a map's lookup and, for a repeated name, a map's last-one-wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceList(Vec<(String, Quantity)>);

impl ResourceList {
    pub fn get(&self, name: &str) -> Option<&Quantity> {
        self.0
            .binary_search_by(|(key, _)| key.as_str().cmp(name))
            .ok()
            .map(|at| &self.0[at].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Quantity)> {
        self.0
            .iter()
            .map(|(name, quantity)| (name.as_str(), quantity))
    }

    fn insert(&mut self, name: String, quantity: Quantity) {
        match self.0.binary_search_by(|(key, _)| key.cmp(&name)) {
            Ok(at) => self.0[at].1 = quantity,
            Err(at) => self.0.insert(at, (name, quantity)),
        }
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
        let mut list = ResourceList(Vec::with_capacity(map.size_hint().unwrap_or(2)));
        while let Some((name, quantity)) = map.next_entry::<String, Quantity>()? {
            list.insert(name, quantity);
        }
        list.0.shrink_to_fit();
        Ok(list)
    }
}

impl Serialize for ResourceList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, quantity) in &self.0 {
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
                    pod.metadata = map.next_value::<Option<ObjectMeta>>()?.unwrap_or_default()
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

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn as_map(list: Option<&ResourceList>) -> Option<std::collections::BTreeMap<String, Quantity>> {
        list.map(|l| l.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    fn as_requirements(
        resources: Option<&ResourceRequirements>,
    ) -> Option<k8s_openapi::api::core::v1::ResourceRequirements> {
        resources.map(|r| k8s_openapi::api::core::v1::ResourceRequirements {
            limits: as_map(r.limits.as_ref()),
            requests: as_map(r.requests.as_ref()),
            ..Default::default()
        })
    }

    #[test]
    fn a_resource_list_reads_like_a_map() {
        let list: ResourceList = serde_json::from_str(
            r#"{"memory":"1Gi","cpu":"1","cpu":"500m","example.com/gpu":"1"}"#,
        )
        .unwrap();
        assert_eq!(list.get("cpu").map(|q| q.0.as_str()), Some("500m"));
        assert_eq!(list.get("memory").map(|q| q.0.as_str()), Some("1Gi"));
        assert!(list.get("pods").is_none());
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"cpu":"500m","example.com/gpu":"1","memory":"1Gi"}"#
        );
        // Values decode as k8s-openapi's Quantity does, whatever it accepts or refuses.
        for text in [r#"{"cpu":7}"#, r#"{"cpu":null}"#, r#"{"cpu":[]}"#, r#"[]"#] {
            let list = serde_json::from_str::<ResourceList>(text);
            let map = serde_json::from_str::<std::collections::BTreeMap<String, Quantity>>(text);
            assert_eq!(list.is_ok(), map.is_ok(), "{text}");
            if let (Ok(list), Ok(map)) = (list, map) {
                assert_eq!(as_map(Some(&list)), Some(map));
            }
        }
    }

    /// Every field this model keeps reads the same as through k8s-openapi's full Pod.
    #[test]
    fn a_real_pod_reads_as_through_k8s_openapi() {
        let text = fixture("pod.json");
        let full: k8s_openapi::api::core::v1::Pod = serde_json::from_str(&text).unwrap();
        let slim: Pod = serde_json::from_str(&text).unwrap();
        assert_eq!(slim.metadata, full.metadata);
        let (spec, full_spec) = (slim.spec.unwrap(), full.spec.unwrap());
        assert_eq!(spec.node_name, full_spec.node_name);
        assert_eq!(as_map(spec.overhead.as_ref()), full_spec.overhead);
        assert_eq!(
            as_requirements(spec.resources.as_ref()),
            full_spec.resources
        );
        let same_containers =
            |slim: &[Container], full: &[k8s_openapi::api::core::v1::Container]| {
                assert_eq!(slim.len(), full.len());
                for (s, f) in slim.iter().zip(full) {
                    assert_eq!(
                        (
                            &s.name,
                            as_requirements(s.resources.as_ref()),
                            &s.resize_policy,
                            &s.restart_policy
                        ),
                        (
                            &f.name,
                            f.resources.clone(),
                            &f.resize_policy,
                            &f.restart_policy
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
                &status.phase,
                status.observed_generation,
                &status.resize,
                &status.conditions
            ),
            (
                &full_status.phase,
                full_status.observed_generation,
                &full_status.resize,
                &full_status.conditions
            )
        );
        let same_statuses =
            |slim: &[ContainerStatus], full: &[k8s_openapi::api::core::v1::ContainerStatus]| {
                assert_eq!(slim.len(), full.len());
                for (s, f) in slim.iter().zip(full) {
                    assert_eq!(
                        (
                            &s.name,
                            as_requirements(s.resources.as_ref()),
                            as_map(s.allocated_resources.as_ref())
                        ),
                        (&f.name, f.resources.clone(), f.allocated_resources.clone())
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
            r#"{"metadata":null,"spec":{"containers":null,"initContainers":[{"name":null}]},
                "status":{"containerStatuses":[{}]}}"#,
        )
        .unwrap();
        let spec = pod.spec.unwrap();
        assert!(spec.containers.is_empty());
        assert_eq!(spec.init_containers.unwrap()[0].name, "");
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
            std::mem::size_of::<Pod>() <= 400,
            "{}",
            std::mem::size_of::<Pod>()
        );
        assert!(std::mem::size_of::<Container>() <= 256);
    }
}
