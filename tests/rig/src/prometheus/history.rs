//! Realistic, deterministic history to push: node-exporter and cAdvisor series shaped by load profiles.
//!
//! Counters are integrated from the profile, so `rate(counter[w])` at the end of a timeline equals the profile's
//! average over `w` (exactly, for a constant profile over a full window).

use super::Series;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Sample times: every `step` over `length`, ending at `end_ms` (unix milliseconds; the last sample is at `end_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub end_ms: i64,
    pub step: Duration,
    pub length: Duration,
}

impl Timeline {
    /// The last `length` until now (whole second), one sample every 15 s: a typical scrape interval.
    pub fn ending_now(length: Duration) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Self {
            end_ms: now_ms - now_ms % 1000,
            step: Duration::from_secs(15),
            length,
        }
    }

    /// The default scenario history: 40 minutes ending now.
    pub fn last_40_minutes() -> Self {
        Self::ending_now(Duration::from_secs(40 * 60))
    }

    /// `(timestamp_ms, age)` of every sample, oldest first; age = time before the end.
    pub fn points(&self) -> Vec<(i64, Duration)> {
        let step_ms = self.step.as_millis().max(1) as i64;
        let count = self.length.as_millis() as i64 / step_ms;
        (0..=count)
            .rev()
            .map(|k| {
                (
                    self.end_ms - k * step_ms,
                    Duration::from_millis((k * step_ms) as u64),
                )
            })
            .collect()
    }

    /// End time in unix seconds (what a query's `time` takes).
    pub fn end_seconds(&self) -> f64 {
        self.end_ms as f64 / 1000.0
    }
}

/// Node CPU loads (busy fractions) that scenarios use against the default thresholds (taint above 80 %, untaint
/// below 70 %), shared by the stand-in and the real-server suites so both judge the same histories.
pub mod node_load {
    use super::Profile;
    use std::time::Duration;

    pub const HOT: Profile = Profile::Constant(0.95);
    pub const COOL: Profile = Profile::Constant(0.20);
    /// Between the untaint threshold (70 %) and the threshold (80 %).
    pub const IN_BAND: Profile = Profile::Constant(0.75);

    /// Hot until `minutes` ago, cool since.
    pub fn cooled_for(minutes: u64) -> Profile {
        Profile::Step {
            before: 0.95,
            after: 0.20,
            age: Duration::from_secs(minutes * 60),
        }
    }
}

/// A load as a function of time, in the unit of the signal (a busy fraction, cores, bytes).
#[derive(Clone)]
pub enum Profile {
    Constant(f64),
    /// Linear from `from` at the start of the timeline to `to` at its end.
    Ramp {
        from: f64,
        to: f64,
    },
    /// `high` during the latest `period / 2`, `low` during the half-period before, and so on back in time.
    Flapping {
        low: f64,
        high: f64,
        period: Duration,
    },
    /// `before` until `age` before the end of the timeline, `after` since.
    Step {
        before: f64,
        after: f64,
        age: Duration,
    },
    /// Any function of the age (time before the end of the timeline).
    Custom(Arc<dyn Fn(Duration) -> f64 + Send + Sync>),
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Constant(v) => write!(f, "Constant({v})"),
            Self::Ramp { from, to } => write!(f, "Ramp({from} -> {to})"),
            Self::Flapping { low, high, period } => {
                write!(f, "Flapping({low}/{high} every {period:?})")
            }
            Self::Step { before, after, age } => {
                write!(f, "Step({before} -> {after}, {age:?} ago)")
            }
            Self::Custom(_) => write!(f, "Custom"),
        }
    }
}

impl Profile {
    /// The value `age` before the end of a timeline of `length`.
    pub fn value(&self, age: Duration, length: Duration) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Ramp { from, to } => {
                let progress = if length.is_zero() {
                    1.0
                } else {
                    1.0 - (age.as_secs_f64() / length.as_secs_f64()).clamp(0.0, 1.0)
                };
                from + (to - from) * progress
            }
            Self::Flapping { low, high, period } => {
                let half = (period.as_secs_f64() / 2.0).max(f64::MIN_POSITIVE);
                if ((age.as_secs_f64() / half).floor() as u64).is_multiple_of(2) {
                    *high
                } else {
                    *low
                }
            }
            Self::Step {
                before,
                after,
                age: changed,
            } => {
                if age < *changed {
                    *after
                } else {
                    *before
                }
            }
            Self::Custom(f) => f(age),
        }
    }

    /// Samples of a gauge following the profile.
    pub fn gauge(&self, timeline: &Timeline) -> Vec<(i64, f64)> {
        timeline
            .points()
            .into_iter()
            .map(|(ms, age)| (ms, self.value(age, timeline.length)))
            .collect()
    }

    /// Samples of a counter growing by the profile per second, starting at `start`: its rate is the profile.
    pub fn counter(&self, timeline: &Timeline, start: f64) -> Vec<(i64, f64)> {
        let step = timeline.step.as_secs_f64();
        let mut total = start;
        let mut samples = Vec::new();
        for (i, (ms, age)) in timeline.points().into_iter().enumerate() {
            if i > 0 {
                total += self.value(age, timeline.length).max(0.0) * step;
            }
            samples.push((ms, total));
        }
        samples
    }
}

/// One node as node-exporter reports it.
#[derive(Debug, Clone)]
pub struct NodeHistory {
    /// The `node` label (kube-prometheus relabels the Kubernetes node name onto node-exporter series).
    pub node: String,
    /// node-exporter's `instance`: `ip:9100`, not the node name.
    pub instance: String,
    pub cpus: u32,
    /// Busy fraction of every CPU (0..=1): `1 - rate(idle)`.
    pub cpu_busy: Profile,
    pub memory_total_bytes: f64,
    /// Used fraction of memory (0..=1): `1 - MemAvailable / MemTotal`.
    pub memory_used: Profile,
}

impl NodeHistory {
    /// A 4-CPU, 16 GiB node, half its memory used, with a stable made-up IP.
    pub fn new(node: &str, cpu_busy: Profile) -> Self {
        let hash = fnv1a(node);
        Self {
            node: node.to_owned(),
            instance: format!(
                "10.{}.{}.{}:9100",
                hash >> 16 & 0xff,
                hash >> 8 & 0xff,
                (hash & 0xff).max(1)
            ),
            cpus: 4,
            cpu_busy,
            memory_total_bytes: 16.0 * 1024.0 * 1024.0 * 1024.0,
            memory_used: Profile::Constant(0.5),
        }
    }

    pub fn with_memory_used(mut self, used: Profile) -> Self {
        self.memory_used = used;
        self
    }

    /// `node_cpu_seconds_total{cpu,mode}` per CPU (modes idle, user, system, iowait, steal) and the two memory gauges.
    pub fn series(&self, timeline: &Timeline) -> Vec<Series> {
        let labels = [
            ("instance", self.instance.as_str()),
            ("job", "node-exporter"),
            ("node", self.node.as_str()),
        ];
        // Custom profiles see only the age; capture the timeline length for the wrapped profile.
        let length = timeline.length;
        let idle = {
            let busy = self.cpu_busy.clone();
            Profile::Custom(Arc::new(move |age| {
                1.0 - busy.value(age, length).clamp(0.0, 1.0)
            }))
        };
        let share = |fraction: f64| {
            let busy = self.cpu_busy.clone();
            Profile::Custom(Arc::new(move |age| {
                busy.value(age, length).clamp(0.0, 1.0) * fraction
            }))
        };
        let modes = [
            ("idle", idle, 50_000.0),
            ("user", share(0.7), 20_000.0),
            ("system", share(0.3), 8_000.0),
            ("iowait", Profile::Constant(0.0), 300.0),
            ("steal", Profile::Constant(0.0), 0.0),
        ];
        let mut series = Vec::new();
        for cpu in 0..self.cpus {
            let cpu = cpu.to_string();
            for (mode, profile, start) in &modes {
                let mut all = labels.to_vec();
                all.extend([("cpu", cpu.as_str()), ("mode", *mode)]);
                series.push(
                    Series::new("node_cpu_seconds_total", &all)
                        .with_samples(profile.counter(timeline, *start)),
                );
            }
        }
        let total = Profile::Constant(self.memory_total_bytes);
        let used = self.memory_used.clone();
        let total_bytes = self.memory_total_bytes;
        let available = Profile::Custom(Arc::new(move |age| {
            total_bytes * (1.0 - used.value(age, length).clamp(0.0, 1.0))
        }));
        series.push(
            Series::new("node_memory_MemTotal_bytes", &labels).with_samples(total.gauge(timeline)),
        );
        series.push(
            Series::new("node_memory_MemAvailable_bytes", &labels)
                .with_samples(available.gauge(timeline)),
        );
        series
    }
}

/// One container's load.
#[derive(Debug, Clone)]
pub struct ContainerLoad {
    pub name: String,
    pub cpu_cores: Profile,
    pub memory_working_set_bytes: Profile,
    /// With a CPU limit, the fraction of CFS periods throttled: cAdvisor then reports
    /// `container_cpu_cfs_periods_total` (10 periods a second, the default 100ms period) and
    /// `container_cpu_cfs_throttled_periods_total`. `None`: no limit, no such series (as cAdvisor).
    pub throttled: Option<Profile>,
}

impl ContainerLoad {
    pub fn new(name: &str, cpu_cores: Profile, memory_working_set_bytes: Profile) -> Self {
        Self {
            name: name.to_owned(),
            cpu_cores,
            memory_working_set_bytes,
            throttled: None,
        }
    }

    /// The container runs under a CPU limit that throttles `fraction` of its periods.
    pub fn throttled(mut self, fraction: Profile) -> Self {
        self.throttled = Some(fraction);
        self
    }
}

/// One pod as the kubelet's cAdvisor endpoint reports it, including the series a query must not count: the pod
/// cgroup (`container=""`, the sum of all) and the pause container (`container="POD"`).
#[derive(Debug, Clone)]
pub struct PodHistory {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub containers: Vec<ContainerLoad>,
    /// How many Prometheus jobs scrape the same kubelet (2+ gives duplicate series differing only in `job` and
    /// `service`, as with two overlapping ServiceMonitors).
    pub scrapers: u32,
}

impl PodHistory {
    pub fn new(namespace: &str, pod: &str, node: &str, containers: Vec<ContainerLoad>) -> Self {
        Self {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            node: node.to_owned(),
            containers,
            scrapers: 1,
        }
    }

    pub fn scraped_by(mut self, scrapers: u32) -> Self {
        self.scrapers = scrapers.max(1);
        self
    }

    /// `container_cpu_usage_seconds_total` and `container_memory_working_set_bytes` for every container, the pause
    /// container and the pod cgroup, once per scraper.
    pub fn series(&self, timeline: &Timeline) -> Vec<Series> {
        let length = timeline.length;
        let pod_uid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            fnv1a(&self.pod),
            fnv1a(&self.namespace)
        );
        let pause = ContainerLoad::new(
            "POD",
            Profile::Constant(0.0001),
            Profile::Constant(400.0 * 1024.0),
        );
        let throttling: Vec<(String, Profile)> = self
            .containers
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.throttled.clone()?)))
            .collect();
        let mut containers: Vec<(String, String, Profile, Profile)> = self
            .containers
            .iter()
            .chain([&pause])
            .map(|c| {
                let image = if c.name == "POD" {
                    "registry.k8s.io/pause:3.9"
                } else {
                    "example.com/app:1.0"
                };
                (
                    c.name.clone(),
                    image.to_owned(),
                    c.cpu_cores.clone(),
                    c.memory_working_set_bytes.clone(),
                )
            })
            .collect();
        let all: Vec<ContainerLoad> = self.containers.iter().cloned().chain([pause]).collect();
        let sum = |pick: fn(&ContainerLoad) -> &Profile| {
            let profiles: Vec<Profile> = all.iter().map(|c| pick(c).clone()).collect();
            Profile::Custom(Arc::new(move |age| {
                profiles.iter().map(|p| p.value(age, length)).sum()
            }))
        };
        containers.push((
            String::new(),
            String::new(),
            sum(|c| &c.cpu_cores),
            sum(|c| &c.memory_working_set_bytes),
        ));

        let node_ip = format!(
            "10.0.{}.{}",
            fnv1a(&self.node) >> 8 & 0xff,
            (fnv1a(&self.node) & 0xff).max(1)
        );
        let instance = format!("{node_ip}:10250");
        let mut series = Vec::new();
        for scraper in 0..self.scrapers {
            let job = if scraper == 0 {
                "kubelet".to_owned()
            } else {
                format!("kube-prometheus-stack-kubelet-{scraper}")
            };
            // Two scrapers never scrape at the same instant.
            let offset_ms = i64::from(scraper) * 3_000;
            for (container, image, cpu, memory) in &containers {
                let id = if container.is_empty() {
                    format!("/kubepods/burstable/pod{pod_uid}")
                } else {
                    format!("/kubepods/burstable/pod{pod_uid}/{:016x}", fnv1a(container))
                };
                let labels = [
                    ("container", container.as_str()),
                    ("endpoint", "https-metrics"),
                    ("id", id.as_str()),
                    ("image", image.as_str()),
                    ("instance", instance.as_str()),
                    ("job", job.as_str()),
                    ("metrics_path", "/metrics/cadvisor"),
                    ("namespace", self.namespace.as_str()),
                    ("node", self.node.as_str()),
                    ("pod", self.pod.as_str()),
                    ("service", job.as_str()),
                ];
                let shift = |samples: Vec<(i64, f64)>| {
                    samples
                        .into_iter()
                        .map(|(ms, v)| (ms - offset_ms, v))
                        .collect()
                };
                series.push(
                    Series::new("container_cpu_usage_seconds_total", &labels)
                        .with_samples(shift(cpu.counter(timeline, 1_000.0))),
                );
                series.push(
                    Series::new("container_memory_working_set_bytes", &labels)
                        .with_samples(shift(memory.gauge(timeline))),
                );
                if let Some((_, fraction)) = throttling.iter().find(|(name, _)| name == container) {
                    const PERIODS_PER_SECOND: f64 = 10.0;
                    let throttled = fraction.clone();
                    let throttled_per_second = Profile::Custom(Arc::new(move |age| {
                        throttled.value(age, length).clamp(0.0, 1.0) * PERIODS_PER_SECOND
                    }));
                    series.push(
                        Series::new("container_cpu_cfs_periods_total", &labels).with_samples(
                            shift(Profile::Constant(PERIODS_PER_SECOND).counter(timeline, 50.0)),
                        ),
                    );
                    series.push(
                        Series::new("container_cpu_cfs_throttled_periods_total", &labels)
                            .with_samples(shift(throttled_per_second.counter(timeline, 5.0))),
                    );
                }
            }
        }
        series
    }
}

/// Stable small hash for made-up IPs and ids (FNV-1a, 32 bit).
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Timeline {
        Timeline {
            end_ms: 1_700_000_000_000,
            step: Duration::from_secs(15),
            length: Duration::from_secs(600),
        }
    }

    #[test]
    fn counter_grows_by_the_profile_per_second() {
        let samples = Profile::Constant(0.25).counter(&timeline(), 10.0);
        assert_eq!(samples.len(), 41);
        assert_eq!(samples[0], (1_700_000_000_000 - 600_000, 10.0));
        let (last_ms, last) = samples[40];
        assert_eq!(last_ms, 1_700_000_000_000);
        assert!((last - (10.0 + 0.25 * 600.0)).abs() < 1e-9);
    }

    #[test]
    fn flapping_is_high_in_the_latest_half_period() {
        let p = Profile::Flapping {
            low: 0.1,
            high: 0.9,
            period: Duration::from_secs(120),
        };
        let length = Duration::from_secs(600);
        assert_eq!(p.value(Duration::from_secs(0), length), 0.9);
        assert_eq!(p.value(Duration::from_secs(59), length), 0.9);
        assert_eq!(p.value(Duration::from_secs(60), length), 0.1);
        assert_eq!(p.value(Duration::from_secs(120), length), 0.9);
    }

    #[test]
    fn ramp_reaches_its_target_at_the_end() {
        let p = Profile::Ramp { from: 0.0, to: 1.0 };
        let length = Duration::from_secs(100);
        assert_eq!(p.value(Duration::ZERO, length), 1.0);
        assert_eq!(p.value(length, length), 0.0);
    }

    #[test]
    fn node_cpu_modes_add_up_to_one_core_per_cpu() {
        let node = NodeHistory::new("node-a", Profile::Constant(0.6));
        let series = node.series(&timeline());
        let cpu0: Vec<&Series> = series
            .iter()
            .filter(|s| {
                s.label("__name__") == Some("node_cpu_seconds_total") && s.label("cpu") == Some("0")
            })
            .collect();
        let growth: f64 = cpu0.iter().map(|s| s.samples[40].1 - s.samples[0].1).sum();
        assert!(
            (growth - 600.0).abs() < 1e-6,
            "one CPU accrues one second per second, got {growth}"
        );
        assert_eq!(series.len(), 4 * 5 + 2);
    }

    #[test]
    fn pod_reports_pause_and_pod_cgroup_per_scraper() {
        let pod = PodHistory::new(
            "shop",
            "web-0",
            "node-a",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.5),
                Profile::Constant(1e8),
            )],
        )
        .scraped_by(2);
        let series = pod.series(&timeline());
        let containers: Vec<&str> = series.iter().filter_map(|s| s.label("container")).collect();
        assert_eq!(
            series.len(),
            2 /* scrapers */ * 3 /* app, POD, "" */ * 2 /* metrics */
        );
        assert!(
            containers.contains(&"") && containers.contains(&"POD") && containers.contains(&"app")
        );
    }
}
