//! Unit tests of the retry rules, under paused time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::testing::errors;

/// Answers from a script, then `Ok(attempt)`.
struct Script {
    answers: Mutex<VecDeque<Result<u32, Error>>>,
    calls: AtomicU32,
}

impl Script {
    fn new(answers: Vec<Result<u32, Error>>) -> Self {
        Script {
            answers: Mutex::new(answers.into()),
            calls: AtomicU32::new(0),
        }
    }
    fn failing(err: fn() -> Error, times: usize) -> Self {
        Script::new((0..times).map(|_| Err(err())).collect())
    }
    fn op(&self) -> impl Future<Output = Result<u32, Error>> + '_ {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let next = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(n));
        async move { next }
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

fn retrier<'a>(
    policy: &'a RetryPolicy,
    budget: Option<&'a RetryBudget>,
    jitter: &'a Jitter,
    kind: CallKind,
) -> Retrier<'a> {
    Retrier {
        policy,
        budget,
        rate: None,
        jitter,
        kind,
        provider: "fake",
        deadline: Instant::now() + policy.deadline,
        observer: None,
    }
}

const CREATE: CallKind = CallKind::Create {
    retry_ambiguous: false,
};

#[test]
fn backoff_is_full_jitter_under_a_doubling_ceiling() {
    let policy = RetryPolicy::default()
        .with_base_delay(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2));
    let ceilings: Vec<u64> = (0..7)
        .map(|r| policy.backoff_ceiling(r).as_millis() as u64)
        .collect();
    assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
    assert_eq!(policy.backoff_ceiling(u32::MAX), Duration::from_secs(2));

    let jitter = Jitter::seeded(7);
    for retry in 0..7 {
        let ceiling = policy.backoff_ceiling(retry);
        let samples: Vec<Duration> = (0..2000).map(|_| policy.backoff(retry, &jitter)).collect();
        assert!(samples.iter().all(|s| *s < ceiling));
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        let half = ceiling / 2;
        assert!(
            mean > half.mul_f64(0.9) && mean < half.mul_f64(1.1),
            "retry {retry}: mean {mean:?}, ceiling {ceiling:?}"
        );
        assert!(
            samples.iter().any(|s| *s < ceiling / 10),
            "full jitter reaches near zero"
        );
    }
}

#[test]
fn seeded_jitter_is_reproducible() {
    let policy = RetryPolicy::default();
    let a: Vec<_> = (0..5)
        .map(|r| policy.backoff(r, &Jitter::seeded(1)))
        .collect();
    let b: Vec<_> = (0..5)
        .map(|r| policy.backoff(r, &Jitter::seeded(1)))
        .collect();
    assert_eq!(a, b);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_exactly() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let script = Script::new(vec![Err(errors::rate_limited(Some(Duration::from_secs(
        3,
    ))))]);
    let start = Instant::now();
    let (result, attempts) = retrier(&policy, None, &jitter, CREATE)
        .run(|| script.op())
        .await;
    assert_eq!(result.unwrap(), 2);
    assert_eq!(attempts, 2);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_clamp_or_deadline_gives_up_at_once() {
    let policy = RetryPolicy::default().with_max_retry_after(Duration::from_secs(30));
    let jitter = Jitter::seeded(1);
    let script = Script::new(vec![Err(errors::rate_limited(Some(Duration::from_secs(
        120,
    ))))]);
    let start = Instant::now();
    let (result, attempts) = retrier(&policy, None, &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    let err = result.unwrap_err();
    assert_eq!((attempts, start.elapsed()), (1, Duration::ZERO));
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.hint().unwrap().contains("asked to wait 120s"), "{err}");

    let policy = RetryPolicy::default().with_deadline(Duration::from_secs(10));
    let script = Script::new(vec![Err(errors::rate_limited(Some(Duration::from_secs(
        20,
    ))))]);
    let (result, attempts) = retrier(&policy, None, &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert_eq!(attempts, 1);
    assert!(result.unwrap_err().hint().unwrap().contains("deadline"));
}

#[tokio::test(start_paused = true)]
async fn an_ambiguous_create_is_not_resent_and_says_so() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    for make in [errors::server, errors::timeout_after_send] {
        let script = Script::failing(make, 5);
        let (result, attempts) = retrier(&policy, None, &jitter, CREATE)
            .run(|| script.op())
            .await;
        let err = result.unwrap_err();
        assert_eq!(attempts, 1);
        assert!(err.may_have_reached_server());
        assert!(
            err.hint()
                .unwrap()
                .contains("may have been accepted and charged")
        );
        assert!(err.hint().unwrap().contains("retry_ambiguous_creates"));
    }
}

#[tokio::test(start_paused = true)]
async fn an_opted_in_ambiguous_create_is_resent_and_stays_ambiguous() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let kind = CallKind::Create {
        retry_ambiguous: true,
    };
    let script = Script::new(vec![Err(errors::server()), Err(errors::refused())]);
    let (result, attempts) = retrier(&policy, None, &jitter, kind)
        .run(|| script.op())
        .await;
    assert_eq!((result.unwrap(), attempts), (3, 3));

    // A later refusal does not erase that an earlier attempt may have landed.
    let script = Script::new(vec![
        Err(errors::server()),
        Err(errors::refused()),
        Err(errors::refused()),
        Err(errors::refused()),
    ]);
    let (result, _) = retrier(&policy, None, &jitter, kind)
        .run(|| script.op())
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.may_have_reached_server());
}

#[tokio::test(start_paused = true)]
async fn pre_acceptance_create_failures_are_retried() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let script = Script::new(vec![
        Err(errors::refused()),
        Err(errors::rate_limited(None)),
    ]);
    let (result, attempts) = retrier(&policy, None, &jitter, CREATE)
        .run(|| script.op())
        .await;
    assert_eq!((result.unwrap(), attempts), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn refusals_and_quota_are_never_retried() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    for kind in [CREATE, CallKind::Status] {
        for make in [
            errors::unauthorized,
            errors::insufficient_credits,
            errors::usage_exceeded,
            errors::not_found,
        ] {
            let script = Script::failing(make, 5);
            let (result, attempts) = retrier(&policy, None, &jitter, kind)
                .run(|| script.op())
                .await;
            let err = result.unwrap_err();
            assert_eq!(attempts, 1, "{err}");
            assert!(!err.may_have_reached_server());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn status_polls_are_retried_through_5xx_until_attempts_run_out() {
    let policy = RetryPolicy::default().with_max_attempts(3);
    let jitter = Jitter::seeded(1);
    let script = Script::failing(errors::server, 2);
    let (result, attempts) = retrier(&policy, None, &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert_eq!((result.unwrap(), attempts), (3, 3));

    let script = Script::failing(errors::server, 10);
    let (result, attempts) = retrier(&policy, None, &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Server);
    assert_eq!((attempts, script.calls()), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_runs_out_then_refills_on_success() {
    let policy = RetryPolicy::default().with_max_attempts(100);
    let jitter = Jitter::seeded(1);
    let budget = RetryBudget::new(RetryBudgetConfig::with_capacity(20));
    // 20 tokens at 5 per retry: four retries, then fail fast.
    let script = Script::failing(errors::server, 100);
    let (result, attempts) = retrier(&policy, Some(&budget), &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    let err = result.unwrap_err();
    assert_eq!(attempts, 5);
    assert_eq!(budget.available(), 0);
    assert!(err.hint().unwrap().contains("retry budget"), "{err}");

    // Empty: the next failure is not retried at all.
    let script = Script::failing(errors::server, 100);
    let (_, attempts) = retrier(&policy, Some(&budget), &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert_eq!(attempts, 1);

    // First-attempt successes put back one token each.
    for _ in 0..7 {
        let script = Script::new(vec![]);
        let (result, _) = retrier(&policy, Some(&budget), &jitter, CallKind::Status)
            .run(|| script.op())
            .await;
        result.unwrap();
    }
    assert_eq!(budget.available(), 7);

    // A timeout retry costs 10 and a success after it refunds the 10.
    let script = Script::failing(errors::timeout_after_send, 1);
    let (result, attempts) = retrier(&policy, Some(&budget), &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert!(
        result.is_err(),
        "7 tokens cannot pay a 10-token timeout retry"
    );
    assert_eq!(attempts, 1);
    budget.release(3);
    let script = Script::failing(errors::timeout_after_send, 1);
    let (result, attempts) = retrier(&policy, Some(&budget), &jitter, CallKind::Status)
        .run(|| script.op())
        .await;
    assert_eq!((result.unwrap(), attempts), (2, 2));
    assert_eq!(budget.available(), 10);
    budget.release(10_000);
    assert_eq!(budget.available(), 20, "never above capacity");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_hanging_attempt() {
    let policy = RetryPolicy::default().with_deadline(Duration::from_secs(5));
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, attempts) = retrier(&policy, None, &jitter, CREATE)
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(())
        })
        .await;
    let err = result.unwrap_err();
    assert_eq!(attempts, 1);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.may_have_reached_server(),
        "a create cut mid-flight may have landed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_pushes_the_whole_account_back() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let rate = RateBudget::new(crate::RateLimit {
        requests: 100,
        per: Duration::from_secs(1),
    });
    let script = Script::new(vec![Err(errors::rate_limited(Some(Duration::from_secs(
        4,
    ))))]);
    let mut r = retrier(&policy, None, &jitter, CallKind::Status);
    r.rate = Some(&rate);
    let start = Instant::now();
    let other = async {
        // Another request on the same account, just after the 429.
        tokio::time::sleep(Duration::from_millis(100)).await;
        rate.acquire().await;
        start.elapsed()
    };
    let ((result, attempts), other_started) = tokio::join!(r.run(|| script.op()), other);
    assert_eq!((result.unwrap(), attempts), (2, 2));
    assert_eq!(other_started, Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_runs_out_before_the_retry_ends_with_the_failure_it_followed() {
    // One request per 10 s, a 3 s deadline: the retry of a failed poll
    // waits for the rate budget until the deadline runs out.
    let policy = RetryPolicy::default().with_deadline(Duration::from_secs(3));
    let jitter = Jitter::seeded(1);
    let rate = RateBudget::new(crate::RateLimit {
        requests: 1,
        per: Duration::from_secs(10),
    });
    let script = Script::failing(errors::server, 10);
    let mut r = retrier(&policy, None, &jitter, CallKind::Status);
    r.rate = Some(&rate);
    let (result, attempts) = r.run(|| script.op()).await;
    let err = result.unwrap_err();
    // What went wrong, not only that time ran out.
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert_eq!((attempts, script.calls()), (1, 1));
}
