//! Test helpers shared by the imagegen provider crates. A dev-dependency
//! only: nothing here is part of imagegen's API.
//!
//! * [`wire`]: the schema-example round trip, the strictness check that
//!   every provider's `tests/wire.rs` runs against its generated types, and
//!   [`wire::with_unknown_fields`] (answers must stay open).
//! * Over real HTTP on loopback: a proxy-free [`loopback_transport`], a
//!   codec's [`provider`] built on it (or [`provider_from`] a
//!   [`loopback_config`] with settings), a [`fast_client`], a test-only
//!   [`poll_until_done`] loop and [`submit_and_wait`],
//!   [`assert_unknown_status_then_success`], [`assert_key_hidden`],
//!   [`serve_once`] (a one-shot listener that [`Captured`] what arrived),
//!   [`download`], [`png_size`] and [`url_png_size`].
//! * For a codec, without I/O: [`codec`], [`codec_with`],
//!   [`create_request`], [`create_request_with`], [`checked_create_request`]
//!   (after the client's capability check) and [`request_summary`] (what
//!   would be sent), [`aspect_requests`] and [`create_bodies`] (a snapshot
//!   table of request bodies), [`answer`], [`read_create`], [`read_status`]
//!   and [`read_create_with_key`] (an answer as the client sees it, settled
//!   by the core), [`assert_refused`], [`assert_secret_hidden`],
//!   [`headers`], and [`error_summary`] with the [`snapshot!`] macro that
//!   stores it.
//!
//! * `postgres` (feature `postgres`): a fresh database per test on the
//!   server `IMAGEGEN_TEST_DATABASE_URL` names, dropped afterwards.
//!
//! * [`chromium`]: headless Chromium for tests of the pages imagegen
//!   writes (find it or fail saying how to get it, screenshot, dumped DOM,
//!   a probe script, pixel checks).
//!
//! Everything is generic over [`Codec`] or [`ImageProvider`], so this crate
//! depends on no provider, and not on the simulator either (each suite
//! starts the sim the way it needs).
//! These helpers are not in `imagegen_core::testing`, which is compiled into
//! every build of the core: they assert, panic and use `insta`, none of
//! which belongs in a library its users ship.

use std::time::{Duration, Instant};

use imagegen_core::codec::{BaseUrl, Codec, Settings, Target};
use imagegen_core::http_provider::settle;
use imagegen_core::{
    ApiKey, Aspect, Error, ErrorKind, HttpProvider, HttpRequest, HttpResponse, HttpTransport,
    ImageOutput, ImageProvider, ImageRequest, ProviderConfig, SubmitOptions, TaskRef, TaskState,
    TaskStatus,
};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

pub mod chromium;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod wire;

/// Re-exported for [`snapshot!`], so a test crate need not name `insta`.
#[doc(hidden)]
pub use insta as __insta;

/// A transport that never uses a proxy (nor follows redirects), so tests
/// stay on loopback whatever the environment's proxy settings.
pub fn loopback_transport() -> HttpTransport {
    HttpTransport::with_client(
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    )
}

/// The configuration of a provider on `base_url` with `key`, over a
/// [`loopback_transport`]: add settings, then build it with
/// `HttpProvider::<C>::from_config` (to see what it refuses) or
/// [`provider_from`].
pub fn loopback_config(base_url: &str, key: &str) -> ProviderConfig {
    ProviderConfig::new()
        .api_key(ApiKey::new(key))
        .base_url(base_url)
        .transport(loopback_transport())
}

/// Codec `C`'s provider on `base_url` with `key`, over a
/// [`loopback_transport`]; panics if it refuses.
pub fn provider<C: Codec>(base_url: &str, key: &str) -> HttpProvider<C> {
    provider_from(loopback_config(base_url, key))
}

/// Codec `C`'s provider from `config` (see [`loopback_config`]); panics if
/// it refuses.
pub fn provider_from<C: Codec>(config: ProviderConfig) -> HttpProvider<C> {
    HttpProvider::<C>::from_config(config).expect("provider")
}

/// The base URL the pure request tests map against.
pub const TEST_BASE_URL: &str = "https://api.example.test/v1";

/// Codec `C` with its settings' defaults.
pub fn codec<C: Codec>() -> C {
    let mut settings = Settings::default();
    for setting in C::SPEC.settings {
        if let Some(value) = setting.default {
            settings.set(setting.name, value);
        }
    }
    C::new(&settings).expect("the default settings are valid")
}

/// Codec `C` with its settings' defaults and then `settings`; panics if
/// the codec refuses them (build it with `C::new` to see the refusal).
pub fn codec_with<C: Codec>(settings: &[(&str, &str)]) -> C {
    let mut resolved = Settings::default();
    for setting in C::SPEC.settings {
        if let Some(value) = setting.default {
            resolved.set(setting.name, value);
        }
    }
    for (name, value) in settings {
        resolved.set(*name, *value);
    }
    C::new(&resolved).expect("the settings are valid")
}

/// The create request codec `C` describes for `request` on
/// [`TEST_BASE_URL`] (no hold, no deadline).
pub fn create_request<C: Codec>(request: &ImageRequest) -> Result<HttpRequest, Error> {
    create_request_with(&codec::<C>(), request)
}

/// The create request `codec` describes for `request` on
/// [`TEST_BASE_URL`] (no hold, no deadline).
pub fn create_request_with<C: Codec>(
    codec: &C,
    request: &ImageRequest,
) -> Result<HttpRequest, Error> {
    let base = BaseUrl::parse(TEST_BASE_URL).expect("base URL");
    codec.create(request, &Target::new(&base))
}

/// What the client sends for `request`: the capability check it runs
/// before anything is sent (strict, so a setting `C` lacks is refused,
/// naming the provider), then codec `C`'s create request for the checked
/// request. (Reference images are not resolved: for an upload provider,
/// pass them inline.)
pub fn checked_create_request<C: Codec>(request: &ImageRequest) -> Result<HttpRequest, Error> {
    let (checked, _warnings) =
        C::capabilities().check(C::SPEC.name, request, imagegen_core::Strictness::Strict)?;
    create_request::<C>(&checked)
}

/// The create request as JSON for snapshots: method, URL, headers (the
/// core adds authentication), and the body (JSON, or the multipart parts).
pub fn request_summary(http: &HttpRequest) -> Value {
    let headers: Map<String, Value> = http
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    let body = match &http.body {
        imagegen_core::Body::Empty => Value::Null,
        imagegen_core::Body::Json(_) => http.json_body(),
        imagegen_core::Body::Multipart(parts) => parts
            .iter()
            .map(|part| json!(format!("{} = {:?}", part.name, part.content)))
            .collect(),
    };
    json!({ "method": http.method.as_str(), "url": http.url.as_str(), "headers": headers, "body": body })
}

/// An answer with `status`, `headers` and `body`.
pub fn answer(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: self::headers(headers),
        body: body.to_vec().into(),
    }
}

/// What the client makes of `answer` to a create: codec `C` reads it, the
/// core settles it (provider, HTTP status, `Retry-After`, and whether a
/// failed create may have been accepted).
pub fn read_create<C: Codec>(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    settle(
        &C::SPEC,
        &[],
        answer,
        codec::<C>().read_create(answer),
        None,
    )
}

/// What the client makes of `answer` to a status request for `task_id`.
pub fn read_status<C: Codec>(task_id: &str, answer: &HttpResponse) -> Result<TaskStatus, Error> {
    let task = TaskRef::new(task_id);
    settle(
        &C::SPEC,
        &[],
        answer,
        codec::<C>().read_status(&task, answer),
        Some(&task),
    )
}

/// [`read_create`] by a provider whose API key is `key`: the core scrubs
/// the key (and any `Bearer` token) from what the server said.
pub fn read_create_with_key<C: Codec>(
    key: &str,
    answer: &HttpResponse,
) -> Result<TaskStatus, Error> {
    settle(
        &C::SPEC,
        &[key],
        answer,
        codec::<C>().read_create(answer),
        None,
    )
}

/// Asserts that `secret` shows nowhere in `err`: not in its `Display`,
/// `Debug`, message, hint or code.
pub fn assert_secret_hidden(err: &Error, secret: &str) {
    for (what, text) in [
        ("Display", err.to_string()),
        ("Debug", format!("{err:?}")),
        ("message", err.message().to_owned()),
        ("hint", err.hint().unwrap_or_default().to_owned()),
        ("code", err.code().unwrap_or_default().to_owned()),
    ] {
        assert!(
            !text.contains(secret),
            "the secret shows in the {what}: {text}"
        );
    }
}

/// A [`Client`](imagegen_core::Client) on `provider` that polls every
/// 10-50 ms (instead of the provider's advised seconds), for tests that go
/// through what the client does: the capability check, reference
/// resolution, fanning a count out, polling.
pub fn fast_client(provider: impl ImageProvider + 'static) -> imagegen_core::Client {
    let poll = imagegen_core::PollPolicy::default()
        .with_initial_interval(Duration::from_millis(10))
        .with_max_interval(Duration::from_millis(50));
    imagegen_core::Client::builder()
        .provider(provider)
        .poll_policy(poll)
        .build()
        .expect("client")
}

/// Polls `task` until it is terminal, at most 10 s, 5 ms apart, fetching
/// the result when the status says it is ready. A test-only loop, so a
/// provider's tests need no `Client`; the core's waiter does this for real.
pub async fn poll_until_done<P: ImageProvider + ?Sized>(
    provider: &P,
    task: &TaskRef,
) -> Result<TaskStatus, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = provider.status(task).await?;
        if status.state == TaskState::ResultReady {
            status = provider.result(task).await?;
        }
        if status.state.is_terminal() {
            return Ok(status);
        }
        assert!(Instant::now() < deadline, "task {} never finished", task.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Submits `request` and [polls](poll_until_done) the task to its end;
/// panics if either fails. For tests that only look at the finished task.
pub async fn submit_and_wait<P: ImageProvider + ?Sized>(
    provider: &P,
    request: &ImageRequest,
) -> TaskStatus {
    let task = provider
        .submit(request, &SubmitOptions::new())
        .await
        .expect("submit");
    if task.state.is_terminal() {
        return task;
    }
    poll_until_done(provider, &task.task_ref())
        .await
        .expect("poll until done")
}

/// Submits a request, asserts that its first status is
/// [`TaskState::Unknown`] with the provider's `raw` value (a status its docs
/// do not list, as the simulator's `unknown_status` fault sends), and that
/// polling goes on to success: an unknown status is reported, never fatal.
pub async fn assert_unknown_status_then_success<P: ImageProvider + ?Sized>(
    provider: &P,
    raw: &str,
) {
    let task = provider
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    let first = provider.status(&task.task_ref()).await.unwrap();
    assert_eq!(first.state, TaskState::Unknown { raw: raw.into() });
    let done = poll_until_done(provider, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
}

/// One HTTP request as a [`serve_once`] listener received it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The request line and headers, as sent.
    pub head: String,
    /// The body (as long as its `content-length` said).
    pub body: Vec<u8>,
}

impl Captured {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The request line (`POST /v1/images/generations HTTP/1.1`).
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

/// Listens on loopback, accepts one connection, reads one request (and
/// its `content-length` body), answers it with `answer`, and hands back
/// what it read. Returns `http://127.0.0.1:<port>`, for a base URL.
pub async fn serve_once(answer: HttpResponse) -> (String, tokio::task::JoinHandle<Captured>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("a connection");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            let n = socket.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the connection closed before the headers ended");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let mut captured = Captured {
            head: String::from_utf8_lossy(&buf[..head_end]).into_owned(),
            body: Vec::new(),
        };
        let len: usize = captured
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a numeric content-length"));
        while buf.len() < head_end + len {
            let n = socket.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the connection closed inside the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        captured.body = buf[head_end..head_end + len].to_vec();
        let mut head = format!("HTTP/1.1 {} Answer\r\n", answer.status);
        for (name, value) in &answer.headers {
            head.push_str(&format!(
                "{name}: {}\r\n",
                value.to_str().unwrap_or_default()
            ));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            answer.body.len()
        ));
        socket.write_all(head.as_bytes()).await.expect("write");
        socket.write_all(&answer.body).await.expect("write");
        socket.shutdown().await.ok();
        captured
    });
    (url, task)
}

/// The bytes at `url`, which must be on loopback (an image URL the
/// simulator handed out), fetched without any key or proxy.
pub async fn download(url: &str) -> Vec<u8> {
    assert!(url.starts_with("http://127.0.0.1:"), "not loopback: {url}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

/// Width and height of the PNG an [`ImageOutput::Url`] points at, fetched
/// with [`download`]; panics for any other output.
pub async fn url_png_size(output: &ImageOutput) -> (u32, u32) {
    let ImageOutput::Url { url } = output else {
        panic!("a URL output expected: {output:?}")
    };
    png_size(&download(url).await)
}

/// Width and height from a PNG's IHDR, after checking its signature.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &bytes[..bytes.len().min(16)]
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Everything an error says, as JSON, for snapshots and readable asserts.
pub fn error_summary(err: &Error) -> Value {
    json!({
        "kind": err.kind().as_str(),
        "http_status": err.http_status(),
        "code": err.code(),
        "message": err.message(),
        "hint": err.hint(),
        "retryable": err.is_retryable(),
        "retry_after_ms": err.retry_after().map(|d| d.as_millis() as u64),
        "may_have_reached_server": err.may_have_reached_server(),
        "task_id": err.task_id(),
    })
}

/// Response headers from `(name, value)` pairs, for feeding a provider's
/// pure parsing functions.
pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// `prompt` alone and with each aspect, labelled `prompt only`,
/// `aspect 1:1`, `aspect 2:3` and `aspect 3:2`: the rows every provider's
/// request-body table starts with.
pub fn aspect_requests(prompt: &str) -> Vec<(&'static str, ImageRequest)> {
    let base = || ImageRequest::new(prompt);
    vec![
        ("prompt only", base()),
        ("aspect 1:1", base().aspect(Aspect::Square)),
        ("aspect 2:3", base().aspect(Aspect::Portrait)),
        ("aspect 3:2", base().aspect(Aspect::Landscape)),
    ]
}

/// The JSON body the client sends through codec `C` for each
/// `(case, request)` (see [`checked_create_request`]), by case, for a
/// snapshot table.
pub fn create_bodies<C: Codec>(table: Vec<(&str, ImageRequest)>) -> Map<String, Value> {
    let mut bodies = Map::new();
    for (case, request) in table {
        let http = checked_create_request::<C>(&request).unwrap_or_else(|e| panic!("{case}: {e}"));
        bodies.insert(case.to_owned(), http.json_body());
    }
    bodies
}

/// Asserts that `err` refuses a request before sending: a non-retryable
/// `InvalidRequest` whose text contains `expected`, that never reached
/// the server.
pub fn assert_refused(err: &Error, expected: &str) {
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert!(err.to_string().contains(expected), "{err}");
}

/// Asserts that `secret` shows in neither `provider`'s `Debug` output nor
/// its account id, and returns the `Debug` output for further checks.
pub fn assert_key_hidden<P: ImageProvider + std::fmt::Debug>(provider: &P, secret: &str) -> String {
    let shown = format!("{provider:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!provider.account_id().contains(secret));
    shown
}

/// Asserts a JSON snapshot named `provider__{name}`, stored in the
/// `snapshots/` folder beside the folder of the calling file: for a
/// provider's `tests/provider/*.rs`, in `tests/snapshots/`. Used as
/// `snapshot!("create_bodies", bodies)`.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = $crate::__insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            $crate::__insta::assert_json_snapshot!(format!("provider__{}", $name), $value);
        });
    }};
}
