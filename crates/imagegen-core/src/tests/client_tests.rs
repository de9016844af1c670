//! The client against a scripted provider, under paused time: creates,
//! polls, deadlines, handles and webhooks.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::testing::{FAKE_PNG, ScriptedProvider, errors};
use crate::{
    Client, ClientBuilder, ErrorKind, ImageOutput, ImageRequest, Mode, PollPolicy, TaskHandle,
    TaskState, TaskStatus, WaitOptions,
};

pub(super) fn fake(name: &str) -> Arc<ScriptedProvider> {
    Arc::new(ScriptedProvider::polled_api(name))
}

pub(super) fn builder(providers: &[&Arc<ScriptedProvider>]) -> ClientBuilder {
    let mut builder = Client::builder().jitter_seed(42);
    for p in providers {
        builder = builder.provider_arc((*p).clone());
    }
    builder
}

fn running(task: &str) -> Result<TaskStatus, crate::Error> {
    Ok(TaskStatus::new(task, TaskState::Running))
}

#[tokio::test(start_paused = true)]
async fn one_image_end_to_end() {
    let a = fake("a");
    let client = builder(&[&a]).build().unwrap();
    let generation = client.generate(ImageRequest::new("a lamp")).await.unwrap();
    assert_eq!(generation.provider, "a");
    assert_eq!(generation.task_ids(), ["a-1"]);
    assert_eq!(
        generation.images[0].output,
        ImageOutput::Url {
            url: "https://images.invalid/a-1/0.png".into()
        }
    );
    assert_eq!(generation.credits, Some(10.0));
    assert_eq!(generation.polls, 1);
    assert!(generation.is_complete());
    // The first poll waits for the provider's advised interval (2 s).
    assert_eq!(generation.timings.wait, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_500_on_create_is_not_resent_unless_opted_in() {
    let a = fake("a");
    a.push_submit(Err(errors::server()));
    let client = builder(&[&a]).build().unwrap();
    let err = client
        .generate(ImageRequest::new("lamp"))
        .await
        .unwrap_err();
    assert_eq!(a.submit_count(), 1);
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.may_have_reached_server());
    assert!(
        err.to_string()
            .contains("may have been accepted and charged"),
        "{err}"
    );

    let b = fake("b");
    b.push_submit(Err(errors::server()));
    let client = builder(&[&b])
        .retry_ambiguous_creates(true)
        .build()
        .unwrap();
    let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(b.submit_count(), 2);
    assert_eq!(generation.images.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn refused_connections_and_rate_limits_on_create_are_retried() {
    let a = fake("a");
    a.push_submit(Err(errors::refused()));
    a.push_submit(Err(errors::rate_limited(Some(Duration::from_secs(1)))));
    let client = builder(&[&a]).build().unwrap();
    let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(a.submit_count(), 3);
    assert_eq!(generation.images.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn auth_credit_and_quota_refusals_are_never_retried() {
    for make in [
        errors::unauthorized,
        errors::insufficient_credits,
        errors::usage_exceeded,
    ] {
        let a = fake("a");
        a.push_submit(Err(make()));
        let client = builder(&[&a]).build().unwrap();
        let err = client
            .generate(ImageRequest::new("lamp"))
            .await
            .unwrap_err();
        assert_eq!(a.submit_count(), 1, "{err}");
        assert!(!err.may_have_reached_server());
    }
}

#[tokio::test(start_paused = true)]
async fn polls_are_retried_through_500s() {
    let a = fake("a");
    a.push_status("a-1", Err(errors::server()));
    a.push_status("a-1", Err(errors::server()));
    let client = builder(&[&a]).build().unwrap();
    let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(a.status_count("a-1"), 3);
    assert_eq!(generation.polls, 3);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_polling_with_a_resumable_timeout() {
    let a = fake("a");
    for _ in 0..1000 {
        a.push_status("a-1", running("a-1"));
    }
    let client = builder(&[&a]).build().unwrap();
    let start = Instant::now();
    let options = WaitOptions::new().deadline(Duration::from_secs(60));
    let err = client
        .generate_with(ImageRequest::new("lamp"), options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.task_id(), Some("a-1"));
    assert!(err.to_string().contains("still running after 60s"), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    // Never faster than the advised 2 s; backed off once far beyond the
    // estimate (10 s seeded: from 27 s on), so fewer than 30 polls of 2 s;
    // and no interval beyond 15 s plus jitter.
    let polls = a.status_count("a-1");
    assert!((14..=22).contains(&polls), "{polls} polls");
    let at: Vec<Instant> = a.calls().iter().map(|c| c.at).collect();
    for pair in at.windows(2).skip(1) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(2));
        assert!(pair[1] - pair[0] <= Duration::from_millis(16_500));
    }
    let last_gap = at[at.len() - 1] - at[at.len() - 2];
    assert!(last_gap > Duration::from_secs(5), "grew: {last_gap:?}");
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_never_reached_the_provider_says_so_not_still_queued() {
    let a = fake("a");
    for _ in 0..1000 {
        a.push_status("a-1", Err(errors::refused()));
    }
    let client = builder(&[&a]).build().unwrap();
    let handle = TaskHandle::new("a", "a-1", ImageRequest::new("lamp"));
    let options = WaitOptions::new().deadline(Duration::from_secs(30));
    let err = client.wait_with(&handle, options).await.unwrap_err();
    assert_eq!(err.kind(), errors::refused().kind(), "{err}");
    assert_eq!(err.task_id(), Some("a-1"));
    assert!(!err.to_string().contains("still"), "{err}");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("no status request was answered")),
        "{err:?}"
    );

    // Once a poll was answered, the deadline is a plain timeout.
    let b = fake("b");
    b.push_status("b-1", running("b-1"));
    for _ in 0..1000 {
        b.push_status("b-1", Err(errors::refused()));
    }
    let client = builder(&[&b]).build().unwrap();
    let handle = TaskHandle::new("b", "b-1", ImageRequest::new("lamp"));
    let options = WaitOptions::new().deadline(Duration::from_secs(30));
    let err = client.wait_with(&handle, options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("still running"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_status_is_in_progress_and_warned_once() {
    let a = fake("a");
    for _ in 0..3 {
        a.push_status(
            "a-1",
            Ok(TaskStatus::new(
                "a-1",
                TaskState::Unknown {
                    raw: "WEIRD".into(),
                },
            )),
        );
    }
    let client = builder(&[&a]).build().unwrap();
    let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(a.status_count("a-1"), 4);
    let warnings: Vec<_> = generation
        .warnings
        .iter()
        .filter(|w| w.setting == "status")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("`WEIRD`"));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_wait_keeps_the_task_id() {
    let a = fake("a");
    for _ in 0..100 {
        a.push_status("a-1", running("a-1"));
    }
    let client = builder(&[&a]).build().unwrap();
    let submission = client.submit(ImageRequest::new("lamp")).await.unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        cancel.cancel();
    });
    let start = Instant::now();
    let err = client
        .wait_with(&submission.handles[0], WaitOptions::new().cancel(token))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(err.task_id(), Some("a-1"));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(client.inner.wakers_is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_a_wait_unregisters_it() {
    let a = fake("a");
    for _ in 0..100 {
        a.push_status("a-1", running("a-1"));
    }
    let client = builder(&[&a]).build().unwrap();
    let wait = client.generate(ImageRequest::new("lamp"));
    assert!(
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
    );
    assert!(client.inner.wakers_is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_handle_survives_serde_and_resumes_in_a_new_client() {
    let a = fake("a");
    a.push_status("a-1", running("a-1"));
    let first = builder(&[&a]).build().unwrap();
    let submission = first
        .submit(ImageRequest::new("lamp").count(1))
        .await
        .unwrap();
    let json = serde_json::to_string(&submission.handles[0]).unwrap();
    drop(first);

    let handle: TaskHandle = serde_json::from_str(&json).unwrap();
    assert_eq!(handle, submission.handles[0]);
    let second = builder(&[&a]).build().unwrap();
    let generation = second.wait(&handle).await.unwrap();
    assert_eq!(generation.task_ids(), ["a-1"]);
    assert_eq!(generation.images.len(), 1);
    assert_eq!(a.submit_count(), 1, "resuming never creates again");
}

#[tokio::test(start_paused = true)]
async fn a_sync_provider_handle_carries_its_inline_images() {
    let s = Arc::new(ScriptedProvider::polled_api("s").with_capabilities(|c| {
        c.mode = Mode::Sync;
        c.max_images_per_request = 10;
    }));
    let client = builder(&[&s]).build().unwrap();
    let submission = client
        .submit(ImageRequest::new("lamp").count(2))
        .await
        .unwrap();
    let json = serde_json::to_string(&submission.handles).unwrap();
    assert!(json.contains("iVBORw0KGgo"), "inline bytes as base64");
    let handles: Vec<TaskHandle> = serde_json::from_str(&json).unwrap();
    let generation = client.wait_all(&handles, WaitOptions::new()).await.unwrap();
    assert_eq!(generation.polls, 0);
    assert_eq!(generation.images.len(), 2);
    match &generation.images[1].output {
        ImageOutput::Inline { data, .. } => assert_eq!(&data[..], FAKE_PNG),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_webhook_wakes_the_waiter_and_its_urls_are_ignored() {
    let a = fake("a");
    let client = builder(&[&a])
        .poll_policy(PollPolicy::default().with_initial_interval(Duration::from_secs(60)))
        .build()
        .unwrap();
    let mut events = client.subscribe_callbacks();
    let submission = client.submit(ImageRequest::new("lamp")).await.unwrap();
    let hook = client.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let body =
            br#"{"task":"a-1","status":"SUCCESS","response":["https://evil.example/x.png"]}"#;
        let call = crate::WebhookCall::new(Default::default(), &body[..], None);
        hook.on_webhook("a", &call).await.unwrap();
    });
    let start = Instant::now();
    let generation = client.wait(&submission.handles[0]).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "long before the 60 s poll"
    );
    assert_eq!(
        a.status_count("a-1"),
        1,
        "only the callback's authenticated fetch"
    );
    let ImageOutput::Url { url } = &generation.images[0].output else {
        panic!()
    };
    assert_eq!(url, "https://images.invalid/a-1/0.png");
    let event = events.recv().await.unwrap();
    assert_eq!(
        (event.provider.as_str(), event.status.task_id.as_str()),
        ("a", "a-1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_webhook_for_an_unfinished_task_makes_the_waiter_poll_again() {
    let a = fake("a");
    a.push_status("a-1", running("a-1"));
    let client = builder(&[&a])
        .poll_policy(PollPolicy::default().with_initial_interval(Duration::from_secs(60)))
        .build()
        .unwrap();
    let submission = client.submit(ImageRequest::new("lamp")).await.unwrap();
    let hook = client.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Still running when the hint arrives (an early or forged call).
        let status = hook.on_callback("a", "a-1").await.unwrap();
        assert_eq!(
            status.expect("the client waits on a-1").state,
            TaskState::Running
        );
    });
    let start = Instant::now();
    client.wait(&submission.handles[0]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(a.status_count("a-1"), 2);
}

#[tokio::test(start_paused = true)]
async fn status_is_one_poll_with_retries() {
    let a = fake("a");
    a.push_status("t", Err(errors::server()));
    let client = builder(&[&a]).build().unwrap();
    let status = client.status("a", "t").await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(a.status_count("t"), 2);
    let err = client.status("nope", "t").await.unwrap_err();
    assert!(
        err.to_string().contains("no provider named `nope`"),
        "{err}"
    );
}

#[test]
fn client_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let a = fake("a");
    let client = builder(&[&a]).build().unwrap();
    assert_send(client.generate(ImageRequest::new("x")));
    assert_send(client.submit(ImageRequest::new("x")));
    assert_send(client.status("a", "t"));
    assert_send(client.on_callback("a", "t"));
    let handle = TaskHandle::new("a", "t", ImageRequest::new("x"));
    assert_send(client.wait(&handle));
}

#[test]
fn download_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let a = fake("a");
    let client = builder(&[&a]).build().unwrap();
    let generation = crate::Generation::for_tests("a", ImageRequest::new("x"), vec![], None);
    assert_send(client.download(&generation, "x"));
    assert_send(client.downloader().fetch("http://127.0.0.1:9/x"));
}

#[test]
fn futures_stay_small_for_ten_thousand_jobs() {
    let a = fake("a");
    let client = builder(&[&a]).build().unwrap();
    let handle = TaskHandle::new("a", "t", ImageRequest::new("x"));
    // The whole state of a job, child futures included (they live in its
    // join_all vectors); a regression guard with a generous bound.
    assert!(std::mem::size_of_val(&client.generate(ImageRequest::new("x"))) < 2048);
    assert!(std::mem::size_of_val(&client.wait(&handle)) < 1024);
}

/// Records what the client says it waits for.
#[derive(Debug, Default)]
struct Waits(std::sync::Mutex<Vec<(String, crate::Wait)>>);

impl crate::ClientObserver for Waits {
    fn waiting(&self, provider: &str, why: crate::Wait, _: Option<&crate::Error>) {
        self.0.lock().unwrap().push((provider.to_owned(), why));
    }
}

#[tokio::test(start_paused = true)]
async fn the_observer_hears_rate_budget_waits_and_retry_afters() {
    let a = fake("a");
    a.push_submit(Err(errors::rate_limited(Some(Duration::from_secs(2)))));
    let waits = Arc::new(Waits::default());
    let client = builder(&[&a])
        .rate_limit("a", crate::RateLimit::new(1, Duration::from_secs(10)))
        .observer(waits.clone())
        .build()
        .unwrap();
    client.generate(ImageRequest::new("lamp")).await.unwrap();
    let heard = waits.0.lock().unwrap().clone();
    assert!(
        heard.contains(&(
            "a".to_owned(),
            crate::Wait::RetryAfter(Duration::from_secs(2))
        )),
        "{heard:?}"
    );
    assert!(
        heard.contains(&("a".to_owned(), crate::Wait::RateBudget)),
        "one request a window: the retry and the poll wait for room: {heard:?}"
    );
}

/// Records every create as a journal would.
#[derive(Debug, Default)]
struct Journal(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl crate::CreateLog for Journal {
    async fn sending(&self, provider: &str, request: &ImageRequest) -> Result<(), crate::Error> {
        let mut lines = self.0.lock().unwrap();
        lines.push(format!("sending {provider} {}", request.count));
        if provider == "refuses" {
            return Err(crate::Error::invalid_request("disk full"));
        }
        Ok(())
    }
    async fn accepted(&self, handle: &TaskHandle) {
        self.0
            .lock()
            .unwrap()
            .push(format!("accepted {} {}", handle.provider, handle.task_id));
    }
    async fn failed(&self, provider: &str, error: &crate::Error) {
        self.0.lock().unwrap().push(format!(
            "failed {provider} reached={}",
            error.may_have_reached_server()
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn a_create_log_hears_every_create_of_the_fallback_order_before_it_is_sent() {
    let refuses = fake("refuses");
    let a = fake("a");
    a.push_submit(Err(errors::refused()));
    let b = fake("b");
    let client = builder(&[&refuses, &a, &b]).build().unwrap();
    let journal = Journal::default();
    let submission = client
        .submit_logged(
            ImageRequest::new("lamp"),
            &crate::SubmitOptions::new(),
            &journal,
        )
        .await
        .unwrap();
    assert_eq!(submission.handles[0].provider, "a");
    assert_eq!(
        refuses.submit_count(),
        0,
        "the log's error stopped the create"
    );
    assert_eq!(
        journal.0.lock().unwrap().clone(),
        ["sending refuses 1", "sending a 1", "accepted a a-1",],
        "a refused connection is retried on the same provider, then accepted"
    );
    let _ = b;
}
