//! The registry of per-account budgets, shared by every client on a key.
//!
//! Limits belong to an API key, not to a [`Client`](crate::Client): two
//! clients (or two CLI jobs in one process) on the same Runbase key must
//! draw from one rate budget, one retry budget and one in-flight limit.
//! [`Budgets`] maps an
//! [`ImageProvider::account_id`](crate::ImageProvider::account_id) to its
//! [`AccountBudget`]; hand the same `Arc<Budgets>` to several
//! [`ClientBuilder::budgets`](crate::ClientBuilder::budgets) to share them.
//! Across processes, [`Budgets::with_shared_rate`] makes every rate budget
//! it creates also draw from a [`SharedRate`] backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::capabilities::RateLimit;
use crate::rate::RateBudget;
use crate::retry::{RetryBudget, RetryBudgetConfig};
use crate::shared_rate::SharedRate;

/// The default most HTTP requests in flight at once on one account.
///
/// Each request in flight holds a connection, and each connection tens of
/// KiB of buffers; without a bound, 10,000 jobs polling a slow server open
/// thousands of sockets. 128 keeps memory and file descriptors flat at any
/// number of jobs, and is more than a polled API's rate limit lets through
/// in one round trip. A synchronous provider whose calls last minutes may
/// need more ([`ClientBuilder::max_in_flight`](crate::ClientBuilder::max_in_flight)).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;

/// The limits an account's budget is created with (see
/// [`Budgets::account_with`]).
///
/// ```
/// use imagegen_core::budgets::{AccountLimits, DEFAULT_MAX_IN_FLIGHT};
/// let limits = AccountLimits::default().with_max_in_flight(16);
/// assert_eq!(limits.max_in_flight, 16);
/// assert_eq!(AccountLimits::default().max_in_flight, DEFAULT_MAX_IN_FLIGHT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountLimits {
    /// The request pacing; `None`: no rate limit.
    pub rate: Option<RateLimit>,
    /// The retry quota; `None`: unlimited retries (within each policy).
    pub retry: Option<RetryBudgetConfig>,
    /// The most HTTP requests in flight at once (at least 1). Default
    /// [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            rate: None,
            retry: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl AccountLimits {
    /// Sets (or with `None` removes) the rate limit.
    pub fn with_rate(mut self, rate: Option<RateLimit>) -> Self {
        self.rate = rate;
        self
    }
    /// Sets (or with `None` removes) the retry budget.
    pub fn with_retry(mut self, retry: Option<RetryBudgetConfig>) -> Self {
        self.retry = retry;
        self
    }
    /// Sets the most requests in flight at once (at least 1).
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }
}

/// The budgets of one account: its request pacing, its retry quota, and
/// how many of its requests may be in flight at once.
#[derive(Debug)]
pub struct AccountBudget {
    account_id: String,
    rate: Option<RateBudget>,
    retry: Option<RetryBudget>,
    max_in_flight: usize,
    /// One permit per HTTP attempt, held only while the attempt runs (see
    /// `Retrier::run`).
    in_flight: Semaphore,
}

impl AccountBudget {
    /// The account this budget belongs to.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
    /// The request pacing, if the account has a rate limit.
    pub fn rate(&self) -> Option<&RateBudget> {
        self.rate.as_ref()
    }
    /// The retry quota, if enabled.
    pub fn retry(&self) -> Option<&RetryBudget> {
        self.retry.as_ref()
    }
    /// The most HTTP requests in flight at once on the account.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
    /// How many more requests could start now without waiting for one in
    /// flight to finish.
    pub fn available_in_flight(&self) -> usize {
        self.in_flight.available_permits()
    }
    pub(crate) fn in_flight(&self) -> &Semaphore {
        &self.in_flight
    }
}

/// Per-account budgets, created on first use.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use imagegen_core::{Budgets, RateLimit, RetryBudgetConfig};
/// let budgets = Arc::new(Budgets::new());
/// let limit = Some(RateLimit { requests: 20, per: Duration::from_secs(10) });
/// let a = budgets.account("runbase:abc", limit, Some(RetryBudgetConfig::default()));
/// let b = budgets.account("runbase:abc", None, None);
/// assert!(Arc::ptr_eq(&a, &b)); // the first registration's limits win
/// ```
#[derive(Debug, Default)]
pub struct Budgets {
    accounts: Mutex<HashMap<String, Arc<AccountBudget>>>,
    shared: Option<Arc<dyn SharedRate>>,
}

impl Budgets {
    /// An empty registry.
    pub fn new() -> Self {
        Budgets::default()
    }

    /// An empty registry whose rate budgets also draw every start from
    /// `shared` (see [`RateBudget::with_shared`]), so that every process
    /// pointing at the same backend shares one budget per account.
    pub fn with_shared_rate(shared: Arc<dyn SharedRate>) -> Self {
        Budgets {
            accounts: Mutex::default(),
            shared: Some(shared),
        }
    }

    /// The shared backend the rate budgets draw from, if any.
    pub fn shared_rate(&self) -> Option<&Arc<dyn SharedRate>> {
        self.shared.as_ref()
    }

    /// The budget of `account_id`, created with `rate`, `retry` and the
    /// default in-flight limit if it does not exist yet. An existing budget
    /// is returned as it is: the first registration decides an account's
    /// limits.
    pub fn account(
        &self,
        account_id: &str,
        rate: Option<RateLimit>,
        retry: Option<RetryBudgetConfig>,
    ) -> Arc<AccountBudget> {
        let limits = AccountLimits::default().with_rate(rate).with_retry(retry);
        self.account_with(account_id, limits)
    }

    /// The budget of `account_id`, created with `limits` if it does not
    /// exist yet; like [`account`](Self::account), the first registration
    /// decides.
    ///
    /// ```
    /// use imagegen_core::Budgets;
    /// use imagegen_core::budgets::AccountLimits;
    /// let budgets = Budgets::new();
    /// let a = budgets.account_with("runbase:abc", AccountLimits::default().with_max_in_flight(8));
    /// assert_eq!(a.max_in_flight(), 8);
    /// ```
    pub fn account_with(&self, account_id: &str, limits: AccountLimits) -> Arc<AccountBudget> {
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        accounts
            .entry(account_id.to_owned())
            .or_insert_with(|| {
                let max_in_flight = limits.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
                Arc::new(AccountBudget {
                    account_id: account_id.to_owned(),
                    rate: limits.rate.map(|limit| {
                        let local = RateBudget::new(limit);
                        match &self.shared {
                            Some(shared) => local.with_shared(shared.clone(), account_id),
                            None => local,
                        }
                    }),
                    retry: limits.retry.map(RetryBudget::new),
                    max_in_flight,
                    in_flight: Semaphore::new(max_in_flight),
                })
            })
            .clone()
    }

    /// The budget of `account_id`, if registered.
    pub fn get(&self, account_id: &str) -> Option<Arc<AccountBudget>> {
        self.accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(account_id)
            .cloned()
    }
}
