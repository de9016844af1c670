//! The rate budget under paused time: windows, order, priorities, margins.

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
    let order = starts(tasks, &order).await;
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

/// Starts `name` at `priority` after `delay`, recording when it got a slot.
fn start(
    budget: &Arc<RateBudget>,
    order: &Arc<Mutex<Vec<(String, Duration)>>>,
    name: String,
    priority: Priority,
    delay: Duration,
    t0: Instant,
) -> tokio::task::JoinHandle<()> {
    let (budget, order) = (budget.clone(), order.clone());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        budget.acquire_with(priority).await;
        order.lock().unwrap().push((name, t0.elapsed()));
    })
}

/// Waits for every task, then returns who started when.
async fn starts<T: Clone>(
    tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>,
    order: &Arc<Mutex<Vec<T>>>,
) -> Vec<T> {
    for task in tasks {
        task.await.unwrap();
    }
    order.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn a_due_poll_goes_ahead_of_waiting_creates() {
    let budget = Arc::new(RateBudget::new(limit(2, 1000)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    budget.acquire().await;
    budget.acquire().await;
    let ms = Duration::from_millis;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let name = format!("create {i}");
        tasks.push(start(&budget, &order, name, Priority::Normal, ms(i), t0));
    }
    // Arrives last, probably finished since 500 ms: first when room frees.
    let due = Priority::Poll { due: t0 + ms(500) };
    tasks.push(start(&budget, &order, "poll".into(), due, ms(10), t0));
    let order = starts(tasks, &order).await;
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["poll", "create 0", "create 1", "create 2", "create 3"]
    );
    assert_eq!(order[0].1, ms(1100), "the first freed slot");
    assert_eq!(order[4].1, ms(3300), "two slots per window");
}

#[tokio::test(start_paused = true)]
async fn a_poll_not_yet_due_waits_behind_creates_but_not_for_an_idle_slot() {
    let budget = Arc::new(RateBudget::new(limit(1, 1000)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    budget.acquire().await;
    let ms = Duration::from_millis;
    // Due only at 2.5 s: it would likely be wasted before.
    let poll = Priority::Poll { due: t0 + ms(2500) };
    let mut tasks = vec![start(&budget, &order, "poll".into(), poll, ms(0), t0)];
    for i in 0..3 {
        let name = format!("create {i}");
        tasks.push(start(
            &budget,
            &order,
            name,
            Priority::Normal,
            ms(1 + i),
            t0,
        ));
    }
    let order = starts(tasks, &order).await;
    // The slot free at 1.1 s goes to a create (another frees at 2.2 s,
    // before the poll is due); the one free at 2.2 s is the last before
    // its due, and the first poll of the spell keeps it until then.
    assert_eq!(
        order,
        [
            ("create 0".to_owned(), ms(1100)),
            ("poll".to_owned(), ms(2500)),
            ("create 1".to_owned(), ms(3600)),
            ("create 2".to_owned(), ms(4700)),
        ]
    );
    // With nobody else waiting, a poll not yet due takes the first slot
    // that frees: it is how a task finishing early is seen.
    tokio::time::sleep(ms(1100)).await;
    let start_at = Instant::now();
    budget.acquire().await;
    let later = Priority::Poll {
        due: start_at + ms(5000),
    };
    budget.acquire_with(later).await;
    assert_eq!(start_at.elapsed(), ms(1100), "the window, not its due");
    // Two not yet due: the one due sooner goes first.
    tokio::time::sleep(ms(1100)).await;
    let t1 = Instant::now();
    budget.acquire().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let tasks = [
        start(
            &budget,
            &order,
            "due at 9 s".into(),
            Priority::Poll { due: t1 + ms(9000) },
            ms(0),
            t1,
        ),
        start(
            &budget,
            &order,
            "due at 3 s".into(),
            Priority::Poll { due: t1 + ms(3000) },
            ms(1),
            t1,
        ),
    ];
    let order = starts(tasks, &order).await;
    assert_eq!(
        order,
        [
            ("due at 3 s".to_owned(), ms(1100)),
            ("due at 9 s".to_owned(), ms(2200)),
        ]
    );
}

/// A saturated window frees all its slots at once: creates take all but
/// the last, which waits for the first poll's due; the second poll takes
/// its turn at the next freed slots, with no slot held for it.
#[tokio::test(start_paused = true)]
async fn the_first_poll_of_a_short_spell_keeps_the_last_slot_until_its_due() {
    let budget = Arc::new(RateBudget::new(limit(4, 1000)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    for _ in 0..4 {
        budget.acquire().await;
    }
    let ms = Duration::from_millis;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let name = format!("create {i}");
        tasks.push(start(&budget, &order, name, Priority::Normal, ms(i), t0));
    }
    for (name, due) in [("poll A", 1500), ("poll B", 2400)] {
        let due = Priority::Poll { due: t0 + ms(due) };
        tasks.push(start(&budget, &order, name.into(), due, ms(10), t0));
    }
    let order = starts(tasks, &order).await;
    let got: Vec<(&str, u128)> = order
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_millis()))
        .collect();
    assert_eq!(
        got,
        [
            ("create 0", 1100),
            ("create 1", 1100),
            ("create 2", 1100),
            ("poll A", 1500),
            ("create 3", 2200),
            ("create 4", 2200),
            ("create 5", 2200),
            ("poll B", 2600),
        ]
    );
}

/// Queues `creates` creates, then `polls` polls due at once, behind a
/// full budget of one start per 100 ms; returns who started in order,
/// having checked every start kept the window.
async fn contend(creates: usize, polls: usize) -> Vec<String> {
    let budget = Arc::new(RateBudget::new(limit(1, 100)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    budget.acquire().await;
    let ms = Duration::from_millis;
    let mut tasks = Vec::new();
    for i in 0..creates {
        let name = format!("create {i}");
        tasks.push(start(&budget, &order, name, Priority::Normal, ms(0), t0));
    }
    for i in 0..polls {
        let due = Priority::Poll { due: t0 };
        tasks.push(start(&budget, &order, format!("poll {i}"), due, ms(1), t0));
    }
    let order = starts(tasks, &order).await;
    for pair in order.windows(2) {
        assert!(pair[1].1 - pair[0].1 >= budget.window());
    }
    assert_eq!(budget.lock().waiting, 0);
    assert!(budget.lock().queue.is_empty());
    order.into_iter().map(|(name, _)| name).collect()
}

#[tokio::test(start_paused = true)]
async fn due_polls_and_creates_take_turns_while_both_wait() {
    assert_eq!(CREATES_PER_POLL, 2, "the order below assumes two");
    let order = contend(6, 5).await;
    assert_eq!(
        order,
        [
            // The first due poll goes at once, ahead of earlier creates.
            "poll 0", "create 0", "create 1", "poll 1", "create 2", "create 3", "poll 2",
            "create 4", "create 5", // No create left: the polls go on.
            "poll 3", "poll 4",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn creates_never_starve_behind_due_polls() {
    let order = contend(1, 40).await;
    let at = order.iter().position(|n| n == "create 0").unwrap();
    assert_eq!(at, 1, "one due poll, then the create: {order:?}");
}

#[tokio::test(start_paused = true)]
async fn due_polls_never_starve_behind_creates() {
    let order = contend(40, 3).await;
    let polls: Vec<usize> = (0..3)
        .map(|i| {
            order
                .iter()
                .position(|n| *n == format!("poll {i}"))
                .unwrap()
        })
        .collect();
    let step = CREATES_PER_POLL as usize + 1;
    assert_eq!(polls, [0, step, 2 * step], "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_first_in_line_hands_the_slot_on() {
    let budget = Arc::new(RateBudget::new(limit(1, 1000)));
    budget.acquire().await;
    let t0 = Instant::now();
    let poll = Priority::Poll { due: t0 };
    // The poll is served first, but gives up before its slot comes.
    let gave_up = tokio::time::timeout(Duration::from_millis(500), budget.acquire_with(poll));
    let waiter = {
        let budget = budget.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            budget.acquire().await;
            t0.elapsed()
        })
    };
    assert!(gave_up.await.is_err());
    assert_eq!(waiter.await.unwrap(), Duration::from_millis(1100));
    assert_eq!(budget.lock().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_restamped_start_leaves_the_window_when_it_really_started() {
    let budget = RateBudget::new(limit(1, 1000));
    let granted = budget.try_acquire_stamped().expect("room");
    // It waited 400 ms for something else before really starting.
    tokio::time::advance(Duration::from_millis(400)).await;
    budget.restamp(granted, Instant::now());
    let start = Instant::now();
    budget.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(1100));
    assert_eq!(budget.lock().log.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_huge_limit_allocates_nothing_up_front() {
    let budget = RateBudget::new(limit(u32::MAX, 1000));
    assert!(budget.lock().log.capacity() <= 1024);
    assert!(budget.try_acquire());
}

#[tokio::test(start_paused = true)]
async fn margin_defaults_to_two_and_a_half_percent_or_100ms() {
    assert_eq!(
        RateBudget::new(limit(20, 10_000)).window(),
        Duration::from_millis(10_250)
    );
    assert_eq!(
        RateBudget::new(limit(20, 1_000)).window(),
        Duration::from_millis(1_100)
    );
}
