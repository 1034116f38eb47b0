//! Retry policy: exponential backoff with full jitter, and the server's Retry-After.

use ring::rand::{SecureRandom, SystemRandom};
use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(max, base * 2^n)]`, unless the server said how long to wait.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A policy starting at `base`, capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay: the server's `retry_after` (capped at `max`) when given, otherwise
    /// full jitter.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(self.attempt.min(30)))
            .min(self.max);
        self.attempt += 1;
        if let Some(wait) = retry_after {
            return wait.min(self.max);
        }
        let mut bytes = [0u8; 8];
        // On the (never seen) failure of the system RNG, wait the full ceiling.
        if SystemRandom::new().fill(&mut bytes).is_err() {
            return ceiling;
        }
        let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
        ceiling.mul_f64(fraction)
    }
}

/// The wait a response asks for in its `Retry-After` header: seconds or an HTTP date.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(value, SystemTime::now())
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_growing_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..8u32 {
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(attempt)).min(Duration::from_secs(2));
            assert!(b.next_delay(None) <= ceiling);
        }
        let delays: Vec<_> = (0..20).map(|_| b.next_delay(None)).collect();
        assert!(delays.iter().any(|d| *d != delays[0]), "jittered");
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(60));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(7200))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
