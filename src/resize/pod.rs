//! The Pod as resize-pods reads it: the fields the controller uses, under Kubernetes' JSON names, and nothing
//! else.
//!
//! k8s-openapi's `Pod` models every field of the API: 2,176 bytes before any heap data (a `Container` is
//! 2,120, a `ContainerStatus` 752), about 10 KB a pod once decoded. Holding every non-terminal pod of a
//! 50,000-container cluster (the fit check needs the requests of all pods on a node) cost ~360 MB that way.
//! These types keep the field names, types and optionality of k8s-openapi for exactly the fields read by
//! `resize::{decide, fit, owners, record, apply}` and kept by `POD_JQ_FILTER`, so snapshot items, LIST and
//! GET/PATCH answers and test fixtures decode the same; unknown fields are ignored. Small k8s-openapi types
//! (`ObjectMeta`, `ResourceRequirements`, `Quantity`, `ContainerResizePolicy`, `PodCondition`) are kept.
//!
//! Serialized (tests edit pods as JSON) like k8s-openapi, without absent fields.
//! Like k8s-openapi, a required field that is missing or null decodes as its default, and an `apiVersion` or
//! `kind` other than `v1` / `Pod` is refused.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ContainerResizePolicy, PodCondition, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// A Pod: identity, owners and our annotations (`metadata`), placement and container resources (`spec`),
/// phase and resize progress (`status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pod {
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
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
    pub overhead: Option<BTreeMap<String, Quantity>>,
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
    pub allocated_resources: Option<BTreeMap<String, Quantity>>,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
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
        Ok(pod)
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

    /// Every field this model keeps reads the same as through k8s-openapi's full Pod.
    #[test]
    fn a_real_pod_reads_as_through_k8s_openapi() {
        let text = fixture("pod.json");
        let full: k8s_openapi::api::core::v1::Pod = serde_json::from_str(&text).unwrap();
        let slim: Pod = serde_json::from_str(&text).unwrap();
        assert_eq!(slim.metadata, full.metadata);
        let (spec, full_spec) = (slim.spec.unwrap(), full.spec.unwrap());
        assert_eq!(spec.node_name, full_spec.node_name);
        assert_eq!(spec.overhead, full_spec.overhead);
        assert_eq!(spec.resources, full_spec.resources);
        let same_containers =
            |slim: &[Container], full: &[k8s_openapi::api::core::v1::Container]| {
                assert_eq!(slim.len(), full.len());
                for (s, f) in slim.iter().zip(full) {
                    assert_eq!(
                        (&s.name, &s.resources, &s.resize_policy, &s.restart_policy),
                        (&f.name, &f.resources, &f.resize_policy, &f.restart_policy)
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
                        (&s.name, &s.resources, &s.allocated_resources),
                        (&f.name, &f.resources, &f.allocated_resources)
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
            std::mem::size_of::<Pod>() <= 1024,
            "{}",
            std::mem::size_of::<Pod>()
        );
        assert!(std::mem::size_of::<Container>() <= 256);
    }
}
