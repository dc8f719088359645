//! Randomness and retry delays, as inputs: the service takes an [`Rng`], seeded from
//! the operating system in production and fixed in tests, so every schedule is exact.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of random numbers.
pub trait Rng: Send {
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64: small, fast, and good enough to spread a fleet's requests in time (it
/// is never used for keys).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeded from the operating system's random source.
    pub fn from_entropy() -> Self {
        use rand_core::RngCore as _;
        SplitMix64(rand_core::OsRng.next_u64())
    }
}

impl Rng for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A uniformly random duration in `0..=max`, to the millisecond.
pub fn uniform(rng: &mut dyn Rng, max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rng.next_u64() % max_ms.saturating_add(1))
}

/// Exponential backoff with "equal jitter": attempt `n` (from 0) waits
/// `d/2 + uniform(d/2)` where `d = min(max, base·2ⁿ)` — never less than half the
/// exponential delay, so a fleet whose collector comes back does not return all at
/// once, and never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 10 s, doubling, at most 15 minutes.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut dyn Rng) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let full = self.base.saturating_mul(factor).min(self.max);
        let half = full / 2;
        half + uniform(rng, full - half)
    }
}

/// The longest `Retry-After` the agent honours; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
/// relative to `now`; capped at [`MAX_RETRY_AFTER`]. `None` when unparsable.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, proptest};

    #[test]
    fn splitmix_known_answers() {
        // Reference values of SplitMix64 seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn backoff_schedule_is_exact_for_a_seed() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(160),
        };
        let mut rng = SplitMix64::new(42);
        let delays: Vec<u64> = (0..7)
            .map(|n| backoff.delay(n, &mut rng).as_millis() as u64)
            .collect();
        // Recompute the same schedule by hand from the same seed.
        let mut check = SplitMix64::new(42);
        let expected: Vec<u64> = [10_000u64, 20_000, 40_000, 80_000, 160_000, 160_000, 160_000]
            .iter()
            .map(|full| full / 2 + check.next_u64() % (full - full / 2 + 1))
            .collect();
        assert_eq!(delays, expected);
        // Within [d/2, d] for every attempt, and capped.
        for (n, d) in delays.iter().enumerate() {
            let full = (10_000u64 << n).min(160_000);
            assert!((full / 2..=full).contains(d), "attempt {n}: {d}");
        }
        // Same seed, same schedule; another seed, another one.
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut c = SplitMix64::new(8);
        let da: Vec<_> = (0..5).map(|n| backoff.delay(n, &mut a)).collect();
        let db: Vec<_> = (0..5).map(|n| backoff.delay(n, &mut b)).collect();
        let dc: Vec<_> = (0..5).map(|n| backoff.delay(n, &mut c)).collect();
        assert_eq!(da, db);
        assert_ne!(da, dc);
    }

    #[test]
    fn huge_attempt_numbers_stay_at_the_cap() {
        let backoff = Backoff::default();
        let mut rng = SplitMix64::new(1);
        for attempt in [40, 1000, u32::MAX] {
            let d = backoff.delay(attempt, &mut rng);
            assert!(d <= backoff.max && d >= backoff.max / 2, "{d:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: DateTime<Utc> = "2015-10-21T07:27:00Z".parse().unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        // A date in the past means now.
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    proptest! {
        #[test]
        fn uniform_stays_in_range(seed in any::<u64>(), max_ms in 0u64..10_000_000) {
            let mut rng = SplitMix64::new(seed);
            let max = Duration::from_millis(max_ms);
            prop_assert!(uniform(&mut rng, max) <= max);
        }

        #[test]
        fn retry_after_never_panics(s in ".{0,60}") {
            let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
            if let Some(d) = retry_after(&s, now) {
                prop_assert!(d <= MAX_RETRY_AFTER);
            }
        }
    }
}
