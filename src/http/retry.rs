//! Attempts until one succeeds, the attempts run out or the tick's deadline would pass. Which failures are worth
//! another attempt is each client's decision ([`Step`]); the waits between attempts are decided here.

use std::time::Duration;

use crate::deadline::Deadline;

/// Exponential backoff: `initial`, doubled after each failed attempt, at most `max`. No jitter: one hook process
/// per cluster does not make a thundering herd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1 for the first).
    pub fn after(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max)
    }
}

/// How a server's `Retry-After` bears on the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// The server's wait replaces the backoff, at most `max`.
    Instead { max: Duration },
    /// The longer of the server's wait and the backoff.
    AtLeastBackoff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts counted against the limit, the first included (at least one is made).
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub retry_after: RetryAfter,
    /// No attempt starts with less time left than this (zero: until the deadline has passed).
    pub min_attempt_time: Duration,
}

impl RetryPolicy {
    fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff.after(attempt);
        match (retry_after, self.retry_after) {
            (None, _) => backoff,
            (Some(after), RetryAfter::Instead { max }) => after.min(max),
            (Some(after), RetryAfter::AtLeastBackoff) => after.max(backoff),
        }
    }
}

/// What one attempt came to, as the client classifies it.
#[derive(Debug)]
pub enum Step<T, E> {
    Done(T),
    /// The same request would fail again.
    Fail(E),
    /// Worth another attempt, no sooner than the server's `Retry-After` when it sent one.
    Retry {
        error: E,
        retry_after: Option<Duration>,
    },
    /// Worth one more attempt at once that does not count against the limit (fresh credentials after a 401).
    Again(E),
}

/// Why no attempt succeeded.
#[derive(Debug)]
pub enum GiveUp<E> {
    /// The last attempt's failure is not worth retrying.
    Failed(E),
    /// Every allowed attempt failed.
    Exhausted { error: E, attempts: u32 },
    /// The wait before another attempt would reach past the deadline.
    OutOfTime {
        error: E,
        wait: Duration,
        attempts: u32,
    },
    /// The deadline left too little time to start an(other) attempt.
    NoTime { attempts: u32 },
}

/// Runs `attempt` (given the number of sends so far, this one included) until it is [`Step::Done`], giving up
/// as [`GiveUp`] says. Sleeps between attempts; never starts one past the deadline.
pub fn with_retries<T, E>(
    policy: &RetryPolicy,
    deadline: &Deadline,
    mut attempt: impl FnMut(u32) -> Step<T, E>,
) -> Result<T, GiveUp<E>> {
    let mut attempts = 0;
    let mut sends = 0;
    loop {
        let remaining = deadline.remaining();
        if remaining.is_zero() || remaining < policy.min_attempt_time {
            return Err(GiveUp::NoTime { attempts });
        }
        attempts += 1;
        sends += 1;
        let (error, wait) = match attempt(sends) {
            Step::Done(answer) => return Ok(answer),
            Step::Fail(error) => return Err(GiveUp::Failed(error)),
            Step::Again(error) => {
                attempts -= 1;
                (error, Duration::ZERO)
            }
            Step::Retry { error, retry_after } => {
                if attempts >= policy.max_attempts.max(1) {
                    return Err(GiveUp::Exhausted { error, attempts });
                }
                (error, policy.wait(attempts, retry_after))
            }
        };
        if wait + policy.min_attempt_time >= deadline.remaining() {
            return Err(GiveUp::OutOfTime {
                error,
                wait,
                attempts,
            });
        }
        std::thread::sleep(wait);
    }
}

/// A `Retry-After` in seconds. HTTP dates are not worth parsing here: the APIs we talk to send seconds.
pub fn retry_after_header(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    headers
        .get("Retry-After")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        retry_after: RetryAfter::Instead {
            max: Duration::from_millis(5),
        },
        min_attempt_time: Duration::ZERO,
    };

    fn long() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(1600),
        };
        let waits: Vec<u128> = (1..=6).map(|n| backoff.after(n).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 1600, 1600]);
    }

    #[test]
    fn retry_after_replaces_or_floors_the_backoff() {
        let seconds = Some(Duration::from_secs(1));
        assert_eq!(POLICY.wait(1, seconds), Duration::from_millis(5));
        let floor = RetryPolicy {
            retry_after: RetryAfter::AtLeastBackoff,
            ..POLICY
        };
        assert_eq!(floor.wait(1, seconds), Duration::from_secs(1));
        assert_eq!(
            floor.wait(2, Some(Duration::ZERO)),
            Duration::from_millis(2)
        );
    }

    #[test]
    fn retries_stop_at_the_limit_and_again_does_not_count() {
        let mut sends = Vec::new();
        let result: Result<(), _> = with_retries(&POLICY, &long(), |send| {
            sends.push(send);
            if send == 1 {
                Step::Again("401")
            } else {
                Step::Retry {
                    error: "503",
                    retry_after: None,
                }
            }
        });
        assert!(matches!(
            result,
            Err(GiveUp::Exhausted {
                error: "503",
                attempts: 3
            })
        ));
        assert_eq!(sends, [1, 2, 3, 4]);
    }

    #[test]
    fn a_failure_or_success_ends_at_once() {
        let failed: Result<(), _> = with_retries(&POLICY, &long(), |_| Step::Fail("400"));
        assert!(matches!(failed, Err(GiveUp::Failed("400"))));
        let done: Result<u32, GiveUp<&str>> = with_retries(&POLICY, &long(), Step::Done);
        assert_eq!(done.unwrap(), 1);
    }

    #[test]
    fn no_wait_reaches_past_the_deadline() {
        let slow = RetryPolicy {
            retry_after: RetryAfter::AtLeastBackoff,
            ..POLICY
        };
        let result: Result<(), _> = with_retries(&slow, &long(), |_| Step::Retry {
            error: "429",
            retry_after: Some(Duration::from_secs(60)),
        });
        assert!(matches!(result, Err(GiveUp::OutOfTime { attempts: 1, .. })));
        let expired = Deadline::after(Duration::ZERO);
        let result: Result<u32, GiveUp<&str>> = with_retries(&POLICY, &expired, Step::Done);
        assert!(matches!(result, Err(GiveUp::NoTime { attempts: 0 })));
    }
}
