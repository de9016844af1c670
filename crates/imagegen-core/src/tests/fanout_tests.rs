//! Fan-out, partial failure, fallback and pacing across many jobs, under
//! paused time.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use super::client_tests::{builder, fake};
use crate::testing::{Op, ScriptedProvider, errors};
use crate::{
    Budgets, ErrorKind, ImageRequest, PollPolicy, Quality, RateLimit, Strictness, TaskState,
    TaskStatus,
};

#[tokio::test(start_paused = true)]
async fn three_images_on_a_one_image_provider_are_three_tasks_and_a_failure_keeps_the_rest() {
    let a = fake("a");
    a.push_status(
        "a-2",
        Ok(TaskStatus::new(
            "a-2",
            TaskState::Failed {
                message: "Content policy violation detected".into(),
                code: None,
            },
        )
        .with_credits(Some(0.0))),
    );
    let client = builder(&[&a]).build().unwrap();
    let generation = client
        .generate(ImageRequest::new("lamp").count(3))
        .await
        .unwrap();
    let creates: Vec<_> = a
        .calls()
        .into_iter()
        .filter(|c| matches!(c.op, Op::Submit { count: 1 }))
        .collect();
    assert_eq!(creates.len(), 3);
    assert_eq!(generation.images.len(), 2, "the two paid images are kept");
    assert_eq!(generation.tasks.len(), 3);
    assert_eq!(generation.credits, Some(20.0));
    assert_eq!(generation.failures.len(), 1);
    let failure = &generation.failures[0];
    assert_eq!(failure.task_id.as_deref(), Some("a-2"));
    assert_eq!(failure.error.kind(), ErrorKind::GenerationFailed);
    assert_eq!(generation.request.count, 3);

    let json = serde_json::to_value(&generation).unwrap();
    assert_eq!(json["failures"][0]["kind"], "generation_failed");
    assert_eq!(json["failures"][0]["task_id"], "a-2");
    assert_eq!(json["tasks"][1]["credits"], 0.0);
    assert_eq!(json["images"][0]["output"]["type"], "url");
    assert!(json["timings"]["wait_ms"].is_u64());
}

#[tokio::test(start_paused = true)]
async fn a_create_that_may_have_landed_is_listed_not_lost() {
    let a = fake("a");
    a.push_submit(Ok(TaskStatus::new("x-1", TaskState::Queued)));
    a.push_submit(Err(errors::timeout_after_send()));
    let client = builder(&[&a]).build().unwrap();
    let generation = client
        .generate(ImageRequest::new("lamp").count(2))
        .await
        .unwrap();
    assert_eq!(a.submit_count(), 2, "the ambiguous create is not resent");
    assert_eq!(generation.images.len(), 1);
    assert!(generation.failures[0].error.may_have_reached_server());
}

#[tokio::test(start_paused = true)]
async fn creates_are_split_by_max_images_per_request() {
    let a = Arc::new(ScriptedProvider::polled_api("a").with_capabilities(|c| {
        c.max_images_per_request = 2;
    }));
    let client = builder(&[&a]).build().unwrap();
    let generation = client
        .generate(ImageRequest::new("lamp").count(5))
        .await
        .unwrap();
    let counts: Vec<u32> = a
        .calls()
        .into_iter()
        .filter_map(|c| match c.op {
            Op::Submit { count } => Some(count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [2, 2, 1]);
    assert_eq!(generation.images.len(), 5);
    let indexes: Vec<u32> = generation.images.iter().map(|i| i.index).collect();
    assert_eq!(indexes, [0, 1, 0, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn falls_back_when_the_first_provider_refuses_before_acceptance() {
    let a = fake("a");
    let b = fake("b");
    a.push_submit(Err(errors::insufficient_credits()));
    let client = builder(&[&a, &b]).build().unwrap();
    let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
    assert_eq!(generation.provider, "b");
    assert_eq!((a.submit_count(), b.submit_count()), (1, 1));
    assert!(
        generation.warnings[0].message.starts_with("skipped a:"),
        "{:?}",
        generation.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn falls_back_when_the_first_provider_lacks_a_setting() {
    // Runbase-like providers have no `low` quality; strict mode refuses.
    let a = fake("a");
    let b = Arc::new(ScriptedProvider::polled_api("b").with_capabilities(|c| {
        c.qualities = Quality::ALL.to_vec();
    }));
    let client = builder(&[&a, &b])
        .strictness(Strictness::Strict)
        .build()
        .unwrap();
    let generation = client
        .generate(ImageRequest::new("lamp").quality(Quality::Low))
        .await
        .unwrap();
    assert_eq!(generation.provider, "b");
    assert_eq!(a.submit_count(), 0, "refused before sending");
    assert!(generation.warnings[0].message.contains("quality low"));
}

#[tokio::test(start_paused = true)]
async fn never_falls_back_after_an_ambiguous_failure() {
    let a = fake("a");
    let b = fake("b");
    a.push_submit(Err(errors::server()));
    let client = builder(&[&a, &b]).build().unwrap();
    let err = client
        .generate(ImageRequest::new("lamp"))
        .await
        .unwrap_err();
    assert!(err.may_have_reached_server());
    assert_eq!(b.submit_count(), 0, "b would pay a second time");
}

#[tokio::test(start_paused = true)]
async fn when_every_provider_refuses_the_error_names_them() {
    let a = fake("a");
    let b = fake("b");
    a.push_submit(Err(errors::unauthorized()));
    b.push_submit(Err(errors::insufficient_credits()));
    let client = builder(&[&a, &b]).build().unwrap();
    let err = client
        .generate(ImageRequest::new("lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits);
    assert!(err.to_string().contains("also tried: skipped a:"), "{err}");
}

/// Asserts that no `n + 1` calls fall within one `window`.
fn assert_paced(calls: &[Instant], n: usize, window: Duration) {
    let mut calls = calls.to_vec();
    calls.sort();
    for w in calls.windows(n + 1) {
        assert!(
            w[n] - w[0] >= window,
            "{} calls within {:?}",
            n + 1,
            w[n] - w[0]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_rate_budget_paces_creates_and_polls_of_many_jobs() {
    let a = fake("a");
    let limit = RateLimit {
        requests: 5,
        per: Duration::from_secs(1),
    };
    let client = builder(&[&a])
        .rate_limit("a", limit)
        .poll_policy(PollPolicy::default().with_initial_interval(Duration::from_millis(100)))
        .build()
        .unwrap();
    let jobs = (0..100).map(|i| client.generate(ImageRequest::new(format!("lamp {i}"))));
    let results = join_all(jobs).await;
    assert!(results.iter().all(|r| r.is_ok()));
    let calls: Vec<Instant> = a.calls().iter().map(|c| c.at).collect();
    assert_eq!(calls.len(), 200);
    assert_paced(&calls, 5, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn clients_sharing_budgets_share_the_account_pace() {
    let budgets = Arc::new(Budgets::new());
    let a1 = Arc::new(ScriptedProvider::polled_api("a").with_account("acct"));
    let a2 = Arc::new(ScriptedProvider::polled_api("a").with_account("acct"));
    let limit = RateLimit {
        requests: 4,
        per: Duration::from_secs(2),
    };
    let c1 = builder(&[&a1])
        .budgets(budgets.clone())
        .rate_limit("a", limit)
        .build()
        .unwrap();
    let c2 = builder(&[&a2]).budgets(budgets.clone()).build().unwrap();
    let jobs = (0..20).map(|i| {
        let client = if i % 2 == 0 { &c1 } else { &c2 };
        client.generate(ImageRequest::new("lamp"))
    });
    assert!(join_all(jobs).await.iter().all(|r| r.is_ok()));
    let mut calls: Vec<Instant> = a1.calls().iter().map(|c| c.at).collect();
    calls.extend(a2.calls().iter().map(|c| c.at));
    assert_eq!(calls.len(), 40);
    assert_paced(&calls, 4, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_concurrent_generations_are_cheap() {
    let a = Arc::new(ScriptedProvider::polled_api("a").with_capabilities(|c| {
        c.rate_limit = None;
    }));
    let client = builder(&[&a]).build().unwrap();
    let jobs = (0..10_000).map(|_| client.generate(ImageRequest::new("lamp")));
    let results = join_all(jobs).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10_000);
    assert_eq!(a.calls().len(), 20_000);
}
