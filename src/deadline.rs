//! The tick's time budget. shell-operator never kills a hook, so every blocking call is bounded by this.

use std::time::{Duration, Instant};

/// A point in time after which the tick gives up. Copyable so every client can carry it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
        }
    }

    /// Time left; zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The smaller of `limit` and the time left: use it for each request's timeout.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_never_exceeds_remaining_time() {
        let deadline = Deadline::after(Duration::from_millis(50));
        assert!(deadline.cap(Duration::from_secs(10)) <= Duration::from_millis(50));
        assert_eq!(deadline.cap(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn passed_deadline_has_no_time_left() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.expired());
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }
}
