//! Runbase's per-key request budget, its usage quota, and the 429 bursts of
//! fault injection.
//!
//! The budget is a fixed window per key (decision: Runbase does not say
//! whether its window slides): the first counted request opens a window of
//! `window`; up to `requests` requests pass in it; later ones get 429
//! `RATE_LIMITED` with `Retry-After` set to the whole seconds left, at least
//! one, and, when the window is shorter than a second, `retry-after-ms` too.
//! Rejected requests do not use the budget.
//!
//! The same fixed-window limiter (without a quota) counts Replicate's creates
//! and other requests, Azure's requests per key and deployment, and
//! WaveSpeed's images per key; each seller's module shapes its own 429 (see
//! [`crate::config`] for the numbers).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Provider;
use crate::config::RateLimit;

struct Window {
    start: Instant,
    count: u32,
}

/// Per-key fixed windows plus lifetime request counts.
pub(crate) struct RateLimiter {
    limit: RateLimit,
    windows: Mutex<HashMap<String, (Window, u64)>>,
}

/// Verdict on one request.
pub(crate) enum Verdict {
    Pass,
    /// Over the budget; retry after this long.
    Limited(Duration),
    /// Over the lifetime quota.
    QuotaExceeded,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The configured budget.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts one request of `key`.
    pub fn check(&self, key: &str, quota: Option<u64>) -> Verdict {
        let now = Instant::now();
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (w, total) = map.entry(key.to_string()).or_insert((
            Window {
                start: now,
                count: 0,
            },
            0,
        ));
        if let Some(q) = quota
            && *total >= q
        {
            return Verdict::QuotaExceeded;
        }
        if self.limit.requests > 0 {
            if now.duration_since(w.start) >= self.limit.window {
                w.start = now;
                w.count = 0;
            }
            if w.count >= self.limit.requests {
                let left = self
                    .limit
                    .window
                    .saturating_sub(now.duration_since(w.start));
                return Verdict::Limited(left);
            }
            w.count += 1;
        }
        *total += 1;
        Verdict::Pass
    }

    pub fn reset(&self) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Retry-After in whole seconds, at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// Remaining lengths of 429 bursts, per provider and key.
#[derive(Default)]
pub(crate) struct Bursts {
    left: Mutex<HashMap<(Provider, String), u32>>,
}

impl Bursts {
    /// Whether this request is in a burst; `start` says whether the dice
    /// started a new one of `len` requests (this one included).
    pub fn hit(&self, provider: Provider, key: &str, start: bool, len: u32) -> bool {
        let mut map = self.left.lock().unwrap_or_else(|e| e.into_inner());
        let k = (provider, key.to_string());
        match map.get_mut(&k) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ if start => {
                map.insert(k, len.saturating_sub(1));
                true
            }
            _ => false,
        }
    }

    pub fn reset(&self) {
        self.left.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
