//! Hostile and odd answers, through the real codecs and the core's client,
//! over real HTTP from a scripted loopback server: nothing panics, nothing
//! paid for is lost or paid twice, no key leaks.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use imagegen::{
    ApiKey, Client, ErrorKind, ImageRequest, PollPolicy, ProviderConfig, RetryPolicy, WebhookCall,
};

/// One scripted answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

/// A server that answers each request with the next scripted answer for
/// its method (POST: creates, GET: polls), else a default, and counts them.
#[derive(Default)]
struct Script {
    creates: VecDeque<Answer>,
    polls: VecDeque<Answer>,
    default_poll: Option<Answer>,
    create_count: usize,
    poll_count: usize,
    seen_auth: Vec<String>,
}

type Shared = Arc<Mutex<Script>>;

async fn serve(
    State(script): State<Shared>,
    method: Method,
    _uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let next = {
        let mut script = script.lock().unwrap();
        if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            script.seen_auth.push(auth.to_owned());
        }
        if method == Method::POST {
            script.create_count += 1;
            script.creates.pop_front()
        } else {
            script.poll_count += 1;
            script.polls.pop_front().or(script.default_poll.clone())
        }
    };
    let Some(next) = next else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unscripted").into_response();
    };
    let mut response = (StatusCode::from_u16(next.status).unwrap(), next.body).into_response();
    for (name, value) in next.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn start(script: Script) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(script));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), shared)
}

fn client(provider: &str, base_url: &str, key: &str) -> Client {
    let provider = imagegen::provider(
        provider,
        ProviderConfig::new()
            .api_key(ApiKey::new(key))
            .base_url(base_url),
    )
    .unwrap();
    Client::builder()
        .provider_arc(provider)
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(1)))
        .poll_policy(
            PollPolicy::default()
                .with_initial_interval(Duration::from_millis(5))
                .with_max_interval(Duration::from_millis(20))
                .with_deadline(Duration::from_secs(20)),
        )
        .jitter_seed(3)
        .build()
        .unwrap()
}

const RUN_DONE: &str =
    r#"{"id":"run_1","status":"succeeded","output":{"urls":["https://cdn.example/1.png"]}}"#;

#[tokio::test]
async fn a_502_with_a_rate_limit_body_is_sent_once() {
    for (provider, body) in [
        (
            "runbase",
            r#"{"error":{"code":"RATE_LIMITED","message":"slow down"}}"#,
        ),
        (
            "gptimage15",
            r#"{"code":429,"message":"slow down","data":null}"#,
        ),
    ] {
        let (url, script) = start(Script {
            creates: [answer(502, body)].into(),
            ..Script::default()
        })
        .await;
        let err = client(provider, &url, "k-1")
            .generate(ImageRequest::new("a lamp"))
            .await
            .unwrap_err();
        assert!(err.may_have_reached_server(), "{provider}: {err:?}");
        assert_eq!(
            script.lock().unwrap().create_count,
            1,
            "{provider}: a 5xx answer to a create is never resent"
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_1e300_neither_panics_nor_is_ambiguous() {
    for header in ["retry-after", "retry-after-ms"] {
        let limited = Answer {
            status: 429,
            headers: vec![(header, "1e300".to_owned())],
            body: r#"{"error":{"code":"RATE_LIMITED","message":"slow down"}}"#.to_owned(),
        };
        let (url, script) = start(Script {
            creates: [limited].into(),
            ..Script::default()
        })
        .await;
        let err = client("runbase", &url, "k-1")
            .generate(ImageRequest::new("a lamp"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited, "{header}: {err}");
        assert!(
            !err.may_have_reached_server(),
            "a 429 accepted nothing: {err:?}"
        );
        assert!(
            err.retry_after().unwrap() >= Duration::from_secs(3600),
            "{err:?}"
        );
        assert!(err.to_string().contains("longer than"), "{err}");
        assert_eq!(script.lock().unwrap().create_count, 1, "{header}");
    }
}

#[tokio::test]
async fn a_first_poll_404_within_the_grace_period_ends_in_the_image() {
    let not_found = r#"{"error":{"code":"run_not_found","message":"Run not found"}}"#;
    let (url, script) = start(Script {
        creates: [answer(200, r#"{"id":"run_1","status":"queued"}"#)].into(),
        polls: [answer(404, not_found), answer(404, not_found)].into(),
        default_poll: Some(answer(200, RUN_DONE)),
        ..Script::default()
    })
    .await;
    let generation = client("runbase", &url, "k-1")
        .generate(ImageRequest::new("a lamp"))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 1);
    let script = script.lock().unwrap();
    assert_eq!((script.create_count, script.poll_count), (1, 3));
}

#[tokio::test]
async fn a_404_after_the_grace_period_fails_the_wait() {
    let not_found = r#"{"error":{"code":"run_not_found","message":"Run not found"}}"#;
    let (url, _script) = start(Script {
        creates: [answer(200, r#"{"id":"run_1","status":"queued"}"#)].into(),
        default_poll: Some(answer(404, not_found)),
        ..Script::default()
    })
    .await;
    let provider = imagegen::provider(
        "runbase",
        ProviderConfig::new()
            .api_key(ApiKey::new("k"))
            .base_url(&url),
    )
    .unwrap();
    let client = Client::builder()
        .provider_arc(provider)
        .poll_policy(
            PollPolicy::default()
                .with_initial_interval(Duration::from_millis(5))
                .with_not_found_grace(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let err = client
        .generate(ImageRequest::new("a lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.task_id(), Some("run_1"));
}

/// A `tracing` writer into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_key_echoed_by_the_server_never_shows() {
    const KEY: &str = "rb-live-0123456789abcdefSECRET";
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: Bearer {KEY}","code":"invalid_api_key"}}}}"#
    );
    let failed = format!(r#"{{"id":"run_1","status":"failed","error":"upstream said key={KEY}"}}"#);
    let (url, script) = start(Script {
        creates: [
            answer(401, &echo),
            answer(200, r#"{"id":"run_1","status":"queued"}"#),
        ]
        .into(),
        default_poll: Some(answer(200, &failed)),
        ..Script::default()
    })
    .await;
    let client = client("runbase", &url, KEY);
    let refused = client
        .generate(ImageRequest::new("a lamp"))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorized);
    let failed = client
        .generate(ImageRequest::new("a lamp"))
        .await
        .unwrap_err();
    assert_eq!(failed.kind(), ErrorKind::GenerationFailed);
    for err in [&refused, &failed] {
        for shown in [
            err.to_string(),
            format!("{err:?}"),
            err.message().to_owned(),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("create failed") && logged.contains("task failed"),
        "{logged}"
    );
    assert!(logged.contains("[redacted]"), "{logged}");
    assert!(!logged.contains("SECRET"), "{logged}");
    // The key did go where it belongs.
    assert!(
        script
            .lock()
            .unwrap()
            .seen_auth
            .iter()
            .all(|a| a == &format!("Bearer {KEY}"))
    );
}

#[tokio::test]
async fn forged_webhooks_for_unknown_tasks_cost_no_request() {
    let (url, script) = start(Script::default()).await;
    let client = client("gptimage15", &url, "k-1");
    for i in 0..300 {
        let call = WebhookCall::new(
            HeaderMap::new(),
            format!(
                r#"{{"task_id":"forged-{i}","status":"SUCCESS","response":["https://evil.example/x.png"]}}"#
            ),
            None,
        );
        let outcome = client.on_webhook("gptimage15", &call).await.unwrap();
        assert_eq!(
            outcome,
            imagegen::WebhookOutcome::NotWaitedOn(format!("forged-{i}"))
        );
    }
    let script = script.lock().unwrap();
    assert_eq!((script.create_count, script.poll_count), (0, 0));
}
