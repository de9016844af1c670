//! Pacing requests so one API key never exceeds its published rate limit.
//!
//! Runbase allows 20 requests per 10 seconds per key, creates and polls
//! counted together. A client running a thousand jobs on one key must
//! therefore share one budget between every submit and every poll of every
//! job, or it will be refused with 429s (which cost time and, worse, retry
//! budget). [`RateBudget`] is that shared budget: a *sliding-window log* that
//! lets at most `requests` starts happen in any window of `per` plus a small
//! safety margin (the server counts arrivals, which trail our starts by a
//! varying network delay).
//!
//! Waiting is FIFO (a `tokio` mutex queues waiters in order), costs O(1) per
//! request and one timer for the waiter at the head of the queue; there is no
//! busy loop. A 429 received anyway pushes the whole account back
//! ([`RateBudget::penalize`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::capabilities::RateLimit;

/// The smallest safety margin added to a rate window.
pub const MIN_RATE_MARGIN: Duration = Duration::from_millis(100);

/// A sliding-window request budget for one account.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use imagegen_core::{RateBudget, RateLimit};
/// let budget = RateBudget::new(RateLimit { requests: 2, per: Duration::from_millis(50) });
/// let start = tokio::time::Instant::now();
/// for _ in 0..3 {
///     budget.acquire().await;
/// }
/// // The third start had to wait for the first to leave the window.
/// assert!(start.elapsed() >= Duration::from_millis(50));
/// # }
/// ```
#[derive(Debug)]
pub struct RateBudget {
    limit: RateLimit,
    window: Duration,
    /// Start times of the last `limit.requests` requests, oldest first.
    log: tokio::sync::Mutex<VecDeque<Instant>>,
    /// No request starts before this (set by a 429).
    blocked_until: Mutex<Option<Instant>>,
}

impl RateBudget {
    /// A budget for `limit` with the default safety margin: 5 % of the
    /// window, at least [`MIN_RATE_MARGIN`].
    pub fn new(limit: RateLimit) -> Self {
        let margin = (limit.per / 20).max(MIN_RATE_MARGIN);
        RateBudget::with_margin(limit, margin)
    }

    /// A budget for `limit` whose window is `limit.per + margin`.
    pub fn with_margin(limit: RateLimit, margin: Duration) -> Self {
        let requests = limit.requests.max(1) as usize;
        RateBudget {
            limit,
            window: limit.per + margin,
            log: tokio::sync::Mutex::new(VecDeque::with_capacity(requests)),
            blocked_until: Mutex::new(None),
        }
    }

    /// The published limit this budget enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// The enforced window (the published one plus the margin).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Waits until a request may start, and records its start. Waiters are
    /// served in the order they arrived. Dropping the future gives up the
    /// place in the queue without using a slot.
    pub async fn acquire(&self) {
        let cap = self.limit.requests.max(1) as usize;
        let mut log = self.log.lock().await;
        loop {
            let now = Instant::now();
            if let Some(until) = self.blocked_until()
                && until > now
            {
                sleep_until(until).await;
                continue;
            }
            while log.front().is_some_and(|&t| t + self.window <= now) {
                log.pop_front();
            }
            if log.len() < cap {
                log.push_back(now);
                return;
            }
            let next = log[0] + self.window;
            sleep_until(next).await;
        }
    }

    /// Holds every request on the account back for `wait` from now (after a
    /// 429, for the `Retry-After` the provider sent).
    pub fn penalize(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut blocked = self
            .blocked_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocked.is_none_or(|b| b < until) {
            *blocked = Some(until);
        }
    }

    fn blocked_until(&self) -> Option<Instant> {
        *self
            .blocked_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn limit(requests: u32, per_ms: u64) -> RateLimit {
        RateLimit {
            requests,
            per: Duration::from_millis(per_ms),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_n_starts_in_any_window() {
        let budget = Arc::new(RateBudget::new(limit(5, 1000)));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let mut jobs = Vec::new();
        for _ in 0..60 {
            let budget = budget.clone();
            let starts = starts.clone();
            jobs.push(async move {
                budget.acquire().await;
                starts.lock().unwrap().push(Instant::now());
            });
        }
        futures::future::join_all(jobs).await;
        let mut starts = starts.lock().unwrap().clone();
        starts.sort();
        assert_eq!(starts.len(), 60);
        for pair in starts.windows(6) {
            assert!(pair[5] - pair[0] >= Duration::from_millis(1000));
        }
        // And it is not needlessly slow: 12 windows of 1.1 s minus one.
        let total = starts[59] - starts[0];
        assert!(total <= Duration::from_millis(11 * 1100), "{total:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn penalize_holds_everyone_back() {
        let budget = RateBudget::new(limit(100, 1000));
        budget.acquire().await;
        budget.penalize(Duration::from_secs(3));
        let start = Instant::now();
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // A shorter penalty never shortens a longer one.
        budget.penalize(Duration::from_secs(5));
        budget.penalize(Duration::from_secs(1));
        let start = Instant::now();
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn margin_defaults_to_five_percent_or_100ms() {
        assert_eq!(
            RateBudget::new(limit(20, 10_000)).window(),
            Duration::from_millis(10_500)
        );
        assert_eq!(
            RateBudget::new(limit(20, 1_000)).window(),
            Duration::from_millis(1_100)
        );
    }
}
