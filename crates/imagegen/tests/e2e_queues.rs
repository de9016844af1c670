//! End-to-end for the queue-style sellers, fal and Replicate: the real
//! provider crates, through the core `Client`, over real HTTP against
//! `imagegen-sim` on loopback. Counts made in one request, references,
//! documented errors mapped to kinds and never charged, faults survived
//! with the ledger showing nothing paid twice, and signed webhooks waking a
//! waiter through an authenticated fetch. (`e2e.rs` runs every provider of
//! the registry, these two included, through every aspect and quality.)

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use imagegen::{
    ApiKey, Aspect, Client, ErrorKind, Fidelity, ImageOutput, ImageProvider, ImageRequest,
    PollPolicy, ProviderConfig, ReferenceImage, RetryPolicy, WebhookCall, WebhookOutcome,
};
use imagegen_sim::{FaultConfig, LatencyProfile, Sim, SimConfig, SimHandle};
use tokio::sync::mpsc;

const QUEUES: [&str; 2] = ["fal", "replicate"];

fn base_url(sim: &SimHandle, provider: &str) -> String {
    let spec = imagegen::registration(provider).expect("registered").spec;
    format!("{}{}", sim.base_url(), spec.sim_path)
}

fn config(sim: &SimHandle, name: &str, key: &str) -> ProviderConfig {
    ProviderConfig::new()
        .api_key(ApiKey::new(key))
        .base_url(base_url(sim, name))
}

fn build(config: ProviderConfig, name: &str) -> Arc<dyn ImageProvider> {
    imagegen::provider(name, config).expect("provider builds")
}

fn client_with(provider: Arc<dyn ImageProvider>, poll: PollPolicy) -> Client {
    Client::builder()
        .provider_arc(provider)
        .poll_policy(poll)
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(5)))
        .jitter_seed(7)
        .build()
        .expect("client builds")
}

fn fast_poll() -> PollPolicy {
    PollPolicy::default()
        .with_initial_interval(Duration::from_millis(10))
        .with_max_interval(Duration::from_millis(50))
        .with_deadline(Duration::from_secs(60))
}

fn client_for(sim: &SimHandle, name: &str, key: &str) -> Client {
    client_with(build(config(sim, name, key), name), fast_poll())
}

#[tokio::test]
async fn a_count_is_one_request_with_several_images() {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    for name in QUEUES {
        let client = client_for(&sim, name, "sim-key");
        let generation = client
            .generate(
                ImageRequest::new("three lamps")
                    .aspect(Aspect::Portrait)
                    .count(3),
            )
            .await
            .unwrap();
        assert_eq!(generation.images().len(), 3, "{name}");
        assert_eq!(generation.tasks.len(), 1, "{name}: one task");
        let totals = sim.ledger().totals(name);
        assert_eq!(
            (totals.creates_charged, totals.credits_charged),
            (1, 3),
            "{name}"
        );
    }
}

#[tokio::test]
async fn reference_urls_reach_both_as_urls() {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    for name in QUEUES {
        let client = client_for(&sim, name, "sim-key");
        let first = client
            .generate(ImageRequest::new("a base image"))
            .await
            .unwrap();
        let ImageOutput::Url { url } = &first.images()[0].output else {
            panic!("{name} answers URLs");
        };
        let edited = client
            .generate(
                ImageRequest::new("make it blue")
                    .reference(ReferenceImage::Url(url.clone()))
                    .input_fidelity(Fidelity::High),
            )
            .await
            .unwrap();
        assert_eq!(edited.images().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn documented_errors_map_to_kinds_and_are_never_charged() {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    for name in QUEUES {
        for (key, kind) in [
            ("wrong-key", ErrorKind::Unauthorized),
            ("sim-key-no-credits", ErrorKind::InsufficientCredits),
        ] {
            let err = client_for(&sim, name, key)
                .generate(ImageRequest::new("a lamp"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), kind, "{name} with {key}: {err}");
            assert_eq!(err.provider(), Some(name));
            assert!(!err.is_retryable(), "{name} {key}: {err:?}");
            assert!(!err.may_have_reached_server(), "{name} {key}: {err:?}");
        }
        assert_eq!(sim.ledger().totals(name).creates_charged, 0, "{name}");
        let client = client_for(&sim, name, "sim-key");
        let err = client.status(name, "no-such-task").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{name}: {err}");
    }
}

#[tokio::test]
async fn faults_are_survived_and_nothing_is_paid_twice() {
    let faults = FaultConfig {
        status_500: 0.2,
        burst_429: 0.02,
        burst_len: 2,
        malformed_json: 0.05,
        unknown_status: 0.3,
        generation_failure: 0.1,
        ..FaultConfig::default()
    };
    let sim = Sim::start(SimConfig::fast().seed(11).faults(faults).fal_concurrency(0))
        .await
        .unwrap();
    for name in QUEUES {
        let client = client_for(&sim, name, "sim-key");
        let jobs = (0..30).map(|i| client.generate(ImageRequest::new(format!("{name} lamp {i}"))));
        let results = futures::future::join_all(jobs).await;
        let mut ok = 0;
        for result in &results {
            match result {
                Ok(g) => {
                    ok += 1;
                    assert_eq!(g.images().len(), 1);
                }
                // A failed generation, or a create whose answer was garbled:
                // that one may have been charged, so it is reported as
                // ambiguous and never resent.
                Err(e) => assert!(
                    e.kind() == ErrorKind::GenerationFailed || e.may_have_reached_server(),
                    "{name}: {e}"
                ),
            }
        }
        assert!(ok >= 20, "{name}: only {ok} of 30 succeeded");
        let totals = sim.ledger().totals(name);
        assert_eq!(totals.creates_charged, 30, "{name}: one charge per job");
        assert_eq!(totals.duplicate_creates, 0, "{name}");
    }
}

#[tokio::test]
async fn a_500_on_create_is_reported_as_ambiguous_not_resent() {
    let faults = FaultConfig {
        create_500: 1.0,
        ..FaultConfig::default()
    };
    let sim = Sim::start(SimConfig::fast().faults(faults)).await.unwrap();
    for name in QUEUES {
        let err = client_for(&sim, name, "sim-key")
            .generate(ImageRequest::new("a lamp"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server, "{name}");
        assert!(err.may_have_reached_server(), "{name}: {err:?}");
        let totals = sim.ledger().totals(name);
        assert_eq!(
            (totals.errors_sent, totals.creates_charged),
            (1, 0),
            "{name}"
        );
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

/// A waiter that would poll once an hour finishes as soon as the seller's
/// signed webhook arrives: the codec verifies it and names the task, the
/// client fetches the outcome with the key (for fal, the status, then the
/// result) and wakes the waiter. Forged calls are refused.
#[tokio::test]
async fn a_signed_webhook_wakes_the_waiter_through_an_authenticated_fetch() {
    let sim = Sim::start(
        SimConfig::fast()
            .latency(LatencyProfile::Fixed {
                queue_ms: 300,
                generate_ms: 200,
            })
            .replicate_max_wait(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let fal_key = hex_key(&sim);
    for (name, setting, secret) in [
        ("fal", "webhook_public_keys", fal_key.as_str()),
        (
            "replicate",
            "webhook_secret",
            &sim.replicate_webhook_secret(),
        ),
    ] {
        let provider = build(config(&sim, name, "sim-key").setting(setting, secret), name);
        let hourly = PollPolicy::default()
            .with_initial_interval(Duration::from_secs(3600))
            .with_deadline(Duration::from_secs(7200));
        let client = client_with(provider, hourly);
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
        forged.body =
            Bytes::from_static(b"{\"id\": \"x\", \"request_id\": \"x\", \"status\": \"OK\"}");
        let err = client.on_webhook(name, &forged).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{name}: {err}");
        match client.on_webhook(name, &call).await.unwrap() {
            WebhookOutcome::Woken(_) => {}
            other => panic!("{name}: the waited task is fetched: {other:?}"),
        }
        let generation = tokio::time::timeout(Duration::from_secs(10), generate)
            .await
            .expect("the webhook ends the hour-long wait")
            .unwrap()
            .unwrap();
        assert_eq!(generation.images().len(), 1, "{name}");
        assert_eq!(sim.ledger().totals(name).creates_charged, 1, "{name}");
    }
}

fn hex_key(sim: &SimHandle) -> String {
    sim.fal_webhook_public_key()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
