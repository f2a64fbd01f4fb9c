//! The seed hook's rule (/work/shared/seeds/004_815c0dd4581fefa0.txt; its code: fleeto/vscale-by-shelloperator
//! `main.py`), for comparison only.
//!
//! Every 2 minutes (its schedule, `*/2 * * * *`) it asks Prometheus for
//! `rate(container_cpu_usage_seconds_total[5m]) / (container_spec_cpu_quota / container_spec_cpu_period) * 100`,
//! and when that is above 80 it doubles the container's CPU request and its CPU limit. Nothing else: memory is
//! never touched, nothing ever goes down, there is no upper bound and no cool-down. A container without a CPU
//! limit has no quota series, so the query is empty and the hook does nothing.
//!
//! Modelled here with one sample a minute: a counter's `rate` over 5m then spans the last 4 one-minute intervals,
//! i.e. the mean of the last 4 minutes' usage, and needs two points. The divisor is the limit in effect now (the
//! quota gauge follows the spec). The hook parses quantities by cutting a trailing `m` and would fail on whole
//! cores ("1"); this model assumes millicore quantities, as its own example pod uses.

use super::Sizes;
use super::simulate::{OomKill, Policy, Sample};
use std::collections::VecDeque;

/// The seed hook's threshold, in percent of the CPU limit.
pub const THRESHOLD_PERCENT: f64 = 80.0;
/// One-minute CPU samples a `rate(...[5m])` sees with a one-minute scrape: points at t-4m .. t, 4 intervals.
const RATE_INTERVALS: usize = 4;

/// The seed hook's rule, with the last minutes of CPU usage it needs.
#[derive(Debug, Default)]
pub struct SeedRule {
    recent_cpu: VecDeque<f64>,
}

impl Policy for SeedRule {
    fn name(&self) -> &str {
        "seed rule"
    }

    fn decide(
        &mut self,
        _: u32,
        samples: &[Sample],
        current: &Sizes,
        _: &[OomKill],
    ) -> Option<Sizes> {
        for sample in samples {
            self.recent_cpu.push_back(sample.cpu_cores);
            if self.recent_cpu.len() > RATE_INTERVALS {
                self.recent_cpu.pop_front();
            }
        }
        let limit = current.cpu_limit_cores?;
        // `rate` needs two points: with fewer, the result is empty and the hook logs and does nothing.
        if self.recent_cpu.len() < 2 {
            return None;
        }
        let rate = self.recent_cpu.iter().sum::<f64>() / self.recent_cpu.len() as f64;
        (rate / limit * 100.0 > THRESHOLD_PERCENT).then_some(Sizes {
            cpu_request_cores: current.cpu_request_cores * 2.0,
            cpu_limit_cores: Some(limit * 2.0),
            ..*current
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rightsizing::MIB;

    fn sizes(cpu_request: f64, cpu_limit: Option<f64>) -> Sizes {
        Sizes {
            cpu_request_cores: cpu_request,
            cpu_limit_cores: cpu_limit,
            memory_request_bytes: 256.0 * MIB,
            memory_limit_bytes: Some(512.0 * MIB),
        }
    }

    fn samples(from: u32, cpu: &[f64]) -> Vec<Sample> {
        cpu.iter()
            .zip(from..)
            .map(|(&cpu_cores, minute)| Sample {
                minute,
                cpu_cores,
                memory_bytes: 600.0 * MIB,
            })
            .collect()
    }

    #[test]
    fn above_eighty_percent_of_the_limit_doubles_request_and_limit_and_leaves_memory() {
        let mut rule = SeedRule::default();
        let current = sizes(0.2, Some(0.5));
        let new = rule
            .decide(4, &samples(0, &[0.45, 0.45, 0.45, 0.45]), &current, &[])
            .unwrap();
        assert_eq!(new, sizes(0.4, Some(1.0)));
        // The working set above the memory limit in the samples changes nothing: the rule reads CPU only.
        assert_eq!(new.memory_limit_bytes, current.memory_limit_bytes);
    }

    #[test]
    fn at_or_below_eighty_percent_nothing_changes_and_nothing_ever_goes_down() {
        let mut rule = SeedRule::default();
        let current = sizes(2.0, Some(4.0));
        assert_eq!(rule.decide(4, &samples(0, &[3.2; 4]), &current, &[]), None);
        assert_eq!(
            rule.decide(6, &samples(4, &[0.0, 0.0]), &current, &[]),
            None
        );
    }

    #[test]
    fn the_rate_is_the_mean_of_the_last_four_minutes() {
        let mut rule = SeedRule::default();
        let current = sizes(0.5, Some(1.0));
        // Four minutes of 0.5 then two at 1.0: the mean of the last four is 0.75, under 80 %.
        assert_eq!(rule.decide(4, &samples(0, &[0.5; 4]), &current, &[]), None);
        assert_eq!(
            rule.decide(6, &samples(4, &[1.0, 1.0]), &current, &[]),
            None
        );
        // Two more at 1.0: the last four are all 1.0.
        assert!(
            rule.decide(8, &samples(6, &[1.0, 1.0]), &current, &[])
                .is_some()
        );
    }

    #[test]
    fn one_point_is_no_rate_and_no_cpu_limit_is_no_series() {
        let mut rule = SeedRule::default();
        assert_eq!(
            rule.decide(1, &samples(0, &[1.0]), &sizes(0.1, Some(0.1)), &[]),
            None
        );
        let mut rule = SeedRule::default();
        assert_eq!(
            rule.decide(4, &samples(0, &[9.0; 4]), &sizes(0.1, None), &[]),
            None
        );
    }

    #[test]
    fn a_throttled_container_doubles_and_noise_near_eighty_percent_ratchets_it_further() {
        use crate::rightsizing::shapes;
        use crate::rightsizing::simulate::{Settings, simulate};
        let throttled = shapes::all(42)
            .into_iter()
            .find(|s| s.name == "throttled")
            .unwrap();
        let outcome = simulate(&throttled, &mut SeedRule::default(), &Settings::default());
        // 1 core → 2 on the first busy morning (1.5 wanted, more than 80 % of 1). After that 1.5 ± 10 % sits
        // near 80 % of 2, and a noisy 4-minute mean above 1.6 doubles it again: it never comes back down.
        let limit = outcome.last_sizes.cpu_limit_cores.unwrap();
        assert!(outcome.resizes >= 1);
        assert_eq!(limit, f64::from(1u32 << outcome.resizes));
        assert_eq!(outcome.last_sizes.cpu_request_cores, limit / 2.0);
        assert_eq!(
            outcome.last_sizes.memory_limit_bytes,
            throttled.initial.memory_limit_bytes
        );
        // Throttled only until the first tick that saw it.
        assert!(
            outcome.throttled_minutes <= 4,
            "{}",
            outcome.throttled_minutes
        );
    }
}
