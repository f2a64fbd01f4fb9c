//! VPA's recommender and in-place updater as documented upstream, rewritten for comparison only (no code taken).
//! Paths are under kubernetes/autoscaler `vertical-pod-autoscaler/pkg/` (read at 55c37cd5eb, 2026-08-22).
//!
//! Recommender, with its default flags (`recommender/config/config.go`, `recommender/model/aggregations_config.go`):
//! - CPU: every sample goes into a decaying histogram with weight 0.1 (`minSampleWeight`; VPA ≥ 1.4 no longer
//!   weighs by the request: `model/aggregate_container_state.go` `addCPUSample`).
//! - Memory: one peak per 24 h interval per container, weight 1, stamped with the interval's end; a higher sample
//!   in the same interval replaces the peak (`model/container.go` `addMemorySample`). The 8 intervals of
//!   `memory-aggregation-interval-count` only expire an aggregate that had no sample for 8 days; old peaks are not
//!   dropped, they decay (`isExpired`).
//! - Histograms: exponential buckets, first 0.01 core / 1e7 bytes, each 5 % wider, up to 1000 cores / 1e12 bytes
//!   (`util/histogram_options.go`); a percentile is the end of the first bucket whose running weight reaches it
//!   (`util/histogram.go`); weights decay with a 24 h half-life, as 2^(t / half-life)
//!   (`util/decaying_histogram.go`).
//! - Target = max(floor, p90 × 1.15); bounds: p50 and p95 × 1.15, scaled by the confidence multipliers, then the
//!   floor. Floors are 25m and 250Mi per pod, split evenly over its containers (`logic/recommender.go`,
//!   `logic/estimator.go`). Confidence = min(history in days, CPU samples / 1440) (`getConfidence`).
//! - OOM kill: memory used = max(the request at the kill, this interval's usage peak), needed =
//!   max(used + 100Mi, used × 1.2), added as an OOM memory sample (`model/container.go` `RecordOOM`; the request is
//!   what `input/oom/observer.go` reports for an `OOMKilled` container).
//!
//! Updater, mode `InPlaceOrRecreate`, default flags (`updater/config/config.go`,
//! `updater/priority/update_priority_calculator.go` `AddPod`, `priority_processor.go` `GetUpdatePriority`): a
//! pod is resized when a request is outside [lower bound, upper bound]; or when the pod is at least 12 h old and
//! the summed relative change (|request − target| / request, over CPU and memory) is at least 0.1; or after a
//! "quick OOM" (the container's last termination was an OOM kill less than 10 min after it started) if anything
//! changes. Requests become the target; limits keep their ratio to the request (`controlledValues:
//! RequestsAndLimits`, `utils/vpa/limit_and_request_scaling.go` `GetProportionalLimit`).
//!
//! Simplifications, on purpose: the recommender and updater run every tick of the simulation (2 min) instead of
//! every minute, on the tick's one-minute samples; a resize is always accepted and done at once (no Deferred,
//! Infeasible or Error, so no fall-back to eviction; the kubelet's refusal to set a memory limit below current
//! usage is not modelled); no LimitRange, no `minAllowed`/`maxAllowed`, no eviction rate limit or replica budget;
//! the pod has one container unless told otherwise.

use super::simulate::{OomKill, Policy, Sample};
use super::{MIB, Sizes};

/// Weight of every CPU sample (`minSampleWeight`).
pub const CPU_SAMPLE_WEIGHT: f64 = 0.1;
/// Weight of every memory peak.
pub const MEMORY_PEAK_WEIGHT: f64 = 1.0;
/// Weights below this make a bucket empty: 0.001 × `minSampleWeight`.
pub const EPSILON: f64 = 0.001 * CPU_SAMPLE_WEIGHT;
/// Both histograms' half-life.
pub const HALF_LIFE_MINUTES: f64 = 24.0 * 60.0;
/// One memory peak per interval.
pub const MEMORY_INTERVAL_MINUTES: u32 = 24 * 60;
pub const MARGIN_FRACTION: f64 = 0.15;
pub const TARGET_PERCENTILE: f64 = 0.9;
pub const LOWER_BOUND_PERCENTILE: f64 = 0.5;
pub const UPPER_BOUND_PERCENTILE: f64 = 0.95;
pub const POD_MIN_CPU_CORES: f64 = 0.025;
pub const POD_MIN_MEMORY_BYTES: f64 = 250.0 * MIB;
pub const OOM_BUMP_RATIO: f64 = 1.2;
pub const OOM_MIN_BUMP_BYTES: f64 = 100.0 * MIB;
/// The confidence unit (`--confidence-interval-cpu`/`-memory`), and the samples a day at one a minute.
const CONFIDENCE_INTERVAL_MINUTES: f64 = 24.0 * 60.0;
/// `--in-recommendation-bounds-eviction-lifetime-threshold`.
pub const POD_LIFETIME_UPDATE_THRESHOLD_MINUTES: u32 = 12 * 60;
/// `--pod-update-threshold`.
pub const MIN_CHANGE_PRIORITY: f64 = 0.1;
/// `--evict-after-oom-threshold`: an OOM kill sooner than this after the start is a "quick OOM".
pub const QUICK_OOM_MINUTES: u32 = 10;

/// Exponential bucket scheme: bucket 0 is [0, first), bucket n ≥ 1 starts at first × (ratio^n − 1) / (ratio − 1).
#[derive(Debug, Clone, PartialEq)]
pub struct BucketScheme {
    first_bucket: f64,
    ratio: f64,
    buckets: usize,
}

impl BucketScheme {
    pub fn exponential(max_value: f64, first_bucket: f64, ratio: f64) -> BucketScheme {
        let buckets = (max_value * (ratio - 1.0) / first_bucket + 1.0)
            .log(ratio)
            .ceil() as usize
            + 1;
        BucketScheme {
            first_bucket,
            ratio,
            buckets,
        }
    }

    /// CPU in cores.
    pub fn cpu() -> BucketScheme {
        BucketScheme::exponential(1000.0, 0.01, 1.05)
    }

    /// Memory in bytes.
    pub fn memory() -> BucketScheme {
        BucketScheme::exponential(1e12, 1e7, 1.05)
    }

    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// The bucket of `value`; values past the range go to the last bucket.
    pub fn bucket(&self, value: f64) -> usize {
        if value < self.first_bucket {
            return 0;
        }
        let bucket =
            (value * (self.ratio - 1.0) / self.first_bucket + 1.0).log(self.ratio) as usize;
        bucket.min(self.buckets - 1)
    }

    pub fn bucket_start(&self, bucket: usize) -> f64 {
        if bucket == 0 {
            return 0.0;
        }
        self.first_bucket * (self.ratio.powi(bucket as i32) - 1.0) / (self.ratio - 1.0)
    }
}

/// A histogram whose samples weigh 2^(minute / half-life): each half-life makes older samples count half as much
/// as new ones. (Upstream moves its reference time forward past 100 half-lives to avoid overflow; 2^x for the
/// days simulated here is far from f64's range, so the reference stays at minute 0.)
#[derive(Debug, Clone)]
pub struct DecayingHistogram {
    scheme: BucketScheme,
    half_life_minutes: f64,
    weights: Vec<f64>,
    total: f64,
    /// First and last non-empty buckets (min = last bucket, max = 0 when empty), as upstream keeps them.
    min_bucket: usize,
    max_bucket: usize,
}

impl DecayingHistogram {
    pub fn new(scheme: BucketScheme, half_life_minutes: f64) -> DecayingHistogram {
        let buckets = scheme.buckets();
        DecayingHistogram {
            scheme,
            half_life_minutes,
            weights: vec![0.0; buckets],
            total: 0.0,
            min_bucket: buckets - 1,
            max_bucket: 0,
        }
    }

    fn decay(&self, minute: f64) -> f64 {
        (minute / self.half_life_minutes).exp2()
    }

    pub fn add(&mut self, value: f64, weight: f64, minute: f64) {
        let weight = weight * self.decay(minute);
        let bucket = self.scheme.bucket(value);
        self.weights[bucket] += weight;
        self.total += weight;
        if self.weights[bucket] >= EPSILON {
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
        }
    }

    /// Takes back a sample added at the same `minute` (a memory peak being replaced). Weights never go negative:
    /// what falls under epsilon becomes 0.
    pub fn subtract(&mut self, value: f64, weight: f64, minute: f64) {
        let weight = weight * self.decay(minute);
        let bucket = self.scheme.bucket(value);
        let less = |w: f64| {
            if w - weight < EPSILON {
                0.0
            } else {
                w - weight
            }
        };
        self.total = less(self.total);
        self.weights[bucket] = less(self.weights[bucket]);
        let last = self.weights.len() - 1;
        while self.weights[self.min_bucket] < EPSILON && self.min_bucket < last {
            self.min_bucket += 1;
        }
        while self.weights[self.max_bucket] < EPSILON && self.max_bucket > 0 {
            self.max_bucket -= 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.weights[self.min_bucket] < EPSILON
    }

    /// Total weight, decayed.
    pub fn total_weight(&self) -> f64 {
        self.total
    }

    /// The end of the first bucket whose running weight reaches `p` × total (the start for the last bucket,
    /// which has no end); 0 when empty. So every estimate is rounded up to a bucket edge.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let threshold = p * self.total;
        let mut running = 0.0;
        let mut bucket = self.min_bucket;
        while bucket < self.max_bucket {
            running += self.weights[bucket];
            if running >= threshold {
                break;
            }
            bucket += 1;
        }
        if bucket < self.weights.len() - 1 {
            self.scheme.bucket_start(bucket + 1)
        } else {
            self.scheme.bucket_start(bucket)
        }
    }
}

/// CPU in cores and memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// What the recommender publishes for a container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    pub target: Resources,
    pub lower_bound: Resources,
    pub upper_bound: Resources,
}

/// The recommender's state for one container (its aggregate and its memory interval).
#[derive(Debug, Clone)]
pub struct Recommender {
    cpu: DecayingHistogram,
    memory: DecayingHistogram,
    first_cpu_sample: Option<u32>,
    last_cpu_sample: Option<u32>,
    cpu_samples: u64,
    /// This interval's peaks: from usage, and from an OOM kill.
    memory_peak: f64,
    oom_peak: f64,
    /// End of the current memory interval (exclusive); `None` before the first memory sample.
    window_end: Option<u32>,
    last_memory_sample: Option<u32>,
    /// Containers in the pod, over which the pod floors are split.
    containers_in_pod: u32,
}

impl Default for Recommender {
    fn default() -> Recommender {
        Recommender::new(1)
    }
}

impl Recommender {
    pub fn new(containers_in_pod: u32) -> Recommender {
        Recommender {
            cpu: DecayingHistogram::new(BucketScheme::cpu(), HALF_LIFE_MINUTES),
            memory: DecayingHistogram::new(BucketScheme::memory(), HALF_LIFE_MINUTES),
            first_cpu_sample: None,
            last_cpu_sample: None,
            cpu_samples: 0,
            memory_peak: 0.0,
            oom_peak: 0.0,
            window_end: None,
            last_memory_sample: None,
            containers_in_pod: containers_in_pod.max(1),
        }
    }

    pub fn cpu_histogram(&self) -> &DecayingHistogram {
        &self.cpu
    }

    pub fn memory_histogram(&self) -> &DecayingHistogram {
        &self.memory
    }

    /// A CPU sample; duplicate or out-of-order minutes are dropped, as upstream does.
    pub fn add_cpu_sample(&mut self, minute: u32, cores: f64) {
        if cores < 0.0 || self.last_cpu_sample.is_some_and(|last| minute <= last) {
            return;
        }
        self.cpu.add(cores, CPU_SAMPLE_WEIGHT, f64::from(minute));
        self.first_cpu_sample.get_or_insert(minute);
        self.last_cpu_sample = Some(minute);
        self.cpu_samples += 1;
    }

    pub fn add_memory_sample(&mut self, minute: u32, bytes: f64) {
        self.add_memory(minute, bytes, false);
    }

    /// An OOM kill of a container whose memory request was `request_bytes`: an artificial memory sample of what
    /// it would have needed. An OOM older than one interval before the last memory sample is dropped.
    pub fn record_oom(&mut self, minute: u32, request_bytes: f64) {
        if self
            .last_memory_sample
            .is_some_and(|last| minute + MEMORY_INTERVAL_MINUTES < last)
        {
            return;
        }
        // The OOM peak is left out on purpose upstream, so repeated kills do not compound.
        let used = request_bytes.max(self.memory_peak);
        let needed = (used + OOM_MIN_BUMP_BYTES).max(used * OOM_BUMP_RATIO);
        self.add_memory(minute, needed, true);
    }

    fn add_memory(&mut self, minute: u32, bytes: f64, is_oom: bool) {
        if bytes < 0.0 || (!is_oom && self.last_memory_sample.is_some_and(|last| minute < last)) {
            return;
        }
        self.last_memory_sample = Some(minute);
        let mut window_end = self.window_end.unwrap_or(minute);
        let mut add_peak = false;
        if minute < window_end {
            let old = self.memory_peak.max(self.oom_peak);
            if old != 0.0 && bytes > old {
                self.memory
                    .subtract(old, MEMORY_PEAK_WEIGHT, f64::from(window_end));
                add_peak = true;
            }
        } else {
            // Forward to the interval holding `minute`, in whole intervals.
            let behind = minute - window_end;
            window_end += behind / MEMORY_INTERVAL_MINUTES * MEMORY_INTERVAL_MINUTES
                + MEMORY_INTERVAL_MINUTES;
            self.memory_peak = 0.0;
            self.oom_peak = 0.0;
            add_peak = true;
        }
        self.window_end = Some(window_end);
        if add_peak {
            self.memory
                .add(bytes, MEMORY_PEAK_WEIGHT, f64::from(window_end));
            if is_oom {
                self.oom_peak = bytes;
            } else {
                self.memory_peak = bytes;
            }
        }
    }

    /// How much history backs the estimate, in days: min(time between the first and last CPU samples, CPU samples
    /// / 1440). Memory bounds use the same figure.
    pub fn confidence_days(&self) -> f64 {
        let (Some(first), Some(last)) = (self.first_cpu_sample, self.last_cpu_sample) else {
            return 0.0;
        };
        let lifespan = f64::from(last - first) / CONFIDENCE_INTERVAL_MINUTES;
        let samples = self.cpu_samples as f64 / CONFIDENCE_INTERVAL_MINUTES;
        lifespan.min(samples)
    }

    /// The recommendation, or `None` before the first CPU sample.
    pub fn recommend(&self) -> Option<Recommendation> {
        self.first_cpu_sample?;
        let share = 1.0 / f64::from(self.containers_in_pod);
        let floor = Resources {
            cpu_cores: POD_MIN_CPU_CORES * share,
            memory_bytes: POD_MIN_MEMORY_BYTES * share,
        };
        let confidence = self.confidence_days();
        // (1 + multiplier / confidence)^exponent: ×0 / ×∞ with no history, converging to 1 (estimator.go).
        let lower_scale = (1.0 + 0.001 / confidence).powf(-2.0);
        let upper_scale = 1.0 + 1.0 / confidence;
        let estimate = |p: f64, scale: f64| Resources {
            cpu_cores: whole_millicores(
                (self.cpu.percentile(p) * (1.0 + MARGIN_FRACTION) * scale).max(floor.cpu_cores),
            ),
            memory_bytes: (self.memory.percentile(p) * (1.0 + MARGIN_FRACTION) * scale)
                .max(floor.memory_bytes)
                .min(i64::MAX as f64)
                .floor(),
        };
        Some(Recommendation {
            target: estimate(TARGET_PERCENTILE, 1.0),
            lower_bound: estimate(LOWER_BOUND_PERCENTILE, lower_scale),
            upper_bound: estimate(UPPER_BOUND_PERCENTILE, upper_scale),
        })
    }
}

/// Upstream holds CPU as whole millicores (an int64), truncating.
fn whole_millicores(cores: f64) -> f64 {
    ((cores * 1000.0).min(i64::MAX as f64)).floor() / 1000.0
}

/// The updater's rule for one pod of one container: whether to apply `recommendation` to `current`.
pub fn should_update(
    recommendation: &Recommendation,
    current: &Sizes,
    pod_age_minutes: u32,
    quick_oom: bool,
) -> bool {
    let Recommendation {
        target,
        lower_bound: lower,
        upper_bound: upper,
    } = recommendation;
    let cpu = current.cpu_request_cores;
    let memory = current.memory_request_bytes;
    let outside = cpu < lower.cpu_cores
        || cpu > upper.cpu_cores
        || memory < lower.memory_bytes
        || memory > upper.memory_bytes;
    // Upstream sums over resources in millicores / milli-bytes, and treats a request under 1m as 1m.
    let relative = |request: f64, recommended: f64, milli: f64| {
        let request = (request * milli).max(1.0);
        (request - recommended * milli).abs() / request
    };
    let diff =
        relative(cpu, target.cpu_cores, 1000.0) + relative(memory, target.memory_bytes, 1000.0);
    if !outside
        && !quick_oom
        && (pod_age_minutes < POD_LIFETIME_UPDATE_THRESHOLD_MINUTES || diff < MIN_CHANGE_PRIORITY)
    {
        return false;
    }
    !(quick_oom && diff == 0.0)
}

/// Requests set to the target; each limit scaled to keep its ratio to the request (equal stays equal, none stays
/// none).
pub fn apply(target: &Resources, current: &Sizes) -> Sizes {
    let scale = |limit: Option<f64>, request: f64, new_request: f64| {
        limit.map(|limit| {
            if request <= 0.0 || limit == request {
                new_request
            } else {
                limit * new_request / request
            }
        })
    };
    Sizes {
        cpu_request_cores: target.cpu_cores,
        cpu_limit_cores: scale(
            current.cpu_limit_cores,
            current.cpu_request_cores,
            target.cpu_cores,
        ),
        memory_request_bytes: target.memory_bytes,
        memory_limit_bytes: scale(
            current.memory_limit_bytes,
            current.memory_request_bytes,
            target.memory_bytes,
        )
        .map(f64::floor),
    }
}

/// VPA in `InPlaceOrRecreate` mode on a one-container pod created at minute 0.
#[derive(Debug, Default)]
pub struct VpaModel {
    recommender: Recommender,
    /// The last termination of the container: (started, killed) minutes, if it was an OOM kill.
    last_oom_kill: Option<(u32, u32)>,
}

impl VpaModel {
    pub fn recommender(&self) -> &Recommender {
        &self.recommender
    }
}

impl Policy for VpaModel {
    fn name(&self) -> &str {
        "VPA model"
    }

    fn decide(
        &mut self,
        minute: u32,
        samples: &[Sample],
        current: &Sizes,
        oom_kills: &[OomKill],
    ) -> Option<Sizes> {
        for sample in samples {
            self.recommender
                .add_cpu_sample(sample.minute, sample.cpu_cores);
            self.recommender
                .add_memory_sample(sample.minute, sample.memory_bytes);
            for kill in oom_kills.iter().filter(|kill| kill.minute == sample.minute) {
                self.recommender
                    .record_oom(kill.minute, kill.sizes.memory_request_bytes);
                self.last_oom_kill = Some((kill.container_started_minute, kill.minute));
            }
        }
        let recommendation = self.recommender.recommend()?;
        // `lastState.terminated` stays until the next termination, so a quick OOM keeps counting until then.
        let quick_oom = self
            .last_oom_kill
            .is_some_and(|(started, killed)| killed - started < QUICK_OOM_MINUTES);
        should_update(&recommendation, current, minute, quick_oom)
            .then(|| apply(&recommendation.target, current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u32 = 24 * 60;

    #[test]
    fn bucket_scheme_matches_upstream_sizes() {
        let cpu = BucketScheme::cpu();
        assert_eq!(cpu.bucket_start(1), 0.01);
        assert!((cpu.bucket_start(2) - 0.0205).abs() < 1e-12);
        assert_eq!(cpu.bucket(0.005), 0);
        assert_eq!(cpu.bucket(0.01), 1);
        assert_eq!(cpu.bucket(1e9), cpu.buckets() - 1);
        // Each bucket 5 % wider than the one before.
        let width = |b: usize| cpu.bucket_start(b + 1) - cpu.bucket_start(b);
        assert!((width(40) / width(39) - 1.05).abs() < 1e-9);
        // ceil(log_1.05(1000 × 0.05 / 0.01 + 1)) + 1 buckets.
        assert_eq!(cpu.buckets(), 176);
        assert_eq!(BucketScheme::memory().bucket_start(1), 1e7);
    }

    #[test]
    fn percentile_is_p90_of_a_uniform_distribution_rounded_up_to_a_bucket_end() {
        // 1000 samples evenly from 0.001 to 1.0 cores: p90 is 0.9; the answer is the end of its bucket.
        let mut h = DecayingHistogram::new(BucketScheme::cpu(), HALF_LIFE_MINUTES);
        for i in 1..=1000 {
            h.add(f64::from(i) / 1000.0, CPU_SAMPLE_WEIGHT, 0.0);
        }
        let p90 = h.percentile(0.9);
        // A bucket starting at s is 0.05 s + 0.01 wide.
        assert!((0.9..=0.9 * 1.05 + 0.01).contains(&p90), "{p90}");
        let scheme = BucketScheme::cpu();
        assert_eq!(p90, scheme.bucket_start(scheme.bucket(0.9) + 1));
    }

    #[test]
    fn a_day_old_sample_weighs_half_a_new_one() {
        let mut h = DecayingHistogram::new(BucketScheme::cpu(), HALF_LIFE_MINUTES);
        h.add(0.1, 1.0, 0.0);
        let one = h.total_weight();
        h.add(0.1, 1.0, f64::from(DAY));
        assert!((h.total_weight() - 3.0 * one).abs() < 1e-12);
        // Old low samples and new high ones in equal number: the new ones count twice, so the median is high.
        let mut h = DecayingHistogram::new(BucketScheme::cpu(), HALF_LIFE_MINUTES);
        for _ in 0..100 {
            h.add(0.1, 1.0, 0.0);
            h.add(1.0, 1.0, f64::from(DAY));
        }
        assert!(h.percentile(0.5) > 0.9, "{}", h.percentile(0.5));
        assert!(h.percentile(0.3) < 0.2, "{}", h.percentile(0.3));
    }

    #[test]
    fn target_is_p90_plus_fifteen_percent_within_histogram_resolution() {
        let mut r = Recommender::default();
        // A day of CPU cycling 0.1 .. 1.0 cores evenly (p90 ≈ 0.91), memory steady at 800 MiB.
        for minute in 0..DAY {
            r.add_cpu_sample(minute, 0.1 + 0.9 * f64::from(minute % 100) / 99.0);
            r.add_memory_sample(minute, 800.0 * MIB);
        }
        let target = r.recommend().unwrap().target;
        let exact_p90 = 0.1 + 0.9 * 89.0 / 99.0;
        assert!(
            target.cpu_cores >= exact_p90 * 1.15 * 0.999,
            "{}",
            target.cpu_cores
        );
        // At most one bucket above (a bucket starting at s is 0.05 s + the first bucket wide), then the margin.
        assert!(
            target.cpu_cores <= (exact_p90 * 1.05 + 0.01) * 1.15,
            "{}",
            target.cpu_cores
        );
        assert!(
            target.memory_bytes >= 800.0 * MIB * 1.15,
            "{}",
            target.memory_bytes
        );
        assert!(
            target.memory_bytes <= (800.0 * MIB * 1.05 + 1e7) * 1.15,
            "{}",
            target.memory_bytes
        );
    }

    #[test]
    fn memory_keeps_one_peak_per_day() {
        let mut r = Recommender::default();
        // Day 0 peaks at 900 MiB, day 1 at 500 MiB, each minute of each day otherwise at 400 MiB.
        for minute in 0..2 * DAY {
            let peak = if minute < DAY { 900.0 } else { 500.0 };
            let bytes = if minute % DAY == 600 { peak } else { 400.0 };
            r.add_memory_sample(minute, bytes * MIB);
        }
        let h = r.memory_histogram();
        // Two peaks of weight 1, stamped at the ends of day 0 and day 1: 2^1 + 2^2.
        assert!(
            (h.total_weight() - 6.0).abs() < 1e-9,
            "{}",
            h.total_weight()
        );
        // Day 1's peak weighs twice day 0's: the median is day 1's peak, the p90 day 0's.
        assert!((500.0 * MIB..500.0 * MIB * 1.05 + 1e7).contains(&h.percentile(0.5)));
        assert!((900.0 * MIB..900.0 * MIB * 1.05 + 1e7).contains(&h.percentile(0.9)));
    }

    #[test]
    fn an_oom_kill_bumps_memory_by_the_larger_of_a_fifth_and_100_mib() {
        // Small request: +100 MiB wins (300 × 1.2 = 360 < 400).
        let mut r = Recommender::default();
        r.add_memory_sample(0, 200.0 * MIB);
        r.record_oom(1, 300.0 * MIB);
        let p = r.memory_histogram().percentile(1.0);
        assert!(
            (400.0 * MIB..400.0 * MIB * 1.05 + 1e7).contains(&p),
            "{}",
            p / MIB
        );
        // Large peak: × 1.2 wins, and the peak counts when above the request.
        let mut r = Recommender::default();
        r.add_memory_sample(0, 2000.0 * MIB);
        r.record_oom(1, 1000.0 * MIB);
        let p = r.memory_histogram().percentile(1.0);
        assert!(
            (2400.0 * MIB..2400.0 * MIB * 1.05 + 1e7).contains(&p),
            "{}",
            p / MIB
        );
        // The bump replaced the interval's peak: still one peak of weight 1 in the histogram.
        assert!((r.memory_histogram().total_weight() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn repeated_oom_kills_in_one_interval_do_not_compound() {
        let mut r = Recommender::default();
        r.add_memory_sample(0, 200.0 * MIB);
        for minute in 1..10 {
            r.record_oom(minute, 300.0 * MIB);
        }
        let p = r.memory_histogram().percentile(1.0);
        assert!(p < 400.0 * MIB * 1.05 + 1e7, "{}", p / MIB);
    }

    #[test]
    fn floors_are_25m_and_250mi_per_pod_split_over_its_containers() {
        let mut r = Recommender::default();
        for minute in 0..60 {
            r.add_cpu_sample(minute, 0.001);
            r.add_memory_sample(minute, 1.0 * MIB);
        }
        let target = r.recommend().unwrap().target;
        assert_eq!(target.cpu_cores, 0.025);
        assert_eq!(target.memory_bytes, 250.0 * MIB);
        let mut r = Recommender::new(2);
        r.add_cpu_sample(0, 0.0);
        r.add_memory_sample(0, 0.0);
        let target = r.recommend().unwrap().target;
        assert_eq!(target.cpu_cores, 0.012);
        assert_eq!(target.memory_bytes, 125.0 * MIB);
    }

    #[test]
    fn bounds_are_wide_with_little_history_and_the_target_is_not() {
        let mut r = Recommender::default();
        for minute in 0..=60 {
            r.add_cpu_sample(minute, 0.5);
            r.add_memory_sample(minute, 500.0 * MIB);
        }
        let rec = r.recommend().unwrap();
        // An hour: the upper bound is ×25 (1 + 1/(1/24)), the lower about ×0.95.
        assert!(rec.upper_bound.cpu_cores > 20.0 * rec.target.cpu_cores);
        assert!(rec.lower_bound.cpu_cores > 0.9 * rec.target.cpu_cores);
        assert!(rec.target.cpu_cores < (0.5 * 1.05 + 0.01) * 1.15);
    }

    #[test]
    fn updater_waits_12_hours_inside_the_bounds_then_applies_a_change_of_10_percent() {
        let rec = Recommendation {
            target: Resources {
                cpu_cores: 0.5,
                memory_bytes: 500.0 * MIB,
            },
            lower_bound: Resources {
                cpu_cores: 0.3,
                memory_bytes: 300.0 * MIB,
            },
            upper_bound: Resources {
                cpu_cores: 2.0,
                memory_bytes: 2000.0 * MIB,
            },
        };
        let current = |cpu: f64| Sizes {
            cpu_request_cores: cpu,
            cpu_limit_cores: Some(2.0 * cpu),
            memory_request_bytes: 500.0 * MIB,
            memory_limit_bytes: Some(500.0 * MIB),
        };
        // Inside the bounds, young pod: no.
        assert!(!should_update(&rec, &current(1.0), 11 * 60, false));
        // 12 h old, 50 % off: yes; 4 % off: no.
        assert!(should_update(&rec, &current(1.0), 12 * 60, false));
        assert!(!should_update(&rec, &current(0.52), 12 * 60, false));
        // Outside the bounds, at any age.
        assert!(should_update(&rec, &current(0.2), 0, false));
        // A quick OOM, at any age, if anything changes.
        assert!(should_update(&rec, &current(0.52), 0, true));
        assert!(!should_update(&rec, &current(0.5), 0, true));
    }

    #[test]
    fn limits_keep_their_ratio_to_the_request() {
        let current = Sizes {
            cpu_request_cores: 0.5,
            cpu_limit_cores: Some(2.0),
            memory_request_bytes: 512.0 * MIB,
            memory_limit_bytes: Some(512.0 * MIB),
        };
        let target = Resources {
            cpu_cores: 0.25,
            memory_bytes: 300.0 * MIB,
        };
        let new = apply(&target, &current);
        assert_eq!(new.cpu_limit_cores, Some(1.0));
        assert_eq!(new.memory_limit_bytes, Some(300.0 * MIB));
        let unlimited = Sizes {
            cpu_limit_cores: None,
            ..current
        };
        assert_eq!(apply(&target, &unlimited).cpu_limit_cores, None);
    }

    #[test]
    fn an_oom_kill_soon_after_start_resizes_at_once() {
        let mut vpa = VpaModel::default();
        let sizes = Sizes {
            cpu_request_cores: 0.5,
            cpu_limit_cores: Some(1.0),
            memory_request_bytes: 300.0 * MIB,
            memory_limit_bytes: Some(300.0 * MIB),
        };
        let samples: Vec<Sample> = (0..2)
            .map(|minute| Sample {
                minute,
                cpu_cores: 0.5,
                memory_bytes: 300.0 * MIB,
            })
            .collect();
        let kill = OomKill {
            minute: 1,
            container_started_minute: 0,
            sizes,
        };
        let new = vpa.decide(2, &samples, &sizes, &[kill]).unwrap();
        // 300 MiB + 100 MiB, + 15 %, rounded up to a bucket.
        assert!(
            new.memory_request_bytes >= 400.0 * MIB * 1.15,
            "{}",
            new.memory_request_bytes / MIB
        );
        assert_eq!(new.memory_limit_bytes, Some(new.memory_request_bytes));
    }

    #[test]
    fn an_oversized_container_is_resized_once_its_upper_bound_falls_under_the_request() {
        // 0.1 core and 100 MiB, asked 1 core and 1 GiB: inside [lower, upper] at first, as the upper bound is ×∞
        // with no history. Memory p95 is 105 MiB (its bucket's end), + 15 %: 121 MiB; 1 GiB is above 121 MiB ×
        // (1 + 1/confidence) once confidence > 0.134 days, at minute 194, hours before the 12 h rule.
        let mut vpa = VpaModel::default();
        let mut current = Sizes {
            cpu_request_cores: 1.0,
            cpu_limit_cores: Some(2.0),
            memory_request_bytes: 1024.0 * MIB,
            memory_limit_bytes: Some(1024.0 * MIB),
        };
        let mut resized_at = Vec::new();
        for tick in (2..=DAY).step_by(2) {
            let samples: Vec<Sample> = (tick - 2..tick)
                .map(|minute| Sample {
                    minute,
                    cpu_cores: 0.1,
                    memory_bytes: 100.0 * MIB,
                })
                .collect();
            if let Some(new) = vpa.decide(tick, &samples, &current, &[]) {
                resized_at.push(tick);
                current = new;
            }
        }
        assert_eq!(resized_at, [194]);
        // p90 of 0.1 is its bucket's end, 0.1103, + 15 %; memory goes to the 250Mi floor.
        assert_eq!(current.cpu_request_cores, 0.126);
        assert_eq!(current.cpu_limit_cores, Some(0.252));
        assert_eq!(current.memory_request_bytes, 250.0 * MIB);
        assert_eq!(current.memory_limit_bytes, Some(250.0 * MIB));
    }
}
