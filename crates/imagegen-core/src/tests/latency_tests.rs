//! Waits aimed at the likely finish, under paused time: what waits learn,
//! what a restored estimate does to the first wait, the deadline, and
//! polls of finished tasks going ahead of creates in a short rate budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use tokio::time::Instant;

use crate::capabilities::{Capabilities, RateLimit, tests_support};
use crate::{
    Client, Error, ErrorKind, ImageProvider, ImageRequest, LatencyEstimate, LatencyEstimates,
    LatencyKey, Quality, SubmitOptions, TaskRef, TaskState, TaskStatus, WaitOptions,
};

/// A provider whose tasks take the durations given, in order (the last one
/// repeats), and which records every call.
#[derive(Debug)]
struct Timed {
    caps: Capabilities,
    durations: Vec<Duration>,
    /// Whether a finished task's status reports how long it took.
    reports_duration: bool,
    state: Mutex<TimedState>,
}

#[derive(Debug, Default)]
struct TimedState {
    /// Task id to (created, finishes).
    tasks: HashMap<String, (Instant, Instant)>,
    /// (task id or "create", when).
    calls: Vec<(String, Instant)>,
}

impl Timed {
    fn new(durations: &[f64]) -> Arc<Timed> {
        Arc::new(Timed {
            caps: tests_support::polled_api(),
            durations: durations
                .iter()
                .map(|&s| Duration::from_secs_f64(s))
                .collect(),
            reports_duration: false,
            state: Mutex::new(TimedState::default()),
        })
    }
    fn reporting_durations(durations: &[f64]) -> Arc<Timed> {
        let mut timed = Arc::into_inner(Timed::new(durations)).expect("one owner");
        timed.reports_duration = true;
        Arc::new(timed)
    }
    fn polls_of(&self, task: &str) -> Vec<Duration> {
        let state = self.state.lock().unwrap();
        let created = state.tasks[task].0;
        state
            .calls
            .iter()
            .filter(|(t, _)| t == task)
            .map(|(_, at)| *at - created)
            .collect()
    }
    fn finishes(&self, task: &str) -> Instant {
        self.state.lock().unwrap().tasks[task].1
    }
    fn calls(&self) -> Vec<(String, Instant)> {
        self.state.lock().unwrap().calls.clone()
    }
}

#[async_trait]
impl ImageProvider for Timed {
    fn name(&self) -> &str {
        "timed"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn account_id(&self) -> String {
        "timed:test-account".to_owned()
    }
    async fn submit(&self, _: &ImageRequest, _: &SubmitOptions) -> Result<TaskStatus, Error> {
        let mut state = self.state.lock().unwrap();
        let n = state.tasks.len();
        let duration = self.durations[n.min(self.durations.len() - 1)];
        let id = format!("t{n}");
        let now = Instant::now();
        state.tasks.insert(id.clone(), (now, now + duration));
        state.calls.push(("create".to_owned(), now));
        Ok(TaskStatus::new(id, TaskState::Queued))
    }
    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        state.calls.push((task.id.clone(), now));
        let (created, finishes) = state.tasks[&task.id];
        if now >= finishes {
            let mut done =
                TaskStatus::new(task.id.clone(), TaskState::Succeeded).with_outputs(vec![
                    crate::ImageOutput::Url {
                        url: format!("https://images.invalid/{}.png", task.id),
                    },
                ]);
            if self.reports_duration {
                done.reported_duration = Some(finishes - created);
            }
            Ok(done)
        } else {
            Ok(TaskStatus::new(task.id.clone(), TaskState::Running))
        }
    }
}

fn client(provider: &Arc<Timed>) -> crate::ClientBuilder {
    Client::builder()
        .provider_arc(provider.clone())
        .jitter_seed(5)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn waits_learn_and_then_poll_shortly_before_the_finish() {
    // 9 s tasks, ±10 %; the provider advises polling every 2 s.
    let durations: Vec<f64> = (0..24)
        .map(|i| 8.1 + 1.8 * f64::from(i * 7 % 24) / 23.0)
        .collect();
    let timed = Timed::new(&durations);
    let client = client(&timed).build().unwrap();
    for i in 0..24 {
        let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
        assert_eq!(generation.task_ids(), [format!("t{i}")]);
    }
    // The first task, with only the 10 s seed: every 2 s from the create.
    let first = timed.polls_of("t0");
    assert_eq!(first.len(), 5, "{first:?}");
    // Once learned: at most two polls, the first not long before the finish,
    // and the finish seen within one interval.
    for (i, &duration) in durations.iter().enumerate().take(24).skip(12) {
        let task = format!("t{i}");
        let polls = timed.polls_of(&task);
        assert!(polls.len() <= 2, "{task}: {polls:?} for {duration}");
        assert!(
            secs(polls[0]) >= duration - 2.5,
            "{task}: {polls:?} for {duration}"
        );
        let seen = secs(*polls.last().unwrap());
        assert!(
            seen >= duration && seen < duration + 2.0,
            "{task}: {polls:?}"
        );
        for pair in polls.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(2),
                "{task}: {polls:?}"
            );
        }
    }
    let snapshot = client.latency_estimates();
    assert_eq!(snapshot.entries.len(), 1);
    let estimate = snapshot.entries[0].estimate;
    assert_eq!(estimate.samples, 24);
    assert!(
        (7.0..10.5).contains(&secs(estimate.typical)),
        "{estimate:?}"
    );
}

/// A provider that reports how long a task took teaches the estimate that
/// duration exactly, where a late poll alone says only "within the last
/// interval".
#[tokio::test(start_paused = true)]
async fn a_reported_duration_is_learned_exactly_however_late_the_poll() {
    let learned = |timed: Arc<Timed>| async move {
        // A fixed 10 s poller: the 3 s task is seen done 7 s late.
        let client = client(&timed)
            .poll_policy(crate::PollPolicy::fixed(Duration::from_secs(10)))
            .build()
            .unwrap();
        client.generate(ImageRequest::new("lamp")).await.unwrap();
        assert_eq!(timed.polls_of("t0"), [Duration::from_secs(10)]);
        client.latency_estimates().entries[0].estimate
    };
    let exact = learned(Timed::reporting_durations(&[3.0])).await;
    assert_eq!(exact.samples, 1);
    assert_eq!(exact.typical, Duration::from_secs(3));
    // A fifth either side until more tasks teach the spread.
    assert!((2.39..2.41).contains(&secs(exact.low)), "{exact:?}");
    assert!((3.74..3.76).contains(&secs(exact.high)), "{exact:?}");
    // Without the report: somewhere in the last interval, (0 s, 10 s].
    let bounded = learned(Timed::new(&[3.0])).await;
    assert_eq!(bounded.high, Duration::from_secs(10), "{bounded:?}");
}

#[tokio::test(start_paused = true)]
async fn an_advised_range_sees_the_finish_within_its_fastest_interval() {
    // As Runbase: "poll every 1-2 s". 9 s tasks, ±10 %.
    let durations: Vec<f64> = (0..24)
        .map(|i| 8.1 + 1.8 * f64::from(i * 7 % 24) / 23.0)
        .collect();
    let timed = Arc::new(Timed {
        caps: Capabilities {
            poll_interval: Duration::from_secs(2),
            fastest_poll_interval: Some(Duration::from_secs(1)),
            ..tests_support::polled_api()
        },
        ..Arc::into_inner(Timed::new(&durations)).unwrap()
    });
    let client = client(&timed).build().unwrap();
    for _ in 0..24 {
        client.generate(ImageRequest::new("lamp")).await.unwrap();
    }
    // A seed is not trusted with the fast polls: every 2 s.
    let first = timed.polls_of("t0");
    assert!(
        first
            .windows(2)
            .all(|p| p[1] - p[0] == Duration::from_secs(2)),
        "{first:?}"
    );
    for (i, &duration) in durations.iter().enumerate().skip(12) {
        let task = format!("t{i}");
        let polls = timed.polls_of(&task);
        let seen = secs(*polls.last().unwrap());
        assert!(
            seen >= duration && seen < duration + 1.0,
            "{task}: {polls:?}"
        );
        // No more than a fixed poller at the advised 2 s makes.
        let fixed = (duration / 2.0).ceil() as usize;
        assert!(polls.len() <= fixed, "{task}: {polls:?} for {duration}");
        for pair in polls.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(1),
                "{task}: {polls:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_restored_estimate_aims_the_first_wait_of_a_new_client() {
    let timed = Timed::new(&[9.0]);
    let mut snapshot = LatencyEstimates::default();
    let key = LatencyKey::new("timed", Some(Quality::High), None);
    snapshot.insert(
        key.clone(),
        LatencyEstimate {
            low: Duration::from_secs(8),
            typical: Duration::from_secs(9),
            high: Duration::from_millis(9500),
            samples: 40,
        },
    );
    let json = serde_json::to_string(&snapshot).unwrap();
    let client = client(&timed)
        .latency_estimates(serde_json::from_str(&json).unwrap())
        .build()
        .unwrap();
    let start = Instant::now();
    client
        .generate(ImageRequest::new("lamp").quality(Quality::High))
        .await
        .unwrap();
    // The grid ending at 9.5 s, from 8 s on: 7.5 s is before `low`, so 9.5 s.
    assert_eq!(timed.polls_of("t0"), [Duration::from_millis(9500)]);
    assert_eq!(start.elapsed(), Duration::from_millis(9500));
    // Another quality has no data: it starts from the seed.
    client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(timed.polls_of("t1")[0], Duration::from_secs(2));
    let after = client.latency_estimates();
    assert_eq!(after.get(&key).unwrap().samples, 41);
    assert_eq!(after.entries.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_aimed_wait_still_ends_at_its_deadline() {
    let timed = Timed::new(&[30.0]);
    let mut snapshot = LatencyEstimates::default();
    snapshot.insert(
        LatencyKey::new("timed", None, None),
        LatencyEstimate {
            low: Duration::from_secs(8),
            typical: Duration::from_secs(9),
            high: Duration::from_secs(10),
            samples: 10,
        },
    );
    let client = client(&timed).latency_estimates(snapshot).build().unwrap();
    let start = Instant::now();
    let err = client
        .generate_with(
            ImageRequest::new("lamp"),
            WaitOptions::new().deadline(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(timed.polls_of("t0").is_empty(), "the first aim is at 8 s");
    // A longer deadline: polls at 8 and 10 s, then every 2 s to 14 s, then
    // growing; the wait ends at the deadline, not at a poll.
    let start = Instant::now();
    let err = client
        .generate_with(
            ImageRequest::new("lamp"),
            WaitOptions::new().deadline(Duration::from_secs(25)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), Duration::from_secs(25));
    let polls: Vec<f64> = timed.polls_of("t1").into_iter().map(secs).collect();
    assert_eq!(&polls[..4], [8.0, 10.0, 12.0, 14.0], "{polls:?}");
    assert!(polls.windows(2).all(|p| p[1] - p[0] >= 2.0), "{polls:?}");
    assert!(polls.len() < 9, "{polls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_finished_task_is_seen_before_the_creates_waiting_for_a_full_budget() {
    // Two requests per second; eight jobs at once. Tasks take 1 s.
    let timed = Arc::new(Timed {
        caps: Capabilities {
            poll_interval: Duration::from_millis(200),
            rate_limit: Some(RateLimit::new(2, Duration::from_secs(1))),
            ..tests_support::polled_api()
        },
        durations: vec![Duration::from_secs(1)],
        reports_duration: false,
        state: Mutex::default(),
    });
    let mut snapshot = LatencyEstimates::default();
    snapshot.insert(
        LatencyKey::new("timed", None, None),
        LatencyEstimate {
            low: Duration::from_millis(900),
            typical: Duration::from_secs(1),
            high: Duration::from_millis(1100),
            samples: 10,
        },
    );
    let client = client(&timed).latency_estimates(snapshot).build().unwrap();
    let start = Instant::now();
    let jobs = (0..8).map(|_| {
        let client = &client;
        async move {
            client.generate(ImageRequest::new("lamp")).await.unwrap();
            start.elapsed()
        }
    });
    let done = join_all(jobs).await;
    let first = done.iter().min().unwrap();
    // The window is 1.1 s: the first two tasks finish at 1 s and are due
    // at 1.15 s; the second window's last slot is kept for the first poll,
    // not taken by a create (the next slot frees only at 2.2 s, four
    // windows for all eight creates).
    assert_eq!(*first, Duration::from_millis(1150), "{done:?}");
    let calls = timed.calls();
    let creates: Vec<Instant> = calls
        .iter()
        .filter(|(what, _)| what == "create")
        .map(|(_, at)| *at)
        .collect();
    // Creates still made progress while polls went first...
    assert!(
        creates[7] - start <= Duration::from_millis(8 * 1100),
        "{calls:?}"
    );
    // ...and no slot went to a poll of a running task while they waited.
    for (what, at) in &calls {
        if what != "create" && *at <= creates[7] {
            assert!(
                *at >= timed.finishes(what),
                "{what} polled early: {calls:?}"
            );
        }
    }
}
