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

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::rate::RateBudget;

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

/// The shape of the per-account retry budget (AWS standard mode's retry
/// quota): a bucket of `capacity` tokens; a retry takes `retry_cost`
/// (`timeout_retry_cost` after a timeout, which hints at overload); a request
/// that succeeds at once puts back `success_refund`, one that succeeds after
/// retries puts back what its retries took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryBudgetConfig {
    /// Tokens when full. Default 500.
    pub capacity: u32,
    /// Tokens a retry takes. Default 5.
    pub retry_cost: u32,
    /// Tokens a retry after a timeout takes. Default 10.
    pub timeout_retry_cost: u32,
    /// Tokens a first-attempt success puts back. Default 1.
    pub success_refund: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            success_refund: 1,
        }
    }
}

impl RetryBudgetConfig {
    /// A budget of `capacity` tokens with the default costs.
    pub fn with_capacity(capacity: u32) -> Self {
        RetryBudgetConfig {
            capacity,
            ..RetryBudgetConfig::default()
        }
    }
}

/// A token bucket that limits retries for one account, shared by every
/// request (and every [`Client`](crate::Client)) on it. Lock-free.
#[derive(Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    tokens: AtomicU32,
}

impl RetryBudget {
    /// A full bucket.
    pub fn new(config: RetryBudgetConfig) -> Self {
        RetryBudget {
            config,
            tokens: AtomicU32::new(config.capacity),
        }
    }
    /// The bucket's shape.
    pub fn config(&self) -> RetryBudgetConfig {
        self.config
    }
    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }
    /// The cost of retrying after `err`.
    pub fn cost_of(&self, err: &Error) -> u32 {
        if err.kind() == ErrorKind::Timeout {
            self.config.timeout_retry_cost
        } else {
            self.config.retry_cost
        }
    }
    /// Takes `cost` tokens if there are enough; `false` (and nothing taken)
    /// otherwise.
    pub fn try_acquire(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }
    /// Puts back `amount` tokens, never above capacity.
    pub fn release(&self, amount: u32) {
        let cap = self.config.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(cap))
            });
    }
    /// Records a success: refunds what the operation's retries took, or
    /// `success_refund` if it needed none.
    pub fn record_success(&self, spent_on_retries: u32) {
        self.release(if spent_on_retries > 0 {
            spent_on_retries
        } else {
            self.config.success_refund
        });
    }
}

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
        if hi <= lo {
            return lo;
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
}

impl Retrier<'_> {
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
        if now + delay >= self.deadline {
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

    /// Runs `op` until it succeeds or a [`Verdict::Stop`]; each attempt first
    /// waits for the rate budget. Returns the result and the number of
    /// attempts made (requests sent).
    pub(crate) async fn run<T, F, Fut>(&self, mut op: F) -> (Result<T, Error>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0u32;
        let mut spent = 0u32;
        let mut ambiguous = false;
        loop {
            if let Some(rate) = self.rate
                && tokio::time::timeout_at(self.deadline, rate.acquire())
                    .await
                    .is_err()
            {
                let err = Error::new(
                    ErrorKind::Timeout,
                    "the deadline ran out while waiting for the account's rate budget",
                )
                .with_provider(self.provider);
                return (Err(self.finish(err, None, ambiguous)), attempt);
            }
            attempt += 1;
            let result = match tokio::time::timeout_at(self.deadline, op()).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    "the deadline ran out during the request",
                )
                .with_provider(self.provider)
                .with_retryable(false)
                .with_may_have_reached_server(true)),
            };
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
                    tracing::debug!(
                        provider = self.provider,
                        attempt,
                        kind = %err.kind(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying after a retryable failure"
                    );
                    tokio::time::sleep(delay).await;
                }
                Verdict::Stop(reason) => {
                    return (Err(self.finish(err, Some(reason), ambiguous)), attempt);
                }
            }
        }
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
