//! Workload shapes: per-container demand, one point a minute, as a pure function of the minute and of the minutes
//! since the container (re)started. No state and no clock: the noise is a hash of (seed, minute), so any minute
//! can be asked for in any order and the answer is always the same.
//!
//! Each shape carries the requests and limits a team would have set for it (sized for its peak, with the usual
//! round numbers), so that what a policy saves and what it risks are measured from a realistic start.

use super::{Demand, MIB, MINUTES_PER_DAY, Sizes};

/// How a shape's demand moves. Cores and bytes are the noiseless levels; [`Shape::noise`] is added on top.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A web service: busy day, quiet night, a cosine over the day with its peak at 14:00 (CPU and memory).
    DailyCycle {
        night_cores: f64,
        peak_cores: f64,
        night_bytes: f64,
        peak_bytes: f64,
    },
    /// A low base with short spikes: each minute starts a spike with probability `spike_chance`, and a spike
    /// lasts `spike_minutes`.
    Bursty {
        base_cores: f64,
        spike_cores: f64,
        spike_chance: f64,
        spike_minutes: u32,
        base_bytes: f64,
        spike_extra_bytes: f64,
    },
    /// A slow memory leak: the working set grows by `leak_bytes_per_hour` from each start, until a restart (an
    /// OOM kill, or a weekly maintenance restart every `restart_every_minutes`).
    MemoryLeak {
        cpu_cores: f64,
        start_bytes: f64,
        leak_bytes_per_hour: f64,
        restart_every_minutes: u32,
    },
    /// A batch worker: `run_minutes` of work every `period_minutes`, idle in between.
    Batch {
        period_minutes: u32,
        run_minutes: u32,
        idle_cores: f64,
        run_cores: f64,
        idle_bytes: f64,
        run_bytes: f64,
    },
    /// A JVM-like start: high CPU and memory for `spike_minutes` after each start, then steady.
    StartupSpike {
        spike_minutes: u32,
        spike_cores: f64,
        spike_bytes: f64,
        steady_cores: f64,
        steady_bytes: f64,
    },
    /// Under-sized for CPU: demand of `busy_cores` (above the initial CPU limit) for `busy_minutes` a day from
    /// 08:00, `quiet_cores` the rest of the day.
    ThrottledAtLimit {
        busy_cores: f64,
        quiet_cores: f64,
        busy_minutes: u32,
        memory_bytes: f64,
    },
}

/// One generated container.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub name: &'static str,
    pub kind: Kind,
    /// What the team set: the sizes at minute 0.
    pub initial: Sizes,
    /// Relative noise on CPU (uniform in ±`noise`); memory gets a fifth of it, as working sets move slowly.
    pub noise: f64,
    pub seed: u64,
    /// The `kube-thermostat.io/` annotations (name without the prefix, value) the README suggests for such a
    /// workload; empty where the defaults are meant to do. The benchmark's annotated arm sets them on the pod.
    pub annotations: &'static [(&'static str, &'static str)],
}

impl Shape {
    /// Demand during `minute` (since the start of the history) of a container that started `since_start` minutes
    /// earlier. Never negative.
    pub fn demand(&self, minute: u32, since_start: u32) -> Demand {
        let level = self.noiseless(minute, since_start);
        let cpu_jitter = 1.0 + self.noise * (2.0 * unit(self.seed, minute, 0) - 1.0);
        let memory_jitter = 1.0 + self.noise / 5.0 * (2.0 * unit(self.seed, minute, 1) - 1.0);
        Demand {
            cpu_cores: (level.cpu_cores * cpu_jitter).max(0.0),
            memory_bytes: (level.memory_bytes * memory_jitter).max(0.0),
        }
    }

    /// Whether the container is restarted (in the same pod, not a kill) at the start of `minute`.
    pub fn restarts_at(&self, minute: u32) -> bool {
        match self.kind {
            Kind::MemoryLeak {
                restart_every_minutes,
                ..
            } => minute > 0 && minute.is_multiple_of(restart_every_minutes),
            _ => false,
        }
    }

    fn noiseless(&self, minute: u32, since_start: u32) -> Demand {
        let time_of_day = minute % MINUTES_PER_DAY;
        match self.kind {
            Kind::DailyCycle {
                night_cores,
                peak_cores,
                night_bytes,
                peak_bytes,
            } => {
                // 1 at 14:00, 0 at 02:00.
                let phase = 2.0 * std::f64::consts::PI * (f64::from(time_of_day) - 840.0)
                    / f64::from(MINUTES_PER_DAY);
                let busy = (1.0 + phase.cos()) / 2.0;
                Demand {
                    cpu_cores: night_cores + (peak_cores - night_cores) * busy,
                    memory_bytes: night_bytes + (peak_bytes - night_bytes) * busy,
                }
            }
            Kind::Bursty {
                base_cores,
                spike_cores,
                spike_chance,
                spike_minutes,
                base_bytes,
                spike_extra_bytes,
            } => {
                let first = minute.saturating_sub(spike_minutes - 1);
                let spiking = (first..=minute).any(|m| unit(self.seed, m, 2) < spike_chance);
                if spiking {
                    Demand {
                        cpu_cores: spike_cores,
                        memory_bytes: base_bytes + spike_extra_bytes,
                    }
                } else {
                    Demand {
                        cpu_cores: base_cores,
                        memory_bytes: base_bytes,
                    }
                }
            }
            Kind::MemoryLeak {
                cpu_cores,
                start_bytes,
                leak_bytes_per_hour,
                ..
            } => Demand {
                cpu_cores,
                memory_bytes: start_bytes + leak_bytes_per_hour * f64::from(since_start) / 60.0,
            },
            Kind::Batch {
                period_minutes,
                run_minutes,
                idle_cores,
                run_cores,
                idle_bytes,
                run_bytes,
            } => {
                if minute % period_minutes < run_minutes {
                    Demand {
                        cpu_cores: run_cores,
                        memory_bytes: run_bytes,
                    }
                } else {
                    Demand {
                        cpu_cores: idle_cores,
                        memory_bytes: idle_bytes,
                    }
                }
            }
            Kind::StartupSpike {
                spike_minutes,
                spike_cores,
                spike_bytes,
                steady_cores,
                steady_bytes,
            } => {
                if since_start < spike_minutes {
                    Demand {
                        cpu_cores: spike_cores,
                        memory_bytes: spike_bytes,
                    }
                } else {
                    Demand {
                        cpu_cores: steady_cores,
                        memory_bytes: steady_bytes,
                    }
                }
            }
            Kind::ThrottledAtLimit {
                busy_cores,
                quiet_cores,
                busy_minutes,
                memory_bytes,
            } => {
                let busy = (480..480 + busy_minutes).contains(&time_of_day);
                Demand {
                    cpu_cores: if busy { busy_cores } else { quiet_cores },
                    memory_bytes,
                }
            }
        }
    }
}

/// The six shapes of the benchmark (issue 18), seeded from `seed`.
pub fn all(seed: u64) -> Vec<Shape> {
    let sizes =
        |cpu_request: f64, cpu_limit: f64, memory_request_mib: f64, memory_limit_mib: f64| Sizes {
            cpu_request_cores: cpu_request,
            cpu_limit_cores: Some(cpu_limit),
            memory_request_bytes: memory_request_mib * MIB,
            memory_limit_bytes: Some(memory_limit_mib * MIB),
        };
    vec![
        Shape {
            name: "daily-cycle",
            kind: Kind::DailyCycle {
                night_cores: 0.15,
                peak_cores: 0.9,
                night_bytes: 300.0 * MIB,
                peak_bytes: 450.0 * MIB,
            },
            // Sized for the afternoon peak with room: 1 core / 2 cores, 768Mi / 1Gi.
            initial: sizes(1.0, 2.0, 768.0, 1024.0),
            noise: 0.15,
            seed: seed ^ 1,
            annotations: &[],
        },
        Shape {
            name: "bursty",
            kind: Kind::Bursty {
                base_cores: 0.1,
                spike_cores: 1.5,
                // A spike about every 40 minutes, 2 minutes long: 5 % of the time.
                spike_chance: 1.0 / 40.0,
                spike_minutes: 2,
                base_bytes: 200.0 * MIB,
                spike_extra_bytes: 60.0 * MIB,
            },
            initial: sizes(0.5, 2.0, 512.0, 512.0),
            noise: 0.2,
            seed: seed ^ 2,
            annotations: &[("cpu-request", "usage")],
        },
        Shape {
            name: "memory-leak",
            kind: Kind::MemoryLeak {
                cpu_cores: 0.2,
                start_bytes: 250.0 * MIB,
                // Reaches the 1Gi limit after about 64 hours, before the weekly restart.
                leak_bytes_per_hour: 12.0 * MIB,
                restart_every_minutes: 7 * MINUTES_PER_DAY,
            },
            initial: sizes(0.25, 0.5, 512.0, 1024.0),
            noise: 0.1,
            seed: seed ^ 3,
            annotations: &[],
        },
        Shape {
            name: "batch",
            kind: Kind::Batch {
                period_minutes: 6 * 60,
                run_minutes: 60,
                idle_cores: 0.02,
                run_cores: 1.8,
                idle_bytes: 100.0 * MIB,
                run_bytes: 1536.0 * MIB,
            },
            // Sized for the run, idle five hours in six: Guaranteed 2 cores, 2Gi.
            initial: sizes(2.0, 2.0, 2048.0, 2048.0),
            noise: 0.1,
            seed: seed ^ 4,
            annotations: &[("cpu-high", "95"), ("cpu-target", "90")],
        },
        Shape {
            name: "startup-spike",
            kind: Kind::StartupSpike {
                spike_minutes: 5,
                spike_cores: 1.8,
                spike_bytes: 900.0 * MIB,
                steady_cores: 0.3,
                steady_bytes: 600.0 * MIB,
            },
            initial: sizes(1.0, 2.0, 1024.0, 1024.0),
            noise: 0.1,
            seed: seed ^ 5,
            annotations: &[("cpu-low", "40")],
        },
        Shape {
            name: "throttled",
            kind: Kind::ThrottledAtLimit {
                busy_cores: 1.5,
                quiet_cores: 0.4,
                busy_minutes: 10 * 60,
                memory_bytes: 400.0 * MIB,
            },
            // Under-sized: a 1-core limit for a working day that wants 1.5.
            initial: sizes(0.5, 1.0, 512.0, 512.0),
            noise: 0.1,
            seed: seed ^ 6,
            annotations: &[],
        },
    ]
}

/// A number in [0, 1) from (seed, minute, channel): splitmix64's finalizer over the three, so neighbouring minutes
/// are unrelated and no generator state is carried.
fn unit(seed: u64, minute: u32, channel: u64) -> f64 {
    let mut z = seed
        .wrapping_add(u64::from(minute).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(channel.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits, as f64 holds them exactly.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str) -> Shape {
        all(42).into_iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn demand_is_a_pure_function_of_seed_and_minute() {
        for s in all(42) {
            let forward: Vec<Demand> = (0..3 * MINUTES_PER_DAY).map(|m| s.demand(m, m)).collect();
            let backward: Vec<Demand> = (0..3 * MINUTES_PER_DAY)
                .rev()
                .map(|m| s.demand(m, m))
                .collect();
            assert!(forward.iter().eq(backward.iter().rev()), "{}", s.name);
        }
        assert_ne!(all(1)[0].demand(7, 7), all(2)[0].demand(7, 7));
    }

    #[test]
    fn daily_cycle_is_busy_in_the_afternoon_and_quiet_at_night() {
        let s = shape("daily-cycle");
        let at = |hour: u32| s.demand(MINUTES_PER_DAY + hour * 60, 0).cpu_cores;
        assert!(at(14) > 0.75, "{}", at(14));
        assert!(at(2) < 0.2, "{}", at(2));
    }

    #[test]
    fn bursty_spikes_about_five_percent_of_the_time() {
        let s = shape("bursty");
        let minutes = 4 * MINUTES_PER_DAY;
        let spiking = (0..minutes)
            .filter(|&m| s.demand(m, m).cpu_cores > 1.0)
            .count();
        let fraction = spiking as f64 / f64::from(minutes);
        assert!((0.03..0.08).contains(&fraction), "{fraction}");
    }

    #[test]
    fn memory_leak_grows_from_each_start_and_restarts_weekly() {
        let s = shape("memory-leak");
        let young = s.demand(3000, 60).memory_bytes;
        let old = s.demand(3000, 3000).memory_bytes;
        assert!(old > young + 500.0 * MIB, "{young} {old}");
        assert!(s.restarts_at(7 * MINUTES_PER_DAY));
        assert!(!s.restarts_at(0) && !s.restarts_at(MINUTES_PER_DAY));
    }

    #[test]
    fn batch_runs_an_hour_every_six_hours() {
        let s = shape("batch");
        let running = (0..MINUTES_PER_DAY)
            .filter(|&m| s.demand(m, m).cpu_cores > 1.0)
            .count();
        assert_eq!(running, 4 * 60);
    }

    #[test]
    fn startup_spike_lasts_five_minutes_after_each_start() {
        let s = shape("startup-spike");
        assert!(s.demand(5000, 4).memory_bytes > 800.0 * MIB);
        assert!(s.demand(5000, 5).memory_bytes < 700.0 * MIB);
    }

    #[test]
    fn throttled_shape_wants_more_than_its_limit_ten_hours_a_day() {
        let s = shape("throttled");
        let limit = s.initial.cpu_limit_cores.unwrap();
        let above = (0..MINUTES_PER_DAY)
            .filter(|&m| s.demand(m, m).cpu_cores > limit)
            .count();
        assert_eq!(above, 10 * 60);
    }

    #[test]
    fn initial_sizes_hold_each_shape_at_rest() {
        // The team's sizes are sane: request ≤ limit, and the working set at start fits the memory limit.
        for s in all(42) {
            let i = s.initial;
            assert!(
                i.cpu_request_cores <= i.cpu_limit_cores.unwrap(),
                "{}",
                s.name
            );
            assert!(
                i.memory_request_bytes <= i.memory_limit_bytes.unwrap(),
                "{}",
                s.name
            );
            assert!(
                s.demand(0, 0).memory_bytes < i.memory_limit_bytes.unwrap(),
                "{}",
                s.name
            );
        }
    }
}
