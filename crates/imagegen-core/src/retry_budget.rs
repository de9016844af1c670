//! The per-account retry budget (AWS standard mode's "retry quota").
//!
//! Retries help with a blip and hurt in an outage: every client retrying
//! every request multiplies the load on a provider that is already failing.
//! A token bucket per account, shared by every request on the key, lets
//! retries through while most requests succeed and stops them (fail fast)
//! once many recent requests have failed.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, ErrorKind};

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
