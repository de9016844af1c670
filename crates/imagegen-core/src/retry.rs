//! Retries: when to send a request again, how long to wait, and when to stop.
//!
//! The rules follow the AWS SDKs' *standard* retry mode, adapted to APIs
//! where a create request costs money:
//!
//! * **Full-jitter exponential backoff**: before retry `n` (0-based) sleep a
//!   uniformly random time in `[0, min(max_backoff, base_delay * 2^n))`, so
//!   clients that failed together do not come back together.
//! * **`Retry-After` wins** when the provider sent one, unless it asks for
//!   longer than [`RetryPolicy::max_retry_after`] or past the deadline: then
//!   the error is returned at once rather than slept on.
//! * **A retry budget per account** ([`RetryBudget`], a token bucket shared
//!   by every request on the key): a retry costs tokens, a success refunds
//!   some, and an empty bucket means "fail fast", so an outage does not turn
//!   into a retry storm.
//! * **A create is never sent twice** after a failure that may have reached
//!   the server ([`Error::may_have_reached_server`]) unless the caller opted
//!   in: only failures known to happen before acceptance (connection refused,
//!   `429 RATE_LIMITED`) are retried. Status polls and downloads are free and
//!   always retried on retryable errors.
//! * **One overall deadline** bounds attempts, sleeps and rate-budget waits.
//! * **A bounded number of requests in flight per account**: each attempt
//!   holds one of the account's in-flight permits
//!   ([`AccountLimits::max_in_flight`](crate::budgets::AccountLimits)) while
//!   it runs, and only then: not while it waits for the rate budget (its
//!   recorded start moves to when it got the permit), never while sleeping
//!   before a retry.
//!
//! Each attempt runs under `tokio::time::timeout_at(deadline, ..)`: the
//! deadline is an argument of the loop, not a hidden channel, and an attempt
//! cut there is a [`ErrorKind::Timeout`] that may have reached the server.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{Instant, timeout_at};

use crate::error::{Error, ErrorKind};
use crate::rate::RateBudget;

pub use crate::jitter::Jitter;
pub use crate::retry_budget::{RetryBudget, RetryBudgetConfig};

/// The hint put on a create error that may have been accepted.
pub const AMBIGUOUS_CREATE_HINT: &str = "the create may have been accepted and charged; check the provider's dashboard before resubmitting, or opt in to retry_ambiguous_creates";

/// How a [`Client`](crate::Client) retries one request.
///
/// ```
/// use std::time::Duration;
/// use imagegen_core::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .with_max_attempts(6)
///     .with_base_delay(Duration::from_millis(200))
///     .with_deadline(Duration::from_secs(60));
/// assert_eq!(policy.backoff_ceiling(0), Duration::from_millis(200));
/// assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(1600));
/// assert_eq!(policy.backoff_ceiling(30), policy.max_backoff);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries). Default 4.
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry. Default 500 ms.
    pub base_delay: Duration,
    /// The largest backoff ceiling. Default 20 s.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the retries
    /// with the error. Default 60 s.
    pub max_retry_after: Duration,
    /// The overall deadline for one operation (all attempts, sleeps and
    /// waits for the rate budget). Default 10 minutes: a synchronous `high`
    /// generation can take minutes by itself.
    pub deadline: Duration,
    /// The per-account retry budget; `None` disables it.
    pub budget: Option<RetryBudgetConfig>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            deadline: Duration::from_secs(600),
            budget: Some(RetryBudgetConfig::default()),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn no_retries() -> Self {
        RetryPolicy::default().with_max_attempts(1)
    }
    /// Sets the number of attempts (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Sets the backoff ceiling before the first retry.
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }
    /// Sets the largest backoff ceiling.
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }
    /// Sets the longest `Retry-After` honoured.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }
    /// Sets the overall deadline of one operation.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
    /// Sets (or with `None` disables) the per-account retry budget.
    pub fn with_budget(mut self, budget: Option<RetryBudgetConfig>) -> Self {
        self.budget = budget;
        self
    }

    /// The upper bound of the random backoff before retry `retry` (0-based):
    /// `min(max_backoff, base_delay * 2^retry)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// A full-jitter backoff before retry `retry`: uniform in
    /// `[0, backoff_ceiling(retry))`.
    pub fn backoff(&self, retry: u32, jitter: &Jitter) -> Duration {
        jitter.below(self.backoff_ceiling(retry))
    }
}

/// What is being retried; decides which failures may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// A create: paid; never resent after a possibly-accepted failure unless
    /// `retry_ambiguous`.
    Create { retry_ambiguous: bool },
    /// A status poll: free, idempotent.
    Status,
    /// An image download: free, idempotent, not counted against the account.
    Download,
}

/// The decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Sleep `delay`, having taken `cost` tokens, then try again.
    Retry { delay: Duration, cost: u32 },
    /// Give up with the error.
    Stop(StopReason),
}

/// Why the retries ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    NotRetryable,
    Ambiguous,
    AttemptsExhausted,
    RetryAfterTooLong(Duration),
    PastDeadline,
    BudgetExhausted,
}

/// Everything one retried operation needs.
pub(crate) struct Retrier<'a> {
    pub policy: &'a RetryPolicy,
    pub budget: Option<&'a RetryBudget>,
    pub rate: Option<&'a RateBudget>,
    pub jitter: &'a Jitter,
    pub kind: CallKind,
    pub provider: &'a str,
    pub deadline: Instant,
    pub observer: Option<&'a dyn ClientObserver>,
}

/// Why requests wait, as a [`ClientObserver`] hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// The account's rate budget is full: the request waits for room.
    RateBudget,
    /// The provider asked to wait this long (`Retry-After`) before the
    /// next attempt.
    RetryAfter(Duration),
    /// A retry after a transient failure, after this backoff.
    Backoff(Duration),
}

/// Told what the client is waiting for, so a program can show it (a
/// progress display's "waiting for the rate budget" line). Called from the
/// request path: implementations must be quick and must not block.
pub trait ClientObserver: Send + Sync + std::fmt::Debug {
    /// A request to `provider` waits, for `why`; `error` is the failure
    /// that caused a retry, if one did.
    fn waiting(&self, provider: &str, why: Wait, error: Option<&Error>);
}

impl<'a> Retrier<'a> {
    /// Decides what to do after attempt number `attempt` (1-based) failed
    /// with `err` at `now`. Takes budget tokens only when it says `Retry`.
    pub(crate) fn decide(&self, err: &Error, attempt: u32, now: Instant) -> Verdict {
        if !err.is_retryable() {
            return Verdict::Stop(StopReason::NotRetryable);
        }
        if let CallKind::Create {
            retry_ambiguous: false,
        } = self.kind
            && err.may_have_reached_server()
        {
            return Verdict::Stop(StopReason::Ambiguous);
        }
        if attempt >= self.policy.max_attempts {
            return Verdict::Stop(StopReason::AttemptsExhausted);
        }
        let delay = match err.retry_after() {
            Some(wait) if wait > self.policy.max_retry_after => {
                return Verdict::Stop(StopReason::RetryAfterTooLong(wait));
            }
            Some(wait) => wait,
            None => self.policy.backoff(attempt - 1, self.jitter),
        };
        if crate::clock::later(now, delay) >= self.deadline {
            return Verdict::Stop(StopReason::PastDeadline);
        }
        let cost = match (self.kind, self.budget) {
            (CallKind::Download, _) | (_, None) => 0,
            (_, Some(budget)) => {
                let cost = budget.cost_of(err);
                if !budget.try_acquire(cost) {
                    return Verdict::Stop(StopReason::BudgetExhausted);
                }
                cost
            }
        };
        Verdict::Retry { delay, cost }
    }

    /// Runs `op` until it succeeds or a [`Verdict::Stop`], with no limit on
    /// requests in flight (downloads: free, and not an account's); see
    /// [`run_limited`](Self::run_limited).
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> (Result<T, Error>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.run_limited(None, op).await
    }

    /// Runs `op` until it succeeds or a [`Verdict::Stop`]; each attempt first
    /// takes one of `in_flight`'s permits (the account's limit on requests in
    /// flight; held for that attempt only), then waits for the rate budget,
    /// and runs within the deadline (see the [module docs](self)). Returns
    /// the result and the number of attempts made (requests sent).
    pub(crate) async fn run_limited<T, F, Fut>(
        &self,
        in_flight: Option<&'a Semaphore>,
        mut op: F,
    ) -> (Result<T, Error>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0u32;
        let mut spent = 0u32;
        let mut ambiguous = false;
        // The failure a retry is waiting to follow. If the deadline runs
        // out before that retry is sent, the call ends with this failure
        // (it says what went wrong: the host refused, the server erred)
        // rather than with "the deadline ran out" alone.
        let mut retrying: Option<Error> = None;
        let cut_short = |err: Error, retrying: Option<Error>| match retrying {
            Some(last) => (last, Some(StopReason::PastDeadline)),
            None => (err, None),
        };
        loop {
            // The rate slot comes first, so callers waiting for room hold
            // none of the account's in-flight permits (or 128 waiting
            // creates would keep a poll of a finished task from reaching the
            // rate budget's priority queue at all). A request that then waits
            // for a permit moves its recorded start to when it really starts,
            // so it never leaves the window early.
            if Instant::now() >= self.deadline {
                let err = Error::new(
                    ErrorKind::Timeout,
                    "the deadline ran out before the request could be sent",
                )
                .with_provider(self.provider)
                .with_retryable(false)
                .with_may_have_reached_server(false);
                let (err, reason) = cut_short(err, retrying);
                return (Err(self.finish(err, reason, ambiguous)), attempt);
            }
            let stamped = match self.rate_slot().await {
                Ok(stamped) => stamped,
                Err(err) => {
                    let (err, reason) = cut_short(err, retrying);
                    return (Err(self.finish(err, reason, ambiguous)), attempt);
                }
            };
            let permit = match self.in_flight_permit(in_flight).await {
                Ok((permit, waited)) => {
                    if let (true, Some(rate), Some(at)) = (waited, self.rate, stamped) {
                        rate.restamp(at, Instant::now());
                    }
                    permit
                }
                Err(err) => {
                    let (err, reason) = cut_short(err, retrying);
                    return (Err(self.finish(err, reason, ambiguous)), attempt);
                }
            };
            attempt += 1;
            let result = timeout_at(self.deadline, op())
                .await
                .unwrap_or_else(|_elapsed| Err(deadline_cut(self.provider)));
            drop(permit);
            let err = match result {
                Ok(value) => {
                    if let Some(budget) = self.budget
                        && self.kind != CallKind::Download
                    {
                        budget.record_success(spent);
                    }
                    return (Ok(value), attempt);
                }
                Err(err) => err,
            };
            if let Some(rate) = self.rate
                && err.kind() == ErrorKind::RateLimited
                && err.is_retryable()
            {
                // Everyone on the account waits, not only this request.
                let wait = err.retry_after().unwrap_or(rate.window());
                rate.penalize(wait.min(self.policy.max_retry_after));
            }
            ambiguous |= err.may_have_reached_server();
            match self.decide(&err, attempt, Instant::now()) {
                Verdict::Retry { delay, cost } => {
                    spent += cost;
                    if let Some(observer) = self.observer {
                        let why = match err.retry_after() {
                            Some(_) => Wait::RetryAfter(delay),
                            None => Wait::Backoff(delay),
                        };
                        observer.waiting(self.provider, why, Some(&err));
                    }
                    tracing::debug!(
                        provider = self.provider,
                        attempt,
                        kind = %err.kind(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying after a retryable failure"
                    );
                    tokio::time::sleep(delay).await;
                    retrying = Some(err);
                }
                Verdict::Stop(reason) => {
                    return (Err(self.finish(err, Some(reason), ambiguous)), attempt);
                }
            }
        }
    }

    /// One of the account's in-flight permits, waiting (within the
    /// deadline) when all are taken. The fast path arms no timer.
    async fn in_flight_permit(
        &self,
        in_flight: Option<&'a Semaphore>,
    ) -> Result<(Option<SemaphorePermit<'a>>, bool), Error> {
        let Some(slots) = in_flight else {
            return Ok((None, false));
        };
        if let Ok(permit) = slots.try_acquire() {
            return Ok((Some(permit), false));
        }
        match timeout_at(self.deadline, slots.acquire()).await {
            Ok(Ok(permit)) => Ok((Some(permit), true)),
            // The semaphore is never closed; were it, not counting the
            // request beats failing it.
            Ok(Err(_closed)) => Ok((None, true)),
            Err(_elapsed) => Err(Error::new(
                ErrorKind::Timeout,
                "the deadline ran out while waiting for one of the account's requests in flight to finish",
            )
            .with_provider(self.provider)),
        }
    }

    /// A start in the account's rate budget, waiting (within the deadline)
    /// when the window is full, or for the shared backend's answer. The
    /// fast path arms no timer.
    async fn rate_slot(&self) -> Result<Option<Instant>, Error> {
        let Some(rate) = self.rate else {
            return Ok(None);
        };
        if let Some(at) = rate.try_acquire_stamped() {
            return Ok(Some(at));
        }
        // A shared budget never starts without asking its backend, which is
        // not a wait to show unless the local window is short too.
        if let Some(observer) = self.observer
            && (!rate.is_shared() || rate.is_short())
        {
            observer.waiting(self.provider, Wait::RateBudget, None);
        }
        let priority = crate::rate::current_priority();
        timeout_at(self.deadline, rate.acquire_stamped(priority))
            .await
            .map(Some)
            .map_err(|_elapsed| {
                Error::new(
                    ErrorKind::Timeout,
                    "the deadline ran out while waiting for the account's rate budget",
                )
                .with_provider(self.provider)
            })
    }

    /// Dresses the final error: the ambiguity flag and hint for creates, and
    /// why the retries stopped when that is news to the caller.
    fn finish(&self, mut err: Error, reason: Option<StopReason>, ambiguous: bool) -> Error {
        let hint = match reason {
            Some(StopReason::BudgetExhausted) => Some(
                "the account's retry budget is used up (many recent failures); not retrying"
                    .to_owned(),
            ),
            Some(StopReason::RetryAfterTooLong(wait)) => Some(format!(
                "the provider asked to wait {wait:?}, longer than the {:?} allowed; try again later",
                self.policy.max_retry_after
            )),
            Some(StopReason::PastDeadline) => {
                Some("the next retry would pass the deadline".to_owned())
            }
            _ => None,
        };
        if let Some(hint) = hint {
            err = add_hint(err, &hint);
        }
        if matches!(self.kind, CallKind::Create { .. }) && ambiguous {
            err = add_hint(
                err.with_may_have_reached_server(true),
                AMBIGUOUS_CREATE_HINT,
            );
        }
        err
    }
}

/// The error of an attempt cut off by the overall deadline: not retried, and
/// possibly received (a create may have been accepted).
pub(crate) fn deadline_cut(provider: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        "the deadline ran out during the request",
    )
    .with_provider(provider)
    .with_retryable(false)
    .with_may_have_reached_server(true)
}

/// Appends `hint` to the error's hint.
pub(crate) fn add_hint(err: Error, hint: &str) -> Error {
    let combined = match err.hint() {
        Some(existing) if existing.contains(hint) => return err,
        Some(existing) => format!("{existing}; {hint}"),
        None => hint.to_owned(),
    };
    err.with_hint(combined)
}

#[cfg(test)]
#[path = "tests/retry_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/deadline_tests.rs"]
mod deadline_tests;
