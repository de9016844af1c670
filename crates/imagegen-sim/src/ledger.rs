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
//!
//! With a state dir every change is also written to the journal, as it is
//! made, under the ledger's lock (see [`crate::persist`]): a new account
//! (with its starting credits), each accepted create (with its body hash,
//! so a create sent again after a restart still counts as a duplicate),
//! each refund (with its task), poll, error and callback. A restarted
//! simulator replays them, so its ledger goes on from the last one's.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::persist::{Journal, Line};

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

fn apply_create(a: &mut Account, body_hash: u64, cost: u64, charge: bool) {
    a.entry.creates_accepted += 1;
    if !a.seen_bodies.insert(body_hash) {
        a.entry.duplicate_creates += 1;
    }
    if charge {
        a.entry.creates_charged += 1;
        a.entry.credits_charged += cost;
        a.entry.credits_left = a.entry.credits_left.saturating_sub(cost);
    }
}

fn apply_refund(a: &mut Account, credits: u64) {
    a.entry.credits_refunded += credits;
    a.entry.credits_left += credits;
}

fn apply_status(a: &mut Account, status: u16) {
    a.entry.errors_sent += 1;
    if status == 429 {
        a.entry.rate_limited += 1;
    }
}

fn apply_callback(a: &mut Account, delivered: bool) {
    if delivered {
        a.entry.callbacks_delivered += 1;
    } else {
        a.entry.callbacks_failed += 1;
    }
}

fn parse_hash(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s, 16).map_err(|_| format!("bad body hash {s:?}"))
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
    /// Where changes are written, with a state dir (set once restored).
    journal: OnceLock<Arc<Journal>>,
}

/// A change of the ledger, as a journal line.
fn line(provider: Provider, key: &str, kind: &str, fields: serde_json::Value) -> Line {
    Line::Ledger {
        p: provider.name().to_string(),
        k: key.to_string(),
        op: kind.to_string(),
        fields,
    }
}

impl LedgerStore {
    pub fn new(starting_credits: u64) -> Self {
        LedgerStore {
            accounts: Mutex::new(HashMap::new()),
            starting_credits,
            journal: OnceLock::new(),
        }
    }

    /// From now on, writes every change to `journal`.
    pub fn attach(&self, journal: Arc<Journal>) {
        let _ = self.journal.set(journal);
    }

    /// Runs `f` on the account of `key` on `provider` (opened if new), then
    /// writes the line `change` makes of `f`'s result, if any, while the
    /// ledger is still locked (so the journal has the changes in order).
    fn with<R>(
        &self,
        provider: Provider,
        key: &str,
        f: impl FnOnce(&mut Account) -> R,
        change: impl FnOnce(&R) -> Option<Line>,
    ) -> R {
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let journal = self.journal.get();
        let account = match map.entry((provider, key.to_string())) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let a = v.insert(Account {
                    entry: LedgerEntry {
                        provider: provider.name().to_string(),
                        api_key: key.to_string(),
                        credits_left: crate::magic::starting_credits(key, self.starting_credits),
                        ..Default::default()
                    },
                    seen_bodies: HashSet::new(),
                });
                if let Some(j) = journal {
                    j.append(&Line::Account {
                        entry: a.entry.clone(),
                        bodies: Vec::new(),
                    });
                }
                a
            }
        };
        let r = f(account);
        if let Some(j) = journal
            && let Some(l) = change(&r)
        {
            j.append(&l);
        }
        r
    }

    /// Books an answer's status: errors and 429s.
    pub fn record_status(&self, provider: Provider, key: &str, status: u16) {
        if status < 400 {
            return;
        }
        self.with(
            provider,
            key,
            |a| apply_status(a, status),
            |_| {
                Some(line(
                    provider,
                    key,
                    "status",
                    serde_json::json!({ "code": status }),
                ))
            },
        );
    }

    /// Books a status request.
    pub fn record_poll(&self, provider: Provider, key: &str) {
        self.with(
            provider,
            key,
            |a| a.entry.polls += 1,
            |_| Some(line(provider, key, "poll", serde_json::json!({}))),
        );
    }

    /// Credits left.
    pub fn credits_left(&self, provider: Provider, key: &str) -> u64 {
        self.with(provider, key, |a| a.entry.credits_left, |_| None)
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
        self.with(
            provider,
            key,
            |a| {
                if charge && a.entry.credits_left < cost {
                    return Charge::Insufficient {
                        left: a.entry.credits_left,
                    };
                }
                apply_create(a, body_hash, cost, charge);
                Charge::Ok
            },
            |r| {
                matches!(r, Charge::Ok).then(|| {
                    line(
                        provider,
                        key,
                        "create",
                        serde_json::json!({
                            "h": format!("{body_hash:016x}"),
                            "cost": cost,
                            "charged": charge,
                        }),
                    )
                })
            },
        )
    }

    /// Gives `credits` back for the task `task`.
    pub fn refund(&self, provider: Provider, key: &str, task: &str, credits: u64) {
        self.with(
            provider,
            key,
            |a| apply_refund(a, credits),
            |_| {
                Some(line(
                    provider,
                    key,
                    "refund",
                    serde_json::json!({ "id": task, "credits": credits }),
                ))
            },
        );
    }

    /// Books a callback outcome.
    pub fn record_callback(&self, provider: Provider, key: &str, delivered: bool) {
        self.with(
            provider,
            key,
            |a| apply_callback(a, delivered),
            |_| {
                Some(line(
                    provider,
                    key,
                    "callback",
                    serde_json::json!({ "ok": delivered }),
                ))
            },
        );
    }

    /// Replays a journal line of the ledger (nothing is written); returns the
    /// task a refund line names, so its task can be marked refunded. `None`
    /// also when the line makes no sense (it is skipped).
    pub fn replay(&self, l: &Line) -> Result<Option<(Provider, String)>, String> {
        match l {
            Line::Account { entry, bodies } => {
                let provider = Provider::from_name(&entry.provider)
                    .ok_or_else(|| format!("unknown provider {:?}", entry.provider))?;
                let mut seen = HashSet::with_capacity(bodies.len());
                for b in bodies {
                    seen.insert(parse_hash(b)?);
                }
                let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
                map.insert(
                    (provider, entry.api_key.clone()),
                    Account {
                        entry: entry.clone(),
                        seen_bodies: seen,
                    },
                );
                Ok(None)
            }
            Line::Ledger { p, k, op, fields } => {
                let provider =
                    Provider::from_name(p).ok_or_else(|| format!("unknown provider {p:?}"))?;
                let u = |name: &str| {
                    fields[name]
                        .as_u64()
                        .ok_or_else(|| format!("{op}: no {name}"))
                };
                let b = |name: &str| {
                    fields[name]
                        .as_bool()
                        .ok_or_else(|| format!("{op}: no {name}"))
                };
                let mut refunded = None;
                let change: Box<dyn FnOnce(&mut Account)> = match op.as_str() {
                    "create" => {
                        let h = parse_hash(fields["h"].as_str().unwrap_or_default())?;
                        let (cost, charged) = (u("cost")?, b("charged")?);
                        Box::new(move |a| apply_create(a, h, cost, charged))
                    }
                    "refund" => {
                        let credits = u("credits")?;
                        let id = fields["id"].as_str().unwrap_or_default().to_string();
                        refunded = Some((provider, id));
                        Box::new(move |a| apply_refund(a, credits))
                    }
                    "poll" => Box::new(|a| a.entry.polls += 1),
                    "status" => {
                        let code = u("code")? as u16;
                        Box::new(move |a| apply_status(a, code))
                    }
                    "callback" => {
                        let ok = b("ok")?;
                        Box::new(move |a| apply_callback(a, ok))
                    }
                    other => return Err(format!("unknown ledger change {other:?}")),
                };
                self.with(provider, k, change, |_| None);
                Ok(refunded)
            }
            _ => Ok(None),
        }
    }

    /// Every account with the hashes of the bodies it has seen (compaction).
    pub fn accounts(&self) -> Vec<Line> {
        let map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<Line> = map
            .values()
            .map(|a| {
                let mut bodies: Vec<u64> = a.seen_bodies.iter().copied().collect();
                bodies.sort_unstable();
                Line::Account {
                    entry: a.entry.clone(),
                    bodies: bodies.iter().map(|h| format!("{h:016x}")).collect(),
                }
            })
            .collect();
        all.sort_by(|a, b| match (a, b) {
            (Line::Account { entry: x, .. }, Line::Account { entry: y, .. }) => {
                (&x.provider, &x.api_key).cmp(&(&y.provider, &y.api_key))
            }
            _ => std::cmp::Ordering::Equal,
        });
        all
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
