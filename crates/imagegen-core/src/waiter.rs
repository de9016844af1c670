//! Waiting for a task to finish: polling as a waiter.
//!
//! A wait polls on the schedule of [`crate::schedule`]: by default
//! ([`PollSchedule::Aimed`]) the first poll comes shortly before the task's
//! likely finish, as the client's latency estimate for the provider,
//! quality and aspect says ([`crate::latency`]), then polls come at the
//! interval the provider advises
//! ([`Capabilities::poll_interval`](crate::Capabilities::poll_interval)),
//! never faster, and the interval grows only when the task runs far beyond
//! the estimate. Every wait that sees its task succeed teaches the estimate.
//! One overall deadline ends a wait with an [`ErrorKind::Timeout`] that
//! carries the task id, so the caller can resume later. A status the
//! provider is not documented to send counts as "still running": it is
//! warned about once and bounded by the deadline, never a reason to spin or
//! to give up.
//!
//! A wait ends early when its future is dropped or its
//! [`CancellationToken`] fires (the task keeps running at the provider), and
//! it is woken at once by a webhook hint ([`Client::on_callback`](crate::Client::on_callback)).
//! Every poll goes through the account's rate budget and the retry policy;
//! a poll of a task that is probably finished by now asks the budget to go
//! ahead of waiting creates ([`Priority::Poll`]). No task is spawned: a
//! wait is a future with one timer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::capabilities::Warning;
use crate::error::{Error, ErrorKind};
use crate::generation::TaskHandle;
use crate::jitter::Jitter;
use crate::latency::LatencyEstimate;
use crate::provider::{TaskState, TaskStatus};
use crate::rate::Priority;
use crate::schedule::{ScheduleInput, next_poll};

/// Which schedule a wait polls on (see [`crate::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PollSchedule {
    /// The first poll shortly before the task's likely finish (learned per
    /// provider, quality and aspect), then every interval; growth only far
    /// beyond the estimate. The default.
    #[default]
    Aimed,
    /// Start at the interval and grow by the multiplier after every poll,
    /// with jitter (the schedule before the aimed one; with multiplier 1 and
    /// no jitter, a fixed poller: [`PollPolicy::fixed`]).
    Backoff,
}

/// How a task is polled.
///
/// ```
/// use std::time::Duration;
/// use imagegen_core::PollPolicy;
/// let policy = PollPolicy::default()
///     .with_initial_interval(Duration::from_secs(1))
///     .with_deadline(Duration::from_secs(120));
/// assert_eq!(policy.deadline, Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// The interval between polls instead of the provider's advice (`None`,
    /// the default, uses the advice): the shortest time between two polls,
    /// and the interval while a task is about to finish. Under
    /// [`PollSchedule::Backoff`], also the first interval.
    pub initial_interval: Option<Duration>,
    /// The shortest interval, used while a task is likely finishing,
    /// instead of the provider's
    /// ([`Capabilities::fastest_poll_interval`](crate::Capabilities::fastest_poll_interval));
    /// never above the interval. `None`, the default: the provider's, or
    /// [`initial_interval`](Self::initial_interval) when that is set (an
    /// interval of one's own replaces the provider's whole advice).
    pub fastest_interval: Option<Duration>,
    /// The longest interval between polls. Default 15 s.
    pub max_interval: Duration,
    /// How much the interval grows: per poll under
    /// [`PollSchedule::Backoff`], per interval once a task runs far beyond
    /// its estimate under [`PollSchedule::Aimed`]. Default 1.5.
    pub multiplier: f64,
    /// Random spread of each grown interval, as a fraction (0.1: +10 %);
    /// never below the interval. Default 0.1.
    pub jitter: f64,
    /// How long a wait may take in all. Default 10 minutes (a `high`
    /// quality image can take several).
    pub deadline: Duration,
    /// For this long after its create, a task the provider says does not
    /// exist is taken as not visible yet (APIs have read-after-write lag)
    /// and polled again. Default 30 s.
    pub not_found_grace: Duration,
    /// The schedule. Default [`PollSchedule::Aimed`].
    pub schedule: PollSchedule,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial_interval: None,
            fastest_interval: None,
            max_interval: Duration::from_secs(15),
            multiplier: 1.5,
            jitter: 0.1,
            deadline: Duration::from_secs(600),
            not_found_grace: Duration::from_secs(30),
            schedule: PollSchedule::Aimed,
        }
    }
}

impl PollPolicy {
    /// A fixed poller: every `interval`, no growth, no jitter, whatever
    /// the task's estimate.
    ///
    /// ```
    /// use std::time::Duration;
    /// use imagegen_core::{PollPolicy, PollSchedule};
    /// let fixed = PollPolicy::fixed(Duration::from_millis(500));
    /// assert_eq!(fixed.schedule, PollSchedule::Backoff);
    /// assert_eq!(fixed.multiplier, 1.0);
    /// ```
    pub fn fixed(interval: Duration) -> Self {
        PollPolicy::default()
            .with_schedule(PollSchedule::Backoff)
            .with_initial_interval(interval)
            .with_max_interval(interval)
            .with_multiplier(1.0)
            .with_jitter(0.0)
    }
    /// Sets the interval instead of the provider's advice.
    pub fn with_initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = Some(interval);
        self
    }
    /// Sets the shortest interval, used while a task is likely finishing.
    pub fn with_fastest_interval(mut self, interval: Duration) -> Self {
        self.fastest_interval = Some(interval);
        self
    }
    /// Sets the longest interval.
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }
    /// Sets the growth factor (1.0: no growth).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier.max(1.0);
        self
    }
    /// Sets the jitter fraction (0.0 to 1.0).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }
    /// Sets the overall deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
    /// Sets how long after its create a task's "not found" is taken as
    /// read-after-write lag.
    pub fn with_not_found_grace(mut self, grace: Duration) -> Self {
        self.not_found_grace = grace;
        self
    }
    /// Sets the schedule.
    pub fn with_schedule(mut self, schedule: PollSchedule) -> Self {
        self.schedule = schedule;
        self
    }
}

/// Per-call options of [`Client::wait_with`](crate::Client::wait_with).
///
/// ```
/// use std::time::Duration;
/// use imagegen_core::WaitOptions;
/// use tokio_util::sync::CancellationToken;
/// let token = CancellationToken::new();
/// let options = WaitOptions::new().deadline(Duration::from_secs(30)).cancel(token.clone());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Overrides the poll policy's deadline for this wait.
    pub deadline: Option<Duration>,
    /// Ends the wait with [`ErrorKind::Cancelled`] when cancelled.
    pub cancel: Option<CancellationToken>,
}

impl WaitOptions {
    /// The poll policy's deadline, no cancellation.
    pub fn new() -> Self {
        WaitOptions::default()
    }
    /// Sets this wait's deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
    /// Sets the cancellation token.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A registered waiter: woken by a webhook hint, optionally handed the
/// status the hint fetched.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    notify: Notify,
    delivered: Mutex<Option<TaskStatus>>,
}

/// Waiters by provider and task, so a webhook can wake them.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    map: Mutex<HashMap<String, Vec<Arc<Slot>>>>,
}

fn key(provider: &str, task_id: &str) -> String {
    format!("{provider}\u{0}{task_id}")
}

/// Removes its slot when the wait ends (or its future is dropped).
pub(crate) struct Registration<'a> {
    wakers: &'a Wakers,
    key: String,
    slot: Arc<Slot>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut map = self.wakers.lock();
        if let Some(slots) = map.get_mut(&self.key) {
            slots.retain(|s| !Arc::ptr_eq(s, &self.slot));
            if slots.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

impl Wakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Arc<Slot>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Whether anyone waits on the task.
    pub(crate) fn is_waiting(&self, provider: &str, task_id: &str) -> bool {
        self.lock().contains_key(&key(provider, task_id))
    }

    pub(crate) fn register(&self, provider: &str, task_id: &str) -> Registration<'_> {
        let slot = Arc::new(Slot::default());
        let key = key(provider, task_id);
        self.lock()
            .entry(key.clone())
            .or_default()
            .push(slot.clone());
        Registration {
            wakers: self,
            key,
            slot,
        }
    }

    /// Wakes every waiter on the task, handing over `status` if given.
    /// Returns how many were woken.
    pub(crate) fn wake(&self, provider: &str, task_id: &str, status: Option<&TaskStatus>) -> usize {
        let slots: Vec<Arc<Slot>> = self
            .lock()
            .get(&key(provider, task_id))
            .cloned()
            .unwrap_or_default();
        for slot in &slots {
            if let Some(status) = status {
                *slot.delivered.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
            }
            // notify_one stores a permit if the waiter is busy polling.
            slot.notify.notify_one();
        }
        slots.len()
    }
}

/// How a wait ended.
pub(crate) struct WaitOutcome {
    /// A terminal status, or why there is none (with the task id).
    pub result: Result<TaskStatus, Error>,
    /// Status requests sent.
    pub polls: u32,
    /// Undocumented statuses seen.
    pub warnings: Vec<Warning>,
    /// What the wait learned about the task's duration, when it saw it
    /// succeed on its own schedule.
    pub observed: Option<Observation>,
}

/// A finished task as a wait saw it, times since its create (see
/// [`LatencyEstimate::observe`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Observation {
    /// It finished after this; `None`: nothing bounds it from below.
    pub after: Option<Duration>,
    /// It was done by this.
    pub done: Duration,
}

async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

fn cancelled_error(provider: &str, task_id: &str) -> Error {
    Error::new(ErrorKind::Cancelled, "waiting was cancelled")
        .with_provider(provider)
        .with_task_id(task_id)
        .with_retryable(false)
        .with_hint("the task keeps running at the provider; resume it with wait")
}

/// The error of a wait whose deadline passed: resumable with the task id.
/// When no status request was ever answered, the last failure says why
/// (an unreachable host is not a task "still queued").
fn timed_out(
    provider: &str,
    task_id: &str,
    last_state: &str,
    budget: Duration,
    unanswered: Option<Error>,
) -> Error {
    if let Some(failure) = unanswered {
        return failure
            .with_task_id(task_id)
            .with_retryable(false)
            .with_hint(format!(
                "no status request was answered within {}; the task keeps running at {provider} if it was created: wait for it again once {provider} answers",
                seconds(budget)
            ));
    }
    Error::new(
        ErrorKind::Timeout,
        format!("the task was still {last_state} after {}", seconds(budget)),
    )
    .with_provider(provider)
    .with_task_id(task_id)
    .with_retryable(false)
    .with_hint("the task may still finish; resume it later with wait")
}

/// `60s`, `4.5s`: a deadline as people write it (a deadline computed from
/// a clock is rarely a whole number of nanoseconds).
fn seconds(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    if tenths.is_multiple_of(10) {
        format!("{}s", tenths / 10)
    } else {
        format!("{}.{}s", tenths / 10, tenths % 10)
    }
}

/// What a wait needs from the client: who is polled, how, and the two
/// requests it may make, each one retried call within the deadline given,
/// at the rate-budget priority given.
pub(crate) struct Waiting<'a, P, R> {
    /// The provider's name.
    pub provider: &'a str,
    /// The poll interval the provider advises.
    pub advised: Duration,
    /// The shortest interval its advice allows, if it gives a range.
    pub fastest: Option<Duration>,
    /// The client's poll policy.
    pub policy: &'a PollPolicy,
    /// The client's jitter source.
    pub jitter: &'a Jitter,
    /// Where webhook wake-ups arrive.
    pub wakers: &'a Wakers,
    /// How long the task's provider, quality and aspect take.
    pub estimate: LatencyEstimate,
    /// One status request with retries: the result and the requests sent.
    pub poll: P,
    /// One result request with retries, for [`TaskState::ResultReady`].
    pub fetch_result: R,
}

/// When a task is probably finished, as time since its create: past the
/// estimate's `high` quantile by a quarter of its spread. A poll from then
/// on goes ahead of waiting creates in the rate budget; one before waits
/// behind them when the budget is short (it would likely be wasted).
///
/// A seed (nothing learned yet) says only the provider's typical duration,
/// so its tasks are due a quarter past that `typical` (halfway to the
/// seed's `high`): late enough that a first poll rarely finds the task
/// still running, where each poll found running costs a saturated batch a
/// whole window at its end; early enough that the rate budget's slot kept
/// for the first poll of a short spell (see [`crate::rate`]) hands out a
/// saturated batch's first image within two windows.
pub(crate) fn probably_done(estimate: &LatencyEstimate) -> Duration {
    if !estimate.is_learned() {
        return estimate.typical.mul_f64(1.25);
    }
    let spread = estimate.high.saturating_sub(estimate.low);
    estimate.high.saturating_add(spread / 4)
}

/// Polls `handle` until it is terminal, the deadline passes, or the wait is
/// cancelled.
pub(crate) async fn wait_task<P, PF, R, RF>(
    mut waiting: Waiting<'_, P, R>,
    handle: &TaskHandle,
    options: &WaitOptions,
) -> WaitOutcome
where
    P: FnMut(Instant, Priority) -> PF,
    PF: Future<Output = (Result<TaskStatus, Error>, u32)>,
    R: FnMut(Instant, Priority) -> RF,
    RF: Future<Output = (Result<TaskStatus, Error>, u32)>,
{
    let provider = waiting.provider;
    let task_id = handle.task_id.as_str();
    let mut outcome = WaitOutcome {
        result: Err(Error::new(ErrorKind::Timeout, "not polled yet")),
        polls: 0,
        warnings: Vec::new(),
        observed: None,
    };
    if let Some(finished) = &handle.finished {
        outcome.result = Ok(finished.clone());
        return outcome;
    }
    let policy = waiting.policy;
    let estimate = waiting.estimate;
    let start = Instant::now();
    let budget = options.deadline.unwrap_or(policy.deadline);
    let deadline = crate::clock::later(start, budget);
    let interval = policy
        .initial_interval
        .unwrap_or(waiting.advised)
        .clamp(Duration::from_millis(1), crate::clock::FAR_FUTURE);
    // A policy's own interval replaces the provider's whole advice.
    let fastest = match (policy.fastest_interval, policy.initial_interval) {
        (Some(fastest), _) => fastest,
        (None, Some(_)) => interval,
        (None, None) => waiting.fastest.unwrap_or(interval),
    }
    .clamp(Duration::from_millis(1), interval);
    // Times are kept since the create. A resumed task may have been running
    // for a while (its age, from the wall clock, once: `TaskHandle::age`);
    // from here on the runtime's clock counts, so paused-time tests see the
    // schedule.
    let age = handle.age();
    let created = start.checked_sub(age).unwrap_or(start);
    let since_create = || age.saturating_add(start.elapsed());
    let at = |since: Duration| crate::clock::later(created, since).max(start);
    let due = at(probably_done(&estimate));
    let mut schedule = ScheduleInput {
        estimate,
        interval,
        fastest,
        policy,
        polls: 0,
        last_poll: None,
        draw: waiting.jitter.factor(0.0, 1.0),
    };
    let first = next_poll(&schedule);
    // A resumed task already past its first poll is polled at once; its
    // duration teaches nothing unless it is then seen running.
    let late_start = first <= age;
    let mut next = at(first);
    let mut pending: Option<Duration> = None;
    let registration = waiting.wakers.register(provider, task_id);
    let cancel = options.cancel.as_ref();
    let mut warned_unknown = false;
    let mut last_state = "queued";
    // The last failed poll while no poll has been answered yet.
    let mut unanswered: Option<Error> = None;
    // What a success teaches: polled on schedule, the task finished within
    // the last interval (or since it was last seen running); polled late
    // (held back by the rate budget, or resumed late), only since it was
    // last seen running, if it was.
    let observe =
        |status: &TaskStatus, pending: Option<Duration>, done: Duration, on_time: bool| {
            if let Some(took) = status.reported_duration {
                // The provider's own clock: exact, however late the poll.
                return Observation {
                    after: Some(took),
                    done: took,
                };
            }
            let after = match (on_time && !late_start, pending) {
                (true, pending) => Some(
                    pending
                        .unwrap_or_default()
                        .max(done.saturating_sub(interval)),
                ),
                (false, pending) => pending,
            };
            Observation { after, done }
        };

    loop {
        tokio::select! {
            biased;
            _ = cancelled(cancel) => {
                outcome.result = Err(cancelled_error(provider, task_id));
                return outcome;
            }
            _ = registration.slot.notify.notified() => {
                let delivered = registration
                    .slot
                    .delivered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(status) = delivered
                    && status.state.is_terminal()
                {
                    tracing::debug!(provider, task_id, "finished, as a webhook hint confirmed");
                    if status.state == TaskState::Succeeded {
                        outcome.observed = Some(observe(&status, pending, since_create(), true));
                    }
                    outcome.result = Ok(status);
                    return outcome;
                }
                tracing::debug!(provider, task_id, "woken by a webhook hint; polling now");
            }
            _ = sleep_until(next.min(deadline)) => {}
        }

        if Instant::now() >= deadline {
            outcome.result = Err(timed_out(
                provider,
                task_id,
                last_state,
                budget,
                unanswered.take(),
            ));
            return outcome;
        }
        // From its likely finish on, an aimed poll goes ahead of waiting
        // creates; the backoff schedule aims at nothing and queues in order.
        let priority = match policy.schedule {
            PollSchedule::Aimed => Priority::Poll { due },
            PollSchedule::Backoff => Priority::Normal,
        };
        let poll = (waiting.poll)(deadline, priority);
        let (mut result, attempts) = tokio::select! {
            biased;
            _ = cancelled(cancel) => {
                outcome.result = Err(cancelled_error(provider, task_id));
                return outcome;
            }
            polled = poll => polled,
        };
        outcome.polls += attempts;
        if matches!(&result, Ok(status) if status.state == TaskState::ResultReady) {
            // Finished at the provider; the outcome is in a separate result.
            let fetch = (waiting.fetch_result)(deadline, Priority::Poll { due: start });
            let (fetched, attempts) = tokio::select! {
                biased;
                _ = cancelled(cancel) => {
                    outcome.result = Err(cancelled_error(provider, task_id));
                    return outcome;
                }
                fetched = fetch => fetched,
            };
            outcome.polls += attempts;
            result = fetched;
        }
        let polled_at = since_create();
        // On schedule: answered within half an interval of when it was due.
        let on_time = Instant::now() <= crate::clock::later(next, interval / 2);
        match result {
            Ok(status) if status.state.is_terminal() => {
                if status.state == TaskState::Succeeded {
                    outcome.observed = Some(observe(&status, pending, polled_at, on_time));
                }
                outcome.result = Ok(status);
                return outcome;
            }
            Ok(status) => {
                if let TaskState::Unknown { raw } = &status.state
                    && !warned_unknown
                {
                    warned_unknown = true;
                    tracing::warn!(
                        provider,
                        task_id,
                        status = raw.as_str(),
                        "undocumented task status; treating it as still in progress"
                    );
                    outcome.warnings.push(Warning {
                        setting: "status".to_owned(),
                        message: format!(
                            "task {task_id} reported the undocumented status `{raw}`; treated as still in progress"
                        ),
                    });
                }
                last_state = status.state.name();
                pending = Some(polled_at);
                unanswered = None;
            }
            Err(err) if err.kind() == ErrorKind::NotFound && polled_at < policy.not_found_grace => {
                // Read-after-write lag: a task created moments ago may not
                // be visible to status requests yet.
                tracing::debug!(provider, task_id, error = %err, "task not visible yet; will poll again");
            }
            Err(err) if err.is_retryable() && err.kind() != ErrorKind::NotFound => {
                // The poll's own retries ran out; the task is paid for, so
                // keep waiting on the schedule until the deadline.
                tracing::warn!(provider, task_id, error = %err, "status poll failed; will poll again");
                if pending.is_none() {
                    unanswered = Some(err);
                }
            }
            Err(err) => {
                outcome.result = Err(err.with_task_id(task_id));
                return outcome;
            }
        }

        if Instant::now() >= deadline {
            outcome.result = Err(timed_out(
                provider,
                task_id,
                last_state,
                budget,
                unanswered.take(),
            ));
            return outcome;
        }
        schedule.polls += 1;
        schedule.last_poll = Some(polled_at);
        schedule.draw = waiting.jitter.factor(0.0, 1.0);
        next = at(next_poll(&schedule));
    }
}
