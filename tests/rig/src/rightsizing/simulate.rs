//! A policy replayed over a shape's demand, minute by minute, and what it reserved and cost.
//!
//! Each minute, with the sizes in effect:
//! - the requests are reserved for that minute (core-hours, GiB-hours);
//! - CPU demand above the CPU limit is a throttled minute, and the usage observed is capped at the limit (the
//!   CFS quota lets no more through, so cAdvisor's counter, and Prometheus, record the limit);
//! - a working set above the memory limit is an OOM kill: the observed working set is the limit (the cgroup's cap),
//!   the container restarts the next minute with the shape's start-of-life demand, and the policy sees the event.
//!
//! Every `tick_minutes` (2, resize-pods' schedule) the policy is given the samples and OOM kills since its last
//! tick and may return new sizes, in effect from the next minute. A decision equal to the current sizes is not a
//! resize.

use super::shapes::Shape;
use super::{GIB, MINUTES_PER_DAY, Sizes};

/// One minute's usage as a monitoring system records it (CPU capped at the limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub minute: u32,
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// A container killed for its working set passing its memory limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OomKill {
    /// The minute of the kill.
    pub minute: u32,
    /// When the killed container had started (kubelet's `lastState.terminated.startedAt`).
    pub container_started_minute: u32,
    /// The sizes in effect when it was killed.
    pub sizes: Sizes,
}

/// A right-sizing policy for one container.
pub trait Policy {
    fn name(&self) -> &str;
    /// Called every tick at `minute` (the start of the next minute) with the samples and OOM kills since the last
    /// tick, in time order, and the sizes in effect. `Some` asks for a resize.
    fn decide(
        &mut self,
        minute: u32,
        samples: &[Sample],
        current: &Sizes,
        oom_kills: &[OomKill],
    ) -> Option<Sizes>;
}

/// The baseline: whatever the team set stays.
#[derive(Debug, Default)]
pub struct NoResizing;

impl Policy for NoResizing {
    fn name(&self) -> &str {
        "none"
    }

    fn decide(&mut self, _: u32, _: &[Sample], _: &Sizes, _: &[OomKill]) -> Option<Sizes> {
        None
    }
}

/// How long to replay and how often the policy is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub days: u32,
    pub tick_minutes: u32,
}

impl Default for Settings {
    /// Four days, a tick every 2 minutes (resize-pods' schedule, and the seed hook's).
    fn default() -> Settings {
        Settings {
            days: 4,
            tick_minutes: 2,
        }
    }
}

/// What one policy reserved and cost on one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub shape: &'static str,
    pub policy: String,
    pub days: u32,
    /// CPU requests over time, in core-hours.
    pub core_hours: f64,
    /// Memory requests over time, in GiB-hours.
    pub gib_hours: f64,
    /// Minutes whose CPU demand was above the CPU limit.
    pub throttled_minutes: u32,
    pub oom_kills: u32,
    /// Decisions that changed the sizes.
    pub resizes: u32,
    /// The sizes in effect at the end.
    pub last_sizes: Sizes,
}

impl Outcome {
    /// Resizes per container per day (the simulation runs one container).
    pub fn resizes_per_day(&self) -> f64 {
        f64::from(self.resizes) / f64::from(self.days)
    }
}

/// Replays `policy` over `shape` for `settings.days`.
pub fn simulate(shape: &Shape, policy: &mut dyn Policy, settings: &Settings) -> Outcome {
    assert!(settings.tick_minutes > 0, "tick_minutes must be positive");
    let mut sizes = shape.initial;
    let mut container_started = 0;
    let mut samples = Vec::new();
    let mut oom_kills = Vec::new();
    let mut outcome = Outcome {
        shape: shape.name,
        policy: policy.name().to_string(),
        days: settings.days,
        core_hours: 0.0,
        gib_hours: 0.0,
        throttled_minutes: 0,
        oom_kills: 0,
        resizes: 0,
        last_sizes: sizes,
    };
    for minute in 0..settings.days * MINUTES_PER_DAY {
        if shape.restarts_at(minute) {
            container_started = minute;
        }
        let demand = shape.demand(minute, minute - container_started);
        outcome.core_hours += sizes.cpu_request_cores / 60.0;
        outcome.gib_hours += sizes.memory_request_bytes / GIB / 60.0;

        let mut cpu_cores = demand.cpu_cores;
        if let Some(limit) = sizes.cpu_limit_cores
            && demand.cpu_cores > limit
        {
            outcome.throttled_minutes += 1;
            cpu_cores = limit;
        }
        let mut memory_bytes = demand.memory_bytes;
        if let Some(limit) = sizes.memory_limit_bytes
            && demand.memory_bytes > limit
        {
            outcome.oom_kills += 1;
            oom_kills.push(OomKill {
                minute,
                container_started_minute: container_started,
                sizes,
            });
            memory_bytes = limit;
            container_started = minute + 1;
        }
        samples.push(Sample {
            minute,
            cpu_cores,
            memory_bytes,
        });

        if (minute + 1) % settings.tick_minutes == 0 {
            if let Some(new) = policy.decide(minute + 1, &samples, &sizes, &oom_kills)
                && new != sizes
            {
                outcome.resizes += 1;
                sizes = new;
            }
            samples.clear();
            oom_kills.clear();
        }
    }
    outcome.last_sizes = sizes;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rightsizing::MIB;
    use crate::rightsizing::shapes::{Kind, Shape};

    /// A steady container: `cpu` cores and `memory_mib` MiB every minute, no noise.
    fn steady(cpu: f64, memory_mib: f64, initial: Sizes) -> Shape {
        Shape {
            name: "steady",
            kind: Kind::StartupSpike {
                spike_minutes: 0,
                spike_cores: cpu,
                spike_bytes: memory_mib * MIB,
                steady_cores: cpu,
                steady_bytes: memory_mib * MIB,
            },
            initial,
            noise: 0.0,
            seed: 0,
            annotations: &[],
        }
    }

    fn sizes(
        cpu_request: f64,
        cpu_limit: f64,
        memory_request_mib: f64,
        memory_limit_mib: f64,
    ) -> Sizes {
        Sizes {
            cpu_request_cores: cpu_request,
            cpu_limit_cores: Some(cpu_limit),
            memory_request_bytes: memory_request_mib * MIB,
            memory_limit_bytes: Some(memory_limit_mib * MIB),
        }
    }

    /// Records what it was given; resizes to `to` at `at_minute`.
    #[derive(Default)]
    struct Recorder {
        ticks: Vec<(u32, Vec<Sample>, Vec<OomKill>)>,
        resize: Option<(u32, Sizes)>,
    }

    impl Policy for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }

        fn decide(
            &mut self,
            minute: u32,
            samples: &[Sample],
            _: &Sizes,
            ooms: &[OomKill],
        ) -> Option<Sizes> {
            self.ticks.push((minute, samples.to_vec(), ooms.to_vec()));
            self.resize
                .filter(|&(at, _)| at == minute)
                .map(|(_, to)| to)
        }
    }

    #[test]
    fn requests_are_reserved_every_minute_in_core_and_gib_hours() {
        let shape = steady(0.1, 100.0, sizes(0.5, 1.0, 2048.0, 4096.0));
        let outcome = simulate(&shape, &mut NoResizing, &Settings::default());
        assert!(
            (outcome.core_hours - 0.5 * 96.0).abs() < 1e-9,
            "{}",
            outcome.core_hours
        );
        assert!(
            (outcome.gib_hours - 2.0 * 96.0).abs() < 1e-9,
            "{}",
            outcome.gib_hours
        );
        assert_eq!(
            (
                outcome.throttled_minutes,
                outcome.oom_kills,
                outcome.resizes
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn cpu_above_the_limit_is_throttled_and_observed_at_the_limit() {
        let shape = steady(1.5, 100.0, sizes(0.5, 1.0, 512.0, 512.0));
        let mut recorder = Recorder::default();
        let settings = Settings {
            days: 1,
            tick_minutes: 2,
        };
        let outcome = simulate(&shape, &mut recorder, &settings);
        assert_eq!(outcome.throttled_minutes, MINUTES_PER_DAY);
        let (minute, samples, _) = &recorder.ticks[0];
        assert_eq!(*minute, 2);
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|s| s.cpu_cores == 1.0));
    }

    #[test]
    fn a_working_set_above_the_limit_is_an_oom_kill_that_restarts_the_container() {
        // A leak of 60 MiB an hour from 100 MiB passes a 200 MiB limit after 100 minutes of each life.
        let shape = Shape {
            name: "leak",
            kind: Kind::MemoryLeak {
                cpu_cores: 0.1,
                start_bytes: 100.0 * MIB,
                leak_bytes_per_hour: 60.0 * MIB,
                restart_every_minutes: 10 * MINUTES_PER_DAY,
            },
            initial: sizes(0.1, 1.0, 200.0, 200.0),
            noise: 0.0,
            seed: 0,
            annotations: &[],
        };
        let mut recorder = Recorder::default();
        let settings = Settings {
            days: 1,
            tick_minutes: 2,
        };
        let outcome = simulate(&shape, &mut recorder, &settings);
        let kills: Vec<OomKill> = recorder
            .ticks
            .iter()
            .flat_map(|(_, _, k)| k.clone())
            .collect();
        // 1 MiB a minute: killed at minute 101 (201 MiB), restarted at 102, killed 101 minutes later, and so on.
        assert_eq!(kills[0].minute, 101);
        assert_eq!(kills[0].container_started_minute, 0);
        assert_eq!(kills[1].minute, 203);
        assert_eq!(kills[1].container_started_minute, 102);
        assert_eq!(outcome.oom_kills as usize, kills.len());
        assert_eq!(outcome.oom_kills, 14);
        // The kill's sample is the cgroup's cap, and the next life starts low.
        let all: Vec<Sample> = recorder
            .ticks
            .iter()
            .flat_map(|(_, s, _)| s.clone())
            .collect();
        assert_eq!(all[101].memory_bytes, 200.0 * MIB);
        assert_eq!(all[102].memory_bytes, 100.0 * MIB);
    }

    #[test]
    fn a_resize_takes_effect_from_the_next_minute_and_is_counted_once() {
        let shape = steady(0.1, 100.0, sizes(1.0, 2.0, 1024.0, 1024.0));
        let smaller = sizes(0.5, 1.0, 1024.0, 1024.0);
        let mut recorder = Recorder {
            resize: Some((60, smaller)),
            ..Recorder::default()
        };
        let settings = Settings {
            days: 1,
            tick_minutes: 2,
        };
        let outcome = simulate(&shape, &mut recorder, &settings);
        assert_eq!(outcome.resizes, 1);
        assert!((outcome.resizes_per_day() - 1.0).abs() < 1e-12);
        // One hour at 1 core, 23 at 0.5.
        assert!(
            (outcome.core_hours - (1.0 + 23.0 * 0.5)).abs() < 1e-9,
            "{}",
            outcome.core_hours
        );
        assert_eq!(outcome.last_sizes, smaller);
    }

    #[test]
    fn a_decision_equal_to_the_current_sizes_is_no_resize() {
        struct Same;
        impl Policy for Same {
            fn name(&self) -> &str {
                "same"
            }
            fn decide(
                &mut self,
                _: u32,
                _: &[Sample],
                current: &Sizes,
                _: &[OomKill],
            ) -> Option<Sizes> {
                Some(*current)
            }
        }
        let shape = steady(0.1, 100.0, sizes(1.0, 2.0, 1024.0, 1024.0));
        assert_eq!(simulate(&shape, &mut Same, &Settings::default()).resizes, 0);
    }

    #[test]
    fn no_limit_means_never_throttled_nor_killed() {
        let unlimited = Sizes {
            cpu_request_cores: 0.1,
            cpu_limit_cores: None,
            memory_request_bytes: 10.0 * MIB,
            memory_limit_bytes: None,
        };
        let shape = steady(8.0, 8192.0, unlimited);
        let outcome = simulate(&shape, &mut NoResizing, &Settings::default());
        assert_eq!((outcome.throttled_minutes, outcome.oom_kills), (0, 0));
    }

    #[test]
    fn the_same_shape_and_policy_give_the_same_outcome() {
        use crate::rightsizing::{seed::SeedRule, vpa::VpaModel};
        let policies = || -> [Box<dyn Policy>; 3] {
            [
                Box::new(VpaModel::default()),
                Box::new(SeedRule::default()),
                Box::new(NoResizing),
            ]
        };
        for shape in crate::rightsizing::shapes::all(7) {
            for (mut a, mut b) in policies().into_iter().zip(policies()) {
                let first = simulate(&shape, a.as_mut(), &Settings::default());
                let second = simulate(&shape, b.as_mut(), &Settings::default());
                assert_eq!(first, second, "{} {}", shape.name, first.policy);
            }
        }
    }
}
