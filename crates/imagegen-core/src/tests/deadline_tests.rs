//! The overall deadline bounds every attempt: the retry loop runs each one
//! under `timeout_at`, whatever the attempt is waiting on (the request, its
//! body, or anything before or after it). Real HTTP over loopback, real time
//! (sub-second deadlines), since reqwest's own timers are involved.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::http::HttpRequest;
use crate::transport::HttpTransport;
use crate::transport::loopback_tests::{Serve, server};

const CREATE: CallKind = CallKind::Create {
    retry_ambiguous: false,
};

fn retrier<'a>(
    policy: &'a RetryPolicy,
    jitter: &'a Jitter,
    kind: CallKind,
    deadline: Duration,
) -> Retrier<'a> {
    Retrier {
        policy,
        budget: None,
        rate: None,
        jitter,
        kind,
        provider: "fake",
        deadline: Instant::now() + deadline,
        observer: None,
    }
}

fn get(url: &str) -> HttpRequest {
    HttpRequest::get(url::Url::parse(url).unwrap())
}

fn post(url: &str) -> HttpRequest {
    HttpRequest::post(url::Url::parse(url).unwrap())
}

fn assert_deadline_error(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.may_have_reached_server(), "{err}");
    assert_eq!(err.message(), "the deadline ran out during the request");
    assert_eq!(err.provider(), Some("fake"));
}

fn assert_cut_near(start: Instant, deadline: Duration) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= deadline && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_silent_server_is_cut_at_the_deadline_and_the_create_is_ambiguous() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, attempts) = retrier(&policy, &jitter, CREATE, Duration::from_millis(300))
        .run(|| transport.send("fake", post(&url), None, Duration::from_secs(30)))
        .await;
    let err = result.unwrap_err();
    assert_deadline_error(&err);
    assert_eq!(attempts, 1);
    assert!(
        err.hint().unwrap().contains(AMBIGUOUS_CREATE_HINT),
        "a create cut mid-flight may have landed: {err}"
    );
    assert_cut_near(start, Duration::from_millis(300));
}

#[tokio::test]
async fn a_body_cut_at_the_deadline_is_the_same_deadline_error() {
    let url = server(Serve::Stall).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, _) = retrier(
        &policy,
        &jitter,
        CallKind::Status,
        Duration::from_millis(300),
    )
    .run(|| transport.send("fake", get(&url), None, Duration::from_secs(30)))
    .await;
    assert_deadline_error(&result.unwrap_err());
    assert_cut_near(start, Duration::from_millis(300));
}

#[tokio::test]
async fn the_request_timeout_still_applies_well_before_the_deadline() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default().with_max_attempts(1);
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, _) = retrier(&policy, &jitter, CallKind::Status, Duration::from_secs(60))
        .run(|| transport.send("fake", get(&url), None, Duration::from_millis(200)))
        .await;
    let err = result.unwrap_err();
    // The transport's own timeout, classified as always: retryable.
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert!(
        err.message().contains("no complete answer within 200ms"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn waiting_after_the_request_is_still_cut_at_the_deadline() {
    let url = server(Serve::Ok).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, _) = retrier(&policy, &jitter, CREATE, Duration::from_millis(300))
        .run(|| async {
            let response = transport
                .send("fake", get(&url), None, Duration::from_secs(30))
                .await?;
            assert_eq!(&response.body[..], b"ok");
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await;
    assert_deadline_error(&result.unwrap_err());
    assert_cut_near(start, Duration::from_millis(300));
}

#[tokio::test]
async fn waiting_before_the_request_is_cut_and_so_is_the_request() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, _) = retrier(&policy, &jitter, CREATE, Duration::from_millis(300))
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            transport
                .send("fake", post(&url), None, Duration::from_secs(30))
                .await
        })
        .await;
    assert_deadline_error(&result.unwrap_err());
    assert_cut_near(start, Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_once_the_deadline_has_passed() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let r = retrier(&policy, &jitter, CREATE, Duration::ZERO);
    let mut called = false;
    let (result, attempts) = r
        .run(|| {
            called = true;
            async { Ok(()) }
        })
        .await;
    let err = result.unwrap_err();
    assert!(!called, "nothing is sent with no time left");
    assert_eq!(attempts, 0);
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(!err.may_have_reached_server(), "nothing went out: {err}");
}
