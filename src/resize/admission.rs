//! LimitRange and ResourceQuota headroom: a tick's resizes held to what the API server's `LimitRanger` and
//! `ResourceQuota` admission plugins let through, so a refused write (403, then a back-off) is not sent.
//!
//! Both plugins are on by default and both judge `pods/{name}/resize`:
//! - LimitRanger (kubernetes `plugin/pkg/admission/limitranger/admission.go`, `SupportsAttributes`,
//!   `PodValidateLimitFunc`) checks the whole pod after the change, every container and init container against
//!   each `Container` item (min, max, maxLimitRequestRatio) and the pod's totals against each `Pod` item, on the
//!   spec alone. A container the resize does not touch can make it fail. Its mutating half fills a missing
//!   request or limit from the `default`/`defaultRequest` of a `Container` item, on resize too: patch handler →
//!   mutating admission → `podResizeStrategy.PrepareForUpdate`, which keeps the containers' resources of the
//!   admitted object (k8s.io/apiserver `endpoints/handlers/patch.go`, `registry/generic/registry/store.go`;
//!   kubernetes `pkg/registry/core/pod/strategy.go` `dropNonResizeUpdates`). Such a resize would add a limit we
//!   did not plan: it is not written.
//! - ResourceQuota (k8s.io/apiserver `admission/plugin/resourcequota/controller.go` `CheckRequest`; kubernetes
//!   `pkg/quota/v1/evaluator/core/pods.go`) handles the `resize` subresource as an update and charges the
//!   increase only: new usage minus old, each resource clamped at zero, checked for the resources that grow
//!   against `status.hard` and `status.used`. Usage counts the kubelet's status too (`UseStatusResources`): up to
//!   1.36 per container the larger of spec, actuated and allocated; from 1.37 the larger of the three pod totals
//!   (k8s.io/component-helpers `resource/helpers.go`). So a downsize frees nothing until the kubelet has done it,
//!   and it is not counted here either. A matching quota also refuses any resize of a pod with a container that
//!   does not set a cpu/memory request or limit it limits (`Constraints`), or while its status lacks the usage
//!   of a resource it limits ("status unknown").
//!
//! Quota headroom is shared: pods of one namespace are charged as they are decided, in plan order. Quota scopes
//! read here are `BestEffort` and `NotBestEffort`; `Terminating`, `NotTerminating`, `PriorityClass` and
//! `CrossNamespacePodAffinity` need pod fields the hook does not read, so a quota with one of them counts only
//! when another of its scopes already rules the pod out, and is otherwise not checked (the server then has the
//! last word, as before). A quantity these objects hold that does not parse is a warning naming the object and
//! field; that pod's upsizes (and, for a LimitRange, all its changes) are not written.
//!
//! Pods with pod-level resources are not resized (eligibility), so their pod-level values are not modelled. Pure.

use super::draft::Draft;
use super::fit::is_sidecar;
use super::plan::{ContainerChange, NoteKind, ResourceChange};
use super::record::Direction;
use super::values::{Resource, Values, granularity, spec_values};
use crate::model::pod::{Container, ContainerStatus, Pod, ResourceList, ResourceRequirements};
use crate::quantity::{Amount, Format, QuantityError, format_cpu_millis, format_memory_bytes};
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Thousandths of a resource's unit (millicores, millibytes). LimitRanger compares `MilliValue()`s
/// (`requestLimitEnforcedValues`); quota compares exact quantities, the same for any cpu or memory a pod holds.
type Milli = i128;

/// A resource list in [`Milli`]s, by resource name.
type List = BTreeMap<String, Milli>;

fn milli_of(text: &str) -> Result<Milli, QuantityError> {
    let nanos = Amount::parse(text)?.nanos();
    Ok(nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) != 0))
}

fn to_milli(resource: Resource, value: i64) -> Milli {
    match resource {
        Resource::Cpu => i128::from(value),
        Resource::Memory => i128::from(value) * 1000,
    }
}

/// A value as the server would print it: `2`, `500m`, `1Gi`.
fn show(name: &str, value: Milli) -> String {
    let base = name.rsplit('.').next().unwrap_or(name);
    let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    match base {
        "cpu" => format_cpu_millis(clamp(value)),
        "memory" if value % 1000 == 0 => format_memory_bytes(clamp(value / 1000)),
        _ => Amount::from_nanos(value.saturating_mul(1_000_000), Format::DecimalSi).to_string(),
    }
}

/// One bound of an object: resource name, value, and the text the object holds.
#[derive(Debug, Clone)]
struct Bound {
    resource: String,
    value: Milli,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitType {
    Container,
    Pod,
}

impl LimitType {
    fn name(self) -> &'static str {
        match self {
            LimitType::Container => "Container",
            LimitType::Pod => "Pod",
        }
    }
}

#[derive(Debug, Clone)]
struct LimitItem {
    type_: LimitType,
    min: Vec<Bound>,
    max: Vec<Bound>,
    ratio: Vec<Bound>,
    default_limits: Vec<Bound>,
    default_requests: Vec<Bound>,
}

#[derive(Debug, Clone)]
struct Limits {
    /// `LimitRange ns/name`.
    object: String,
    items: Vec<LimitItem>,
}

/// A quota scope, as far as the hook can tell whether a pod is in it.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    /// `BestEffort` (true) or `NotBestEffort` (false).
    BestEffort(bool),
    /// A scope on fields the hook does not read.
    Unknown(String),
}

#[derive(Debug, Clone)]
struct Quota {
    /// `ResourceQuota ns/name`.
    object: String,
    /// `status.hard`, the resources a pod can consume only.
    hard: Vec<Bound>,
    /// `status.used`, plus what this tick's upsizes took already.
    used: HashMap<String, Milli>,
    scopes: Vec<Scope>,
    /// A quantity of its status does not parse: the pod's upsizes are held (`hold_for_problems`), and the rest is
    /// not checked against it.
    broken: bool,
}

/// A quantity that does not parse.
#[derive(Debug, Clone)]
struct Problem {
    object: String,
    field: String,
    error: String,
    /// In a LimitRange: any change could be refused, not only upsizes.
    any_change: bool,
}

#[derive(Debug, Clone, Default)]
struct Rules {
    limits: Vec<Limits>,
    quotas: Vec<Quota>,
    problems: Vec<Problem>,
}

/// The LimitRanges and ResourceQuotas of each namespace, read once per tick; quota usage grows as the tick's
/// upsizes are admitted.
#[derive(Debug, Clone, Default)]
pub(super) struct Admission {
    namespaces: HashMap<String, Rules>,
}

impl Admission {
    pub(super) fn new(limit_ranges: &[LimitRange], quotas: &[ResourceQuota]) -> Admission {
        let mut namespaces: HashMap<String, Rules> = HashMap::new();
        for range in limit_ranges {
            let Some(ns) = range.metadata.namespace.as_deref() else {
                continue;
            };
            let rules = namespaces.entry(ns.to_string()).or_default();
            let (limits, problems) = parse_limit_range(ns, range);
            rules.limits.push(limits);
            rules.problems.extend(problems);
        }
        for quota in quotas {
            let Some(ns) = quota.metadata.namespace.as_deref() else {
                continue;
            };
            let rules = namespaces.entry(ns.to_string()).or_default();
            let (quota, problems) = parse_quota(ns, quota);
            rules.quotas.push(quota);
            rules.problems.extend(problems);
        }
        Admission { namespaces }
    }
}

fn parse_bounds(
    object: &str,
    field: &str,
    map: Option<&BTreeMap<String, Quantity>>,
    any_change: bool,
    problems: &mut Vec<Problem>,
) -> Vec<Bound> {
    let mut bounds = Vec::new();
    for (resource, quantity) in map.into_iter().flatten() {
        match milli_of(&quantity.0) {
            Ok(value) => bounds.push(Bound {
                resource: resource.clone(),
                value,
                text: quantity.0.clone(),
            }),
            Err(error) => problems.push(Problem {
                object: object.to_string(),
                field: format!("{field}.{resource}"),
                error: error.to_string(),
                any_change,
            }),
        }
    }
    bounds
}

/// Adds `from`'s bounds missing in `to` (the API server's LimitRangeItem defaulting).
fn default_from(to: &mut Vec<Bound>, from: &[Bound]) {
    for bound in from {
        if !to.iter().any(|b| b.resource == bound.resource) {
            to.push(bound.clone());
        }
    }
}

fn parse_limit_range(ns: &str, range: &LimitRange) -> (Limits, Vec<Problem>) {
    let name = range.metadata.name.as_deref().unwrap_or_default();
    let object = format!("LimitRange {ns}/{name}");
    let mut problems = Vec::new();
    let mut items = Vec::new();
    for (i, item) in range.spec.iter().flat_map(|s| &s.limits).enumerate() {
        let type_ = match item.type_.as_str() {
            "Container" => LimitType::Container,
            "Pod" => LimitType::Pod,
            // PersistentVolumeClaim, or a type the plugin does not know: no rule on pods.
            _ => continue,
        };
        let mut parse = |field: &str, map| {
            parse_bounds(
                &object,
                &format!("spec.limits[{i}].{field}"),
                map,
                true,
                &mut problems,
            )
        };
        let mut parsed = LimitItem {
            type_,
            min: parse("min", item.min.as_ref()),
            max: parse("max", item.max.as_ref()),
            ratio: parse(
                "maxLimitRequestRatio",
                item.max_limit_request_ratio.as_ref(),
            ),
            default_limits: parse("default", item.default.as_ref()),
            default_requests: parse("defaultRequest", item.default_request.as_ref()),
        };
        if type_ == LimitType::Container {
            // As the API server stores it (kubernetes pkg/apis/core/v1/defaults.go `SetDefaults_LimitRangeItem`):
            // default from max, defaultRequest from default, then from min. A replay's file may hold it undefaulted.
            let max = parsed.max.clone();
            default_from(&mut parsed.default_limits, &max);
            let defaults = parsed.default_limits.clone();
            default_from(&mut parsed.default_requests, &defaults);
            let min = parsed.min.clone();
            default_from(&mut parsed.default_requests, &min);
        } else {
            parsed.default_limits.clear();
            parsed.default_requests.clear();
        }
        items.push(parsed);
    }
    (Limits { object, items }, problems)
}

/// The resources of `status.hard` a pod consumes (`podEvaluator.MatchingResources`): a quota with none of them
/// does not apply to pods at all.
fn pod_resource(name: &str) -> bool {
    const POD_RESOURCES: [&str; 11] = [
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
    ];
    let extended = name.starts_with("requests.")
        && ((name.contains('/') && !name.contains("kubernetes.io/"))
            || name.starts_with("requests.deviceclass.resource.kubernetes.io/"));
    POD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        || extended
}

fn parse_quota(ns: &str, quota: &ResourceQuota) -> (Quota, Vec<Problem>) {
    let name = quota.metadata.name.as_deref().unwrap_or_default();
    let object = format!("ResourceQuota {ns}/{name}");
    let mut problems = Vec::new();
    let status = quota.status.as_ref();
    // Admission reads the status the quota controller keeps, not the spec (`CheckRequest`).
    let hard: BTreeMap<String, Quantity> = status
        .and_then(|s| s.hard.as_ref())
        .into_iter()
        .flatten()
        .filter(|(name, _)| pod_resource(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let hard = parse_bounds(&object, "status.hard", Some(&hard), false, &mut problems);
    let used_map: BTreeMap<String, Quantity> = status
        .and_then(|s| s.used.as_ref())
        .into_iter()
        .flatten()
        .filter(|(name, _)| pod_resource(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let used = parse_bounds(
        &object,
        "status.used",
        Some(&used_map),
        false,
        &mut problems,
    )
    .into_iter()
    .map(|b| (b.resource, b.value))
    .collect();
    let spec = quota.spec.as_ref();
    let mut scopes: Vec<Scope> = spec
        .and_then(|s| s.scopes.as_ref())
        .into_iter()
        .flatten()
        .map(|scope| scope_of(scope, "Exists"))
        .collect();
    scopes.extend(
        spec.and_then(|s| s.scope_selector.as_ref())
            .and_then(|s| s.match_expressions.as_ref())
            .into_iter()
            .flatten()
            .map(|e| scope_of(&e.scope_name, &e.operator)),
    );
    let broken = !problems.is_empty();
    (
        Quota {
            object,
            hard,
            used,
            scopes,
            broken,
        },
        problems,
    )
}

fn scope_of(name: &str, operator: &str) -> Scope {
    match (name, operator) {
        ("BestEffort", "Exists") => Scope::BestEffort(true),
        ("NotBestEffort", "Exists") => Scope::BestEffort(false),
        _ => Scope::Unknown(name.to_string()),
    }
}

/// Which way a refused value would have to move to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    /// A max or quota: a smaller value may pass.
    Lower,
    /// A min: a larger value may pass.
    Higher,
    /// Nothing about this value helps (a ratio, a missing limit, a quota's state, another container).
    None,
}

/// Why the admission plugins would refuse a pod's resize.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    object: String,
    /// The rule, in the server's words where it has some: `max cpu per Container is 2`.
    rule: String,
    /// How this pod breaks it: `, but the limit would be 3`.
    detail: String,
    fix: Fix,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}{}", self.object, self.rule, self.detail)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    Sidecar,
    Init,
}

/// A container of the pod as admission sees it, with the cpu and memory planned so far.
struct Member<'p> {
    container: &'p Container,
    kind: Kind,
    status: Option<&'p ContainerStatus>,
    cpu: Values,
    memory: Values,
}

impl Member<'_> {
    fn values(&self, resource: Resource) -> Values {
        match resource {
            Resource::Cpu => self.cpu,
            Resource::Memory => self.memory,
        }
    }

    fn values_mut(&mut self, resource: Resource) -> &mut Values {
        match resource {
            Resource::Cpu => &mut self.cpu,
            Resource::Memory => &mut self.memory,
        }
    }

    /// The spec's requests (a missing one is its limit, as the API server defaults it) or limits, with the
    /// planned cpu and memory.
    fn spec_list(&self, limits: bool) -> List {
        let resources = self.container.resources.as_ref();
        let mut list = List::new();
        let mut read = |map: Option<&ResourceList>| {
            for (name, text) in map.into_iter().flat_map(ResourceList::iter) {
                if let Ok(value) = milli_of(text) {
                    list.entry(name.to_string()).or_insert(value);
                }
            }
        };
        if limits {
            read(resources.and_then(|r| r.limits.as_ref()));
        } else {
            read(resources.and_then(|r| r.requests.as_ref()));
            read(resources.and_then(|r| r.limits.as_ref()));
        }
        for resource in [Resource::Cpu, Resource::Memory] {
            let values = self.values(resource);
            let value = if limits { values.limit } else { values.request };
            match value {
                Some(v) => list.insert(resource.name().to_string(), to_milli(resource, v)),
                None => list.remove(resource.name()),
            };
        }
        list
    }
}

fn member<'p>(
    container: &'p Container,
    kind: Kind,
    status: Option<&'p ContainerStatus>,
) -> Member<'p> {
    Member {
        container,
        kind,
        status,
        cpu: spec_values(container, Resource::Cpu).unwrap_or_default(),
        memory: spec_values(container, Resource::Memory).unwrap_or_default(),
    }
}

fn find<'p>(statuses: Option<&'p Vec<ContainerStatus>>, name: &str) -> Option<&'p ContainerStatus> {
    statuses.and_then(|s| s.iter().find(|s| s.name == name))
}

fn members(pod: &Pod) -> Vec<Member<'_>> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let status = pod.status.as_ref();
    let mut members: Vec<Member> = spec
        .containers
        .iter()
        .map(|c| {
            let s = find(status.and_then(|s| s.container_statuses.as_ref()), &c.name);
            member(c, Kind::Regular, s)
        })
        .collect();
    for init in spec.init_containers.as_deref().unwrap_or_default() {
        let kind = if is_sidecar(init) {
            Kind::Sidecar
        } else {
            Kind::Init
        };
        let s = find(
            status.and_then(|s| s.init_container_statuses.as_ref()),
            &init.name,
        );
        members.push(member(init, kind, s));
    }
    members
}

fn add(list: &mut List, other: &List) {
    for (name, value) in other {
        *list.entry(name.clone()).or_default() += value;
    }
}

fn max_into(list: &mut List, other: &List) {
    for (name, value) in other {
        let entry = list.entry(name.clone()).or_insert(*value);
        *entry = (*entry).max(*value);
    }
}

/// The pod's total of per-container lists: regular containers and sidecars summed, at least each init
/// container plus the sidecars started before it (component-helpers `aggregateContainerResourcesByFn`,
/// limitranger `podRequests`).
fn aggregate(lists: impl Iterator<Item = (Kind, List)>) -> List {
    let mut total = List::new();
    let mut sidecars = List::new();
    let mut init_peak = List::new();
    for (kind, list) in lists {
        match kind {
            Kind::Regular => add(&mut total, &list),
            Kind::Sidecar => {
                add(&mut total, &list);
                add(&mut sidecars, &list);
                max_into(&mut init_peak, &sidecars);
            }
            Kind::Init => {
                let mut with_sidecars = list;
                add(&mut with_sidecars, &sidecars);
                max_into(&mut init_peak, &with_sidecars);
            }
        }
    }
    max_into(&mut total, &init_peak);
    total
}

// ---- LimitRanger ---------------------------------------------------------------------------------------

fn limit_refusal(limits: &Limits, rule: String, detail: String, fix: Fix) -> Refusal {
    Refusal {
        object: limits.object.clone(),
        rule,
        detail,
        fix,
    }
}

/// One `min`, `max` or `maxLimitRequestRatio` bound against a request and limit (limitranger `minConstraint`,
/// `maxConstraint`, `limitRequestRatioConstraint`); `whose` names the container, or the pod for its totals.
fn check_bound(
    limits: &Limits,
    rule: &str,
    type_: LimitType,
    bound: &Bound,
    (request, limit): (Option<Milli>, Option<Milli>),
    whose: &str,
) -> Result<(), Refusal> {
    let name = &bound.resource;
    let per = type_.name();
    let text = &bound.text;
    let refuse = |rule: String, detail: String, fix| Err(limit_refusal(limits, rule, detail, fix));
    match rule {
        "min" => {
            let rule = format!("min {name} per {per} is {text}");
            match (request, limit) {
                (None, _) => refuse(
                    rule,
                    format!(", but {whose} has no {name} request"),
                    Fix::None,
                ),
                (Some(r), _) if r < bound.value => refuse(
                    rule,
                    format!(", but {whose} would have a request of {}", show(name, r)),
                    Fix::Higher,
                ),
                (_, Some(l)) if l < bound.value => refuse(
                    rule,
                    format!(", but {whose} would have a limit of {}", show(name, l)),
                    Fix::Higher,
                ),
                _ => Ok(()),
            }
        }
        "max" => {
            let rule = format!("max {name} per {per} is {text}");
            match (request, limit) {
                (_, None) => refuse(
                    rule,
                    format!(", but {whose} has no {name} limit"),
                    Fix::None,
                ),
                (_, Some(l)) if l > bound.value => refuse(
                    rule,
                    format!(", but {whose} would have a limit of {}", show(name, l)),
                    Fix::Lower,
                ),
                (Some(r), _) if r > bound.value => refuse(
                    rule,
                    format!(", but {whose} would have a request of {}", show(name, r)),
                    Fix::Lower,
                ),
                _ => Ok(()),
            }
        }
        _ => {
            let rule = format!("max limit/request ratio of {name} per {per} is {text}");
            match (request, limit) {
                (Some(r), Some(l)) if r > 0 && l > 0 => {
                    // limit / request > ratio, in whole numbers (the plugin compares floats of the same values).
                    if l.saturating_mul(1000) > bound.value.saturating_mul(r) {
                        refuse(
                            rule,
                            format!(
                                ", but {whose} would have a limit of {} for a request of {}",
                                show(name, l),
                                show(name, r)
                            ),
                            Fix::None,
                        )
                    } else {
                        Ok(())
                    }
                }
                _ => refuse(
                    rule,
                    format!(", but {whose} has no {name} request or no limit"),
                    Fix::None,
                ),
            }
        }
    }
}

fn check_item_bounds(
    limits: &Limits,
    item: &LimitItem,
    requests: &List,
    limit_list: &List,
    whose: &str,
) -> Result<(), Refusal> {
    for (rule, bounds) in [
        ("min", &item.min),
        ("max", &item.max),
        ("ratio", &item.ratio),
    ] {
        for bound in bounds {
            let values = (
                requests.get(&bound.resource).copied(),
                limit_list.get(&bound.resource).copied(),
            );
            check_bound(limits, rule, item.type_, bound, values, whose)?;
        }
    }
    Ok(())
}

/// The whole pod against one LimitRange, as `PodValidateLimitFunc` checks it, after its mutating half
/// (`mergePodResourceRequirements`) would have filled nothing in.
fn check_limit_range(limits: &Limits, members: &[Member]) -> Result<(), Refusal> {
    for item in &limits.items {
        if item.type_ != LimitType::Container {
            continue;
        }
        for member in members {
            let name = &member.container.name;
            let resources = member.container.resources.as_ref();
            let limits_map = resources.and_then(|r| r.limits.as_ref());
            let requests_map = resources.and_then(|r| r.requests.as_ref());
            let has = |map: Option<&ResourceList>, resource: &str| {
                map.is_some_and(|m| m.get(resource).is_some())
            };
            for (defaults, what) in [
                (&item.default_limits, "limit"),
                (&item.default_requests, "request"),
            ] {
                // A missing request was set to the limit at creation (API defaulting).
                let set = |resource: &str| {
                    has(limits_map, resource) || (what == "request" && has(requests_map, resource))
                };
                if let Some(missing) = defaults.iter().find(|d| !set(&d.resource)) {
                    return Err(limit_refusal(
                        limits,
                        format!(
                            "default {} {what} per Container is {}",
                            missing.resource, missing.text
                        ),
                        format!(
                            ", and container {name} has none: the resize would add it (LimitRanger fills in \
                             defaults on resize too)"
                        ),
                        Fix::None,
                    ));
                }
            }
        }
    }
    for item in &limits.items {
        match item.type_ {
            LimitType::Container => {
                for member in members {
                    let whose = format!("container {}", member.container.name);
                    check_item_bounds(
                        limits,
                        item,
                        &member.spec_list(false),
                        &member.spec_list(true),
                        &whose,
                    )?;
                }
            }
            LimitType::Pod => {
                let requests = aggregate(members.iter().map(|m| (m.kind, m.spec_list(false))));
                let limit_list = aggregate(members.iter().map(|m| (m.kind, m.spec_list(true))));
                check_item_bounds(limits, item, &requests, &limit_list, "the pod, in total,")?;
            }
        }
    }
    Ok(())
}

// ---- ResourceQuota -------------------------------------------------------------------------------------

/// What a pod is charged of the resources a resize changes: requests and limits of cpu and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    requests: [Milli; 2],
    limits: [Milli; 2],
}

impl Usage {
    /// The usage a quota resource name counts, if a resize can change it (`podComputeUsageHelper`: `cpu` is
    /// `requests.cpu`).
    fn of(&self, name: &str) -> Option<Milli> {
        match name {
            "cpu" | "requests.cpu" => Some(self.requests[0]),
            "memory" | "requests.memory" => Some(self.requests[1]),
            "limits.cpu" => Some(self.limits[0]),
            "limits.memory" => Some(self.limits[1]),
            _ => None,
        }
    }
}

fn pair(list: &List) -> [Milli; 2] {
    [
        list.get("cpu").copied().unwrap_or(0),
        list.get("memory").copied().unwrap_or(0),
    ]
}

/// A status resource list of cpu and memory, `None` when absent.
fn status_list(map: Option<&ResourceList>) -> Option<List> {
    let map = map?;
    let mut list = List::new();
    for resource in [Resource::Cpu, Resource::Memory] {
        if let Some(value) = map.get(resource.name()).and_then(|q| milli_of(q).ok()) {
            list.insert(resource.name().to_string(), value);
        }
    }
    Some(list)
}

fn max_of(lists: &[&List]) -> List {
    let mut result = List::new();
    for list in lists {
        max_into(&mut result, list);
    }
    result
}

/// The pod's quota usage of cpu and memory (`PodUsageFunc` with `UseStatusResources`, on by default from
/// 1.33). The per-container form is what 1.33.13 and 1.36.3 have; 1.37.2 takes the larger of the pod totals.
/// 1.34 and 1.35 were not read: taken as 1.36.
fn usage(members: &[Member], infeasible: bool, server_minor: u32) -> Usage {
    let spec = |m: &Member, limits| {
        let mut list = m.spec_list(limits);
        list.retain(|k, _| k == "cpu" || k == "memory");
        list
    };
    fn resources<'p>(m: &Member<'p>) -> Option<&'p ResourceRequirements> {
        m.status.and_then(|s| s.resources.as_ref())
    }
    let allocated = |m: &Member| status_list(m.status.and_then(|s| s.allocated_resources.as_ref()));
    if server_minor >= 37 {
        let or_spec = |found: Option<List>, m: &Member, limits| {
            found.unwrap_or_else(|| {
                if infeasible {
                    List::new()
                } else {
                    spec(m, limits)
                }
            })
        };
        let spec_total = aggregate(members.iter().map(|m| (m.kind, spec(m, false))));
        let allocated_total = aggregate(
            members
                .iter()
                .map(|m| (m.kind, or_spec(allocated(m), m, false))),
        );
        let actuated_total = aggregate(members.iter().map(|m| {
            let actuated = resources(m)
                .and_then(|r| status_list(r.requests.as_ref()))
                .or_else(|| allocated(m));
            (m.kind, or_spec(actuated, m, false))
        }));
        let spec_limits = aggregate(members.iter().map(|m| (m.kind, spec(m, true))));
        let actuated_limits = aggregate(members.iter().map(|m| {
            let actuated = resources(m).and_then(|r| status_list(r.limits.as_ref()));
            (m.kind, or_spec(actuated, m, true))
        }));
        let (requests, limits) = if infeasible {
            (
                max_of(&[&actuated_total, &allocated_total]),
                actuated_limits,
            )
        } else {
            (
                max_of(&[&spec_total, &actuated_total, &allocated_total]),
                max_of(&[&spec_limits, &actuated_limits]),
            )
        };
        return Usage {
            requests: pair(&requests),
            limits: pair(&limits),
        };
    }
    // Up to 1.36: a container with `status.resources` counts the larger of spec, actuated and allocated (not a
    // plain init container: its spec).
    let effective = |m: &Member, limits: bool| -> List {
        let Some(actual) = resources(m).filter(|_| m.kind != Kind::Init) else {
            return spec(m, limits);
        };
        let empty = List::new();
        if limits {
            let actuated = status_list(actual.limits.as_ref()).unwrap_or_default();
            if infeasible {
                actuated
            } else {
                max_of(&[&spec(m, true), &actuated])
            }
        } else {
            let actuated = status_list(actual.requests.as_ref()).unwrap_or_default();
            let allocated = allocated(m).unwrap_or_default();
            let spec = if infeasible { empty } else { spec(m, false) };
            max_of(&[&spec, &actuated, &allocated])
        }
    };
    Usage {
        requests: pair(&aggregate(
            members.iter().map(|m| (m.kind, effective(m, false))),
        )),
        limits: pair(&aggregate(
            members.iter().map(|m| (m.kind, effective(m, true))),
        )),
    }
}

fn resize_infeasible(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodResizePending"))
        .is_some_and(|c| c.reason.as_deref() == Some("Infeasible"))
}

/// BestEffort QoS: no container sets a cpu or memory request or limit (kubernetes `qos.GetPodQOS`).
fn best_effort(members: &[Member]) -> bool {
    members.iter().all(|m| {
        [m.cpu, m.memory]
            .iter()
            .all(|v| v.request.unwrap_or(0) == 0 && v.limit.unwrap_or(0) == 0)
    })
}

/// Whether the quota applies to the pod: `Some` when its scopes tell (all scopes must match).
fn quota_applies(quota: &Quota, best_effort: bool) -> Option<bool> {
    if quota.hard.is_empty() || quota.broken {
        // No pod resource in `status.hard` (or no status yet): the plugin skips it (`generic.Matches`).
        return Some(false);
    }
    let mut known = true;
    for scope in &quota.scopes {
        match scope {
            Scope::BestEffort(wanted) if *wanted != best_effort => return Some(false),
            Scope::BestEffort(_) => {}
            Scope::Unknown(_) => known = false,
        }
    }
    known.then_some(true)
}

const VALIDATION_SET: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// What refuses any resize of the pod under this quota, whatever it changes: a container that does not set
/// a limited cpu/memory request or limit (`podEvaluator.Constraints`), usage not counted yet (`hasUsageStats`).
fn check_quota_state(quota: &Quota, members: &[Member]) -> Result<(), Refusal> {
    for bound in &quota.hard {
        let name = bound.resource.as_str();
        if VALIDATION_SET.contains(&name) {
            let limits = name.starts_with("limits.");
            let resource = name.rsplit('.').next().unwrap_or(name);
            let missing: Vec<&str> = members
                .iter()
                .filter(|m| !m.spec_list(limits).contains_key(resource))
                .map(|m| m.container.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(Refusal {
                    object: quota.object.clone(),
                    rule: format!("{name} is limited, so every container must set it"),
                    detail: format!(
                        ", and {} does not: the server refuses any resize of this pod",
                        missing.join(", ")
                    ),
                    fix: Fix::None,
                });
            }
        }
        if !quota.used.contains_key(name) {
            return Err(Refusal {
                object: quota.object.clone(),
                rule: format!("status has no usage of {name} yet"),
                detail: ": the server refuses resizes until the quota controller has counted it"
                    .to_string(),
                fix: Fix::None,
            });
        }
    }
    Ok(())
}

/// Whether the increase from `old` to `new` fits the quota's headroom (`CheckRequest`: only resources that
/// grow are checked, `used + increase <= hard`).
fn check_quota_headroom(quota: &Quota, old: &Usage, new: &Usage) -> Result<(), Refusal> {
    for bound in &quota.hard {
        let name = bound.resource.as_str();
        let (Some(before), Some(after)) = (old.of(name), new.of(name)) else {
            continue;
        };
        let increase = after - before;
        if increase <= 0 {
            continue;
        }
        let used = quota.used.get(name).copied().unwrap_or(0);
        if used.saturating_add(increase) > bound.value {
            return Err(Refusal {
                object: quota.object.clone(),
                rule: format!("{name} {} of {} used", show(name, used), bound.text),
                detail: format!(", the upsize needs {}", show(name, increase)),
                fix: Fix::Lower,
            });
        }
    }
    Ok(())
}

// ---- The decision ----------------------------------------------------------------------------------------

/// A pod's rules and what it is charged already, while its changes are admitted one by one.
struct PodCheck<'r, 'p> {
    rules: &'r Rules,
    /// The quotas that apply (by index in `rules.quotas`).
    quotas: Vec<usize>,
    members: Vec<Member<'p>>,
    infeasible: bool,
    server_minor: u32,
    old: Usage,
}

impl PodCheck<'_, '_> {
    fn check(&self) -> Result<(), Refusal> {
        for limits in &self.rules.limits {
            check_limit_range(limits, &self.members)?;
        }
        if self.quotas.is_empty() {
            return Ok(());
        }
        let new = usage(&self.members, self.infeasible, self.server_minor);
        for &q in &self.quotas {
            let quota = &self.rules.quotas[q];
            check_quota_state(quota, &self.members)?;
            check_quota_headroom(quota, &self.old, &new)?;
        }
        Ok(())
    }

    /// `check` with container `at`'s `resource` set to `values`, which stay when they pass.
    fn try_values(&mut self, at: usize, resource: Resource, values: Values) -> Result<(), Refusal> {
        let before = std::mem::replace(self.members[at].values_mut(resource), values);
        let result = self.check();
        if result.is_err() {
            *self.members[at].values_mut(resource) = before;
        }
        result
    }
}

/// Holds the pod's planned changes to what its namespace's LimitRanges and ResourceQuotas allow: a change that
/// would be refused is cut to the largest (an upsize) or smallest (a downsize) size that passes, or kept with
/// the rule that refuses it. Downsizes go first, as they are in the same write; quota usage the pod's upsizes
/// take is charged for the pods decided after it.
pub(super) fn admit(
    draft: &mut Draft,
    admission: &mut Admission,
    pod: &Pod,
    (ns, name): (&str, &str),
    server_minor: u32,
    changes: &mut Vec<ContainerChange>,
) {
    if changes.is_empty() {
        return;
    }
    let Some(rules) = admission.namespaces.get_mut(ns) else {
        return;
    };
    if !rules.problems.is_empty() {
        hold_for_problems(draft, rules, (ns, name), changes);
        if changes.is_empty() {
            return;
        }
    }
    let members = members(pod);
    let best_effort = best_effort(&members);
    let quotas: Vec<usize> = rules
        .quotas
        .iter()
        .enumerate()
        .filter(|(_, q)| quota_applies(q, best_effort) == Some(true))
        .map(|(i, _)| i)
        .collect();
    let infeasible = resize_infeasible(pod);
    let old = usage(&members, infeasible, server_minor);
    let mut check = PodCheck {
        rules,
        quotas,
        members,
        infeasible,
        server_minor,
        old,
    };
    let mut order: Vec<(usize, usize)> = changes
        .iter()
        .enumerate()
        .flat_map(|(c, change)| (0..change.changes.len()).map(move |r| (c, r)))
        .collect();
    // Stable: downsizes first, then the rest in plan order.
    order.sort_by_key(|&(c, r)| changes[c].changes[r].direction != Direction::Down);
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    for (c, r) in order {
        let container = &changes[c];
        let Some(at) = check.members.iter().position(|m| {
            m.container.name == container.name && (m.kind != Kind::Regular) == container.sidecar
        }) else {
            continue;
        };
        let change = &mut changes[c].changes[r];
        if let Err(refusal) = admit_change(draft, &mut check, at, change) {
            draft.note(
                NoteKind::Unchanged,
                ns,
                name,
                Some(&changes[c].name),
                Some(changes[c].changes[r].resource),
                format!("{refusal}, so the API server would refuse the resize"),
            );
            dropped.push((c, r));
        }
    }
    dropped.sort_unstable();
    for (c, r) in dropped.into_iter().rev() {
        changes[c].changes.remove(r);
    }
    changes.retain(|c| !c.changes.is_empty());
    // What the pod's admitted upsizes take, the later pods of the namespace cannot have.
    let new = usage(&check.members, check.infeasible, check.server_minor);
    let quotas = std::mem::take(&mut check.quotas);
    for q in quotas {
        let quota = &mut rules.quotas[q];
        for bound in &quota.hard {
            if let (Some(before), Some(after)) = (old.of(&bound.resource), new.of(&bound.resource))
                && after > before
            {
                *quota.used.entry(bound.resource.clone()).or_default() += after - before;
            }
        }
    }
}

/// Keeps `change` as planned, cuts it to the nearest size that passes, or returns the refusal.
fn admit_change(
    draft: &Draft,
    check: &mut PodCheck,
    at: usize,
    change: &mut ResourceChange,
) -> Result<(), Refusal> {
    let resource = change.resource;
    let refusal = match check.try_values(at, resource, change.to) {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    let up = change.direction == Direction::Up;
    let movable = matches!((up, refusal.fix), (true, Fix::Lower) | (false, Fix::Higher));
    let (Some(from), Some(to)) = (change.from.basis(), change.to.basis()) else {
        return Err(refusal);
    };
    let step = granularity(draft.policy, resource);
    // The search moves along the old request:limit shape; a request sized apart from its limit
    // (`RESIZE_CPU_REQUEST=usage`) is not on it, and a point of it could raise a request meant to fall.
    let apart = change.from.scaled_to(to, step) != change.to;
    if !movable || apart {
        return Err(refusal);
    }
    let original = check.members[at].values(resource);
    // Candidates strictly between from and to, in whole steps; passing is monotone in the size (a max or the
    // quota for an upsize, a min for a downsize), so the nearest passing one to `from`'s far side is found by
    // bisection.
    let (low, high) = if up { (from, to) } else { (to, from) };
    let first = low.div_euclid(step) + 1;
    let last = (high - 1).div_euclid(step);
    let passes = |check: &mut PodCheck, k: i64| {
        let values = change.from.scaled_to(k * step, step);
        let ok = check.try_values(at, resource, values).is_ok();
        if ok {
            // Undo: the search only probes.
            *check.members[at].values_mut(resource) = original;
        }
        ok
    };
    let found = if up {
        // Largest k in [first, last] that passes.
        let (mut lo, mut hi, mut best) = (first, last, None);
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            if passes(check, mid) {
                best = Some(mid);
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        best
    } else {
        // Smallest k in [first, last] that passes.
        let (mut lo, mut hi, mut best) = (first, last, None);
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            if passes(check, mid) {
                best = Some(mid);
                hi = mid - 1;
            } else {
                lo = mid + 1;
            }
        }
        best
    };
    let Some(k) = found else {
        return Err(refusal);
    };
    let basis = k * step;
    // A cut too small to matter is not a resize (as the node fit judges it).
    if ((basis - from).abs() as f64) <= draft.policy.tolerance * from as f64 {
        return Err(refusal);
    }
    let values = change.from.scaled_to(basis, step);
    check.try_values(at, resource, values)?;
    let verb = if up { "cut" } else { "raised" };
    change.why.push_str(&format!(
        ", {verb} from {} to what {} allows ({})",
        change.to.describe(resource),
        refusal.object,
        refusal.rule
    ));
    change.to = values;
    Ok(())
}

/// A quantity of the namespace's objects does not parse: warned about, and the pod's changes that it could
/// refuse are not written (all of them for a LimitRange, upsizes for a quota).
fn hold_for_problems(
    draft: &mut Draft,
    rules: &Rules,
    (ns, name): (&str, &str),
    changes: &mut Vec<ContainerChange>,
) {
    let any_change = rules.problems.iter().any(|p| p.any_change);
    let held = |c: &ResourceChange| any_change || c.direction != Direction::Down;
    if !changes.iter().any(|c| c.changes.iter().any(held)) {
        return;
    }
    let problems: Vec<String> = rules
        .problems
        .iter()
        .map(|p| format!("{} {}: {}", p.object, p.field, p.error))
        .collect();
    let what = if any_change { "changes" } else { "upsizes" };
    draft.note(
        NoteKind::Warning,
        ns,
        name,
        None,
        None,
        format!(
            "{}; the pod's {what} are not written, since the API server's verdict cannot be foreseen",
            problems.join("; ")
        ),
    );
    for container in changes.iter_mut() {
        container.changes.retain(|c| !held(c));
    }
    changes.retain(|c| !c.changes.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::ResizePolicy;
    use crate::resize::decide::{ResizeInput, decide_resizes};
    use crate::resize::plan::{Note, ResizePlan};
    use crate::resize::signals::{ContainerKey, ContainerStats, SignalTable};
    use k8s_openapi::jiff::Timestamp;
    use serde_json::{Value, json};

    const NS: &str = "shop";

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().expect("timestamp")
    }

    fn limit_range(name: &str, limits: Value) -> LimitRange {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {"limits": limits},
        }))
        .expect("limit range")
    }

    /// A quota as the quota controller keeps it: `hard` in spec and status, `used` in status.
    fn quota(name: &str, hard: Value, used: Value) -> ResourceQuota {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": used},
        }))
        .expect("quota")
    }

    fn scoped(mut quota: ResourceQuota, scopes: &[&str], selector: Value) -> ResourceQuota {
        let spec = quota.spec.as_mut().expect("spec");
        spec.scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
        if !selector.is_null() {
            spec.scope_selector = Some(serde_json::from_value(selector).expect("selector"));
        }
        quota
    }

    /// `cpu` and `memory` as request = limit (Guaranteed), or only what is given.
    fn resources(cpu: Option<&str>, memory: Option<&str>) -> Value {
        let mut list = serde_json::Map::new();
        if let Some(cpu) = cpu {
            list.insert("cpu".into(), json!(cpu));
        }
        if let Some(memory) = memory {
            list.insert("memory".into(), json!(memory));
        }
        json!({"requests": list, "limits": list})
    }

    /// A running pod whose kubelet has applied its spec (`status.resources` as the spec).
    fn pod(name: &str, containers: &[(&str, Value)]) -> Pod {
        let spec: Vec<Value> = containers
            .iter()
            .map(|(name, resources)| json!({"name": name, "resources": resources}))
            .collect();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|(name, resources)| {
                json!({"name": name, "resources": resources, "allocatedResources": resources["requests"]})
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": "node-1", "containers": spec},
            "status": {"phase": "Running", "containerStatuses": statuses},
        }))
        .expect("pod")
    }

    fn change(container: &str, resource: Resource, from: Values, to: Values) -> ContainerChange {
        let direction = if to.basis() > from.basis() {
            Direction::Up
        } else {
            Direction::Down
        };
        ContainerChange {
            name: container.to_string(),
            sidecar: false,
            changes: vec![ResourceChange {
                resource,
                direction,
                from,
                to,
                why: "usage".to_string(),
                oom_killed_at: None,
            }],
        }
    }

    fn both(value: i64) -> Values {
        Values {
            request: Some(value),
            limit: Some(value),
        }
    }

    fn cpu(container: &str, from: i64, to: i64) -> ContainerChange {
        change(container, Resource::Cpu, both(from), both(to))
    }

    const MI: i64 = 1 << 20;

    /// The changes admitted of each pod (in order), and the notes.
    fn admit_all(
        ranges: &[LimitRange],
        quotas: &[ResourceQuota],
        minor: u32,
        pods: &[(&Pod, Vec<ContainerChange>)],
    ) -> (Vec<Vec<ContainerChange>>, Vec<Note>) {
        let policy = ResizePolicy::default();
        let mut draft = Draft {
            policy: &policy,
            explain_unchanged: true,
            now: now(),
            plan: ResizePlan::default(),
            heat: HashMap::new(),
            cpu_scale_downs: Vec::new(),
        };
        let mut admission = Admission::new(ranges, quotas);
        let mut admitted = Vec::new();
        for (pod, changes) in pods {
            let mut changes = changes.clone();
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            admit(
                &mut draft,
                &mut admission,
                pod,
                (NS, name),
                minor,
                &mut changes,
            );
            admitted.push(changes);
        }
        (admitted, draft.plan.notes)
    }

    fn reasons(notes: &[Note]) -> Vec<String> {
        notes.iter().map(|n| n.reason.clone()).collect()
    }

    #[test]
    fn an_upsize_over_a_container_max_is_cut_to_the_max() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "2"}}]),
        )];
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let (admitted, notes) =
            admit_all(&ranges, &[], 34, &[(&web, vec![cpu("app", 1000, 3000)])]);
        let change = &admitted[0][0].changes[0];
        assert_eq!(change.to, both(2000), "{notes:?}");
        assert_eq!(
            change.why,
            "usage, cut from 3 to what LimitRange shop/limits allows (max cpu per Container is 2)"
        );
    }

    #[test]
    fn an_upsize_at_the_max_already_is_kept_naming_the_object_and_rule() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "2"}}]),
        )];
        let web = pod("web-1", &[("app", resources(Some("2"), None))]);
        let (admitted, notes) =
            admit_all(&ranges, &[], 34, &[(&web, vec![cpu("app", 2000, 3000)])]);
        assert!(admitted[0].is_empty());
        assert_eq!(
            reasons(&notes),
            [
                "LimitRange shop/limits: max cpu per Container is 2, but container app would have a limit of 3, \
              so the API server would refuse the resize"
            ]
        );
        assert_eq!(notes[0].container.as_deref(), Some("app"));
        assert_eq!(notes[0].resource, Some(Resource::Cpu));
    }

    #[test]
    fn a_downsize_under_a_container_min_is_raised_to_the_min() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "min": {"memory": "256Mi"}}]),
        )];
        let web = pod("web-1", &[("app", resources(Some("1"), Some("1Gi")))]);
        let down = change("app", Resource::Memory, both(1024 * MI), both(128 * MI));
        let (admitted, notes) = admit_all(&ranges, &[], 34, &[(&web, vec![down])]);
        let change = &admitted[0][0].changes[0];
        assert_eq!(change.to, both(256 * MI), "{notes:?}");
        assert!(
            change
                .why
                .ends_with("raised from 128Mi to what LimitRange shop/limits allows (min memory per Container is 256Mi)"),
            "{}",
            change.why
        );
    }

    #[test]
    fn a_ratio_the_pod_breaks_already_keeps_every_change() {
        // request 250m, limit 1: a ratio of 4 where 2 is allowed. Created before the LimitRange; any resize of
        // the pod is refused until that is fixed.
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
        )];
        let web = pod(
            "web-1",
            &[(
                "app",
                json!({"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}),
            )],
        );
        let up = change(
            "app",
            Resource::Cpu,
            Values {
                request: Some(250),
                limit: Some(1000),
            },
            Values {
                request: Some(500),
                limit: Some(2000),
            },
        );
        let (admitted, notes) = admit_all(&ranges, &[], 34, &[(&web, vec![up])]);
        assert!(admitted[0].is_empty());
        assert_eq!(
            reasons(&notes),
            [
                "LimitRange shop/limits: max limit/request ratio of cpu per Container is 2, but container app \
              would have a limit of 2 for a request of 500m, so the API server would refuse the resize"
            ]
        );
    }

    #[test]
    fn a_pod_max_holds_the_sum_of_its_containers() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Pod", "max": {"cpu": "3"}}]),
        )];
        let web = pod(
            "web-1",
            &[
                ("app", resources(Some("1"), None)),
                ("proxy", resources(Some("1500m"), None)),
            ],
        );
        let (admitted, notes) =
            admit_all(&ranges, &[], 34, &[(&web, vec![cpu("app", 1000, 2000)])]);
        let change = &admitted[0][0].changes[0];
        assert_eq!(change.to, both(1500), "{notes:?}");
        assert!(
            change.why.contains("(max cpu per Pod is 3)"),
            "{}",
            change.why
        );
    }

    #[test]
    fn a_container_the_resize_does_not_touch_can_refuse_it() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "2"}}]),
        )];
        let web = pod(
            "web-1",
            &[
                ("app", resources(Some("1"), None)),
                ("legacy", resources(Some("3"), None)),
            ],
        );
        let (admitted, notes) =
            admit_all(&ranges, &[], 34, &[(&web, vec![cpu("app", 1000, 1500)])]);
        assert!(admitted[0].is_empty());
        assert!(
            notes[0]
                .reason
                .contains("but container legacy would have a limit of 3"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_default_the_resize_would_add_keeps_the_pod_as_it_is() {
        // The LimitRange came after the pod: LimitRanger would fill in its memory limit on the resize.
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "default": {"memory": "512Mi"}}]),
        )];
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let (admitted, notes) =
            admit_all(&ranges, &[], 34, &[(&web, vec![cpu("app", 1000, 1500)])]);
        assert!(admitted[0].is_empty());
        assert_eq!(
            reasons(&notes),
            [
                "LimitRange shop/limits: default memory limit per Container is 512Mi, and container app has none: \
              the resize would add it (LimitRanger fills in defaults on resize too), so the API server would \
              refuse the resize"
            ]
        );
    }

    #[test]
    fn a_max_alone_defaults_the_limit_as_the_api_server_stores_it() {
        // `max` without `default`: the server stores default = max, so a container without a cpu limit gets one.
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "4"}}]),
        )];
        let web = pod(
            "web-1",
            &[("app", json!({"requests": {"cpu": "1", "memory": "1Gi"}}))],
        );
        let up = change(
            "app",
            Resource::Cpu,
            Values {
                request: Some(1000),
                limit: None,
            },
            Values {
                request: Some(1500),
                limit: None,
            },
        );
        let (admitted, notes) = admit_all(&ranges, &[], 34, &[(&web, vec![up])]);
        assert!(admitted[0].is_empty());
        assert!(
            notes[0]
                .reason
                .contains("default cpu limit per Container is 4"),
            "{notes:?}"
        );
    }

    #[test]
    fn an_upsize_is_cut_to_the_quota_headroom() {
        let quotas = [quota(
            "compute",
            json!({"requests.cpu": "10"}),
            json!({"requests.cpu": "9500m"}),
        )];
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let (admitted, notes) =
            admit_all(&[], &quotas, 34, &[(&web, vec![cpu("app", 1000, 2000)])]);
        let change = &admitted[0][0].changes[0];
        assert_eq!(change.to, both(1500), "{notes:?}");
        assert_eq!(
            change.why,
            "usage, cut from 2 to what ResourceQuota shop/compute allows (requests.cpu 9500m of 10 used)"
        );
    }

    #[test]
    fn an_upsize_with_too_little_quota_left_is_kept_with_the_numbers() {
        let quotas = [quota(
            "compute",
            json!({"requests.cpu": "10", "pods": "50"}),
            json!({"requests.cpu": "9950m", "pods": "12"}),
        )];
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let (admitted, notes) =
            admit_all(&[], &quotas, 34, &[(&web, vec![cpu("app", 1000, 2000)])]);
        assert!(admitted[0].is_empty());
        assert_eq!(
            reasons(&notes),
            [
                "ResourceQuota shop/compute: requests.cpu 9950m of 10 used, the upsize needs 1, so the API server \
              would refuse the resize"
            ]
        );
    }

    #[test]
    fn pods_of_one_namespace_share_the_quota_headroom_in_plan_order() {
        let quotas = [quota(
            "compute",
            json!({"limits.cpu": "10"}),
            json!({"limits.cpu": "9"}),
        )];
        let first = pod("web-1", &[("app", resources(Some("1"), None))]);
        let second = pod("web-2", &[("app", resources(Some("1"), None))]);
        let (admitted, notes) = admit_all(
            &[],
            &quotas,
            34,
            &[
                (&first, vec![cpu("app", 1000, 2000)]),
                (&second, vec![cpu("app", 1000, 2000)]),
            ],
        );
        assert_eq!(admitted[0][0].changes[0].to, both(2000));
        assert!(admitted[1].is_empty());
        assert_eq!(
            reasons(&notes),
            [
                "ResourceQuota shop/compute: limits.cpu 10 of 10 used, the upsize needs 1, so the API server would \
              refuse the resize"
            ],
            "the second pod sees what the first took"
        );
    }

    #[test]
    fn a_downsize_frees_no_quota_for_the_upsizes_of_the_same_tick() {
        let quotas = [quota(
            "compute",
            json!({"requests.cpu": "4"}),
            json!({"requests.cpu": "4"}),
        )];
        let idle = pod("batch-1", &[("app", resources(Some("2"), None))]);
        // One pod: its idle container goes down in the same write as the hot one goes up.
        let mixed = pod(
            "web-1",
            &[
                ("idle", resources(Some("1"), None)),
                ("hot", resources(Some("1"), None)),
            ],
        );
        let (admitted, notes) = admit_all(
            &[],
            &quotas,
            34,
            &[
                (&idle, vec![cpu("app", 2000, 1000)]),
                (&mixed, vec![cpu("idle", 1000, 500), cpu("hot", 1000, 1500)]),
            ],
        );
        assert_eq!(admitted[0][0].changes[0].to, both(1000), "downsizes pass");
        assert_eq!(admitted[1].len(), 1, "{notes:?}");
        assert_eq!(admitted[1][0].name, "idle");
        assert!(
            notes[0]
                .reason
                .contains("requests.cpu 4 of 4 used, the upsize needs 500m"),
            "the kubelet still holds the old sizes: {notes:?}"
        );
    }

    #[test]
    fn usage_counts_an_allocation_larger_than_the_spec() {
        // Shrunk to 1 in the spec, still allocated 2: growing back to 2 costs the quota nothing.
        let quotas = [quota(
            "compute",
            json!({"requests.cpu": "4"}),
            json!({"requests.cpu": "4"}),
        )];
        let mut web = pod("web-1", &[("app", resources(Some("2"), None))]);
        web.spec.as_mut().unwrap().containers[0].resources =
            serde_json::from_value(resources(Some("1"), None)).unwrap();
        for minor in [33, 36, 37] {
            let (admitted, notes) =
                admit_all(&[], &quotas, minor, &[(&web, vec![cpu("app", 1000, 2000)])]);
            assert_eq!(admitted[0].len(), 1, "1.{minor}: {notes:?}");
        }
    }

    #[test]
    fn from_1_37_a_pending_downsize_elsewhere_in_the_pod_counts_in_the_totals() {
        // `idle` shrunk to 1 in the spec, still allocated 2; `hot` grows from 1 to 2. Up to 1.36 each container
        // counts its larger size (2 + 1, then 2 + 2: +1); 1.37 takes the larger of the pod totals (spec 2 then 3,
        // allocated 3): +0.
        let quotas = [quota(
            "compute",
            json!({"requests.cpu": "5"}),
            json!({"requests.cpu": "5"}),
        )];
        let mut web = pod(
            "web-1",
            &[
                ("idle", resources(Some("2"), None)),
                ("hot", resources(Some("1"), None)),
            ],
        );
        web.spec.as_mut().unwrap().containers[0].resources =
            serde_json::from_value(resources(Some("1"), None)).unwrap();
        for (minor, admitted_changes) in [(36, 0), (37, 1)] {
            let (admitted, notes) =
                admit_all(&[], &quotas, minor, &[(&web, vec![cpu("hot", 1000, 2000)])]);
            assert_eq!(admitted[0].len(), admitted_changes, "1.{minor}: {notes:?}");
        }
    }

    #[test]
    fn quota_scopes_decide_whether_it_applies() {
        let full = || {
            quota(
                "compute",
                json!({"requests.cpu": "4"}),
                json!({"requests.cpu": "4"}),
            )
        };
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let kept = |quota: ResourceQuota| {
            let (admitted, _) =
                admit_all(&[], &[quota], 34, &[(&web, vec![cpu("app", 1000, 2000)])]);
            admitted[0].is_empty()
        };
        assert!(kept(scoped(full(), &["NotBestEffort"], Value::Null)));
        assert!(
            !kept(scoped(full(), &["BestEffort"], Value::Null)),
            "a Burstable pod is not BestEffort"
        );
        assert!(
            !kept(scoped(
                full(),
                &[],
                json!({"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}),
            )),
            "a scope on fields the hook does not read: the quota is not checked"
        );
        assert!(
            !kept(scoped(full(), &["BestEffort", "Terminating"], Value::Null)),
            "ruled out by the scope the hook reads"
        );
        assert!(!kept(scoped(full(), &["NotTerminating"], Value::Null)));
    }

    #[test]
    fn a_quota_without_counted_usage_or_with_a_container_missing_a_limit_refuses_the_pod() {
        let web = pod(
            "web-1",
            &[
                ("app", resources(Some("1"), Some("1Gi"))),
                ("proxy", resources(Some("100m"), None)),
            ],
        );
        let check = |quota: ResourceQuota| {
            let (admitted, notes) =
                admit_all(&[], &[quota], 34, &[(&web, vec![cpu("app", 1000, 1500)])]);
            assert!(admitted[0].is_empty(), "{notes:?}");
            notes[0].reason.clone()
        };
        assert_eq!(
            check(quota("compute", json!({"requests.cpu": "10"}), json!({}))),
            "ResourceQuota shop/compute: status has no usage of requests.cpu yet: the server refuses resizes \
             until the quota controller has counted it, so the API server would refuse the resize"
        );
        assert_eq!(
            check(quota(
                "memory",
                json!({"limits.memory": "10Gi"}),
                json!({"limits.memory": "1Gi"})
            )),
            "ResourceQuota shop/memory: limits.memory is limited, so every container must set it, and proxy \
             does not: the server refuses any resize of this pod, so the API server would refuse the resize"
        );
    }

    #[test]
    fn a_quota_without_status_yet_is_not_applied_by_the_server_either() {
        let pending: ResourceQuota = serde_json::from_value(json!({
            "metadata": {"name": "new", "namespace": NS}, "spec": {"hard": {"requests.cpu": "1"}},
        }))
        .unwrap();
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let (admitted, _) = admit_all(&[], &[pending], 34, &[(&web, vec![cpu("app", 1000, 2000)])]);
        assert_eq!(admitted[0].len(), 1);
    }

    #[test]
    fn an_unparsable_quantity_is_a_warning_and_holds_what_it_could_refuse() {
        let web = pod(
            "web-1",
            &[
                ("app", resources(Some("1"), None)),
                ("idle", resources(Some("2"), None)),
            ],
        );
        let changes = vec![cpu("app", 1000, 1500), cpu("idle", 2000, 1000)];
        let bad_quota = quota(
            "compute",
            json!({"requests.cpu": "10"}),
            json!({"requests.cpu": "lots"}),
        );
        let (admitted, notes) = admit_all(&[], &[bad_quota], 34, &[(&web, changes.clone())]);
        assert_eq!(
            admitted[0].len(),
            1,
            "the downsize is not a quota's business"
        );
        assert_eq!(admitted[0][0].name, "idle");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].kind, NoteKind::Warning);
        assert!(
            notes[0]
                .reason
                .starts_with("ResourceQuota shop/compute status.used.requests.cpu: \"lots\""),
            "{}",
            notes[0].reason
        );
        assert!(notes[0].reason.ends_with(
            "the pod's upsizes are not written, since the API server's verdict cannot be foreseen"
        ));

        let bad_range = limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "lots"}}]),
        );
        let (admitted, notes) = admit_all(&[bad_range], &[], 34, &[(&web, changes)]);
        assert!(admitted[0].is_empty(), "any change could be refused");
        assert!(
            notes[0]
                .reason
                .starts_with("LimitRange shop/limits spec.limits[0].max.cpu: "),
            "{}",
            notes[0].reason
        );
    }

    #[test]
    fn other_namespaces_are_not_held() {
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "1"}}]),
        )];
        let mut other = pod("web-1", &[("app", resources(Some("1"), None))]);
        other.metadata.namespace = Some("other".into());
        let policy = ResizePolicy::default();
        let mut draft = Draft {
            policy: &policy,
            explain_unchanged: true,
            now: now(),
            plan: ResizePlan::default(),
            heat: HashMap::new(),
            cpu_scale_downs: Vec::new(),
        };
        let mut admission = Admission::new(&ranges, &[]);
        let mut changes = vec![cpu("app", 1000, 2000)];
        admit(
            &mut draft,
            &mut admission,
            &other,
            ("other", "web-1"),
            34,
            &mut changes,
        );
        assert_eq!(changes[0].changes[0].to, both(2000));
    }

    #[test]
    fn the_decision_holds_a_hot_pod_to_its_namespace_rules() {
        let web = pod("web-1", &[("app", resources(Some("1"), None))]);
        let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(
            json!({"metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": "16", "memory": "64Gi"}}}),
        )
        .unwrap();
        let mut cpu_table = SignalTable::new();
        cpu_table.insert(
            ContainerKey::new(NS, "web-1", "app"),
            ContainerStats {
                short_min: Some(0.98),
                short_max: Some(0.98),
                peak: Some(0.98),
                samples: Some(60.0),
                short_samples: Some(6.0),
                ..ContainerStats::default()
            },
        );
        let ranges = [limit_range(
            "limits",
            json!([{"type": "Container", "max": {"cpu": "1200m"}}]),
        )];
        let all = [web.clone()];
        let opted_in = [&web];
        let input = ResizeInput {
            pods: &opted_in,
            nodes: std::slice::from_ref(&node),
            all_pods: &all,
            hpas: &[],
            vpas: &[],
            limit_ranges: &ranges,
            resource_quotas: &[],
            server_minor: 34,
            cpu: &cpu_table,
            memory: &SignalTable::new(),
            reserved: None,
            explain_unchanged: true,
        };
        let plan = decide_resizes(&input, &ResizePolicy::default(), now());
        assert_eq!(plan.pods.len(), 1, "{plan}");
        let change = &plan.pods[0].containers[0].changes[0];
        assert_eq!(change.to, both(1200), "{plan}");
        assert!(
            plan.to_string()
                .contains("to what LimitRange shop/limits allows"),
            "{plan}"
        );
    }
}
