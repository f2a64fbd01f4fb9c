//! kube-thermostat's own arm of the right-sizing comparison, in the same closed loop as the models: the real
//! binary, its default settings (memory resizing turned on, as the models resize memory), a real Prometheus fed
//! the container's observed cAdvisor series minute by minute (usage capped at the limit, CFS counters showing the
//! throttling, the working set), the API stand-in holding the pod with its OOM kills in `lastState`. Each tick
//! runs `kube-thermostat run resize-pods` with its clock pinned to the simulated minute and reads the pod's
//! resources back after the kubelet applied them: what the simulator accounts is what the binary decided.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::simulate::{OomKill, Policy, Sample};
use super::{MINUTES_PER_DAY, Sizes};
use crate::apiserver::Options;
use crate::builders::{NodeBuilder, PodBuilder};
use crate::cluster::Cluster;
use crate::prometheus::Series;
use crate::scenario::Scenario;
use crate::synthetic::parse_cpu_millis;

const NAMESPACE: &str = "bench";
const POD: &str = "subject";
const CONTAINER: &str = "app";
/// CFS periods a second at the default 100ms period.
const PERIODS_PER_SECOND: f64 = 10.0;

/// The arm: one cluster (Prometheus and API stand-in) per simulated container.
pub struct Thermostat {
    name: String,
    cluster: Cluster,
    /// Unix milliseconds of minute 0: the simulation ends about now, so every sample is in Prometheus' past.
    epoch_ms: i64,
    env: Vec<(String, String)>,
    cpu_seconds: f64,
    periods: f64,
    throttled_periods: f64,
    /// The latest OOM kill, kept in the pod's status as the kubelet keeps `lastState` until the next one.
    last_kill_ms: Option<i64>,
}

impl Thermostat {
    /// A cluster for a container starting at `initial`, simulated over `days` ending now; `env` adds settings,
    /// `annotations` (names under `kube-thermostat.io/`) go on the pod.
    pub fn start(
        binary: &Path,
        initial: &Sizes,
        days: u32,
        env: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) -> Thermostat {
        let cluster = Scenario::new(binary)
            .api(Options {
                server_minor: 34,
                ..Options::default()
            })
            .node(
                NodeBuilder::new("node-1")
                    .label("kubernetes.io/os", "linux")
                    .merge(json!({"status": {"allocatable": {"cpu": "64", "memory": "256Gi"}}})),
            )
            .start();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let span_ms = i64::from(days * MINUTES_PER_DAY) * 60_000;
        // On a whole hour: every query grid (the 30s step, the 5m long view) then falls on the same simulated
        // minutes in every run, so a run repeats its figures.
        let start_ms = now_ms - span_ms - 120_000;
        let epoch_ms = start_ms - start_ms.rem_euclid(3_600_000);
        // The pod starts with the simulation: its history is as old as the simulated minute.
        cluster.put_running(
            PodBuilder::new(NAMESPACE, POD)
                .on("node-1")
                .container(CONTAINER, resources(initial))
                .merge(json!({
                    "metadata": {"annotations": annotations
                        .iter()
                        .map(|(name, value)| (format!("kube-thermostat.io/{name}"), Value::from(*value)))
                        .collect::<serde_json::Map<_, _>>()},
                    "status": {"startTime": rfc3339(epoch_ms)},
                })),
        );
        let mut all_env = vec![("RESIZE_MEMORY".to_string(), "true".to_string())];
        all_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Thermostat {
            name: "kube-thermostat".to_string(),
            cluster,
            epoch_ms,
            env: all_env,
            cpu_seconds: 0.0,
            periods: 0.0,
            throttled_periods: 0.0,
            last_kill_ms: None,
        }
    }

    /// The arm under another name (another set of settings).
    pub fn named(mut self, name: &str) -> Thermostat {
        self.name = name.to_string();
        self
    }

    fn at_ms(&self, minute: u32) -> i64 {
        self.epoch_ms + i64::from(minute) * 60_000
    }

    /// cAdvisor's series for the samples: one scrape at the end of each minute.
    fn push(&mut self, samples: &[Sample], current: &Sizes) {
        let labels = [
            ("container", CONTAINER),
            ("id", "/kubepods/pod-subject/app"),
            ("image", "example.com/app:1.0"),
            ("instance", "10.0.0.1:10250"),
            ("job", "kubelet"),
            ("namespace", NAMESPACE),
            ("node", "node-1"),
            ("pod", POD),
        ];
        let (mut cpu, mut memory, mut periods, mut throttled) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for sample in samples {
            let at = self.at_ms(sample.minute + 1) - 1_000;
            self.cpu_seconds += sample.cpu_cores * 60.0;
            cpu.push((at, self.cpu_seconds));
            memory.push((at, sample.memory_bytes));
            if let Some(limit) = current.cpu_limit_cores {
                // The simulator caps usage at the limit when demand is above it: that minute every period ran
                // out of quota.
                self.periods += 60.0 * PERIODS_PER_SECOND;
                if sample.cpu_cores >= limit - 1e-9 {
                    self.throttled_periods += 60.0 * PERIODS_PER_SECOND;
                }
                periods.push((at, self.periods));
                throttled.push((at, self.throttled_periods));
            }
        }
        let mut series = vec![
            Series::new("container_cpu_usage_seconds_total", &labels).with_samples(cpu),
            Series::new("container_memory_working_set_bytes", &labels).with_samples(memory),
        ];
        if !periods.is_empty() {
            series.push(
                Series::new("container_cpu_cfs_periods_total", &labels).with_samples(periods),
            );
            series.push(
                Series::new("container_cpu_cfs_throttled_periods_total", &labels)
                    .with_samples(throttled),
            );
        }
        self.cluster.push(series);
    }

    /// The pod's status after the kubelet applied its spec, with the last OOM kill in `lastState`.
    fn actuate(&self) {
        let mut pod = self.cluster.api.kubelet_actuate(NAMESPACE, POD);
        if let Some(kill_ms) = self.last_kill_ms {
            pod["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {
                "reason": "OOMKilled", "exitCode": 137, "finishedAt": rfc3339(kill_ms)
            }});
            pod["status"]["containerStatuses"][0]["restartCount"] = json!(1);
            self.cluster.api.put(pod);
        }
    }
}

impl Policy for Thermostat {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(
        &mut self,
        minute: u32,
        samples: &[Sample],
        current: &Sizes,
        oom_kills: &[OomKill],
    ) -> Option<Sizes> {
        self.push(samples, current);
        if let Some(kill) = oom_kills.last() {
            self.last_kill_ms = Some(self.at_ms(kill.minute + 1));
            self.actuate();
        }
        let now = rfc3339(self.at_ms(minute));
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("KUBE_THERMOSTAT_FAKE_NOW", now.as_str()));
        let output = self.cluster.run_cli(&["resize-pods"], &env);
        assert_eq!(
            output.code, 0,
            "kube-thermostat resize-pods at {now}:\n{}",
            output.stderr
        );
        self.actuate();
        let pod = self
            .cluster
            .api
            .get("Pod", Some(NAMESPACE), POD)
            .expect("the subject pod");
        let sizes = sizes_of(&pod["spec"]["containers"][0]["resources"]);
        (sizes != *current).then_some(sizes)
    }
}

fn resources(sizes: &Sizes) -> Value {
    let cpu = |cores: f64| format!("{}m", (cores * 1000.0).round() as i64);
    let memory = |bytes: f64| format!("{}", bytes.round() as i64);
    let requests =
        json!({"cpu": cpu(sizes.cpu_request_cores), "memory": memory(sizes.memory_request_bytes)});
    let mut limits = json!({});
    if let Some(limit) = sizes.cpu_limit_cores {
        limits["cpu"] = json!(cpu(limit));
    }
    if let Some(limit) = sizes.memory_limit_bytes {
        limits["memory"] = json!(memory(limit));
    }
    if limits.as_object().is_some_and(|l| l.is_empty()) {
        return json!({"requests": requests});
    }
    json!({"requests": requests, "limits": limits})
}

fn sizes_of(resources: &Value) -> Sizes {
    let cores = |v: &Value| v.as_str().map(|t| parse_cpu_millis(t) as f64 / 1000.0);
    let bytes = |v: &Value| v.as_str().and_then(memory_bytes);
    Sizes {
        cpu_request_cores: cores(&resources["requests"]["cpu"]).unwrap_or(0.0),
        cpu_limit_cores: cores(&resources["limits"]["cpu"]),
        memory_request_bytes: bytes(&resources["requests"]["memory"]).unwrap_or(0.0),
        memory_limit_bytes: bytes(&resources["limits"]["memory"]),
    }
}

/// The memory quantities kube-thermostat writes (and the plain bytes we start with).
fn memory_bytes(text: &str) -> Option<f64> {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ];
    for (suffix, factor) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor as f64);
        }
    }
    text.parse().ok()
}

fn rfc3339(ms: i64) -> String {
    crate::apiserver::rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_go_to_resources_and_back() {
        let sizes = Sizes {
            cpu_request_cores: 0.25,
            cpu_limit_cores: Some(0.5),
            memory_request_bytes: 256.0 * 1048576.0,
            memory_limit_bytes: None,
        };
        assert_eq!(sizes_of(&resources(&sizes)), sizes);
        assert_eq!(memory_bytes("1229Mi"), Some(1229.0 * 1048576.0));
        assert_eq!(memory_bytes("2Gi"), Some(2.0 * 1073741824.0));
    }
}
