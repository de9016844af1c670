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
//! queue; while anyone is queued, newcomers queue behind them rather than
//! take a freed slot. The caller that gets the next slot sleeps on one timer
//! until the oldest start leaves the window; the others sleep until they are
//! handed that role (no busy loop, no herd).
//!
//! ## Who goes first when the budget is short
//!
//! Queued callers are served by [`Priority`]:
//!
//! * [`Priority::Normal`] callers (creates, and anything not said otherwise)
//!   in arrival order.
//! * A [`Priority::Poll`] is a status poll of a task that is probably
//!   finished from its `due` instant on. From then it goes **ahead of
//!   waiting normal callers**: when 200 creates wait for a full budget, the
//!   first tasks' results are not held back behind all of them. Before its
//!   `due` it waits behind normal callers: a poll of a task that is
//!   probably still running would take a slot a create needs and, likely,
//!   find nothing (each such poll costs a slot's whole window at the end of
//!   a saturated batch). When only polls wait, a freed slot goes to the one
//!   due soonest rather than stay idle: the polls that see a task finish
//!   come before its `due`, and holding them back while nobody else wants
//!   the slot would only make the result late. (With a window shared by
//!   other processes, which may want the slot, it waits for its due.) Due
//!   polls go in order of their `due`.
//! * **Creates keep most of a short budget.** While due polls and normal
//!   callers both wait, they take turns: one due poll, then up to
//!   [`CREATES_PER_POLL`] normal callers. The first due poll after a calm
//!   spell goes at once (the first image of a batch is not held back), but
//!   polls cannot take most of the slots: a batch's total time is set by
//!   its last create, whose task must still run after it, so creates slowed
//!   to a trickle behind polls would leave the last windows idle while the
//!   last tasks finish.
//! * **The first poll of a short spell gets a slot by its due.** If a
//!   normal caller would take the last slot free before a waiting poll is
//!   due, the poll keeps it and starts at its due. A saturated batch's
//!   creates take every slot the moment a window frees, so without this
//!   its first polls, due a little later, would wait a whole window. Only
//!   the first poll of a spell (until the queue empties): after it, due
//!   polls take turns at freed slots, and a slot held idle would lengthen
//!   the batch. Not with a shared window: this process's log does not hold
//!   the others' starts, so it cannot tell which slot is a window's last.
//! * **No caller starves**: creates get at least `CREATES_PER_POLL` slots in
//!   `CREATES_PER_POLL + 1` while polls wait, due polls at least one; and a
//!   poll waits at most until its `due`.
//!
//! The client sets the priority of its polls for the retried call they run
//! in ([`with_priority`]); [`RateBudget::acquire`] reads it, so the retry
//! loop needs no argument for it. A 429 received anyway pushes the whole
//! account back ([`RateBudget::penalize`]).
//!
//! ## Across processes
//!
//! A budget [`with_shared`](RateBudget::with_shared) also asks a
//! [`SharedRate`] backend for each start, so every process on the key
//! draws from one window. It stays the local queue: every caller queues
//! (there is no fast path), the caller served next by the rules above asks
//! the backend while the others wait behind it (one ask in flight per
//! account and process), and it starts only when granted. A full shared
//! window holds the whole local account back until the instant the backend
//! advised; the denied caller keeps its place and records no start. A
//! backend that fails lets the request go on local pacing alone (see
//! [`SharedRate`] for why).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use crate::capabilities::RateLimit;
use crate::shared_rate::{
    Grant, MIN_SHARED_RETRY, SHARED_RATE_RETRY_AFTER_ERROR, SharedRate, SharedRateError,
};

/// The smallest safety margin added to a rate window.
pub const MIN_RATE_MARGIN: Duration = Duration::from_millis(100);

/// While due polls and normal callers both wait, this many normal callers
/// are served after each due poll (see the [module docs](self)).
///
/// Two keeps a saturated batch's creates at two thirds of the budget: 200
/// creates on Runbase's 20 per 10 s are all sent by about three quarters of
/// the batch's minimum time, so their tasks finish before the last windows,
/// while a third of the slots still hand out images from the second window
/// on.
pub const CREATES_PER_POLL: u32 = 2;

/// Where a caller stands in the queue when the budget is short.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use imagegen_core::{RateBudget, RateLimit, rate::Priority};
/// let budget = RateBudget::new(RateLimit { requests: 1, per: Duration::from_secs(1) });
/// budget.acquire().await;
/// // A poll of a task probably finished since now goes first once room frees.
/// budget.acquire_with(Priority::Poll { due: tokio::time::Instant::now() }).await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Priority {
    /// In arrival order (creates, and anything not said otherwise).
    #[default]
    Normal,
    /// A status poll of a task that is probably finished from `due` on:
    /// ahead of normal callers from then, held back while the budget is
    /// short before then.
    Poll {
        /// When the task is probably finished.
        due: Instant,
    },
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `future` with its rate-budget acquisitions at `priority` (the retry
/// loop of one status poll calls [`RateBudget::acquire`] once per attempt).
pub(crate) async fn with_priority<F: Future>(priority: Priority, future: F) -> F::Output {
    PRIORITY.scope(priority, future).await
}

/// The priority of the call this runs in ([`with_priority`]), or normal.
pub(crate) fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or_default()
}

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
    /// The budget the account shares with other processes, if any.
    shared: Option<Shared>,
}

/// A shared backend and the account's id in it.
#[derive(Debug)]
struct Shared {
    backend: Arc<dyn SharedRate>,
    account: String,
}

#[derive(Debug)]
struct State {
    /// Start times of the last `cap` requests, oldest first.
    log: VecDeque<Instant>,
    /// No request starts before this (set by a 429).
    blocked_until: Option<Instant>,
    /// Callers in the slow path. While there are any, the fast path is
    /// closed, so a freed slot goes to them first.
    waiting: usize,
    /// The callers in the slow path, in arrival order.
    queue: Vec<Queued>,
    /// The id of the next caller to queue.
    next_id: u64,
    /// Normal callers served while a due poll waited, since the last due
    /// poll; starts (and rests, when nobody contends) at
    /// [`CREATES_PER_POLL`], so the first due poll goes at once.
    normals_since_poll: u32,
    /// A poll was served from the queue since it was last empty (see
    /// [`State::held_for_first_poll`]).
    polled_this_spell: bool,
    /// Other processes draw from the same window ([`RateBudget::with_shared`]).
    window_shared: bool,
    /// A queued caller is asking the shared backend: nobody else is served
    /// until it has its answer.
    asking: bool,
    /// The shared backend failed: until then, starts are paced locally
    /// without asking it.
    shared_down_until: Option<Instant>,
    /// A warning about the failing backend was logged and it has not
    /// answered since.
    shared_warned: bool,
}

#[derive(Debug)]
struct Queued {
    id: u64,
    priority: Priority,
    wake: Arc<Notify>,
}

impl State {
    /// Whether a request may start at `now`; otherwise when to look again.
    fn room(&mut self, now: Instant, cap: usize, window: Duration) -> Result<(), Instant> {
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
            Ok(())
        } else {
            Err(self.log[0] + window)
        }
    }

    /// Records a start at `now` if the account may send one; otherwise says
    /// when to look again.
    fn try_start(&mut self, now: Instant, cap: usize, window: Duration) -> Result<(), Instant> {
        self.room(now, cap, window)?;
        self.log.push_back(now);
        Ok(())
    }

    /// The queued caller served next if a slot is free at `at` (by index),
    /// and when it may start; `None` when nobody waits.
    fn pick(&self, at: Instant, cap: usize, window: Duration) -> Option<(usize, Instant)> {
        let normal = self
            .queue
            .iter()
            .position(|q| q.priority == Priority::Normal);
        let due = self.soonest_poll(|due| due <= at).map(|(i, _)| i);
        match (due, normal) {
            (Some(_), Some(normal)) if self.normals_since_poll < CREATES_PER_POLL => {
                Some((normal, at))
            }
            (Some(poll), _) => Some((poll, at)),
            (None, Some(normal)) => Some(
                self.held_for_first_poll(at, cap, window)
                    .unwrap_or((normal, at)),
            ),
            // Only polls not yet due: nothing else here wants the slot, so
            // the one due soonest takes it rather than leave it idle; unless
            // other processes share the window and may want it.
            (None, None) => self
                .soonest_poll(|_| true)
                .map(|(i, due)| (i, if self.window_shared { due.max(at) } else { at })),
        }
    }

    /// The queued poll due soonest among those whose `due` passes `which`
    /// (ties in arrival order): its index and due.
    fn soonest_poll(&self, which: impl Fn(Instant) -> bool) -> Option<(usize, Instant)> {
        self.queue
            .iter()
            .enumerate()
            .filter_map(|(i, q)| match q.priority {
                Priority::Poll { due } if which(due) => Some((due, q.id, i)),
                _ => None,
            })
            .min()
            .map(|(due, _, i)| (i, due))
    }

    /// The first poll of a short spell keeps the last slot of a window: if
    /// a normal caller taking the slot free at `at` would leave no other
    /// slot free before a waiting poll is due, the poll due soonest gets it
    /// at its due. Without it, a saturated batch's first polls find every
    /// slot of the window in which they fall due taken by creates, and the
    /// first image waits a whole window longer. Only the first poll: after
    /// it, due polls take their turns at each freed slot, and holding slots
    /// idle would lengthen the batch.
    fn held_for_first_poll(
        &self,
        at: Instant,
        cap: usize,
        window: Duration,
    ) -> Option<(usize, Instant)> {
        // Another process's starts are not in this log: it cannot tell
        // which slot is a window's last.
        if self.polled_this_spell || self.window_shared {
            return None;
        }
        let mut live = self.log.iter().filter(|&&t| t + window > at).peekable();
        let next_free = live.peek().map_or(at, |&&t| t) + window;
        if live.count() + 1 < cap {
            return None;
        }
        self.soonest_poll(|due| due > at && due < next_free)
    }

    /// Who is served next and when: the index of a queued caller and the
    /// instant it may start (a slot free and, for a poll, due).
    fn plan(&mut self, now: Instant, cap: usize, window: Duration) -> Option<(usize, Instant)> {
        if self.queue.is_empty() || self.asking {
            return None;
        }
        let free = match self.room(now, cap, window) {
            Ok(()) => now,
            Err(at) => at,
        };
        self.pick(free, cap, window)
    }

    /// Removes the queued caller `id`; wakes whoever is served next.
    fn leave(&mut self, id: u64, now: Instant, cap: usize, window: Duration) {
        if let Some(i) = self.queue.iter().position(|q| q.id == id) {
            self.queue.remove(i);
            self.waiting -= 1;
        }
        if self.queue.is_empty() {
            self.polled_this_spell = false;
        }
        if let Some((next, _)) = self.plan(now, cap, window) {
            self.queue[next].wake.notify_one();
        }
    }
}

/// Takes a caller out of the queue when it gives up (its future dropped),
/// so an abandoned wait never keeps the fast path closed or the next
/// caller asleep.
struct InQueue<'a> {
    budget: &'a RateBudget,
    id: u64,
    queued: bool,
    /// It was asking the shared backend (a grant it may have got unseen
    /// is merely a slot unused).
    asking: bool,
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        if self.queued {
            let budget = self.budget;
            let mut state = budget.lock();
            if self.asking {
                state.asking = false;
            }
            state.leave(self.id, Instant::now(), budget.cap, budget.window);
        }
    }
}

/// What a queued caller does after looking at the queue.
enum Step<'a> {
    /// Ask the shared backend for a start, as the caller served next.
    Ask(&'a Shared),
    /// Sleep until this instant (or until woken).
    SleepUntil(Instant),
    /// Sleep until woken.
    Wait,
}

impl RateBudget {
    /// A budget for `limit` with the default safety margin: 2.5 % of the
    /// window, at least [`MIN_RATE_MARGIN`].
    ///
    /// The margin covers how much closer together two requests a window
    /// apart can arrive than they started: the difference of their one-way
    /// delays, tens of milliseconds on a warm connection, a TLS handshake
    /// (100 to 300 ms) when the earlier one opened a connection. 250 ms on
    /// Runbase's 10 s window covers that; every extra millisecond is lost
    /// throughput on a saturated key (the margin is the floor of a batch's
    /// total time over the published minimum), and a 429 it misses is
    /// never charged: it holds the account back and is retried.
    pub fn new(limit: RateLimit) -> Self {
        let margin = (limit.per / 40).max(MIN_RATE_MARGIN);
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
                // A huge limit (a gateway with none to speak of) must not
                // allocate its whole log up front.
                log: VecDeque::with_capacity(cap.min(1024)),
                blocked_until: None,
                waiting: 0,
                queue: Vec::new(),
                next_id: 0,
                normals_since_poll: CREATES_PER_POLL,
                polled_this_spell: false,
                window_shared: false,
                asking: false,
                shared_down_until: None,
                shared_warned: false,
            }),
            shared: None,
        }
    }

    /// This budget, also drawing each start from `backend`'s window for
    /// `account` (an [`ImageProvider::account_id`](crate::ImageProvider::account_id)),
    /// which every process pointing at the same backend shares. See the
    /// [module docs](self#across-processes).
    ///
    /// Each request then costs one ask of the backend (for PostgreSQL, one
    /// short round trip), and [`try_acquire`](Self::try_acquire) always
    /// says `false`: a start cannot be known free without asking.
    pub fn with_shared(mut self, backend: Arc<dyn SharedRate>, account: impl Into<String>) -> Self {
        self.shared = Some(Shared {
            backend,
            account: account.into(),
        });
        self.lock().window_shared = true;
        self
    }

    /// Whether starts are also drawn from a shared backend.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether a request would wait now: the window is full, the account
    /// held back, or others queue (a shared budget also waits for its ask).
    pub(crate) fn is_short(&self) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        state.waiting > 0 || state.room(now, self.cap, self.window).is_err()
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
        self.try_acquire_stamped().is_some()
    }

    /// [`try_acquire`](Self::try_acquire), returning the start recorded.
    pub(crate) fn try_acquire_stamped(&self) -> Option<Instant> {
        if self.shared.is_some() {
            return None;
        }
        let now = Instant::now();
        let mut state = self.lock();
        (state.waiting == 0 && state.try_start(now, self.cap, self.window).is_ok()).then_some(now)
    }

    /// Moves a recorded start from `from` to `to` (later): for a request
    /// that, after its slot, waited for something else before it really
    /// started, so that it never leaves the window before it should.
    pub(crate) fn restamp(&self, from: Instant, to: Instant) {
        if to <= from {
            return;
        }
        let mut state = self.lock();
        if let Some(i) = state.log.iter().rposition(|&t| t == from) {
            state.log.remove(i);
        }
        let at = state.log.partition_point(|&t| t <= to);
        state.log.insert(at, to);
    }

    /// Waits until a request may start, and records its start, at the
    /// priority of the call it runs in ([`Priority::Normal`] unless the
    /// client said otherwise). See [`acquire_with`](Self::acquire_with).
    pub async fn acquire(&self) {
        self.acquire_stamped(current_priority()).await;
    }

    /// Waits until a request may start, and records its start. Returns at
    /// once, without yielding, when the window has room and nobody is
    /// waiting; otherwise callers are served by `priority` (see the
    /// [module docs](self)), normal callers in the order they arrived.
    /// Dropping the future gives up the place in the queue without using a
    /// slot.
    pub async fn acquire_with(&self, priority: Priority) {
        self.acquire_stamped(priority).await;
    }

    /// [`acquire_with`](Self::acquire_with), returning the start recorded.
    pub(crate) async fn acquire_stamped(&self, priority: Priority) -> Instant {
        let now = Instant::now();
        let wake = Arc::new(Notify::new());
        let id = {
            let mut state = self.lock();
            if self.shared.is_none()
                && state.waiting == 0
                && state.try_start(now, self.cap, self.window).is_ok()
            {
                return now;
            }
            // Queued in the same critical section that found no room, so
            // no later caller can slip past through the fast path.
            state.waiting += 1;
            let id = state.next_id;
            state.next_id += 1;
            state.queue.push(Queued {
                id,
                priority,
                wake: wake.clone(),
            });
            id
        };
        let mut place = InQueue {
            budget: self,
            id,
            queued: true,
            asking: false,
        };
        loop {
            let step = {
                // Read after every sleep: the recorded start must not be
                // earlier than the real one, or it would leave the window
                // too soon.
                let now = Instant::now();
                let mut state = self.lock();
                match state.plan(now, self.cap, self.window) {
                    Some((i, at)) if state.queue[i].id == id && at <= now => {
                        match self.shared_to_ask(&state, now) {
                            Some(shared) => {
                                state.asking = true;
                                place.asking = true;
                                Step::Ask(shared)
                            }
                            None => {
                                let started = state.try_start(now, self.cap, self.window);
                                debug_assert!(started.is_ok(), "plan found room");
                                self.served(&mut state, &mut place, priority, now);
                                return now;
                            }
                        }
                    }
                    Some((i, at)) if state.queue[i].id == id => Step::SleepUntil(at),
                    Some((i, _)) => {
                        // Make sure whoever is next holds the timer.
                        state.queue[i].wake.notify_one();
                        Step::Wait
                    }
                    None => Step::Wait,
                }
            };
            match step {
                Step::Ask(shared) => {
                    let answer = shared
                        .backend
                        .take(&shared.account, self.cap as u32, self.window)
                        .await;
                    let now = Instant::now();
                    let mut state = self.lock();
                    state.asking = false;
                    place.asking = false;
                    if self.settle_ask(&mut state, &shared.account, answer, now) {
                        self.served(&mut state, &mut place, priority, now);
                        return now;
                    }
                }
                Step::SleepUntil(at) => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = sleep_until(at) => {}
                    }
                }
                Step::Wait => wake.notified().await,
            }
        }
    }

    /// The backend to ask before the next start, unless there is none or
    /// it failed a moment ago.
    fn shared_to_ask(&self, state: &State, now: Instant) -> Option<&Shared> {
        self.shared
            .as_ref()
            .filter(|_| state.shared_down_until.is_none_or(|until| until <= now))
    }

    /// Acts on the backend's answer to the caller served next: records its
    /// start and returns `true` when it may go.
    fn settle_ask(
        &self,
        state: &mut State,
        account: &str,
        answer: Result<Grant, SharedRateError>,
        now: Instant,
    ) -> bool {
        if answer.is_ok() && state.shared_warned {
            state.shared_warned = false;
            tracing::info!(account, "the shared rate budget answers again");
        }
        match answer {
            Ok(Grant::Granted) => {
                // Nobody started locally while it asked (it was next in
                // line, and no start skips the queue), so the local window
                // still has room; a start is recorded either way, since the
                // backend counted it.
                while state.log.front().is_some_and(|&t| t + self.window <= now) {
                    state.log.pop_front();
                }
                state.log.push_back(now);
                true
            }
            Ok(Grant::Full { retry_in }) => {
                let until = crate::clock::later(now, retry_in.clamp(MIN_SHARED_RETRY, self.window));
                if state.blocked_until.is_none_or(|b| b < until) {
                    state.blocked_until = Some(until);
                }
                false
            }
            Err(err) => {
                if !state.shared_warned {
                    state.shared_warned = true;
                    tracing::warn!(
                        account,
                        error = %err,
                        "the shared rate budget did not answer; pacing this process alone until it does (other processes on the key may cause 429s, which are not charged)"
                    );
                }
                state.shared_down_until =
                    Some(crate::clock::later(now, SHARED_RATE_RETRY_AFTER_ERROR));
                state.try_start(now, self.cap, self.window).is_ok()
            }
        }
    }

    /// Takes the caller that just started out of the queue, counting the
    /// due polls served while normal callers wait, and wakes the next.
    fn served(&self, state: &mut State, place: &mut InQueue<'_>, priority: Priority, now: Instant) {
        let id = place.id;
        let mut others = state.queue.iter().filter(|q| q.id != id);
        let contended = match priority {
            Priority::Normal => others
                .filter_map(|q| match q.priority {
                    Priority::Poll { due } => Some(due),
                    Priority::Normal => None,
                })
                .any(|due| due <= now),
            Priority::Poll { .. } => others.any(|q| q.priority == Priority::Normal),
        };
        state.normals_since_poll = match (priority, contended) {
            (_, false) => CREATES_PER_POLL,
            (Priority::Poll { .. }, true) => 0,
            (Priority::Normal, true) => state.normals_since_poll + 1,
        };
        if matches!(priority, Priority::Poll { .. }) {
            state.polled_this_spell = true;
        }
        place.queued = false;
        state.leave(id, now, self.cap, self.window);
    }

    /// Holds every request on the account back for `wait` from now (after a
    /// 429, for the `Retry-After` the provider sent).
    ///
    /// A shared budget also holds the account back in every other process
    /// (in the background: the request that got the 429 does not wait for
    /// the backend).
    pub fn penalize(&self, wait: Duration) {
        let until = crate::clock::after(wait);
        {
            let mut state = self.lock();
            if state.blocked_until.is_none_or(|b| b < until) {
                state.blocked_until = Some(until);
            }
        }
        if let Some(shared) = &self.shared
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let backend = shared.backend.clone();
            let account = shared.account.clone();
            runtime.spawn(async move {
                if let Err(err) = backend.hold_back(&account, wait).await {
                    tracing::warn!(account, error = %err, "could not share a 429's hold-back");
                }
            });
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
#[path = "tests/rate_tests.rs"]
mod tests;
