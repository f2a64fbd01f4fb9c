//! The Kubernetes client's settings: which kubeconfig and context, an API URL override, the request rate limit.

use super::check::{Checker, is_http_url, non_empty};
use super::names::name;
use crate::cli::RawSettings;
use crate::kube::RateLimit;

/// How to reach the Kubernetes API.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub api_url: Option<String>,
    /// `KUBE_API_QPS` / `KUBE_API_BURST`.
    pub rate_limit: RateLimit,
}

pub(super) fn settings(check: &mut Checker, raw: &RawSettings) -> KubeSettings {
    KubeSettings {
        kubeconfig: non_empty(&raw.kubeconfig),
        context: non_empty(&raw.context),
        api_url: non_empty(&raw.kube_api_url).map(|url| {
            if !is_http_url(&url) {
                check.reject(
                    name!(kube_api_url),
                    &url,
                    "must be an http:// or https:// URL",
                );
            }
            url.trim_end_matches('/').to_owned()
        }),
        rate_limit: RateLimit {
            qps: check.number(name!(kube_api_qps), &raw.kube_api_qps, 0.0, 100_000.0),
            burst: check.count(name!(kube_api_burst), &raw.kube_api_burst, 1, 100_000),
        },
    }
}
