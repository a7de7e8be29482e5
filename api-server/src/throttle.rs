//! Token-bucket rate limits for the enrollment protocols, which anyone can reach without an API
//! key: one bucket per source address and one per credential (an enrollment profile and the
//! identity presented through it), per replica. Pure, so the application state can hold them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at once; past this, full (idle) buckets are dropped, and if every bucket is busy
/// the newcomer is refused rather than memory growing without bound.
const MAX_BUCKETS: usize = 100_000;

pub struct RateLimiter {
    /// Requests allowed per minute (the bucket's size and refill rate); 0 turns the limit off.
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `key`'s bucket; `false` when it is empty (the request is refused).
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let size = f64::from(self.per_minute);
        let refill = |b: &Bucket| (b.tokens + now.duration_since(b.updated).as_secs_f64() * size / 60.0).min(size);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| refill(b) < size);
            if buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: size,
            updated: now,
        });
        bucket.tokens = refill(bucket);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Seconds until `key` has a token again (for `Retry-After`), at least 1.
    pub fn retry_after(&self) -> u64 {
        if self.per_minute == 0 {
            return 1;
        }
        (60 / u64::from(self.per_minute)).max(1)
    }
}

/// Per-replica rate limits of the enrollment routes (`CERTCTL_ENROLL_RATE_PER_IP`,
/// `CERTCTL_ENROLL_RATE_PER_CREDENTIAL`, requests per minute).
pub struct Limits {
    pub per_ip: RateLimiter,
    pub per_credential: RateLimiter,
}

impl Limits {
    pub fn new(per_ip: u32, per_credential: u32) -> Self {
        Self {
            per_ip: RateLimiter::new(per_ip),
            per_credential: RateLimiter::new(per_credential),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_size_then_refills_over_a_minute() {
        let limiter = RateLimiter::new(60);
        let t0 = Instant::now();
        assert_eq!((0..100).filter(|_| limiter.allow("a", t0)).count(), 60);
        assert!(!limiter.allow("a", t0 + Duration::from_millis(500)));
        assert!(limiter.allow("a", t0 + Duration::from_secs(1)), "one token per second");
        assert!(limiter.allow("b", t0), "buckets are per key");
        assert_eq!(
            (0..100)
                .filter(|_| limiter.allow("a", t0 + Duration::from_secs(600)))
                .count(),
            60,
            "never more than the bucket's size"
        );
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| limiter.allow("a", t0)));
    }
}
