//! A minimal RBAC authorizer: a list of ClusterRole-style rules granted to the caller.

use anyhow::{Context, bail};
use serde_json::Value;

/// One rule of a (Cluster)Role. `"*"` matches anything in each list; `resources` may name a
/// subresource (`"pods/resize"`); an empty `resource_names` allows every object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
}

impl PolicyRule {
    /// A rule from string slices: `PolicyRule::new(&[""], &["nodes"], &["get", "list", "patch"])`.
    pub fn new(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            api_groups: owned(api_groups),
            resources: owned(resources),
            verbs: owned(verbs),
            resource_names: Vec::new(),
        }
    }

    /// The `rules` of a ClusterRole or Role object (as parsed from the shipped manifests).
    pub fn from_cluster_role(role: &Value) -> anyhow::Result<Vec<PolicyRule>> {
        let Some(rules) = role.get("rules").and_then(Value::as_array) else {
            bail!("ClusterRole has no `rules` list: {role}");
        };
        let strings = |rule: &Value, field: &str| -> anyhow::Result<Vec<String>> {
            match rule.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).with_context(|| {
                            format!("rule field `{field}` holds a non-string: {i}")
                        })
                    })
                    .collect(),
                Some(other) => bail!("rule field `{field}` is not a list: {other}"),
            }
        };
        rules
            .iter()
            .map(|rule| {
                Ok(PolicyRule {
                    api_groups: strings(rule, "apiGroups")?,
                    resources: strings(rule, "resources")?,
                    verbs: strings(rule, "verbs")?,
                    resource_names: strings(rule, "resourceNames")?,
                })
            })
            .collect()
    }

    fn allows(&self, group: &str, resource: &str, verb: &str, name: &str) -> bool {
        let has = |list: &[String], wanted: &str| list.iter().any(|x| x == "*" || x == wanted);
        has(&self.api_groups, group)
            && has(&self.resources, resource)
            && has(&self.verbs, verb)
            && (self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name))
    }
}

/// Whether any rule allows `verb` on `resource` (with `/subresource`) in `group`.
pub(crate) fn allowed(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    name: &str,
) -> bool {
    rules
        .iter()
        .any(|rule| rule.allows(group, resource, verb, name))
}
