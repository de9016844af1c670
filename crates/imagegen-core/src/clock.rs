//! Instants from durations that may be huge.
//!
//! `Instant + Duration` panics on overflow, and durations here come from
//! users (`--timeout`, a poll policy) and servers (`Retry-After`). Every
//! deadline is computed through [`later`], which clamps instead.

use std::time::Duration;

use tokio::time::Instant;

/// The furthest any deadline is set: about a century, far beyond any wait
/// yet representable on every platform.
pub const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `from + wait`, or `from` plus [`FAR_FUTURE`] when that would overflow or
/// `wait` is longer.
pub fn later(from: Instant, wait: Duration) -> Instant {
    let wait = wait.min(FAR_FUTURE);
    from.checked_add(wait)
        .or_else(|| from.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(from)
}

/// `now + wait`, clamped as [`later`] does.
pub fn after(wait: Duration) -> Instant {
    later(Instant::now(), wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_waits_are_clamped_not_a_panic() {
        let now = Instant::now();
        assert_eq!(later(now, Duration::MAX), later(now, FAR_FUTURE));
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(3600 * 24 * 365));
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}
