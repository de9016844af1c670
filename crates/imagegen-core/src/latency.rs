//! How long tasks take: the client's learned estimate, per provider,
//! quality and aspect, that the waiter aims its polls with.
//!
//! Each finished task tells the client a little: it was still running at
//! the last poll that said so (`pending`) and finished by the poll that said
//! so (`done`), both measured from its create. The estimate keeps three
//! quantiles of the submit-to-done duration, `low` (10 %), `typical` (50 %)
//! and `high` (90 %), each tracked by a stochastic-approximation step in log
//! space: a quantile `θ` at level `q` moves by `η (q − I)` where `I` is the
//! share of the observed interval `(pending, done]` that lies below `θ`
//! (1 when the task was done by `θ`, 0 when it was still running at `θ`).
//! The interval the waiter polls at also bounds what one observation says:
//! a task found done by a poll sent on schedule is taken to have finished
//! within one interval before it; a poll held back by a full rate budget
//! says only "done by then" (an upper bound, which moves only the quantiles
//! above it). A provider that reports its own creation and completion
//! times ([`TaskStatus::reported_duration`](crate::TaskStatus::reported_duration):
//! Runbase, Replicate) gives the duration exactly, however late the poll.
//! Steps start large (the first observation replaces the provider's seed
//! outright) and shrink to `η = 0.05`, so the estimate
//! follows a provider that gets slower or faster within a few dozen tasks
//! without jumping at every outlier.
//!
//! Until a key has data, the provider's
//! [`typical_duration`](crate::Capabilities::typical_duration) seeds it.
//! [`Client::latency_estimates`](crate::Client::latency_estimates) returns a
//! serializable snapshot, and
//! [`ClientBuilder::latency_estimates`](crate::ClientBuilder::latency_estimates)
//! restores one, so a program that runs batches (the CLI's journal) can keep
//! what it learned across runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::request::{Aspect, Quality};

/// The quantile levels tracked.
const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];
/// The smallest step (in log space) once a key has many samples.
const MIN_STEP: f64 = 0.05;
/// Durations are kept between 1 ms and a day.
const SHORTEST: f64 = 0.001;
const LONGEST: f64 = 86_400.0;

/// What a latency estimate is kept for: one provider, quality and aspect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LatencyKey {
    /// The provider's name.
    pub provider: String,
    /// The quality asked for (`None`: the provider's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// The aspect asked for (`None`: the provider's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<Aspect>,
}

impl LatencyKey {
    /// The key of `provider` at `quality` and `aspect`.
    pub fn new(
        provider: impl Into<String>,
        quality: Option<Quality>,
        aspect: Option<Aspect>,
    ) -> Self {
        LatencyKey {
            provider: provider.into(),
            quality,
            aspect,
        }
    }
}

/// How long tasks of one key take from create to done: three quantiles,
/// and how many finished tasks they were learned from.
///
/// ```
/// use std::time::Duration;
/// use imagegen_core::LatencyEstimate;
/// let seed = LatencyEstimate::seed(Duration::from_secs(10));
/// assert_eq!(seed.samples, 0);
/// assert!(seed.low < seed.typical && seed.typical < seed.high);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyEstimate {
    /// The 10 % quantile: few tasks are done sooner.
    #[serde(rename = "low_ms", with = "crate::serde_duration_ms")]
    pub low: Duration,
    /// The median.
    #[serde(rename = "typical_ms", with = "crate::serde_duration_ms")]
    pub typical: Duration,
    /// The 90 % quantile: few tasks take longer.
    #[serde(rename = "high_ms", with = "crate::serde_duration_ms")]
    pub high: Duration,
    /// Finished tasks it was learned from (0: a seed, not yet learned).
    pub samples: u32,
}

impl LatencyEstimate {
    /// A seed from a typical duration, before any task was seen: `low` is
    /// half of it and `high` one and a half times.
    pub fn seed(typical: Duration) -> Self {
        let typical = clamp_secs(typical.as_secs_f64());
        LatencyEstimate {
            low: secs(typical / 2.0),
            typical: secs(typical),
            high: secs(typical * 1.5),
            samples: 0,
        }
    }

    /// The seed for `quality` from a provider's typical duration of a
    /// `medium` task: half for `low`, twice for `high`.
    pub fn seed_for(typical_medium: Duration, quality: Option<Quality>) -> Self {
        let factor = match quality {
            Some(Quality::Low) => 0.5,
            Some(Quality::High) => 2.0,
            _ => 1.0,
        };
        LatencyEstimate::seed(typical_medium.mul_f64(factor))
    }

    /// Whether finished tasks taught it anything (a restored estimate with
    /// samples counts).
    pub fn is_learned(&self) -> bool {
        self.samples > 0
    }

    fn levels(&self) -> [f64; 3] {
        [
            self.low.as_secs_f64(),
            self.typical.as_secs_f64(),
            self.high.as_secs_f64(),
        ]
    }

    /// Folds in one finished task: done by `done` after its create, and
    /// finished after `after` (the last time it was seen running, or one
    /// interval before `done` when it was polled on schedule); `None` when
    /// nothing bounds it from below (a poll held back by a full rate budget
    /// found it done: it says only that the task took at most `done`).
    /// `after == done` is an exact duration (the provider reported it).
    pub(crate) fn observe(&mut self, after: Option<Duration>, done: Duration) {
        let done_s = clamp_secs(done.as_secs_f64());
        let Some(after) = after else {
            // An upper bound only: the quantiles above it learn that the
            // task was done by then; it does not replace a seed.
            if self.samples == 0 {
                return;
            }
            let step = (1.0 / f64::from(self.samples + 1)).max(MIN_STEP);
            let mut levels = self.levels();
            for (value, q) in levels.iter_mut().zip(LEVELS) {
                if done_s <= *value {
                    *value = clamp_secs(*value * (step * (q - 1.0)).exp());
                }
            }
            self.set(levels);
            return;
        };
        let after_s = after.as_secs_f64().clamp(0.0, done_s);
        if self.samples == 0 && after_s >= done_s {
            // An exact first duration (the provider's own times) says
            // nothing of the spread: a fifth either side (in log space)
            // until the next tasks teach it.
            self.low = secs(done_s * 0.8);
            self.typical = secs(done_s);
            self.high = secs(done_s * 1.25);
            self.samples = 1;
            return;
        }
        if self.samples == 0 {
            // The first observation replaces the seed.
            let low = clamp_secs(after_s.max(done_s / 2.0));
            self.low = secs(low);
            self.typical = secs((low + done_s) / 2.0);
            self.high = secs(done_s);
            self.samples = 1;
            return;
        }
        let step = (1.0 / f64::from(self.samples + 1)).max(MIN_STEP);
        let mut levels = self.levels();
        for (value, q) in levels.iter_mut().zip(LEVELS) {
            let below = if done_s <= *value {
                1.0
            } else if after_s >= *value {
                0.0
            } else {
                (*value - after_s) / (done_s - after_s)
            };
            *value = clamp_secs(*value * (step * (q - below)).exp());
        }
        self.set(levels);
    }

    /// Sets the quantiles, kept ordered, and counts a sample.
    fn set(&mut self, mut levels: [f64; 3]) {
        levels[1] = levels[1].max(levels[0]);
        levels[2] = levels[2].max(levels[1]);
        self.low = secs(levels[0]);
        self.typical = secs(levels[1]);
        self.high = secs(levels[2]);
        self.samples = self.samples.saturating_add(1);
    }
}

fn clamp_secs(value: f64) -> f64 {
    if value.is_nan() {
        SHORTEST
    } else {
        value.clamp(SHORTEST, LONGEST)
    }
}

fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(clamp_secs(value))
}

/// One key's estimate, as a snapshot lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyEntry {
    /// What it is for.
    #[serde(flatten)]
    pub key: LatencyKey,
    /// The estimate.
    #[serde(flatten)]
    pub estimate: LatencyEstimate,
}

/// A snapshot of a client's latency estimates, to store (e.g. beside a
/// batch journal) and restore with
/// [`ClientBuilder::latency_estimates`](crate::ClientBuilder::latency_estimates).
/// JSON: `{"entries": [{"provider", "quality"?, "aspect"?, "low_ms",
/// "typical_ms", "high_ms", "samples"}]}`.
///
/// ```
/// use std::time::Duration;
/// use imagegen_core::{LatencyEstimate, LatencyEstimates, LatencyKey, Quality};
/// let mut snapshot = LatencyEstimates::default();
/// snapshot.insert(
///     LatencyKey::new("runbase", Some(Quality::High), None),
///     LatencyEstimate::seed(Duration::from_secs(20)),
/// );
/// let json = serde_json::to_string(&snapshot).unwrap();
/// let back: LatencyEstimates = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, snapshot);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyEstimates {
    /// One entry per key, sorted by provider.
    pub entries: Vec<LatencyEntry>,
}

impl LatencyEstimates {
    /// Adds or replaces the estimate of `key`.
    pub fn insert(&mut self, key: LatencyKey, estimate: LatencyEstimate) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => entry.estimate = estimate,
            None => self.entries.push(LatencyEntry { key, estimate }),
        }
    }

    /// The estimate of `key`, if there is one.
    pub fn get(&self, key: &LatencyKey) -> Option<&LatencyEstimate> {
        self.entries
            .iter()
            .find(|e| &e.key == key)
            .map(|e| &e.estimate)
    }
}

/// The estimates a client keeps, shared by all its waits.
#[derive(Debug, Default)]
pub(crate) struct LatencyBook {
    map: Mutex<HashMap<LatencyKey, LatencyEstimate>>,
}

impl LatencyBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LatencyKey, LatencyEstimate>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A book holding `snapshot`.
    pub(crate) fn restored(snapshot: LatencyEstimates) -> Self {
        let book = LatencyBook::default();
        {
            let mut map = book.lock();
            for entry in snapshot.entries {
                map.insert(entry.key, entry.estimate);
            }
        }
        book
    }

    /// The estimate of `key`, or `seed` when there is none yet.
    pub(crate) fn get_or(&self, key: &LatencyKey, seed: LatencyEstimate) -> LatencyEstimate {
        self.lock().get(key).copied().unwrap_or(seed)
    }

    /// Folds a finished task into `key`'s estimate (starting from `seed`);
    /// see [`LatencyEstimate::observe`].
    pub(crate) fn observe(
        &self,
        key: LatencyKey,
        seed: LatencyEstimate,
        after: Option<Duration>,
        done: Duration,
    ) {
        self.lock().entry(key).or_insert(seed).observe(after, done);
    }

    /// Every estimate, sorted by provider, quality and aspect names.
    pub(crate) fn snapshot(&self) -> LatencyEstimates {
        let mut entries: Vec<LatencyEntry> = self
            .lock()
            .iter()
            .map(|(key, estimate)| LatencyEntry {
                key: key.clone(),
                estimate: *estimate,
            })
            .collect();
        entries.sort_by_cached_key(|e| format!("{:?}", e.key));
        LatencyEstimates { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Feeds `n` tasks drawn by `draw`, each observed as a poller with
    /// `interval` and polls aimed at the estimate would see it.
    fn learn(
        estimate: &mut LatencyEstimate,
        n: usize,
        interval: f64,
        mut draw: impl FnMut() -> f64,
    ) {
        for _ in 0..n {
            let d = draw();
            // Polls at the grid that ends at `high`, as the waiter aims them.
            let (low, high) = (estimate.low.as_secs_f64(), estimate.high.as_secs_f64());
            let mut t = high - ((high - low) / interval).floor() * interval;
            let mut pending: Option<f64> = None;
            while t < d {
                pending = Some(t);
                t += interval;
            }
            let after = pending.unwrap_or(0.0).max(t - interval);
            estimate.observe(Some(s(after)), s(t));
        }
    }

    #[test]
    fn the_first_observation_replaces_the_seed() {
        let mut estimate = LatencyEstimate::seed(s(10.0));
        // A poll held back by the rate budget: only an upper bound, no seed
        // replaced.
        estimate.observe(None, s(21.0));
        assert_eq!(estimate, LatencyEstimate::seed(s(10.0)));
        estimate.observe(Some(s(0.03)), s(0.05));
        assert_eq!(estimate.samples, 1);
        assert_eq!(estimate.high, s(0.05));
        assert!(estimate.low >= s(0.03) && estimate.low <= estimate.typical);
    }

    #[test]
    fn learns_the_spread_of_a_uniform_distribution() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut estimate = LatencyEstimate::seed(s(10.0));
        learn(&mut estimate, 300, 2.0, || rng.gen_range(7.2..10.8));
        let (low, typical, high) = (
            estimate.low.as_secs_f64(),
            estimate.typical.as_secs_f64(),
            estimate.high.as_secs_f64(),
        );
        assert!((6.5..8.5).contains(&low), "{estimate:?}");
        assert!((8.0..10.0).contains(&typical), "{estimate:?}");
        assert!((9.5..11.5).contains(&high), "{estimate:?}");
        assert_eq!(estimate.samples, 300);
    }

    #[test]
    fn an_upper_bound_moves_only_the_quantiles_above_it() {
        let mut estimate = LatencyEstimate {
            low: s(8.0),
            typical: s(9.0),
            high: s(10.0),
            samples: 50,
        };
        let before = estimate;
        estimate.observe(None, s(9.5));
        assert_eq!(
            (estimate.low, estimate.typical),
            (before.low, before.typical)
        );
        assert!(estimate.high < before.high);
        estimate.observe(None, s(30.0));
        assert_eq!(estimate.high, {
            let mut e = before;
            e.observe(None, s(9.5));
            e.high
        });
    }

    #[test]
    fn follows_a_provider_that_gets_slower_or_faster() {
        let mut estimate = LatencyEstimate::seed(s(10.0));
        learn(&mut estimate, 60, 1.0, || 9.0);
        assert!(
            (8.0..10.5).contains(&estimate.high.as_secs_f64()),
            "{estimate:?}"
        );
        learn(&mut estimate, 60, 1.0, || 18.0);
        assert!(
            (16.0..21.0).contains(&estimate.typical.as_secs_f64()),
            "{estimate:?}"
        );
        learn(&mut estimate, 150, 1.0, || 6.0);
        assert!(
            (5.0..8.0).contains(&estimate.typical.as_secs_f64()),
            "{estimate:?}"
        );
    }

    #[test]
    fn nonsense_never_panics_and_stays_ordered() {
        let mut estimate = LatencyEstimate::seed(Duration::MAX);
        assert!(estimate.high <= s(LONGEST));
        for (after, done) in [
            (Some(Duration::ZERO), Duration::ZERO),
            (Some(Duration::MAX), Duration::ZERO),
            (Some(s(5.0)), s(1.0)),
            (None, Duration::MAX),
            (None, Duration::ZERO),
        ] {
            estimate.observe(after, done);
            assert!(estimate.low <= estimate.typical && estimate.typical <= estimate.high);
            assert!(estimate.low >= s(SHORTEST) && estimate.high <= s(LONGEST));
        }
    }

    #[test]
    fn a_book_snapshot_round_trips_and_restores() {
        let book = LatencyBook::default();
        let key = LatencyKey::new("a", Some(Quality::High), Some(Aspect::Square));
        let seed = LatencyEstimate::seed(s(10.0));
        book.observe(key.clone(), seed, Some(s(8.0)), s(9.0));
        let snapshot = book.snapshot();
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(json.contains(r#""provider":"a""#), "{json}");
        assert!(json.contains(r#""high_ms":9000"#), "{json}");
        let back: LatencyEstimates = serde_json::from_str(&json).unwrap();
        let restored = LatencyBook::restored(back);
        assert_eq!(restored.get_or(&key, seed), book.get_or(&key, seed));
        assert!(restored.get_or(&key, seed).is_learned());
        let other = LatencyKey::new("a", None, None);
        assert_eq!(restored.get_or(&other, seed), seed);
    }
}
