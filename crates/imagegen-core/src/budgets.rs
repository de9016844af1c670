//! The registry of per-account budgets, shared by every client on a key.
//!
//! Limits belong to an API key, not to a [`Client`](crate::Client): two
//! clients (or two CLI jobs in one process) on the same Runbase key must
//! draw from one rate budget and one retry budget. [`Budgets`] maps an
//! [`ImageProvider::account_id`](crate::ImageProvider::account_id) to its
//! [`AccountBudget`]; hand the same `Arc<Budgets>` to several
//! [`ClientBuilder::budgets`](crate::ClientBuilder::budgets) to share them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::capabilities::RateLimit;
use crate::rate::RateBudget;
use crate::retry::{RetryBudget, RetryBudgetConfig};

/// The budgets of one account: its request pacing and its retry quota.
#[derive(Debug)]
pub struct AccountBudget {
    account_id: String,
    rate: Option<RateBudget>,
    retry: Option<RetryBudget>,
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
}

impl Budgets {
    /// An empty registry.
    pub fn new() -> Self {
        Budgets::default()
    }

    /// The budget of `account_id`, created with `rate` and `retry` if it
    /// does not exist yet. An existing budget is returned as it is: the first
    /// registration decides an account's limits.
    pub fn account(
        &self,
        account_id: &str,
        rate: Option<RateLimit>,
        retry: Option<RetryBudgetConfig>,
    ) -> Arc<AccountBudget> {
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        accounts
            .entry(account_id.to_owned())
            .or_insert_with(|| {
                Arc::new(AccountBudget {
                    account_id: account_id.to_owned(),
                    rate: rate.map(RateBudget::new),
                    retry: retry.map(RetryBudget::new),
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
