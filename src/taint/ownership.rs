//! Which taints on a node are ours, and the annotation that records the one we put there.
//!
//! Ours = the taint with our key AND effect (whoever put it there: the key is dedicated to this controller), the
//! taint our annotation records (so after a change of `TAINT_KEY`/`TAINT_EFFECT` the old one is removed, not
//! orphaned), and taints of an exact key + effect listed in `ADOPT_TAINTS` (the seed script's
//! `node.kubernetes.io/pressure`): those are only ever removed or replaced by ours. Every other taint is foreign
//! and is carried over untouched, in order, `timeAdded` included.
//!
//! Pure: reads the node as given; imports only the policy.

use super::policy::{TAINT_ANNOTATION, TaintPolicy};
use k8s_openapi::api::core::v1::{Node, Taint};
use serde::{Deserialize, Serialize};

/// Keys owned by Kubernetes components. A recorded taint with one of these keys is never treated as ours: an
/// edited or corrupt annotation must not make us remove a cordon or a not-ready taint.
pub const SYSTEM_TAINT_KEYS: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/out-of-service",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cloudprovider.kubernetes.io/shutdown",
    "ToBeDeletedByClusterAutoscaler",
    "DeletionCandidateOfClusterAutoscaler",
    // Karpenter's taint on a node it is removing (kubernetes-sigs/karpenter pkg/apis/v1/taints.go).
    "karpenter.sh/disrupted",
];

/// The JSON in our annotation: the taint we put on the node, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaintRecord {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: String,
    /// RFC 3339, UTC, seconds.
    pub since: String,
    pub reason: String,
}

impl TaintRecord {
    fn same_taint(&self, taint: &Taint) -> bool {
        self.key == taint.key
            && self.effect == taint.effect
            && self.value == taint.value.as_deref().unwrap_or("")
    }
}

/// What a node says about our taint.
#[derive(Debug, Clone)]
pub(crate) struct Ownership {
    /// `spec.taints` as read; `None` when the field is absent.
    pub taints: Option<Vec<Taint>>,
    /// Whether `metadata.annotations` exists (a JSON Patch must create it otherwise).
    pub annotations_present: bool,
    /// Our annotation's raw value as read.
    pub annotation: Option<String>,
    /// The annotation parsed, when valid and not naming a system key.
    pub record: Option<TaintRecord>,
    /// Indices in `taints` of the taints that are ours.
    pub ours: Vec<usize>,
}

impl Ownership {
    pub(crate) fn read(node: &Node, policy: &TaintPolicy) -> Ownership {
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone());
        let annotations = node.metadata.annotations.as_ref();
        let annotation = annotations.and_then(|a| a.get(TAINT_ANNOTATION)).cloned();
        let record = annotation
            .as_deref()
            .and_then(|text| serde_json::from_str::<TaintRecord>(text).ok())
            .filter(|record| !SYSTEM_TAINT_KEYS.contains(&record.key.as_str()));
        let ours = taints
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, taint)| {
                is_current_form(taint, policy)
                    || policy.adopted_taints.iter().any(|a| a.matches(taint))
                    || record
                        .as_ref()
                        .is_some_and(|r| r.key == taint.key && r.effect == taint.effect)
            })
            .map(|(index, _)| index)
            .collect();
        Ownership {
            taints,
            annotations_present: annotations.is_some(),
            annotation,
            record,
            ours,
        }
    }

    pub(crate) fn has_our_taint(&self) -> bool {
        !self.ours.is_empty()
    }

    /// The taints that are not ours, as read, in order.
    pub(crate) fn foreign(&self) -> Vec<Taint> {
        self.taints
            .iter()
            .flatten()
            .enumerate()
            .filter(|(index, _)| !self.ours.contains(index))
            .map(|(_, taint)| taint.clone())
            .collect()
    }

    /// The list to write when the node must carry our taint: foreign taints untouched; our taint kept where it
    /// is (with its `timeAdded`) when only its value may change; otherwise appended.
    pub(crate) fn taints_with_ours(&self, policy: &TaintPolicy) -> Vec<Taint> {
        let wanted = our_taint(policy);
        let mut out = Vec::new();
        let mut placed = false;
        for (index, taint) in self.taints.iter().flatten().enumerate() {
            if !self.ours.contains(&index) {
                out.push(taint.clone());
            } else if !placed && is_current_form(taint, policy) {
                placed = true;
                out.push(if taint.value == wanted.value {
                    taint.clone()
                } else {
                    wanted.clone()
                });
            }
        }
        if !placed {
            out.push(wanted);
        }
        out
    }

    /// The annotation to leave when the node carries `taint` after the plan: the one read when it already
    /// describes this taint (so nothing is rewritten), else a fresh record.
    pub(crate) fn annotation_for(&self, taint: &Taint, since: &str, reason: &str) -> String {
        if let (Some(text), Some(record)) = (&self.annotation, &self.record)
            && record.same_taint(taint)
        {
            return text.clone();
        }
        let record = TaintRecord {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
            effect: taint.effect.clone(),
            since: since.to_string(),
            reason: reason.to_string(),
        };
        serde_json::to_string(&record).unwrap_or_default()
    }
}

fn is_current_form(taint: &Taint, policy: &TaintPolicy) -> bool {
    taint.key == policy.taint_key && taint.effect == policy.taint_effect.as_str()
}

/// The taint we put on a node now. No `timeAdded`: the API server never sets one (its node strategy does no
/// taint mutation), and nothing we decide reads it; a foreign taint's `timeAdded` is carried over as read.
pub(crate) fn our_taint(policy: &TaintPolicy) -> Taint {
    Taint {
        key: policy.taint_key.clone(),
        value: policy.taint_value_field(),
        effect: policy.taint_effect.as_str().to_string(),
        time_added: None,
    }
}
