//! The shared rate budget, with an in-memory backend standing for the
//! database and separate `Budgets` (or clients) standing for processes.
//! Paused time: every instant below is exact.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::*;
use crate::budgets::{AccountBudget, Budgets};
use crate::capabilities::RateLimit;
use crate::error::ErrorKind;
use crate::rate::{Priority, RateBudget};
use crate::retry::RetryPolicy;
use crate::testing::ScriptedProvider;
use crate::{Client, TaskState, TaskStatus};

const ACCOUNT: &str = "fake:shared-account";
/// What one ask of the fake backend takes (a database round trip).
const ASK: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limit(requests: u32, per_ms: u64) -> RateLimit {
    RateLimit {
        requests,
        per: ms(per_ms),
    }
}

#[derive(Debug, Default)]
struct Account {
    starts: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// A sliding-window log per account, as the PostgreSQL backend keeps it,
/// on the paused `tokio` clock.
#[derive(Debug, Default)]
struct MemoryRate {
    accounts: Mutex<HashMap<String, Account>>,
    /// Every start granted, in order.
    granted: Mutex<Vec<Instant>>,
    asks: AtomicUsize,
    asking_now: AtomicUsize,
    most_asking_at_once: AtomicUsize,
    failing: AtomicBool,
}

impl MemoryRate {
    fn granted(&self) -> Vec<Instant> {
        self.granted.lock().unwrap().clone()
    }
    fn asks(&self) -> usize {
        self.asks.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SharedRate for MemoryRate {
    async fn take(
        &self,
        account: &str,
        cap: u32,
        window: Duration,
    ) -> Result<Grant, SharedRateError> {
        self.asks.fetch_add(1, Ordering::SeqCst);
        let now_asking = self.asking_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_asking_at_once
            .fetch_max(now_asking, Ordering::SeqCst);
        tokio::time::sleep(ASK).await;
        self.asking_now.fetch_sub(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SharedRateError::new("connection refused"));
        }
        let now = Instant::now();
        let mut accounts = self.accounts.lock().unwrap();
        let entry = accounts.entry(account.to_owned()).or_default();
        if let Some(until) = entry.blocked_until.filter(|&u| u > now) {
            return Ok(Grant::Full {
                retry_in: until - now,
            });
        }
        while entry.starts.front().is_some_and(|&t| t + window <= now) {
            entry.starts.pop_front();
        }
        if entry.starts.len() >= cap as usize {
            let oldest = entry.starts[entry.starts.len() - cap as usize];
            return Ok(Grant::Full {
                retry_in: oldest + window - now,
            });
        }
        entry.starts.push_back(now);
        self.granted.lock().unwrap().push(now);
        Ok(Grant::Granted)
    }

    async fn hold_back(&self, account: &str, wait: Duration) -> Result<(), SharedRateError> {
        let until = Instant::now() + wait;
        let mut accounts = self.accounts.lock().unwrap();
        let entry = accounts.entry(account.to_owned()).or_default();
        entry.blocked_until = entry.blocked_until.max(Some(until));
        Ok(())
    }
}

/// A process: its own budgets, drawing from the shared backend; the
/// account's budget.
fn process(backend: &Arc<MemoryRate>, rate: RateLimit) -> Arc<AccountBudget> {
    let budgets = Budgets::with_shared_rate(backend.clone());
    let account = budgets.account(ACCOUNT, Some(rate), None);
    assert!(account.rate().is_some_and(RateBudget::is_shared));
    account
}

/// Two processes on a key of 2 requests per second; the other one has
/// just taken both slots. Returns this process's budget and when they
/// were taken.
async fn window_filled_by_another_process(
    backend: &Arc<MemoryRate>,
) -> (Arc<AccountBudget>, Instant) {
    let other = process(backend, limit(2, 1000));
    let here = process(backend, limit(2, 1000));
    let t0 = Instant::now();
    pace(&other).acquire().await;
    pace(&other).acquire().await;
    (here, t0)
}

fn pace(account: &AccountBudget) -> &RateBudget {
    account.rate().expect("a rate limit")
}

#[tokio::test(start_paused = true)]
async fn two_processes_never_exceed_the_cap_in_any_window() {
    let backend = Arc::new(MemoryRate::default());
    let a = process(&backend, limit(5, 1000));
    let b = process(&backend, limit(5, 1000));
    let window = pace(&a).window();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for budget in [&a, &b] {
        for _ in 0..30 {
            let (budget, starts) = (budget.clone(), starts.clone());
            tasks.push(tokio::spawn(async move {
                pace(&budget).acquire().await;
                starts.lock().unwrap().push(Instant::now());
            }));
        }
    }
    let t0 = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    let mut starts = starts.lock().unwrap().clone();
    starts.sort();
    assert_eq!(starts.len(), 60);
    // Every start was granted by the shared backend, none paced locally.
    assert_eq!(backend.granted().len(), 60);
    for six in starts.windows(6) {
        assert!(six[5] - six[0] >= window, "{:?}", six[5] - six[0]);
    }
    // One ask in flight per process: no herd of waiters on the database.
    assert!(backend.most_asking_at_once.load(Ordering::SeqCst) <= 2);
    // Twelve windows of starts need eleven waits, plus the asks.
    let total = starts[59] - t0;
    assert!(total <= window * 11 + ASK * 60, "{total:?}");
    // A full window costs each process about one denied ask per slot, not
    // one per waiting caller.
    assert!(backend.asks() <= 60 * 3, "{} asks", backend.asks());
}

#[tokio::test(start_paused = true)]
async fn two_clients_on_one_key_share_the_budget_through_the_backend() {
    let backend = Arc::new(MemoryRate::default());
    let clients: Vec<(Client, Arc<ScriptedProvider>)> = (0..2)
        .map(|_| {
            let provider = Arc::new(ScriptedProvider::polled_api("fake").with_account(ACCOUNT));
            let client = Client::builder()
                .provider_arc(provider.clone())
                .rate_limit("fake", limit(4, 1000))
                .shared_rate(backend.clone())
                .build()
                .unwrap();
            (client, provider)
        })
        .collect();
    let mut calls = Vec::new();
    for (client, _) in &clients {
        for i in 0..6 {
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                client.status("fake", format!("t{i}")).await.unwrap();
            }));
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    let mut sent: Vec<Instant> = clients
        .iter()
        .flat_map(|(_, provider)| provider.calls().into_iter().map(|c| c.at))
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 12);
    assert_eq!(backend.granted().len(), 12);
    for five in sent.windows(5) {
        assert!(five[4] - five[0] >= ms(1100), "{:?}", five[4] - five[0]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_denied_ask_records_no_start_and_holds_the_whole_local_account() {
    let backend = Arc::new(MemoryRate::default());
    let (here, t0) = window_filled_by_another_process(&backend).await;
    let asks_before = backend.asks();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let here = here.clone();
        waiting.push(tokio::spawn(async move {
            pace(&here).acquire().await;
            Instant::now()
        }));
    }
    tokio::time::sleep(ms(500)).await;
    // One ask, denied; the three callers wait, and nothing was recorded.
    assert_eq!(backend.asks(), asks_before + 1);
    assert!(!pace(&here).try_acquire());
    assert_eq!(backend.granted().len(), 2);
    let mut started = Vec::new();
    for task in waiting {
        started.push(task.await.unwrap());
    }
    // The first when the other process's first start left the window (its
    // asks took 1 ms each), the second with it, the third a window later.
    assert_eq!(started[0], t0 + ASK + ms(1100) + ASK);
    assert_eq!(started[1], t0 + ASK * 2 + ms(1100) + ASK);
    assert!(started[2] >= started[0] + ms(1100));
    // Asks: one denial for the three waiting callers, then one per start
    // (the third waited for the local window, without asking).
    assert_eq!(backend.asks(), asks_before + 1 + 3);
}

#[tokio::test(start_paused = true)]
async fn priority_still_orders_callers_inside_one_process() {
    let backend = Arc::new(MemoryRate::default());
    let (here, t0) = window_filled_by_another_process(&backend).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (i, priority) in [
        Priority::Normal,
        Priority::Normal,
        Priority::Normal,
        Priority::Poll { due: t0 + ms(500) },
    ]
    .into_iter()
    .enumerate()
    {
        let (here, order) = (here.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(ms(10 * i as u64)).await;
            pace(&here).acquire_with(priority).await;
            let name = match priority {
                Priority::Poll { .. } => "poll".to_owned(),
                Priority::Normal => format!("create {i}"),
            };
            order.lock().unwrap().push(name);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order, ["poll", "create 0", "create 1", "create 2"]);
    assert_eq!(backend.granted().len(), 6);
}

/// Alone in its process's queue, a poll not yet due waits for its due: a
/// freed slot this process does not want may be another process's, which
/// its local queue cannot see (a poll of a running task there would cost
/// the key a slot).
#[tokio::test(start_paused = true)]
async fn a_poll_not_yet_due_waits_for_its_due_when_other_processes_share_the_window() {
    let backend = Arc::new(MemoryRate::default());
    let (here, t0) = window_filled_by_another_process(&backend).await;
    // The window frees at 1.1 s; the poll is due at 1.5 s.
    pace(&here)
        .acquire_with(Priority::Poll { due: t0 + ms(1500) })
        .await;
    assert_eq!(t0.elapsed(), ms(1500) + ASK, "its due and one ask");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_holds_while_the_shared_window_is_full() {
    let backend = Arc::new(MemoryRate::default());
    let other = process(&backend, limit(1, 10_000));
    pace(&other).acquire().await;
    let provider = Arc::new(ScriptedProvider::polled_api("fake").with_account(ACCOUNT));
    let client = Client::builder()
        .provider_arc(provider.clone())
        .rate_limit("fake", limit(1, 10_000))
        .retry_policy(RetryPolicy::default().with_deadline(ms(500)))
        .shared_rate(backend.clone())
        .build()
        .unwrap();
    let start = Instant::now();
    let err = client.status("fake", "t1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("rate budget"), "{err}");
    assert_eq!(start.elapsed(), ms(500));
    assert!(provider.calls().is_empty(), "nothing was sent");
    assert_eq!(backend.granted().len(), 1);
    // The abandoned wait left the account usable once the window clears.
    tokio::time::sleep(ms(10_500)).await;
    provider.push_status("t1", Ok(TaskStatus::new("t1", TaskState::Running)));
    client.status("fake", "t1").await.unwrap();
    assert_eq!(backend.granted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_backend_falls_back_to_local_pacing_and_is_asked_again_later() {
    let backend = Arc::new(MemoryRate::default());
    backend.failing.store(true, Ordering::SeqCst);
    let here = process(&backend, limit(2, 1000));
    let t0 = Instant::now();
    for _ in 0..3 {
        pace(&here).acquire().await;
    }
    // Two at once (the first after its failed ask), the third when the
    // local window had room again: paced locally, nothing granted.
    assert_eq!(t0.elapsed(), ASK + ms(1100));
    assert!(backend.granted().is_empty());
    // Asked at the first start only: not again for a while.
    assert!(SHARED_RATE_RETRY_AFTER_ERROR > ms(1100));
    assert_eq!(backend.asks(), 1);
    backend.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(SHARED_RATE_RETRY_AFTER_ERROR).await;
    pace(&here).acquire().await;
    assert_eq!(backend.granted().len(), 1, "asked again once it answers");
}

#[tokio::test(start_paused = true)]
async fn a_429_in_one_process_holds_the_others_back() {
    let backend = Arc::new(MemoryRate::default());
    let got_429 = process(&backend, limit(100, 1000));
    let other = process(&backend, limit(100, 1000));
    let t0 = Instant::now();
    pace(&got_429).penalize(Duration::from_secs(3));
    // The hold-back is shared in the background, at once.
    tokio::task::yield_now().await;
    tokio::time::sleep(ASK * 2).await;
    pace(&other).acquire().await;
    // Denied until the hold-back ends, then granted by one more ask.
    assert_eq!(t0.elapsed(), Duration::from_secs(3) + ASK);
}

#[test]
fn a_client_given_budgets_without_that_backend_is_refused() {
    let backend: Arc<dyn SharedRate> = Arc::new(MemoryRate::default());
    let provider = ScriptedProvider::polled_api("fake");
    let err = Client::builder()
        .provider(provider)
        .budgets(Arc::new(Budgets::new()))
        .shared_rate(backend.clone())
        .build()
        .unwrap_err();
    assert!(err.message().contains("Budgets::with_shared_rate"), "{err}");
    let shared = Arc::new(Budgets::with_shared_rate(backend.clone()));
    Client::builder()
        .provider(ScriptedProvider::polled_api("fake"))
        .budgets(shared)
        .shared_rate(backend)
        .build()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_a_backend_the_fast_path_is_unchanged() {
    let budgets = Budgets::new();
    let account = budgets.account(ACCOUNT, Some(limit(2, 1000)), None);
    let rate = account.rate().unwrap();
    assert!(!rate.is_shared());
    assert!(rate.try_acquire());
    // Returns without yielding: ready at the first poll.
    let mut acquire = std::pin::pin!(rate.acquire());
    assert!(futures::poll!(&mut acquire).is_ready());
}
