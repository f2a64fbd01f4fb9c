//! Which pods resize-pods may touch: [`ResizeSettings`]. The shell that applied plans here is now
//! `controller::resize`; this file keeps only these settings until they move next to the policy.

use super::ResizePolicy;

/// Which pods are ours to resize: a pod label, or a label on their namespace (`key=value` each).
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeSettings {
    pub policy: ResizePolicy,
    pub pod_selector: (String, String),
    pub namespace_selector: (String, String),
}
