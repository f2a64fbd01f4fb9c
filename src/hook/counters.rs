//! Counter totals that survive shell-operator emptying their metrics group every run.
//!
//! Each controller's totals live in an annotation on the hook's own Pod (`kube-thermostat.io/counters-<controller>`,
//! a JSON object from series key to count), found from `POD_NAME` / `POD_NAMESPACE` (downward API). Each tick:
//! one GET of the pod; when something was counted, one JSON Patch guarded by `test` of the annotation as read;
//! then the totals are exported (see [`super::metrics`]). The totals restart with a new pod, as a process's
//! counters do: Prometheus' `rate()` and `increase()` take that as a counter reset.
//!
//! When the save fails, the totals exported are the ones read (already saved): exporting read + this tick's
//! counts would show a total the next tick could undercut, which Prometheus reads as a reset. This tick's counts
//! are then lost (an undercount, never an overcount), and the log and `kube_thermostat_counters_saved` say so.
//!
//! The annotation text is printable ASCII without `<`, `>`, `&` (label values are percent-encoded in the keys),
//! so Go's `encoding/json`, which the API server uses to encode the stored Pod, spells it exactly as we send it,
//! and the `test` (compared byte-wise by evanphx/json-patch) matches.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::deadline::Deadline;
use crate::kube::json_pointer::escape_pointer_token;
use crate::kube::{self, ApiResource, Patch};

/// Totals (or increments) by series: name and labels (without `controller`, which the export adds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterTotals(BTreeMap<String, u64>);

impl CounterTotals {
    pub fn add(&mut self, name: &str, labels: &[(&str, &str)], count: u64) {
        let mut sorted: Vec<(&str, &str)> = labels.to_vec();
        sorted.sort();
        sorted.dedup_by(|a, b| a.0 == b.0);
        let entry = self.0.entry(series_key(name, &sorted)).or_default();
        *entry = entry.saturating_add(count);
    }

    /// A total, for tests: the tick reads totals only as a whole.
    #[cfg(test)]
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut sorted = labels.to_vec();
        sorted.sort();
        self.0.get(&series_key(name, &sorted)).copied().unwrap_or(0)
    }

    /// These totals with `increments` added (series of either, each once).
    pub fn plus(&self, increments: &CounterTotals) -> CounterTotals {
        let mut sum = self.clone();
        for (key, count) in &increments.0 {
            let entry = sum.0.entry(key.clone()).or_default();
            *entry = entry.saturating_add(*count);
        }
        sum
    }

    /// The same series, each at 0.
    pub fn declared(&self) -> CounterTotals {
        CounterTotals(self.0.keys().map(|key| (key.clone(), 0)).collect())
    }

    /// Whether adding these increments changes any total.
    pub fn counts_something(&self) -> bool {
        self.0.values().any(|count| *count > 0)
    }

    /// Each series with its total.
    pub fn series(&self) -> Vec<CountedSeries> {
        self.0
            .iter()
            .filter_map(|(key, count)| {
                let (name, labels) = parse_series_key(key)?;
                Some(CountedSeries {
                    name,
                    labels,
                    total: *count,
                })
            })
            .collect()
    }

    /// The annotation value: compact JSON, printable ASCII without `<>&`.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// Reads an annotation value; entries whose key we cannot read are dropped (named in the error text).
    pub fn from_annotation(text: &str) -> Result<CounterTotals, String> {
        let map: BTreeMap<String, u64> = serde_json::from_str(text)
            .map_err(|e| format!("not a JSON object of whole counts ({e})"))?;
        if let Some(bad) = map.keys().find(|key| parse_series_key(key).is_none()) {
            return Err(format!("unreadable series key {bad:?}"));
        }
        Ok(CounterTotals(map))
    }
}

/// One counter series: its name (without our prefix), labels and total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedSeries {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub total: u64,
}

/// `name{label=value,...}` with label values percent-encoded outside `[A-Za-z0-9_.-]`.
fn series_key(name: &str, sorted_labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = sorted_labels
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn parse_series_key(key: &str) -> Option<(String, Vec<(String, String)>)> {
    let (name, rest) = key.split_once('{')?;
    let inner = rest.strip_suffix('}')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut labels = Vec::new();
    for pair in inner.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        labels.push((k.to_owned(), percent_decode(v)?));
    }
    Some((name.to_owned(), labels))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The annotation holding a controller's totals (the controller by its binding name).
pub fn annotation_key(controller: &str) -> String {
    format!("kube-thermostat.io/counters-{controller}")
}

/// The hook's own Pod, from the downward API environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPod {
    pub namespace: String,
    pub name: String,
}

impl OwnPod {
    pub fn from_env() -> Option<OwnPod> {
        let get = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(OwnPod {
            namespace: get("POD_NAMESPACE")?,
            name: get("POD_NAME")?,
        })
    }
}

/// What a tick's counting came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Saving {
    /// The totals to export: saved ones only. `None` when nothing could be read.
    pub export: Option<CounterTotals>,
    /// This tick's counts are on the pod (or there were none).
    pub saved: bool,
    /// Why this tick's counts are not saved, if they are not.
    pub problem: Option<String>,
}

/// The pure part of a save: from the pod's annotations as read, the totals to write and the guarded patch (no
/// patch when nothing was counted). A value we cannot read is replaced (the counters restart, which Prometheus
/// handles as a reset), still guarded by a `test` of what was there.
pub fn plan_save(
    annotations: Option<&BTreeMap<String, String>>,
    controller: &str,
    increments: &CounterTotals,
) -> (CounterTotals, Option<Value>, Option<String>) {
    let key = annotation_key(controller);
    let before = annotations.and_then(|a| a.get(&key));
    let (saved, unreadable) = match before.map(|text| CounterTotals::from_annotation(text)) {
        None => (CounterTotals::default(), None),
        Some(Ok(totals)) => (totals, None),
        Some(Err(why)) => (
            CounterTotals::default(),
            Some(format!(
                "annotation {key} on our pod is unreadable ({why}): counters restart"
            )),
        ),
    };
    let after = saved.plus(increments);
    if !increments.counts_something() && unreadable.is_none() {
        return (after, None, None);
    }
    let path = format!("/metadata/annotations/{}", escape_pointer_token(&key));
    let value = after.to_annotation();
    // A `test` with null passes when the member is absent (evanphx/json-patch v4 `Patch.test`); see
    // taint/patch.rs for the facts.
    let patch = match annotations {
        Some(_) => json!([
            {"op": "test", "path": path, "value": before},
            {"op": "add", "path": path, "value": value},
        ]),
        None => json!([
            {"op": "test", "path": "/metadata/annotations", "value": null},
            {"op": "add", "path": "/metadata/annotations", "value": {key: value}},
        ]),
    };
    (after, Some(patch), unreadable)
}

#[derive(Deserialize)]
struct PodMeta {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
}

/// Adds this tick's counts to the controller's totals on our pod: one GET, and one PATCH when something was
/// counted. Never fails the tick: the counts are secondary to the changes they count.
pub fn save(
    kube: &kube::Client,
    pod: &OwnPod,
    controller: &str,
    increments: &CounterTotals,
    deadline: Deadline,
) -> Saving {
    let read: PodMeta = match kube.get(
        &ApiResource::PODS,
        Some(&pod.namespace),
        &pod.name,
        deadline,
    ) {
        Ok(read) => read,
        Err(error) => {
            return Saving {
                export: None,
                saved: false,
                problem: Some(format!(
                    "could not read our pod {}/{} for the counter totals: {error}",
                    pod.namespace, pod.name
                )),
            };
        }
    };
    let (after, patch, unreadable) =
        plan_save(read.metadata.annotations.as_ref(), controller, increments);
    let Some(patch) = patch else {
        return Saving {
            export: Some(after),
            saved: true,
            problem: None,
        };
    };
    match kube.patch::<Value>(
        &ApiResource::PODS,
        Some(&pod.namespace),
        &pod.name,
        None,
        &Patch::Json(patch),
        deadline,
    ) {
        Ok(_) => Saving {
            export: Some(after),
            saved: true,
            problem: unreadable,
        },
        Err(error) => {
            // Nothing readable was saved when the value was unreadable: export nothing rather than a total that
            // may go down. Otherwise the saved totals, with this tick's new series declared at 0.
            let export = unreadable
                .is_none()
                .then(|| saved_totals(read.metadata.annotations.as_ref(), controller))
                .flatten()
                .map(|saved| saved.plus(&increments.declared()));
            Saving {
                export,
                saved: false,
                problem: Some(format!(
                    "could not save the counter totals on our pod {}/{}: {error}; this tick's counts are lost",
                    pod.namespace, pod.name
                )),
            }
        }
    }
}

fn saved_totals(
    annotations: Option<&BTreeMap<String, String>>,
    controller: &str,
) -> Option<CounterTotals> {
    match annotations.and_then(|a| a.get(&annotation_key(controller))) {
        None => Some(CounterTotals::default()),
        Some(text) => CounterTotals::from_annotation(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entry<'a> = (&'a str, &'a [(&'a str, &'a str)], u64);

    fn counted(entries: &[Entry]) -> CounterTotals {
        let mut totals = CounterTotals::default();
        for (name, labels, count) in entries {
            totals.add(name, labels, *count);
        }
        totals
    }

    #[test]
    fn keys_round_trip_any_label_value_as_plain_ascii() {
        let odd = "a<b>&c \"q\" é,=%}{\n";
        let totals = counted(&[(
            "events_rejected_total",
            &[("reason", odd), ("kind", "Pod")],
            2,
        )]);
        let text = totals.to_annotation();
        assert!(
            text.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && !b"<>&".contains(&b)),
            "{text}"
        );
        let back = CounterTotals::from_annotation(&text).unwrap();
        assert_eq!(back, totals);
        assert_eq!(
            back.series(),
            [CountedSeries {
                name: "events_rejected_total".to_owned(),
                labels: vec![
                    ("kind".into(), "Pod".into()),
                    ("reason".into(), odd.to_owned())
                ],
                total: 2
            }]
        );
    }

    #[test]
    fn a_first_save_creates_the_annotations_guarded_and_later_ones_test_the_old_value() {
        let tick = counted(&[("taint_changes_total", &[("action", "taint")], 1)]);
        let (after, patch, problem) = plan_save(None, "taint-nodes", &tick);
        assert_eq!(problem, None);
        let value = after.to_annotation();
        assert_eq!(value, r#"{"taint_changes_total{action=taint}":1}"#);
        assert_eq!(
            patch.unwrap(),
            json!([
                {"op": "test", "path": "/metadata/annotations", "value": null},
                {"op": "add", "path": "/metadata/annotations", "value": {"kube-thermostat.io/counters-taint-nodes": value}},
            ])
        );
        let annotations = BTreeMap::from([(
            "kube-thermostat.io/counters-taint-nodes".to_owned(),
            value.clone(),
        )]);
        let (after, patch, _) = plan_save(Some(&annotations), "taint-nodes", &tick);
        assert_eq!(after.get("taint_changes_total", &[("action", "taint")]), 2);
        let path = "/metadata/annotations/kube-thermostat.io~1counters-taint-nodes";
        assert_eq!(
            patch.unwrap(),
            json!([
                {"op": "test", "path": path, "value": value},
                {"op": "add", "path": path, "value": after.to_annotation()},
            ])
        );
        // The other controller's totals are another annotation: absent, so tested as null.
        let (_, patch, _) = plan_save(Some(&annotations), "resize-pods", &tick);
        assert_eq!(patch.unwrap()[0]["value"], Value::Null);
    }

    #[test]
    fn nothing_counted_means_no_write_but_the_totals_are_exported() {
        let saved = counted(&[("taint_changes_total", &[("action", "taint")], 4)]);
        let annotations = BTreeMap::from([(annotation_key("taint-nodes"), saved.to_annotation())]);
        let declared = counted(&[("taint_changes_total", &[("action", "untaint")], 0)]);
        let (after, patch, _) = plan_save(Some(&annotations), "taint-nodes", &declared);
        assert_eq!(patch, None);
        assert_eq!(after, saved.plus(&declared));
    }

    #[test]
    fn an_unreadable_annotation_is_replaced_and_said() {
        let annotations = BTreeMap::from([(annotation_key("taint-nodes"), "not json".to_owned())]);
        let (after, patch, problem) =
            plan_save(Some(&annotations), "taint-nodes", &CounterTotals::default());
        assert_eq!(after, CounterTotals::default());
        assert_eq!(patch.unwrap()[0]["value"], "not json");
        assert!(problem.unwrap().contains("counters restart"));
    }
}
