//! Helpers shared by the tests.

use std::time::{Duration, Instant};

use imagegen_core::{ApiKey, Error, HttpTransport, ImageProvider, ProviderConfig, TaskStatus};
use imagegen_gptimage15::Gptimage15;
use serde_json::{Value, json};

/// A transport that never uses a proxy, so tests stay on loopback.
pub fn transport() -> HttpTransport {
    HttpTransport::with_client(
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    )
}

/// A provider on `base_url` with `key`.
pub fn provider(base_url: &str, key: &str) -> Gptimage15 {
    Gptimage15::from_config(
        ProviderConfig::new()
            .api_key(ApiKey::new(key))
            .base_url(base_url)
            .transport(transport()),
    )
    .expect("provider")
}

/// Polls `task_id` (a test-only loop; the core's Client does this for real)
/// until the task is terminal, at most 10 s.
pub async fn poll_until_done(provider: &Gptimage15, task_id: &str) -> Result<TaskStatus, Error> {
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

/// Everything an error says, as JSON, for snapshots and readable asserts.
pub fn summary(err: &Error) -> Value {
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

/// Asserts a JSON snapshot stored in `tests/snapshots/provider__{name}.snap`.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            insta::assert_json_snapshot!(format!("provider__{}", $name), $value);
        });
    }};
}
