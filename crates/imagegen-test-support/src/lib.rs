//! Test helpers shared by the imagegen provider crates. A dev-dependency
//! only: nothing here is part of imagegen's API.
//!
//! * [`wire`]: the schema-example round trip and the strictness check that
//!   every provider's `tests/wire.rs` runs against its generated types.
//! * Over real HTTP on loopback: a proxy-free [`loopback_transport`], a
//!   [`provider`] built on it from the provider's own constructor, a
//!   test-only [`poll_until_done`] loop and [`submit_and_wait`],
//!   [`assert_unknown_status_then_success`], [`assert_key_hidden`],
//!   [`download`], [`png_size`] and [`url_png_size`].
//! * For the pure mapping and parsing functions: [`aspect_requests`] and
//!   [`create_bodies`] (a snapshot table of request bodies),
//!   [`assert_refused`] (what a provider cannot take), [`headers`], and
//!   [`error_summary`] with the [`snapshot!`] macro that stores it.
//!
//! Everything is generic over [`ImageProvider`] or takes the provider's
//! constructor as a closure, so this crate depends on no provider, and not
//! on the simulator either (each suite starts the sim the way it needs).
//! These helpers are not in `imagegen_core::testing`, which is compiled into
//! every build of the core: they assert, panic and use `insta`, none of
//! which belongs in a library its users ship.

use std::time::{Duration, Instant};

use imagegen_core::{
    ApiKey, Aspect, Error, ErrorKind, HttpTransport, ImageOutput, ImageProvider, ImageRequest,
    ProviderConfig, TaskState, TaskStatus,
};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

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

/// The provider `from_config` builds for `base_url` and `key` over a
/// [`loopback_transport`]; panics if it refuses.
///
/// ```
/// use imagegen_core::provider_base::{ProviderBase, ProviderSpec};
/// # fn caps() -> imagegen_core::Capabilities { imagegen_core::capabilities::tests_support::runbase_like() }
/// const SPEC: ProviderSpec = ProviderSpec::new("acme", "ACME_KEY", "ACME_URL", "https://acme.example");
/// let base = imagegen_test_support::provider(
///     |config| ProviderBase::from_config(SPEC, config, caps()),
///     "http://127.0.0.1:9/v1",
///     "k",
/// );
/// assert_eq!(base.base_url(), "http://127.0.0.1:9/v1");
/// ```
pub fn provider<P>(
    from_config: impl FnOnce(ProviderConfig) -> Result<P, Error>,
    base_url: &str,
    key: &str,
) -> P {
    from_config(
        ProviderConfig::new()
            .api_key(ApiKey::new(key))
            .base_url(base_url)
            .transport(loopback_transport()),
    )
    .expect("provider")
}

/// Polls `task_id` until the task is terminal, at most 10 s, 5 ms apart.
/// A test-only loop, so a provider's tests need no `Client`; the core's
/// waiter does this for real.
pub async fn poll_until_done<P: ImageProvider + ?Sized>(
    provider: &P,
    task_id: &str,
) -> Result<TaskStatus, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = provider.status(task_id).await?;
        if status.state.is_terminal() {
            return Ok(status);
        }
        assert!(Instant::now() < deadline, "task {task_id} never finished");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Submits `request` and [polls](poll_until_done) the task to its end;
/// panics if either fails. For tests that only look at the finished task.
pub async fn submit_and_wait<P: ImageProvider + ?Sized>(
    provider: &P,
    request: &ImageRequest,
) -> TaskStatus {
    let task = provider.submit(request).await.expect("submit");
    poll_until_done(provider, &task.task_id)
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
    let task = provider.submit(&ImageRequest::new("lamp")).await.unwrap();
    let first = provider.status(&task.task_id).await.unwrap();
    assert_eq!(first.state, TaskState::Unknown { raw: raw.into() });
    let done = poll_until_done(provider, &task.task_id).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
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

/// The JSON body of each `(case, request)`, by case, for a snapshot table;
/// checks on the way that the bytes `create_body` sends are the same JSON
/// as `create_body_json` shows.
pub fn create_bodies(
    table: Vec<(&str, ImageRequest)>,
    create_body_json: impl Fn(&ImageRequest) -> Result<Value, Error>,
    create_body: impl Fn(&ImageRequest) -> Result<Vec<u8>, Error>,
) -> Map<String, Value> {
    let mut bodies = Map::new();
    for (case, request) in table {
        let body = create_body_json(&request).unwrap_or_else(|e| panic!("{case}: {e}"));
        let sent: Value = serde_json::from_slice(&create_body(&request).unwrap()).unwrap();
        assert_eq!(sent, body, "{case}");
        bodies.insert(case.to_owned(), body);
    }
    bodies
}

/// Asserts that `err` refuses a request before sending: a non-retryable
/// `InvalidRequest` from `provider` whose text contains `expected`.
pub fn assert_refused(err: &Error, provider: &str, expected: &str) {
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(err.provider(), Some(provider));
    assert!(!err.is_retryable());
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
