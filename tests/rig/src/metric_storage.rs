//! A model of what shell-operator (v1.20.3) does with a hook's `METRICS_PATH` file and serves on
//! `/metrics/hooks`, as strict as its source: `pkg/hook/operation.go` (parsing, default group = hook name),
//! `pkg/hook/hook.go` + `pkg/shell-operator/operator.go` `handleRunHook` (a failed run's file is ignored; `hook`
//! label), and `github.com/deckhouse/deckhouse/pkg/metrics-storage` v0.3.0 (`metric_storage.go`
//! `ApplyBatchOperations`/`applyGroupedOperations`, `storage/grouped.go`, `collectors/*`):
//! - an op without `group` gets the hook's name as its group; `{"add": v}` / `{"set": v}` are shortcuts;
//! - the batch is validated first, and one invalid op refuses the whole batch (the run fails);
//! - for each group the run writes, every series of that group (in every metric) is deleted, then the group's
//!   ops are applied in order; groups not written are untouched;
//! - `add` = counter (value kept as `uint64`: fractions cut), `set` = gauge, `expire` = delete the group's series;
//!   a name keeps the type it was first used with (an op of the other type is dropped);
//! - a metric's label names are the union of all names it was used with, missing values are `""`;
//! - `hook` is added to every series, overriding the op's own;
//! - two series with the same name and label values (in two groups) make the whole scrape fail (HTTP 500 from
//!   client_golang's registry `Gather`).
//!
//! `observe` (histograms) is not modelled: kube-thermostat exports none, and the model refuses it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug, Default)]
struct Family {
    kind: Option<Kind>,
    label_names: BTreeSet<String>,
    /// (group, labels) → value.
    series: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Op {
    name: String,
    action: String,
    value: Option<f64>,
    labels: BTreeMap<String, String>,
    group: String,
}

/// shell-operator's hook metric storage, fed one run at a time.
#[derive(Debug, Default)]
pub struct HookMetricStorage {
    families: BTreeMap<String, Family>,
    /// What shell-operator would log and drop (type clashes).
    pub dropped: Vec<String>,
}

impl HookMetricStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// One run of hook `hook_name`: its exit status and its metrics file. A failed run changes nothing; an
    /// unreadable or invalid file fails the run (Err) and changes nothing.
    pub fn apply_run(
        &mut self,
        hook_name: &str,
        succeeded: bool,
        file: &str,
    ) -> Result<(), String> {
        if !succeeded {
            return Ok(());
        }
        let ops = parse(file, hook_name)?;
        validate(&ops)?;
        let mut groups: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
        for op in &ops {
            groups.entry(op.group.as_str()).or_default().push(op);
        }
        for (group, ops) in groups {
            self.expire(group);
            for op in ops {
                self.apply(op, hook_name);
            }
        }
        Ok(())
    }

    fn expire(&mut self, group: &str) {
        for family in self.families.values_mut() {
            family.series.retain(|(g, _), _| g != group);
        }
    }

    fn apply(&mut self, op: &Op, hook_name: &str) {
        let kind = match op.action.as_str() {
            "expire" => return self.expire(&op.group),
            "add" => Kind::Counter,
            _ => Kind::Gauge,
        };
        let mut labels = op.labels.clone();
        labels.insert("hook".into(), hook_name.into());
        let family = self.families.entry(op.name.clone()).or_default();
        if family.kind.is_some_and(|k| k != kind) {
            self.dropped.push(format!(
                "{} requested as {kind:?} but is {:?}",
                op.name,
                family.kind.unwrap_or(kind)
            ));
            return;
        }
        family.kind = Some(kind);
        family.label_names.extend(labels.keys().cloned());
        let value = op.value.unwrap_or_default();
        let slot = family
            .series
            .entry((op.group.clone(), labels))
            .or_insert(0.0);
        match kind {
            // Go's `uint64(value)` on the stored counter.
            Kind::Counter => *slot += value.trunc(),
            Kind::Gauge => *slot = value,
        }
    }

    /// The Prometheus text exposition of `/metrics/hooks`, or the scrape error.
    pub fn render(&self) -> Result<String, String> {
        let mut text = String::new();
        for (name, family) in &self.families {
            let Some(kind) = family.kind else { continue };
            if family.series.is_empty() {
                continue;
            }
            let mut rows: BTreeMap<Vec<(String, String)>, f64> = BTreeMap::new();
            for ((_, labels), value) in &family.series {
                let full: Vec<(String, String)> = family
                    .label_names
                    .iter()
                    .map(|n| (n.clone(), labels.get(n).cloned().unwrap_or_default()))
                    .collect();
                if rows.insert(full.clone(), *value).is_some() {
                    return Err(format!(
                        "collected metric {name:?} {full:?} was collected before with the same name and label values"
                    ));
                }
            }
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            text.push_str(&format!("# HELP {name} {name}\n# TYPE {name} {kind}\n"));
            for (labels, value) in rows {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                text.push_str(&format!(
                    "{name}{{{}}} {}\n",
                    pairs.join(","),
                    go_float(value)
                ));
            }
        }
        Ok(text)
    }

    /// The exposed samples: (name, labels without empty values, value), parsed back from [`Self::render`].
    pub fn samples(&self) -> Result<Vec<Sample>, String> {
        Ok(parse_exposition(&self.render()?))
    }
}

/// One exposed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub kind: Kind,
}

fn parse(file: &str, default_group: &str) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    // Go's json.Decoder reads a stream of values: lines or not.
    for value in serde_json::Deserializer::from_str(file).into_iter::<Value>() {
        let value = value.map_err(|e| format!("got bad metrics: {e}"))?;
        let object = value.as_object().ok_or("got bad metrics: not an object")?;
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let number = |key: &str| object.get(key).and_then(Value::as_f64);
        let (add, set) = (number("add"), number("set"));
        let mut action = text("action");
        let mut value = number("value");
        if set.is_some() && add.is_none() {
            action = "set".into();
            value = set;
        }
        if add.is_some() && set.is_none() {
            action = "add".into();
            value = add;
        }
        if set.is_some() && add.is_some() {
            return Err(format!("'set' and 'add' are mutual exclusive: {value:?}"));
        }
        let labels = match object.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_owned()))
                        .ok_or_else(|| format!("got bad metrics: label {k} is not a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("got bad metrics: labels {other}")),
        };
        let mut group = text("group");
        if group.is_empty() {
            group = default_group.to_owned();
        }
        ops.push(Op {
            name: text("name"),
            action,
            value,
            labels,
            group,
        });
    }
    Ok(ops)
}

fn validate(ops: &[Op]) -> Result<(), String> {
    for op in ops {
        match op.action.as_str() {
            "add" | "set" if op.value.is_none() => {
                return Err(format!("'value' is required for action '{}'", op.action));
            }
            "add" | "set" if op.name.is_empty() => {
                return Err(format!(
                    "'name' is required when action is not 'expire': {op:?}"
                ));
            }
            "add" if op.value.is_some_and(|v| v < 0.0) => {
                // Go's uint64(negative float) is implementation-defined: nothing sensible to model.
                return Err(format!("negative add: {op:?}"));
            }
            "add" | "set" | "expire" => {}
            "observe" => return Err("observe is not modelled".into()),
            other => {
                return Err(format!(
                    "one of: 'action', 'set' or 'add' is required: {other:?}"
                ));
            }
        }
    }
    Ok(())
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, as client_golang's text format writes values.
fn go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Shortest digits; %e form when the exponent is < -4 or >= 6 (strconv/ftoa.go, case 'g').
    if (-4..6).contains(&exponent) {
        format!("{value}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Parses a text exposition (what Prometheus would ingest): labels with empty values are absent.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut kinds = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = if kind == "counter" {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            kinds.insert(name.to_owned(), kind);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or((line, "NaN"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
            None => (series, BTreeMap::new()),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value: value.parse().unwrap_or(f64::NAN),
            kind: kinds.get(name).copied().unwrap_or(Kind::Gauge),
        });
    }
    samples
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        chars.next(); // opening quote
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => {}
                },
                '"' => break,
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        if !value.is_empty() {
            labels.insert(name.trim().to_owned(), value);
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(storage: &HookMetricStorage, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        storage
            .samples()
            .unwrap()
            .into_iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    #[test]
    fn an_ungrouped_counter_restarts_whenever_its_hook_writes_again_and_is_lost_to_the_other_binding()
     {
        let mut storage = HookMetricStorage::new();
        let hook = "kube-thermostat";
        storage
            .apply_run(
                hook,
                true,
                r#"{"name":"a_total","action":"add","value":2,"labels":{"x":"1"}}"#,
            )
            .unwrap();
        storage
            .apply_run(
                hook,
                true,
                r#"{"name":"a_total","action":"add","value":1,"labels":{"x":"1"}}"#,
            )
            .unwrap();
        assert_eq!(
            value(&storage, "a_total", &[("x", "1")]),
            Some(1.0),
            "the hook-name group was emptied"
        );
        storage
            .apply_run(hook, true, r#"{"name":"b_total","add":5}"#)
            .unwrap();
        assert_eq!(
            value(&storage, "a_total", &[]),
            None,
            "another binding of the same hook deleted it"
        );
        assert_eq!(value(&storage, "b_total", &[("hook", hook)]), Some(5.0));
    }

    #[test]
    fn groups_are_emptied_only_when_written_and_expire_deletes_one() {
        let mut storage = HookMetricStorage::new();
        let run = |storage: &mut HookMetricStorage, file: &str| {
            storage.apply_run("h", true, file).unwrap()
        };
        run(
            &mut storage,
            "{\"group\":\"g1\",\"name\":\"c_total\",\"action\":\"add\",\"value\":3.9,\"labels\":{\"k\":\"a\"}}\n\
             {\"group\":\"g1\",\"name\":\"c_total\",\"action\":\"add\",\"value\":1,\"labels\":{\"k\":\"a\"}}\n\
             {\"group\":\"g2\",\"name\":\"g\",\"action\":\"set\",\"value\":7}\n",
        );
        assert_eq!(
            value(&storage, "c_total", &[("k", "a")]),
            Some(4.0),
            "adds within a run sum, fractions cut"
        );
        run(
            &mut storage,
            r#"{"group":"g2","name":"g","action":"set","value":8}"#,
        );
        assert_eq!(
            value(&storage, "c_total", &[("k", "a")]),
            Some(4.0),
            "g1 untouched"
        );
        assert_eq!(value(&storage, "g", &[]), Some(8.0));
        run(&mut storage, r#"{"group":"g2","action":"expire"}"#);
        assert_eq!(value(&storage, "g", &[]), None);
        let text = storage.render().unwrap();
        assert!(text.contains("# TYPE c_total counter\n"), "{text}");
    }

    #[test]
    fn a_failed_run_or_an_invalid_file_changes_nothing() {
        let mut storage = HookMetricStorage::new();
        storage
            .apply_run("h", true, r#"{"group":"g","name":"x","set":1}"#)
            .unwrap();
        storage
            .apply_run("h", false, r#"{"group":"g","name":"x","set":2}"#)
            .unwrap();
        assert_eq!(value(&storage, "x", &[]), Some(1.0));
        let invalid = "{\"group\":\"g\",\"name\":\"x\",\"set\":3}\n{\"group\":\"g\",\"name\":\"y\",\"action\":\"add\"}\n";
        assert!(storage.apply_run("h", true, invalid).is_err());
        assert_eq!(value(&storage, "x", &[]), Some(1.0));
    }

    #[test]
    fn the_hook_label_wins_types_stick_and_identical_series_in_two_groups_break_the_scrape() {
        let mut storage = HookMetricStorage::new();
        storage
            .apply_run(
                "h",
                true,
                r#"{"group":"g1","name":"m","set":1,"labels":{"hook":"mine"}}"#,
            )
            .unwrap();
        assert_eq!(value(&storage, "m", &[("hook", "h")]), Some(1.0));
        storage
            .apply_run("h", true, r#"{"group":"g3","name":"m","add":1}"#)
            .unwrap();
        assert_eq!(
            storage.dropped.len(),
            1,
            "a counter op on a gauge's name is dropped"
        );
        storage
            .apply_run("h", true, r#"{"group":"g2","name":"m","set":2}"#)
            .unwrap();
        let error = storage.render().unwrap_err();
        assert!(error.contains("collected before"), "{error}");
    }

    #[test]
    fn label_names_are_the_union_and_values_render_as_go_does() {
        let mut storage = HookMetricStorage::new();
        storage
            .apply_run(
                "h",
                true,
                "{\"group\":\"g\",\"name\":\"t\",\"set\":1700000000,\"labels\":{\"a\":\"x\\\"y\"}}\n\
                 {\"group\":\"g\",\"name\":\"t\",\"set\":0.5,\"labels\":{\"b\":\"z\"}}\n",
            )
            .unwrap();
        let text = storage.render().unwrap();
        assert!(
            text.contains("t{a=\"x\\\"y\",b=\"\",hook=\"h\"} 1.7e+09\n"),
            "{text}"
        );
        assert!(
            text.contains("t{a=\"\",b=\"z\",hook=\"h\"} 0.5\n"),
            "{text}"
        );
        assert_eq!(value(&storage, "t", &[("a", "x\"y")]), Some(1.7e9));
    }
}
