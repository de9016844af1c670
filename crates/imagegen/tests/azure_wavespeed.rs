//! End-to-end for Azure OpenAI and WaveSpeed: the real provider crates,
//! through the core `Client`, over real HTTP against `imagegen-sim` on
//! loopback: counts, references in each provider's own form, documented
//! errors mapped to kinds, the ledger showing that nothing is paid twice
//! under faults, and WaveSpeed's signed webhook waking a waiter through an
//! authenticated fetch. (`e2e.rs` runs every provider, these two included, through
//! each aspect and quality.)

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use imagegen::{
    ApiKey, Client, ErrorKind, ImageOutput, ImageProvider, ImageRequest, PollPolicy,
    ProviderConfig, RateLimit, ReferenceImage, RetryPolicy, WebhookCall, WebhookOutcome,
};
use imagegen_sim::{FaultConfig, LatencyProfile, Sim, SimConfig, SimHandle};
use tokio::sync::mpsc;

fn provider(sim: &SimHandle, name: &str, key: &str) -> Arc<dyn ImageProvider> {
    let spec = imagegen::registration(name).expect("registered").spec;
    let config = ProviderConfig::new()
        .api_key(ApiKey::new(key))
        .base_url(format!("{}{}", sim.base_url(), spec.sim_path));
    imagegen::provider(name, config).expect("provider builds")
}

/// A client for a fast simulator: short polls, and a rate budget as large
/// as the sims below allow.
fn client(sim: &SimHandle, name: &str, key: &str) -> Client {
    Client::builder()
        .provider_arc(provider(sim, name, key))
        .rate_limit(name, RateLimit::new(1000, Duration::from_secs(1)))
        .poll_policy(
            PollPolicy::default()
                .with_initial_interval(Duration::from_millis(10))
                .with_max_interval(Duration::from_millis(50))
                .with_deadline(Duration::from_secs(60)),
        )
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(5)))
        .jitter_seed(7)
        .build()
        .expect("client builds")
}

/// The sellers' limits lifted, for tests that make many images.
fn unlimited() -> SimConfig {
    SimConfig::fast()
        .azure_rate_limit(0, Duration::from_secs(60))
        .wavespeed_rate_limit(0, Duration::from_secs(60))
        .wavespeed_concurrency(0)
}

#[tokio::test]
async fn a_count_is_one_azure_request_and_one_wavespeed_task_per_image() {
    let sim = Sim::start(unlimited()).await.unwrap();
    for (name, creates) in [("azure", 1), ("wavespeed", 3)] {
        let generation = client(&sim, name, "sim-key")
            .generate(ImageRequest::new("three lamps").count(3))
            .await
            .unwrap();
        assert_eq!(generation.images().len(), 3, "{name}");
        assert_eq!(sim.ledger().totals(name).creates_charged, creates, "{name}");
    }
}

#[tokio::test]
async fn references_reach_each_in_its_own_form() {
    let sim = Sim::start(unlimited()).await.unwrap();
    let wavespeed = client(&sim, "wavespeed", "sim-key");
    let first = wavespeed
        .generate(ImageRequest::new("a base image"))
        .await
        .unwrap();
    let ImageOutput::Url { url } = &first.images()[0].output else {
        panic!("WaveSpeed answers URLs")
    };
    // WaveSpeed takes the URL as it is; Azure gets it uploaded (the client
    // downloads it first).
    for name in ["wavespeed", "azure"] {
        let edited = client(&sim, name, "sim-key")
            .generate(ImageRequest::new("make it blue").reference(ReferenceImage::Url(url.clone())))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(edited.images().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn documented_errors_map_to_kinds_and_are_refusals() {
    let sim = Sim::start(unlimited()).await.unwrap();
    for (name, key, kind) in [
        ("azure", "wrong-key", ErrorKind::Unauthorized),
        ("wavespeed", "wrong-key", ErrorKind::Unauthorized),
        ("azure", "sim-key-no-credits", ErrorKind::Forbidden),
        (
            "wavespeed",
            "sim-key-no-credits",
            ErrorKind::InsufficientCredits,
        ),
        ("azure", "sim-key-ip-not-allowed", ErrorKind::Forbidden),
    ] {
        let err = client(&sim, name, key)
            .generate(ImageRequest::new("a lamp"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{name} with {key}: {err}");
        assert!(!err.is_retryable(), "{name} {key}: {err:?}");
        assert!(!err.may_have_reached_server(), "{name} {key}: {err:?}");
    }
    for name in ["azure", "wavespeed"] {
        assert_eq!(sim.ledger().totals(name).creates_charged, 0, "{name}");
    }
    let err = client(&sim, "wavespeed", "sim-key")
        .status("wavespeed", "no-such-task")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn faults_are_survived_and_nothing_is_paid_twice() {
    let faults = FaultConfig {
        status_500: 0.2,
        burst_429: 0.05,
        burst_len: 2,
        malformed_json: 0.05,
        drop_after_accept: 0.05,
        unknown_status: 0.3,
        generation_failure: 0.1,
        ..FaultConfig::default()
    };
    let sim = Sim::start(unlimited().seed(11).faults(faults))
        .await
        .unwrap();
    for name in ["azure", "wavespeed"] {
        let client = client(&sim, name, "sim-key");
        let jobs = (0..30).map(|i| client.generate(ImageRequest::new(format!("{name} lamp {i}"))));
        let results = futures::future::join_all(jobs).await;
        let mut ok = 0;
        for result in &results {
            match result {
                Ok(generation) => {
                    ok += 1;
                    assert_eq!(generation.images().len(), 1);
                }
                // A failed generation, or a create whose answer was lost or
                // garbled: that one may have been charged, so it must be
                // reported as ambiguous and never resent.
                Err(e) => assert!(
                    e.kind() == ErrorKind::GenerationFailed || e.may_have_reached_server(),
                    "{name}: {e}"
                ),
            }
        }
        assert!(ok >= 15, "{name}: only {ok} of 30 succeeded");
        let totals = sim.ledger().totals(name);
        // Every job's create was accepted exactly once, whatever happened
        // after it (429s are refused before anything is accepted).
        assert_eq!(totals.creates_accepted, 30, "{name}: one create per job");
        assert_eq!(totals.duplicate_creates, 0, "{name}");
    }
}

/// Listens on loopback for webhook calls and hands each over.
async fn webhook_sink() -> (String, mpsc::UnboundedReceiver<WebhookCall>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(WebhookCall::new(headers, body, None));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// A waiter that would poll once an hour finishes as soon as WaveSpeed's
/// signed (`v3`) webhook arrives: the codec verifies it and names the task,
/// the client fetches the result with the key and wakes the waiter. A
/// forged call is refused.
#[tokio::test]
async fn a_signed_wavespeed_webhook_wakes_the_waiter_through_an_authenticated_fetch() {
    let sim = Sim::start(unlimited().latency(LatencyProfile::Fixed {
        queue_ms: 300,
        generate_ms: 200,
    }))
    .await
    .unwrap();
    let spec = imagegen::registration("wavespeed").unwrap().spec;
    let config = ProviderConfig::new()
        .api_key(ApiKey::new("sim-key"))
        .base_url(format!("{}{}", sim.base_url(), spec.sim_path))
        .setting("webhook_secret", sim.wavespeed_webhook_secret());
    let client = Client::builder()
        .provider_arc(imagegen::provider("wavespeed", config).unwrap())
        .poll_policy(
            PollPolicy::default()
                .with_initial_interval(Duration::from_secs(3600))
                .with_deadline(Duration::from_secs(7200)),
        )
        .build()
        .unwrap();
    let (url, mut calls) = webhook_sink().await;
    let waiting = client.clone();
    let generate = tokio::spawn(async move {
        waiting
            .generate(ImageRequest::new("a lamp").callback_url(url))
            .await
    });
    let call = tokio::time::timeout(Duration::from_secs(10), calls.recv())
        .await
        .expect("the webhook came")
        .unwrap();
    let mut forged = call.clone();
    forged.body = Bytes::from_static(b"{\"id\": \"x\", \"status\": \"completed\"}");
    let err = client.on_webhook("wavespeed", &forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    match client.on_webhook("wavespeed", &call).await.unwrap() {
        WebhookOutcome::Woken(_) => {}
        other => panic!("the waited task is fetched: {other:?}"),
    }
    let generation = tokio::time::timeout(Duration::from_secs(10), generate)
        .await
        .expect("the webhook ends the hour-long wait")
        .unwrap()
        .unwrap();
    assert_eq!(generation.images().len(), 1);
    assert_eq!(sim.ledger().totals("wavespeed").creates_charged, 1);
}
