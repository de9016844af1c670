//! The ledger: what each key did and paid on each provider.
//!
//! Counting rules (decisions):
//! - A create is *accepted* when it passed auth, faults and validation and the
//!   sim started work on it; it is *charged* when credits were taken for it
//!   (runbase 1 credit per run, gptimage15 10 credits per task, OpenAI,
//!   Azure, fal and Replicate 1 credit per image, WaveSpeed 1 credit per
//!   task). An OpenAI generation blocked by moderation, and an Azure request
//!   refused by the content filter or failing with a 500, are accepted but
//!   not charged.
//! - A gptimage15 task that ends `FAILED` is refunded (`credits_refunded`),
//!   when its failure is first observed (a poll, its callback, or a ledger
//!   snapshot, which settles every finished task first). Runbase does not
//!   refund failed runs. The newer sellers' refunds follow the same timing,
//!   each by its own rule: fal a run ending in a 5xx or a request cancelled
//!   while queued, Replicate `failed` and `aborted`, WaveSpeed `failed`.
//! - `duplicate_creates` counts accepted creates whose JSON body (canonical:
//!   keys sorted) or multipart fields equal an earlier accepted create's on
//!   the same key and provider.
//! - `polls` counts authenticated status requests; `rate_limited` every 429
//!   sent; `errors_sent` every 4xx/5xx answer, 429s included. Requests
//!   without a key are booked under the key `""`, wrong keys under that key.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::Provider;

/// One key's account on one provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    /// `runbase`, `gptimage15`, `openai`, `fal`, `replicate`, `azure` or `wavespeed`.
    pub provider: String,
    /// The API key as presented (`""` when none was).
    pub api_key: String,
    /// Creates the sim started work on.
    pub creates_accepted: u64,
    /// Creates that were charged.
    pub creates_charged: u64,
    /// Credits taken.
    pub credits_charged: u64,
    /// Credits given back (each seller's refund rule).
    pub credits_refunded: u64,
    /// Accepted creates whose body equals an earlier accepted create's.
    pub duplicate_creates: u64,
    /// Status requests.
    pub polls: u64,
    /// 429 answers sent.
    pub rate_limited: u64,
    /// 4xx and 5xx answers sent (429s included).
    pub errors_sent: u64,
    /// Credits left.
    pub credits_left: u64,
    /// Callback and webhook deliveries that got a 2xx answer (gptimage15,
    /// fal, Replicate, WaveSpeed).
    pub callbacks_delivered: u64,
    /// Callbacks and webhooks abandoned after every retry failed.
    pub callbacks_failed: u64,
}

/// A snapshot of every account, sorted by provider then key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// One entry per (provider, key) that has been seen.
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// The entry of `key` on `provider` (its [`crate::Provider::name`], e.g. `"runbase"`, `"fal"`).
    pub fn entry(&self, provider: &str, key: &str) -> Option<&LedgerEntry> {
        self.entries
            .iter()
            .find(|e| e.provider == provider && e.api_key == key)
    }

    /// The sum of every key's entry on `provider` (`api_key` is `"*"`).
    pub fn totals(&self, provider: &str) -> LedgerEntry {
        let mut t = LedgerEntry {
            provider: provider.to_string(),
            api_key: "*".to_string(),
            ..Default::default()
        };
        for e in self.entries.iter().filter(|e| e.provider == provider) {
            t.creates_accepted += e.creates_accepted;
            t.creates_charged += e.creates_charged;
            t.credits_charged += e.credits_charged;
            t.credits_refunded += e.credits_refunded;
            t.duplicate_creates += e.duplicate_creates;
            t.polls += e.polls;
            t.rate_limited += e.rate_limited;
            t.errors_sent += e.errors_sent;
            t.credits_left += e.credits_left;
            t.callbacks_delivered += e.callbacks_delivered;
            t.callbacks_failed += e.callbacks_failed;
        }
        t
    }

    /// Credits charged minus credits refunded, over every provider and key.
    pub fn net_credits_spent(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.credits_charged.saturating_sub(e.credits_refunded))
            .sum()
    }
}

struct Account {
    entry: LedgerEntry,
    seen_bodies: HashSet<u64>,
}

/// Outcome of trying to charge a create.
pub(crate) enum Charge {
    /// Accepted (and charged if asked).
    Ok,
    /// Not enough credits; nothing recorded but the error.
    Insufficient { left: u64 },
}

/// The live ledger.
pub(crate) struct LedgerStore {
    accounts: Mutex<HashMap<(Provider, String), Account>>,
    starting_credits: u64,
}

impl LedgerStore {
    pub fn new(starting_credits: u64) -> Self {
        LedgerStore {
            accounts: Mutex::new(HashMap::new()),
            starting_credits,
        }
    }

    fn with<R>(&self, provider: Provider, key: &str, f: impl FnOnce(&mut Account) -> R) -> R {
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let account = map
            .entry((provider, key.to_string()))
            .or_insert_with(|| Account {
                entry: LedgerEntry {
                    provider: provider.name().to_string(),
                    api_key: key.to_string(),
                    credits_left: crate::magic::starting_credits(key, self.starting_credits),
                    ..Default::default()
                },
                seen_bodies: HashSet::new(),
            });
        f(account)
    }

    /// Books an answer's status: errors and 429s.
    pub fn record_status(&self, provider: Provider, key: &str, status: u16) {
        if status < 400 {
            return;
        }
        self.with(provider, key, |a| {
            a.entry.errors_sent += 1;
            if status == 429 {
                a.entry.rate_limited += 1;
            }
        });
    }

    /// Books a status request.
    pub fn record_poll(&self, provider: Provider, key: &str) {
        self.with(provider, key, |a| a.entry.polls += 1);
    }

    /// Credits left.
    pub fn credits_left(&self, provider: Provider, key: &str) -> u64 {
        self.with(provider, key, |a| a.entry.credits_left)
    }

    /// Accepts a create of `cost` credits with body hash `body_hash`, if the
    /// key can pay; `charge == false` accepts without charging.
    pub fn accept_create(
        &self,
        provider: Provider,
        key: &str,
        body_hash: u64,
        cost: u64,
        charge: bool,
    ) -> Charge {
        self.with(provider, key, |a| {
            if charge && a.entry.credits_left < cost {
                return Charge::Insufficient {
                    left: a.entry.credits_left,
                };
            }
            a.entry.creates_accepted += 1;
            if !a.seen_bodies.insert(body_hash) {
                a.entry.duplicate_creates += 1;
            }
            if charge {
                a.entry.creates_charged += 1;
                a.entry.credits_charged += cost;
                a.entry.credits_left -= cost;
            }
            Charge::Ok
        })
    }

    /// Gives `credits` back.
    pub fn refund(&self, provider: Provider, key: &str, credits: u64) {
        self.with(provider, key, |a| {
            a.entry.credits_refunded += credits;
            a.entry.credits_left += credits;
        });
    }

    /// Books a callback outcome.
    pub fn record_callback(&self, provider: Provider, key: &str, delivered: bool) {
        self.with(provider, key, |a| {
            if delivered {
                a.entry.callbacks_delivered += 1;
            } else {
                a.entry.callbacks_failed += 1;
            }
        });
    }

    /// A sorted snapshot.
    pub fn snapshot(&self) -> Ledger {
        let map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries: Vec<LedgerEntry> = map.values().map(|a| a.entry.clone()).collect();
        entries.sort_by(|a, b| (&a.provider, &a.api_key).cmp(&(&b.provider, &b.api_key)));
        Ledger { entries }
    }

    /// Forgets everything.
    pub fn reset(&self) {
        self.accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
