//! Client-side rate limit of our API requests: a token bucket (`KUBE_API_QPS` tokens a second, at most
//! `KUBE_API_BURST` saved up), as client-go's `flowcontrol.NewTokenBucketRateLimiter` that every controller runs
//! with. A first tick on a big cluster would otherwise send its hundreds of writes at once into the API server's
//! `workload-low` priority level, which every controller shares.
//!
//! Pure: the caller passes the time (`now`), so the bucket is tested without sleeping; the client sleeps.

use std::time::{Duration, Instant};

/// The kubelet's defaults (`kubeAPIQPS` 50, `kubeAPIBurst` 100, kubernetes/kubernetes
/// pkg/kubelet/apis/config/v1beta1/defaults.go) and the VPA components' (`--kube-api-qps` 50, `--kube-api-burst`
/// 100, kubernetes/autoscaler vertical-pod-autoscaler/common/flags.go).
pub const DEFAULT_QPS: f64 = 50.0;
pub const DEFAULT_BURST: u32 = 100;

/// How fast requests may go. `qps` 0 turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub qps: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
        }
    }
}

impl RateLimit {
    pub fn is_off(&self) -> bool {
        self.qps <= 0.0
    }
}

/// The bucket. Starts full: the first `burst` requests go at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    /// Tokens at `at`. Negative while requests hold reservations ahead of time.
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            at: None,
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Reserves a token for a request about to be sent at `now`: `Ok(wait)`, how long to wait before sending
    /// (zero when a token is there). When the wait would be longer than `max_wait` (what is left of the tick),
    /// nothing is reserved and `Err(wait)` says how long it would have been.
    pub fn reserve(&mut self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        if self.limit.is_off() {
            return Ok(Duration::ZERO);
        }
        let burst = f64::from(self.limit.burst.max(1));
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.limit.qps).min(burst);
        }
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        // Rounded up: a request never goes before its token is there.
        let wait = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(((1.0 - self.tokens) / self.limit.qps * 1e9).ceil() as u64)
        };
        if wait > max_wait {
            return Err(wait);
        }
        self.tokens -= 1.0;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn bucket(qps: f64, burst: u32) -> (TokenBucket, Instant) {
        (TokenBucket::new(RateLimit { qps, burst }), Instant::now())
    }

    #[test]
    fn the_first_burst_goes_at_once_then_one_request_per_interval() {
        let (mut bucket, start) = bucket(10.0, 3);
        let waits: Vec<Duration> = (0..6)
            .map(|_| bucket.reserve(start, LONG).unwrap())
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        // Three saved tokens, then each request waits for the next one, 100 ms apart.
        assert_eq!(ms, [0, 0, 0, 100, 200, 300]);
    }

    #[test]
    fn tokens_refill_at_the_rate_up_to_the_burst() {
        let (mut bucket, start) = bucket(10.0, 2);
        for _ in 0..2 {
            assert_eq!(bucket.reserve(start, LONG), Ok(Duration::ZERO));
        }
        // An hour later: full again, but no more than the burst.
        let later = start + LONG;
        assert_eq!(bucket.reserve(later, LONG), Ok(Duration::ZERO));
        assert_eq!(bucket.reserve(later, LONG), Ok(Duration::ZERO));
        assert_eq!(bucket.reserve(later, LONG).map(|w| w.as_millis()), Ok(100));
        // 50 ms on, the reserved token is half refilled.
        let half = later + Duration::from_millis(50);
        assert_eq!(bucket.reserve(half, LONG).map(|w| w.as_millis()), Ok(150));
    }

    #[test]
    fn a_wait_past_the_deadline_reserves_nothing() {
        let (mut bucket, start) = bucket(1.0, 1);
        assert_eq!(bucket.reserve(start, LONG), Ok(Duration::ZERO));
        let short = Duration::from_millis(500);
        assert_eq!(bucket.reserve(start, short), Err(Duration::from_secs(1)));
        assert_eq!(
            bucket.reserve(start, short),
            Err(Duration::from_secs(1)),
            "the refused request took no token"
        );
        assert_eq!(bucket.reserve(start, LONG), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn zero_qps_is_no_limit() {
        let (mut bucket, start) = bucket(0.0, 1);
        for _ in 0..1000 {
            assert_eq!(bucket.reserve(start, Duration::ZERO), Ok(Duration::ZERO));
        }
    }

    #[test]
    fn sustained_rate_matches_qps() {
        // 1,000 writes at 50/s with a burst of 100: the last one goes at (1000 - 100) / 50 = 18 s.
        let (mut bucket, start) = bucket(DEFAULT_QPS, DEFAULT_BURST);
        let last = (0..1000)
            .map(|_| bucket.reserve(start, LONG).unwrap())
            .last()
            .unwrap();
        assert_eq!(last.as_millis(), 18_000);
    }
}
