//! One timer per attempt: the overall deadline reaches into the transport,
//! which cuts its own request timeout to it, while anything else an attempt
//! awaits is still cut by the retry loop. Real HTTP over loopback, real time
//! (sub-second deadlines), since the timers in question are reqwest's.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
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
    }
}

fn fallback_timers() -> u32 {
    FALLBACK_TIMERS.with(|n| n.get())
}

fn assert_deadline_error(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.may_have_reached_server(), "{err}");
    assert_eq!(err.message(), "the deadline ran out during the request");
    assert_eq!(err.provider(), Some("fake"));
}

#[tokio::test]
async fn a_request_is_cut_at_the_deadline_by_the_transport_timer_alone() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let before = fallback_timers();
    let start = Instant::now();
    let (result, attempts) = retrier(&policy, &jitter, CREATE, Duration::from_millis(300))
        .run(|| {
            let request = transport.client().post(&url).body("{}");
            transport.send("fake", request, Duration::from_secs(30))
        })
        .await;
    let elapsed = start.elapsed();
    let err = result.unwrap_err();
    assert_deadline_error(&err);
    assert_eq!(attempts, 1);
    assert!(
        err.hint().unwrap().contains(AMBIGUOUS_CREATE_HINT),
        "a create cut mid-flight may have landed: {err}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(
        fallback_timers(),
        before,
        "the transport's timer bounded the attempt; the loop armed none"
    );
}

#[tokio::test]
async fn a_body_cut_at_the_deadline_is_the_same_deadline_error() {
    let url = server(Serve::Stall).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let before = fallback_timers();
    let start = Instant::now();
    let (result, _) = retrier(
        &policy,
        &jitter,
        CallKind::Status,
        Duration::from_millis(300),
    )
    .run(|| {
        transport.send(
            "fake",
            transport.client().get(&url),
            Duration::from_secs(30),
        )
    })
    .await;
    assert_deadline_error(&result.unwrap_err());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(fallback_timers(), before);
}

#[tokio::test]
async fn the_request_timeout_still_applies_well_before_the_deadline() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default().with_max_attempts(1);
    let jitter = Jitter::seeded(1);
    let start = Instant::now();
    let (result, _) = retrier(&policy, &jitter, CallKind::Status, Duration::from_secs(60))
        .run(|| {
            transport.send(
                "fake",
                transport.client().get(&url),
                Duration::from_millis(200),
            )
        })
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
    let before = fallback_timers();
    let start = Instant::now();
    let (result, _) = retrier(&policy, &jitter, CREATE, Duration::from_millis(300))
        .run(|| async {
            let response = transport
                .send(
                    "fake",
                    transport.client().get(&url),
                    Duration::from_secs(30),
                )
                .await?;
            assert_eq!(&response.body[..], b"ok");
            // Something slow after the exchange: the transport's timer is gone.
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await;
    assert_deadline_error(&result.unwrap_err());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(fallback_timers(), before + 1);
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
            // Like a provider reading a reference file first.
            tokio::time::sleep(Duration::from_millis(100)).await;
            transport
                .send(
                    "fake",
                    transport.client().post(&url),
                    Duration::from_secs(30),
                )
                .await
        })
        .await;
    assert_deadline_error(&result.unwrap_err());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_started_at_the_deadline_is_not_sent() {
    // Nothing listens here: a request that went out would fail to connect.
    let transport = HttpTransport::new();
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(1);
    let r = retrier(&policy, &jitter, CallKind::Status, Duration::from_secs(1));
    let (result, _) = r
        .run(|| async {
            tokio::time::sleep_until(r.deadline).await;
            let request = transport.client().get("http://127.0.0.1:9/");
            // Still inside the attempt, so the transport sees no time left.
            Ok(transport
                .send("fake", request, Duration::from_secs(30))
                .await)
        })
        .await;
    // The attempt is polled before the loop's timer, so the transport ran
    // and refused to start; had it sent, this would be a refused connection.
    let err = match result {
        Ok(sent) => sent.unwrap_err(),
        Err(err) => err,
    };
    assert_deadline_error(&err);
}
