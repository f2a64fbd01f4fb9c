//! The server-side checks kube-thermostat runs into: Node taints, Pod update immutability, the
//! `pods/{name}/resize` rules per server version, Quantity maths and QoS classes
//! (after `pkg/apis/core/validation/validation.go` and `pkg/registry/core/pod/strategy.go`).

use super::status::FieldError;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------- Quantity

/// A Quantity in billionths of its unit (`100m` = 100_000_000), exact for what pods use.
pub(crate) fn parse_quantity(text: &str) -> Option<i128> {
    let text = text.trim();
    let number_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(number_end);
    let negative = number.starts_with('-');
    let number = number.trim_start_matches(['-', '+']);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits: String = format!("{whole}{fraction}");
    let mut mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let (binary, mut exponent): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        s if s.starts_with(['e', 'E']) => (1, s[1..].parse().ok()?),
        _ => return None,
    };
    exponent += 9 - fraction.len() as i32;
    mantissa = mantissa.checked_mul(binary)?;
    let value = if exponent >= 0 {
        mantissa.checked_mul(10i128.checked_pow(exponent as u32)?)?
    } else {
        let divisor = 10i128.checked_pow((-exponent) as u32)?;
        // Kubernetes rounds sub-nano precision up.
        (mantissa + divisor - 1) / divisor
    };
    Some(if negative { -value } else { value })
}

/// `resource`'s quantity in a resource list (`requests`, `allocatable`...), in billionths of its unit.
pub(crate) fn quantity_in(list: &Value, resource: &str) -> Option<i128> {
    quantity_of(Some(list), resource)
}

fn quantity_of(list: Option<&Value>, resource: &str) -> Option<i128> {
    let value = list?.get(resource)?;
    match value {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => parse_quantity(&n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------- defaulting

fn all_containers_mut(pod: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        for (key, list) in spec.iter_mut() {
            if (key == "containers" || key == "initContainers")
                && let Some(items) = list.as_array_mut()
            {
                out.extend(items.iter_mut());
            }
        }
    }
    out
}

/// The defaulting kube-apiserver applies to every Pod it decodes (`pkg/apis/core/v1/defaults.go`):
/// a missing request takes the limit's value; `resizePolicy` gets `NotRequired` for cpu/memory.
pub(crate) fn default_pod(pod: &mut Value) {
    for container in all_containers_mut(pod) {
        let Some(container) = container.as_object_mut() else {
            continue;
        };
        let resources = container.entry("resources").or_insert_with(|| json!({}));
        if let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned()
            && !limits.is_empty()
        {
            let requests = resources
                .as_object_mut()
                .map(|r| r.entry("requests").or_insert_with(|| json!({})));
            if let Some(Value::Object(requests)) = requests {
                for (name, value) in limits {
                    requests.entry(name).or_insert(value);
                }
            } else if let Some(r) = resources.as_object_mut() {
                r.insert("requests".into(), Value::Object(limits));
            }
        }
        if resources.as_object().is_some_and(Map::is_empty) {
            container.remove("resources");
        }
        let has = |container: &Map<String, Value>, resource: &str| {
            ["requests", "limits"].iter().any(|kind| {
                container
                    .get("resources")
                    .and_then(|r| r.get(kind))
                    .and_then(|l| l.get(resource))
                    .is_some()
            })
        };
        for resource in ["cpu", "memory"] {
            if !has(container, resource) {
                continue;
            }
            let policies = container.entry("resizePolicy").or_insert_with(|| json!([]));
            if let Some(policies) = policies.as_array_mut()
                && !policies.iter().any(|p| p["resourceName"] == resource)
            {
                policies.push(json!({"resourceName": resource, "restartPolicy": "NotRequired"}));
            }
        }
    }
}

// ---------------------------------------------------------------- QoS

/// `qos.ComputePodQOS`: BestEffort, Burstable or Guaranteed from cpu/memory requests and limits.
pub(crate) fn compute_qos(pod: &Value) -> &'static str {
    let mut requests: [i128; 2] = [0, 0];
    let mut limits: [i128; 2] = [0, 0];
    let mut has_request = [false, false];
    let mut has_limit = [false, false];
    let mut guaranteed = true;
    // Pod-level resources (KEP-2837), where set, decide the class instead of the containers' (kubernetes
    // pkg/apis/core/helper/qos/qos.go, ComputePodQOS; a server before 1.34 drops them at creation).
    let pod_level = pod["spec"]["resources"].as_object().filter(|r| {
        r.values()
            .any(|list| list.as_object().is_some_and(|l| !l.is_empty()))
    });
    let containers: Vec<Value> = match pod_level {
        Some(resources) => vec![json!({"resources": resources})],
        None => ["initContainers", "containers"]
            .iter()
            .flat_map(|list| pod["spec"][list].as_array().cloned().unwrap_or_default())
            .collect(),
    };
    for container in containers {
        let resources = &container["resources"];
        let mut limits_found = [false, false];
        for (i, name) in ["cpu", "memory"].iter().enumerate() {
            if let Some(q) = quantity_of(resources.get("requests"), name).filter(|q| *q > 0) {
                requests[i] += q;
                has_request[i] = true;
            }
            if let Some(q) = quantity_of(resources.get("limits"), name).filter(|q| *q > 0) {
                limits[i] += q;
                has_limit[i] = true;
                limits_found[i] = true;
            }
        }
        if !(limits_found[0] && limits_found[1]) {
            guaranteed = false;
        }
    }
    if !has_request.iter().any(|x| *x) && !has_limit.iter().any(|x| *x) {
        return "BestEffort";
    }
    if guaranteed {
        for i in 0..2 {
            if has_request[i] && (!has_limit[i] || requests[i] != limits[i]) {
                guaranteed = false;
            }
        }
    }
    if guaranteed && has_request == has_limit {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// `qos.GetPodQOS`: the recorded class, else computed.
fn pod_qos(pod: &Value) -> String {
    pod["status"]["qosClass"]
        .as_str()
        .map_or_else(|| compute_qos(pod).to_string(), str::to_string)
}

// ---------------------------------------------------------------- names and label values

const NAME_REGEX: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// `validation.IsDNS1123Subdomain`: the messages it would give, empty when valid.
pub(crate) fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 253 {
        errors.push("must be no more than 253 characters".into());
    }
    if !is_dns1123_subdomain_syntax(value) {
        errors.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    errors
}

fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.first()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && b.last()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    })
}

/// `validation.IsQualifiedName`: the messages it would give, empty when valid.
pub(crate) fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let (prefix, name) = match value.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value),
    };
    if value.matches('/').count() > 1 {
        errors.push(format!(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_REGEX}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
        return errors;
    }
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".into());
        } else if !is_dns1123_subdomain(prefix) {
            errors.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".into());
    } else if !is_name_part(name) {
        errors.push(format!(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_REGEX}')"
        ));
    }
    errors
}

/// `validation.IsValidLabelValue`.
pub(crate) fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".into());
    }
    if !value.is_empty() && !is_name_part(value) {
        errors.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into());
    }
    errors
}

// ---------------------------------------------------------------- Node

/// `validateNodeTaints`.
pub(crate) fn validate_node(node: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(taints) = node.pointer("/spec/taints") else {
        return errors;
    };
    let Some(taints) = taints.as_array() else {
        if !taints.is_null() {
            errors.push(FieldError::invalid(
                "spec.taints",
                &taints.to_string(),
                "must be a list of taints",
            ));
        }
        return errors;
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for (i, taint) in taints.iter().enumerate() {
        let path = format!("spec.taints[{i}]");
        let key = taint["key"].as_str().unwrap_or_default();
        let value = taint["value"].as_str().unwrap_or_default();
        let effect = taint["effect"].as_str().unwrap_or_default();
        for message in qualified_name_errors(key) {
            errors.push(FieldError::invalid(format!("{path}.key"), key, message));
        }
        let value_errors = label_value_errors(value);
        if !value_errors.is_empty() {
            errors.push(FieldError::invalid(
                format!("{path}.value"),
                value,
                value_errors.join(";"),
            ));
        }
        if effect.is_empty() {
            errors.push(FieldError::required(format!("{path}.effect"), ""));
        } else if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errors.push(FieldError::not_supported(
                format!("{path}.effect"),
                effect,
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            ));
        }
        let pair = (key.to_string(), effect.to_string());
        if seen.contains(&pair) {
            let time_added = taint["timeAdded"]
                .as_str()
                .map_or("<nil>".to_string(), |t| format!("{t:?}"));
            errors.push(FieldError::duplicate(
                path,
                format!("core.Taint{{Key:{key:?}, Value:{value:?}, Effect:{effect:?}, TimeAdded:{time_added}}}"),
                "taints must be unique by key and effect pair",
            ));
            continue;
        }
        seen.push(pair);
    }
    errors
}

// ---------------------------------------------------------------- Pod

/// `validateResourceRequirements`: requests may not exceed limits.
pub(crate) fn validate_pod_resources(pod: &Value) -> Vec<FieldError> {
    let mut errors = validate_pod_resource_consistency(pod);
    for list in ["initContainers", "containers"] {
        for (i, container) in pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let resources = &container["resources"];
            for name in ["cpu", "memory"] {
                let (Some(request), Some(limit)) = (
                    quantity_of(resources.get("requests"), name),
                    quantity_of(resources.get("limits"), name),
                ) else {
                    continue;
                };
                if request > limit {
                    let shown = |kind: &str| {
                        resources[kind][name]
                            .as_str()
                            .map_or_else(|| resources[kind][name].to_string(), str::to_string)
                    };
                    errors.push(FieldError::invalid(
                        format!("spec.{list}[{i}].resources.requests[{name}]"),
                        &shown("requests"),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            shown("limits")
                        ),
                    ));
                }
            }
        }
    }
    errors
}

/// `validatePodResourceConsistency` (kubernetes 1.36 pkg/apis/core/validation/validation.go, run on create,
/// update and resize): where a pod-level request is set, the containers' aggregate request of it
/// (`AggregateContainerRequests`: regular containers and sidecars, or an init container's peak) may not exceed
/// it; where a pod-level limit is set, no regular container's limit may exceed it.
fn validate_pod_resource_consistency(pod: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(pod_level) = pod["spec"]["resources"].as_object() else {
        return errors;
    };
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for name in ["cpu", "memory"] {
        let request = |c: &Value| quantity_of(c["resources"].get("requests"), name).unwrap_or(0);
        if let Some(pod_request) = quantity_of(pod_level.get("requests"), name) {
            let mut sidecars = 0;
            let mut init_peak = 0;
            for container in &init {
                if is_sidecar(container) {
                    sidecars += request(container);
                    init_peak = init_peak.max(sidecars);
                } else {
                    init_peak = init_peak.max(sidecars + request(container));
                }
            }
            let regular: i128 = containers.iter().map(request).sum();
            let aggregate = (regular + sidecars).max(init_peak);
            if aggregate > pod_request {
                errors.push(FieldError::invalid(
                    format!("spec.resources.requests[{name}]"),
                    &shown(&pod_level["requests"][name]),
                    format!(
                        "must be greater than or equal to aggregate container requests of {}",
                        format_billionths(aggregate)
                    ),
                ));
            }
        }
        if let Some(pod_limit) = quantity_of(pod_level.get("limits"), name) {
            for (i, container) in containers.iter().enumerate() {
                let limits = container["resources"].get("limits");
                if quantity_of(limits, name).is_some_and(|limit| limit > pod_limit) {
                    errors.push(FieldError::invalid(
                        format!("spec.resources.containers[{i}][{name}].limits"),
                        &shown(&container["resources"]["limits"][name]),
                        format!(
                            "must be less than or equal to pod limits of {}",
                            shown(&pod_level["limits"][name])
                        ),
                    ));
                }
            }
        }
    }
    errors
}

/// A quantity as the request wrote it.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// Billionths of a unit as a quantity: whole units, else millis, else the billionths with `n`.
fn format_billionths(value: i128) -> String {
    if value % 1_000_000_000 == 0 {
        (value / 1_000_000_000).to_string()
    } else if value % 1_000_000 == 0 {
        format!("{}m", value / 1_000_000)
    } else {
        format!("{value}n")
    }
}

/// `ValidateVolumeMounts` (kubernetes `pkg/apis/core/validation/validation.go`): a container may mount only a
/// volume the pod declares (`field.NotFound` on the mount's name). The real server refused the synthetic
/// kube-proxy pods for this, where the stand-in had stored them.
pub(crate) fn validate_pod_volume_mounts(pod: &Value) -> Vec<FieldError> {
    let volumes: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|volume| volume["name"].as_str())
        .collect();
    let mut errors = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, container) in pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, mount) in container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let name = mount["name"].as_str().unwrap_or_default();
                if !volumes.contains(&name) {
                    errors.push(FieldError::not_found(
                        format!("spec.{list}[{i}].volumeMounts[{j}].name"),
                        name,
                    ));
                }
            }
        }
    }
    errors
}

const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// An update of the Pod itself (not a subresource): the spec is immutable but for images,
/// `activeDeadlineSeconds`, added tolerations and `terminationGracePeriodSeconds`.
pub(crate) fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = validate_pod_resources(new);
    let mut normalized = new["spec"].clone();
    for list in ["containers", "initContainers"] {
        let old_list = old["spec"][list].as_array().cloned().unwrap_or_default();
        if let Some(items) = normalized.get_mut(list).and_then(Value::as_array_mut)
            && items.len() == old_list.len()
        {
            for (item, old_item) in items.iter_mut().zip(&old_list) {
                if let (Some(item), Some(image)) = (item.as_object_mut(), old_item.get("image")) {
                    item.insert("image".into(), image.clone());
                }
            }
        }
    }
    let old_tolerations = old["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_tolerations = new["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tolerations_ok = old_tolerations.iter().all(|t| new_tolerations.contains(t));
    if let Some(spec) = normalized.as_object_mut() {
        for field in [
            "activeDeadlineSeconds",
            "terminationGracePeriodSeconds",
            "tolerations",
        ] {
            match old["spec"].get(field) {
                Some(v) if field != "tolerations" || tolerations_ok => {
                    spec.insert(field.into(), v.clone());
                }
                None if field != "tolerations" || tolerations_ok => {
                    spec.remove(field);
                }
                _ => {}
            }
        }
    }
    if normalized != old["spec"] {
        errors.push(FieldError::forbidden(
            "spec",
            format!(
                "{POD_UPDATE_FORBIDDEN}\n{}",
                spec_diff(&old["spec"], &normalized)
            ),
        ));
    }
    errors
}

/// A short description of what differs, standing in for Go's `cmp.Diff`.
fn spec_diff(old: &Value, new: &Value) -> String {
    let mut lines = Vec::new();
    diff_into(old, new, "spec", &mut lines);
    format!("  core.PodSpec{{\n{}\n  }}\n", lines.join("\n"))
}

fn diff_into(old: &Value, new: &Value, path: &str, lines: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff_into(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    &format!("{path}.{key}"),
                    lines,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_into(x, y, &format!("{path}[{i}]"), lines);
            }
        }
        (a, b) if a != b => {
            lines.push(format!("-   {path}: {a}"));
            lines.push(format!("+   {path}: {b}"));
        }
        _ => {}
    }
}

fn is_sidecar(container: &Value) -> bool {
    container["restartPolicy"] == "Always"
}

/// `podResizeStrategy.PrepareForUpdate` (`dropNonResizeUpdates`): keep the old pod and take only
/// the containers' `resources` and `resizePolicy` from the patched one, unless containers were
/// added, removed or renamed, in which case the patched pod goes to validation as is.
pub(crate) fn prepare_resize(patched: &Value, old: &Value, server_minor: u32) -> Value {
    let same_shape = ["containers", "initContainers"].iter().all(|list| {
        let new_list = patched["spec"][list]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let old_list = old["spec"][list].as_array().cloned().unwrap_or_default();
        new_list.len() == old_list.len()
            && new_list
                .iter()
                .zip(&old_list)
                .all(|(n, o)| n["name"] == o["name"])
    });
    if !same_shape {
        return patched.clone();
    }
    let mut result = old.clone();
    for list in ["containers", "initContainers"] {
        let new_list = patched["spec"][list]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(items) = result
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        {
            for (item, new_item) in items.iter_mut().zip(new_list) {
                let Some(item) = item.as_object_mut() else {
                    continue;
                };
                for field in ["resources", "resizePolicy"] {
                    match new_item.get(field) {
                        Some(v) => item.insert(field.into(), v.clone()),
                        None => item.remove(field),
                    };
                }
            }
        }
    }
    // From 1.36 the pod-level resources come from the patched pod too (InPlacePodLevelResourcesVerticalScaling).
    if server_minor >= FIRST_MINOR_RESIZING_POD_LEVEL_AND_INIT
        && let Some(spec) = result["spec"].as_object_mut()
    {
        match patched["spec"].get("resources") {
            Some(resources) => spec.insert("resources".into(), resources.clone()),
            None => spec.remove("resources"),
        };
    }
    if let Some(rv) = patched.pointer("/metadata/resourceVersion") {
        result["metadata"]["resourceVersion"] = rv.clone();
    } else if let Some(meta) = result["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    result
}

/// Removes cpu/memory from a container's resources (keeping the old values), as
/// `dropCPUMemoryResourcesFromContainer` does, so what remains can be compared.
fn without_cpu_memory_changes(container: &Value, old: &Value) -> Value {
    let mut container = container.clone();
    let munge = |new: Option<&Value>, old: Option<&Value>| -> Option<Value> {
        let old = old?.as_object()?;
        let mut list = new.and_then(Value::as_object).cloned().unwrap_or_default();
        for name in ["cpu", "memory"] {
            list.remove(name);
            if let Some(v) = old.get(name) {
                list.insert(name.into(), v.clone());
            }
        }
        Some(Value::Object(list))
    };
    let resources = &container["resources"];
    let limits = munge(resources.get("limits"), old["resources"].get("limits"));
    let requests = munge(resources.get("requests"), old["resources"].get("requests"));
    let mut rebuilt = Map::new();
    if let Some(l) = limits {
        rebuilt.insert("limits".into(), l);
    }
    if let Some(r) = requests {
        rebuilt.insert("requests".into(), r);
    }
    if let Some(c) = container.as_object_mut() {
        if rebuilt.is_empty() {
            c.remove("resources");
        } else {
            c.insert("resources".into(), Value::Object(rebuilt));
        }
    }
    container
}

fn validate_container_resize(
    new: &Value,
    old: &Value,
    path: &str,
    server_minor: u32,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for kind in ["requests", "limits"] {
        let old_list = old["resources"][kind]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let new_list = new["resources"][kind]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if old_list.keys().any(|k| !new_list.contains_key(k)) {
            errors.push(FieldError::forbidden(
                format!("{path}.{kind}"),
                format!("resource {kind} cannot be removed"),
            ));
        }
    }
    // Only 1.33 forbids lowering (or adding) a memory limit without RestartContainer;
    // 1.32 did not check, 1.34 dropped the rule (the kubelet checks usage instead).
    if server_minor == 33 {
        let memory_policy = new["resizePolicy"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["resourceName"] == "memory")
            .and_then(|p| p["restartPolicy"].as_str())
            .unwrap_or("NotRequired");
        if memory_policy == "NotRequired" {
            let new_limit = quantity_of(new["resources"].get("limits"), "memory");
            let old_limit = quantity_of(old["resources"].get("limits"), "memory");
            match (new_limit, old_limit) {
                (Some(n), Some(o)) if n < o => errors.push(FieldError::forbidden(
                    format!("{path}.limits[memory]"),
                    "memory limits cannot be decreased unless resizePolicy is RestartContainer",
                )),
                (Some(_), None) => errors.push(FieldError::forbidden(
                    format!("{path}.limits[memory]"),
                    "memory limits cannot be added unless resizePolicy is RestartContainer",
                )),
                _ => {}
            }
        }
    }
    errors
}

/// From 1.34 `PodObservedGenerationTracking` is beta and on (kubernetes pkg/features/kube_features.go): the
/// kubelet's `status.observedGeneration` and each condition's are kept.
pub(crate) const FIRST_MINOR_TRACKING_OBSERVED_GENERATION: u32 = 34;

/// Before 1.34 (the gate alpha and off) a status write loses its observedGeneration values unless the old status
/// already holds one (kubernetes 1.33 pkg/api/pod/util.go, dropDisabledPodStatusFields and
/// podObservedGenerationTrackingInUse).
pub(crate) fn drop_observed_generation(new: &mut Value, old: &Value) {
    let in_use = |pod: &Value| {
        let status = &pod["status"];
        status["observedGeneration"]
            .as_i64()
            .is_some_and(|g| g != 0)
            || status["conditions"].as_array().is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["observedGeneration"].as_i64().is_some_and(|g| g != 0))
            })
    };
    if in_use(old) {
        return;
    }
    let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    status.remove("observedGeneration");
    if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(condition) = condition.as_object_mut() {
                condition.remove("observedGeneration");
            }
        }
    }
}

/// From 1.36 pods with pod-level resources and non-sidecar init containers can be resized in place: the
/// `InPlacePodLevelResourcesVerticalScaling` and `InPlacePodVerticalScalingInitContainers` gates are beta and on
/// (kubernetes 1.36 pkg/features/kube_features.go; before, `ValidatePodResize` forbids both).
pub(crate) const FIRST_MINOR_RESIZING_POD_LEVEL_AND_INIT: u32 = 36;

fn has_pod_level_resources(pod: &Value) -> bool {
    ["requests", "limits"].iter().any(|list| {
        pod["spec"]["resources"][list]
            .as_object()
            .is_some_and(|l| !l.is_empty())
    })
}

/// `validatePodLevelResourcesResize` (1.36+); `comparable` is the new spec, whose pod-level cpu and memory are
/// set back to the old ones so that what is left can be compared.
fn validate_pod_level_resize(new: &Value, old: &Value, comparable: &mut Value) -> Vec<FieldError> {
    let old_resources = old["spec"].get("resources").filter(|r| !r.is_null());
    let new_resources = new["spec"].get("resources").filter(|r| !r.is_null());
    let Some(new_resources) = new_resources else {
        return match old_resources {
            Some(_) => vec![FieldError::forbidden(
                "spec.resources",
                "pod-level resources cannot be removed",
            )],
            None => Vec::new(),
        };
    };
    let mut errors = Vec::new();
    if let Some(old_resources) = old_resources {
        for (list, what) in [("requests", "requests"), ("limits", "limits")] {
            let old_list = old_resources[list].as_object().cloned().unwrap_or_default();
            let new_list = new_resources[list].as_object().cloned().unwrap_or_default();
            if old_list.keys().any(|k| !new_list.contains_key(k)) {
                errors.push(FieldError::forbidden(
                    format!("spec.resources.{list}"),
                    format!("pod-level resource {what} cannot be removed"),
                ));
            }
        }
    }
    let old_holder = json!({"resources": old_resources.cloned().unwrap_or(Value::Null)});
    let stripped = without_cpu_memory_changes(&json!({"resources": new_resources}), &old_holder);
    let stripped = stripped.get("resources").cloned();
    comparable["resources"] = stripped.clone().unwrap_or(Value::Null);
    if stripped.as_ref() != old_resources {
        errors.push(FieldError::forbidden(
            "spec",
            "only cpu and memory resources are mutable at pod-level",
        ));
    }
    errors
}

/// `ValidatePodResize` for `server_minor`.
pub(crate) fn validate_resize(new: &Value, old: &Value, server_minor: u32) -> Vec<FieldError> {
    let resizes_pod_level_and_init = server_minor >= FIRST_MINOR_RESIZING_POD_LEVEL_AND_INIT;
    // Before 1.36 the check comes first and is the only error (kubernetes 1.33 validation.go).
    if !resizes_pod_level_and_init && (has_pod_level_resources(old) || has_pod_level_resources(new))
    {
        return vec![FieldError::forbidden(
            "",
            "pods with pod-level resources cannot be resized",
        )];
    }
    let mut errors = validate_pod_resources(new);
    if old
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return vec![FieldError::forbidden("", "static pods cannot be resized")];
    }
    if old["spec"]["os"]["name"] == "windows" {
        return vec![FieldError::forbidden("", "windows pods cannot be resized")];
    }
    let old_qos = pod_qos(old);
    if old_qos != compute_qos(new) {
        errors.push(FieldError::invalid(
            "spec",
            &old_qos,
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    let running = old["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["state"].get("running").is_some());
    if let Some(status) = running
        && status.get("resources").is_none_or(Value::is_null)
    {
        errors.push(FieldError::forbidden(
            "spec",
            "Pod running on node without support for resize",
        ));
    }
    let mut comparable = new["spec"].clone();
    if resizes_pod_level_and_init && (has_pod_level_resources(old) || has_pod_level_resources(new))
    {
        let pod_level = validate_pod_level_resize(new, old, &mut comparable);
        let removed = pod_level.iter().any(|e| e.field == "spec.resources");
        errors.extend(pod_level);
        if removed {
            return errors;
        }
    }
    let old_containers = old["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_containers = new["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let old_init = old["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_init = new["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if old_containers.len() != new_containers.len() || old_init.len() != new_init.len() {
        errors.push(FieldError::forbidden(
            "spec",
            "only cpu and memory resources are mutable",
        ));
        return errors;
    }
    for (i, (n, o)) in new_init.iter().zip(&old_init).enumerate() {
        if is_sidecar(o) || resizes_pod_level_and_init {
            errors.extend(validate_container_resize(
                n,
                o,
                &format!("spec.initContainers[{i}].resources"),
                server_minor,
            ));
        }
    }
    for (i, (n, o)) in new_containers.iter().zip(&old_containers).enumerate() {
        errors.extend(validate_container_resize(
            n,
            o,
            &format!("spec.containers[{i}].resources"),
            server_minor,
        ));
    }
    let mut containers_changed = false;
    for (i, (n, o)) in new_containers.iter().zip(&old_containers).enumerate() {
        let stripped = without_cpu_memory_changes(n, o);
        if stripped != *o {
            containers_changed = true;
        }
        comparable["containers"][i] = stripped;
    }
    if containers_changed {
        errors.push(FieldError::forbidden(
            "spec",
            "only cpu and memory resources are mutable",
        ));
    }
    for (i, (n, o)) in new_init.iter().zip(&old_init).enumerate() {
        if resizes_pod_level_and_init {
            // 1.36+: every init container is resizable (kubernetes 1.36 validation.go, ValidatePodResize).
            let stripped = without_cpu_memory_changes(n, o);
            if stripped != *o {
                errors.push(FieldError::forbidden(
                    format!("spec.initContainers[{i}]"),
                    "only cpu and memory resources for init or sidecar containers are mutable",
                ));
            }
            let restart = n["resizePolicy"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["restartPolicy"] == "RestartContainer");
            if !is_sidecar(n) && n != o {
                for _ in restart {
                    errors.push(FieldError::forbidden(
                        format!("spec.initContainers[{i}]"),
                        "non-sidecar init containers with a resize policy of RestartContainer cannot be resized",
                    ));
                }
            }
            comparable["initContainers"][i] = stripped;
        } else if is_sidecar(o) {
            let stripped = without_cpu_memory_changes(n, o);
            if stripped != *o {
                errors.push(FieldError::forbidden(
                    "spec",
                    "only cpu and memory resources for sidecar containers are mutable",
                ));
            }
            comparable["initContainers"][i] = stripped;
        } else if n != o {
            errors.push(FieldError::forbidden(
                "spec",
                "resources for non-sidecar init containers are immutable",
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    if comparable != old["spec"] {
        errors.push(FieldError::forbidden(
            "spec",
            "only cpu and memory resources are mutable",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_exactly_across_notations() {
        assert_eq!(parse_quantity("100m"), parse_quantity("0.1"));
        assert_eq!(parse_quantity("1k"), parse_quantity("1e3"));
        assert_eq!(
            parse_quantity("128Mi"),
            Some(128 * 1024 * 1024 * 1_000_000_000)
        );
        assert!(parse_quantity("1Gi") > parse_quantity("1G"));
        assert_eq!(parse_quantity("abc"), None);
    }

    #[test]
    fn qos_classes() {
        let pod = |resources: Value| json!({"spec": {"containers": [{"name": "a", "resources": resources}]}});
        assert_eq!(compute_qos(&pod(json!({}))), "BestEffort");
        let both = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(
            compute_qos(&pod(json!({"requests": both, "limits": both}))),
            "Guaranteed"
        );
        assert_eq!(
            compute_qos(&pod(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
    }

    #[test]
    fn taint_key_must_be_a_qualified_name() {
        assert!(qualified_name_errors("node.kubernetes.io/pressure").is_empty());
        assert!(!qualified_name_errors("bad key").is_empty());
        assert!(!qualified_name_errors("Upper.Case/x").is_empty());
    }
}
