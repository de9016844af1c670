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
//! A request whose window has room records its start in a short synchronous
//! critical section and goes at once: no `await`, no wake-up, one clock read.
//! Only when the window is full (or the account is held back) does a caller
//! queue, on a `tokio` mutex whose waiters are served in arrival order; while
//! anyone is queued, newcomers queue behind them rather than take a freed
//! slot, so no caller starves. The head of the queue sleeps on one timer
//! until the oldest start leaves the window; there is no busy loop. A 429
//! received anyway pushes the whole account back ([`RateBudget::penalize`]).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
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
    /// `limit.requests`, at least 1.
    cap: usize,
    /// Held only for a few instructions and never across an `await`, so a
    /// `std` mutex: an uncontended request takes no async lock at all.
    state: Mutex<State>,
    /// Callers that found no room line up here; the holder is the one that
    /// gets the next slot.
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Start times of the last `cap` requests, oldest first.
    log: VecDeque<Instant>,
    /// No request starts before this (set by a 429).
    blocked_until: Option<Instant>,
    /// Callers in the slow path (queued, or holding the queue). While there
    /// are any, the fast path is closed, so a freed slot goes to them first.
    waiting: usize,
}

impl State {
    /// Records a start at `now` if the account may send one; otherwise says
    /// when to look again.
    fn try_start(&mut self, now: Instant, cap: usize, window: Duration) -> Result<(), Instant> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(until);
            }
            self.blocked_until = None;
        }
        while self.log.front().is_some_and(|&t| t + window <= now) {
            self.log.pop_front();
        }
        if self.log.len() < cap {
            self.log.push_back(now);
            Ok(())
        } else {
            Err(self.log[0] + window)
        }
    }
}

/// Counts a caller in the slow path until it starts or gives up (its
/// future dropped), so an abandoned wait never keeps the fast path closed.
struct Waiting<'a> {
    budget: &'a RateBudget,
    counted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.budget.lock().waiting -= 1;
        }
    }
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
        let cap = limit.requests.max(1) as usize;
        RateBudget {
            limit,
            window: limit.per + margin,
            cap,
            state: Mutex::new(State {
                log: VecDeque::with_capacity(cap),
                blocked_until: None,
                waiting: 0,
            }),
            queue: tokio::sync::Mutex::new(()),
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

    /// Records a request's start and returns `true` if it may start now
    /// without waiting: the window has room, the account is not held back,
    /// and nobody is already waiting. Otherwise `false`, and nothing is
    /// recorded.
    pub fn try_acquire(&self) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        state.waiting == 0 && state.try_start(now, self.cap, self.window).is_ok()
    }

    /// Waits until a request may start, and records its start. Returns at
    /// once, without yielding, when the window has room and nobody is
    /// waiting; otherwise waiters are served in the order they arrived.
    /// Dropping the future gives up the place in the queue without using a
    /// slot.
    pub async fn acquire(&self) {
        let now = Instant::now();
        {
            let mut state = self.lock();
            if state.waiting == 0 && state.try_start(now, self.cap, self.window).is_ok() {
                return;
            }
            // Counted in the same critical section that found no room, so
            // no later caller can slip past through the fast path.
            state.waiting += 1;
        }
        let mut waiting = Waiting {
            budget: self,
            counted: true,
        };
        let _turn = self.queue.lock().await;
        loop {
            // Read after every sleep: the recorded start must not be earlier
            // than the real one, or it would leave the window too soon.
            let now = Instant::now();
            let next = {
                let mut state = self.lock();
                match state.try_start(now, self.cap, self.window) {
                    Ok(()) => {
                        state.waiting -= 1;
                        waiting.counted = false;
                        return;
                    }
                    Err(next) => next,
                }
            };
            sleep_until(next).await;
        }
    }

    /// Holds every request on the account back for `wait` from now (after a
    /// 429, for the `Retry-After` the provider sent).
    pub fn penalize(&self, wait: Duration) {
        let until = crate::clock::after(wait);
        let mut state = self.lock();
        if state.blocked_until.is_none_or(|b| b < until) {
            state.blocked_until = Some(until);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, so a poisoned state is whole.
        self.state
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
    async fn a_full_window_waits_then_proceeds() {
        let budget = RateBudget::new(limit(3, 1000));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(budget.try_acquire(), "room in the window: no waiting");
        }
        assert!(!budget.try_acquire(), "the window is full");
        assert_eq!(start.elapsed(), Duration::ZERO);
        budget.acquire().await;
        // Exactly when the first start left the 1.1 s window, not later.
        assert_eq!(start.elapsed(), Duration::from_millis(1100));
        assert_eq!(budget.lock().waiting, 0);
        // The three earlier starts left together; only this one is counted.
        assert_eq!(budget.lock().log.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_order_and_never_overtaken() {
        let budget = Arc::new(RateBudget::new(limit(1, 1000)));
        let order = Arc::new(Mutex::new(Vec::new()));
        budget.acquire().await;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for name in ["first", "second", "third"] {
            let (budget, order) = (budget.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                budget.acquire().await;
                order.lock().unwrap().push((name, start.elapsed()));
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            [
                ("first", Duration::from_millis(1100)),
                ("second", Duration::from_millis(2200)),
                ("third", Duration::from_millis(3300)),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_goes_to_the_waiter_not_a_newcomer() {
        let budget = RateBudget::new(limit(1, 1000));
        budget.acquire().await;
        let start = Instant::now();
        let waiter = budget.acquire();
        tokio::pin!(waiter);
        assert!(futures::poll!(&mut waiter).is_pending());
        // The slot is free now, but the waiter has not run yet: a newcomer
        // must queue behind it instead of taking the slot.
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(!budget.try_acquire());
        waiter.await;
        assert_eq!(start.elapsed(), Duration::from_millis(1100));
        // With the queue empty again, the fast path is open (once the window
        // has room).
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(budget.try_acquire());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_wait_reopens_the_fast_path() {
        let budget = RateBudget::new(limit(1, 1000));
        budget.acquire().await;
        let gave_up = tokio::time::timeout(Duration::from_millis(500), budget.acquire()).await;
        assert!(gave_up.is_err());
        assert_eq!(budget.lock().waiting, 0, "the dropped waiter is uncounted");
        assert_eq!(budget.lock().log.len(), 1, "and used no slot");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(budget.try_acquire());
    }

    /// Real threads racing through the fast path. Every start is at or after
    /// `t0` and no later than the moment its acquirer saw it return, so the
    /// acquirers that returned within `k` windows of `t0` started inside
    /// `[t0, t0 + k * window)`: at most `k * cap` of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_threads_never_exceed_the_window() {
        const CAP: usize = 40;
        let budget = Arc::new(RateBudget::new(limit(CAP as u32, 200)));
        let window = budget.window();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let budget = budget.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..25 {
                    budget.acquire().await;
                    seen.push(Instant::now());
                }
                seen
            }));
        }
        let mut returned = Vec::new();
        for task in tasks {
            returned.extend(task.await.unwrap());
        }
        returned.sort();
        assert_eq!(returned.len(), 200);
        for k in 1..=5u32 {
            let end = t0 + window * k;
            let within = returned.iter().filter(|&&t| t < end).count();
            assert!(
                within <= CAP * k as usize,
                "{within} starts within {k} windows"
            );
        }
        // Not needlessly slow either: 200 starts need 5 windows, 4 waits.
        assert!(returned[199] - t0 < window * 4 + Duration::from_secs(2));
        assert_eq!(budget.lock().waiting, 0);
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
