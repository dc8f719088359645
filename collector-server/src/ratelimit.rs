//! Keyed rate limits on `governor` (GCRA, one cell per key in a sharded map): reports
//! per agent id, and failed requests per client IP address (`crate::guard`).
//!
//! With several collectors behind a load balancer each instance keeps its own state,
//! so an agent may send up to N × the rate in total; the limit protects each instance's
//! CPU from one client's flood, which is what it is for. The clock is a parameter
//! ([`KeyedLimiter::with_clock`]) so tests move time by hand.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Governor};

/// Keys kept before the ones whose bucket is full again are dropped.
const MAX_KEYS: usize = 200_000;

/// A token bucket per key: `per_second` tokens a second, at most `burst` saved up.
pub struct KeyedLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    inner: Governor<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for KeyedLimiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("keys", &self.inner.len())
            .finish()
    }
}

/// Reports per agent id.
pub type RateLimiter = KeyedLimiter<String>;

/// `per_second` (> 0; config validation refuses anything else) as a governor quota.
fn quota(per_second: f64, burst: u32) -> Quota {
    let period = Duration::try_from_secs_f64(1.0 / per_second)
        .ok()
        .filter(|p| !p.is_zero())
        .unwrap_or(Duration::from_secs(86_400 * 365));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedLimiter<K, C> {
    pub fn with_clock(per_second: f64, burst: u32, clock: C) -> Self {
        KeyedLimiter {
            inner: Governor::dashmap_with_clock(quota(per_second, burst), clock.clone()),
            clock,
        }
    }

    /// Takes one token for `key` now; `Err(whole seconds to wait, at least 1)` when
    /// there is none.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.inner.len() >= MAX_KEYS {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
        }
        self.inner.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// Keys held now (for tests and metrics).
    pub fn keys(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn burst_then_refill() {
        let clock = FakeRelativeClock::default();
        let rl = KeyedLimiter::with_clock(2.0, 3, clock.clone());
        let (a, b) = ("a".to_owned(), "b".to_owned());
        for _ in 0..3 {
            assert!(rl.check(&a).is_ok());
        }
        assert_eq!(rl.check(&a), Err(1));
        // Another agent has its own bucket.
        assert!(rl.check(&b).is_ok());
        // Half a second later one token is back.
        clock.advance(Duration::from_millis(500));
        assert!(rl.check(&a).is_ok());
        assert!(rl.check(&a).is_err());
        // Never more than the burst.
        clock.advance(Duration::from_secs(100));
        for _ in 0..3 {
            assert!(rl.check(&a).is_ok());
        }
        assert!(rl.check(&a).is_err());
        assert_eq!(rl.keys(), 2);
    }

    #[test]
    fn slow_rates_ask_for_longer_waits() {
        let clock = FakeRelativeClock::default();
        let rl = KeyedLimiter::with_clock(0.1, 1, clock.clone());
        let a = "a".to_owned();
        assert!(rl.check(&a).is_ok());
        assert_eq!(rl.check(&a), Err(10));
        clock.advance(Duration::from_millis(9_500));
        assert_eq!(rl.check(&a), Err(1));
        clock.advance(Duration::from_millis(500));
        assert!(rl.check(&a).is_ok());
    }

    #[test]
    fn ip_addresses_are_keys_too() {
        let clock = FakeRelativeClock::default();
        let rl: KeyedLimiter<std::net::IpAddr, _> = KeyedLimiter::with_clock(1.0, 2, clock);
        let one: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        let two: std::net::IpAddr = "::1".parse().unwrap();
        assert!(rl.check(&one).is_ok() && rl.check(&one).is_ok());
        assert!(rl.check(&one).is_err());
        assert!(rl.check(&two).is_ok());
    }
}
