//! The random source for backoff and poll jitter, seedable for tests.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The random source for backoff and poll jitter. Seed it for
/// reproducible tests ([`ClientBuilder::jitter_seed`](crate::ClientBuilder::jitter_seed)).
pub struct Jitter(Mutex<SmallRng>);

impl Jitter {
    /// A generator seeded from the operating system.
    pub fn from_entropy() -> Self {
        Jitter(Mutex::new(SmallRng::from_entropy()))
    }
    /// A reproducible generator.
    pub fn seeded(seed: u64) -> Self {
        Jitter(Mutex::new(SmallRng::seed_from_u64(seed)))
    }
    /// A uniformly random duration in `[0, max)` (zero when `max` is zero).
    pub fn below(&self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(self.lock().gen_range(0..nanos))
    }
    /// A uniformly random factor in `[lo, hi)`.
    pub fn factor(&self, lo: f64, hi: f64) -> f64 {
        // Also catches NaN and infinite bounds, which `gen_range` rejects.
        if !(hi > lo && lo.is_finite() && hi.is_finite()) {
            return if lo.is_finite() { lo } else { 1.0 };
        }
        self.lock().gen_range(lo..hi)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, SmallRng> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::from_entropy()
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}
