//! Webhook calls → the task id they name (`WavespeedCodec::webhook`), only
//! after their `v3` signature (hex HMAC-SHA256 over `id.timestamp.body`,
//! keyed with the secret minus `whsec_`) matches and their timestamp is
//! fresh. Nothing else in the call is taken; the client then confirms with
//! an authenticated status request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imagegen_core::signature::hmac_sha256;
use imagegen_core::webhook::MAX_TASK_ID_LEN;
use imagegen_core::{Codec, Error, ErrorKind, ImageProvider, WebhookCall};
use imagegen_test_support::{codec, codec_with, headers};
use imagegen_wavespeed::WavespeedCodec;

use super::common::{provider, provider_with_secret};

const SECRET: &str = "whsec_imagegensimwavespeedwebhooksecret01";
const NOW: u64 = 1_765_965_600;
const BODY: &str = r#"{"id":"8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60","model":"openai/gpt-image-1.5/text-to-image","input":{"prompt":"A ceramic lamp"},"outputs":["https://cdn.wavespeed.ai/a.png"],"urls":{"get":"https://api.wavespeed.ai/api/v3/predictions/8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60/result"},"has_nsfw_contents":[false],"status":"completed","created_at":"2025-12-17T10:00:00.123Z","error":""}"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature WaveSpeed sends for `body` at `timestamp` under `key`.
fn sign(key: &str, id: &str, timestamp: u64, body: &str) -> String {
    let message = format!("{id}.{timestamp}.{body}");
    format!(
        "v3,{}",
        hex(&hmac_sha256(key.as_bytes(), &[message.as_bytes()]))
    )
}

/// A call signed with `key` at `signed_at`, received at `NOW`.
fn call(key: &str, signed_at: u64, body: &str) -> WebhookCall {
    let signature = sign(key, "msg_1", signed_at, body);
    let mut call = WebhookCall::new(
        headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &signed_at.to_string()),
            ("webhook-signature", &signature),
        ]),
        body.to_owned(),
        None,
    );
    call.received_at = UNIX_EPOCH + Duration::from_secs(NOW);
    call
}

fn task_id(call: &WebhookCall) -> Result<String, Error> {
    codec_with::<WavespeedCodec>(&[("webhook_secret", SECRET)]).webhook(call)
}

const KEY: &str = "imagegensimwavespeedwebhooksecret01";

#[test]
fn a_signed_call_names_its_task() {
    assert_eq!(
        task_id(&call(KEY, NOW, BODY)).unwrap(),
        "8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60"
    );
    // Within five minutes either way.
    task_id(&call(KEY, NOW - 300, BODY)).unwrap();
    task_id(&call(KEY, NOW + 300, BODY)).unwrap();
    // A secret set without its prefix is the same key.
    let codec = codec_with::<WavespeedCodec>(&[("webhook_secret", KEY)]);
    assert!(codec.webhook(&call(KEY, NOW, BODY)).is_ok());
    // One matching entry among others is enough.
    let mut two = call(KEY, NOW, BODY);
    let good = two.header("webhook-signature").unwrap().to_owned();
    two.headers.insert(
        "webhook-signature",
        format!("v3,{} {good}", "0".repeat(64)).parse().unwrap(),
    );
    task_id(&two).unwrap();
}

#[test]
fn forged_stale_or_altered_calls_are_refused() {
    let mut missing = call(KEY, NOW, BODY);
    missing.headers.remove("webhook-signature");
    let mut wrong_version = call(KEY, NOW, BODY);
    let v1 = wrong_version
        .header("webhook-signature")
        .unwrap()
        .replace("v3,", "v1,");
    wrong_version
        .headers
        .insert("webhook-signature", v1.parse().unwrap());
    let cases = [
        ("wrong secret", call("another-secret", NOW, BODY)),
        (
            "the secret with its prefix as the key",
            call(SECRET, NOW, BODY),
        ),
        ("stale timestamp", call(KEY, NOW - 301, BODY)),
        ("from the future", call(KEY, NOW + 301, BODY)),
        ("altered body", {
            let mut c = call(KEY, NOW, BODY);
            c.body = BODY.replace("8b7f1f2e", "00000000").into();
            c
        }),
        ("no signature header", missing),
        ("another scheme's version", wrong_version),
    ];
    for (label, call) in cases {
        let err = task_id(&call).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{label}: {err}");
        assert!(!err.is_retryable(), "{label}");
    }
}

#[test]
fn without_a_secret_every_call_is_refused() {
    let err = codec::<WavespeedCodec>()
        .webhook(&call(KEY, NOW, BODY))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.hint().unwrap().contains("WAVESPEED_WEBHOOK_SECRET"),
        "{err:?}"
    );
    assert!(WavespeedCodec::capabilities().webhooks);
}

#[test]
fn a_signed_body_without_a_valid_task_id_is_refused() {
    let long = "a".repeat(MAX_TASK_ID_LEN + 1);
    for body in [
        r#"{"id":"../x y","status":"completed"}"#.to_owned(),
        r#"{"id":"","status":"completed"}"#.to_owned(),
        format!(r#"{{"id":"{long}"}}"#),
        r#"{"status":"completed"}"#.to_owned(),
        "not json".to_owned(),
    ] {
        let err = task_id(&call(KEY, NOW, &body)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body}");
    }
}

#[test]
fn the_provider_reads_webhooks_through_the_codec_and_hides_the_secret() {
    let with = provider_with_secret("http://127.0.0.1:9/wavespeed", "k", SECRET);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut fresh = call(KEY, now, BODY);
    fresh.received_at = SystemTime::now();
    assert_eq!(
        with.webhook_task(&fresh).unwrap(),
        "8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60"
    );
    let err = provider("http://127.0.0.1:9/wavespeed", "k")
        .webhook_task(&fresh)
        .unwrap_err();
    assert_eq!(err.provider(), Some("wavespeed"));
    let shown = format!("{:?} {:?}", with, with.codec());
    assert!(!shown.contains("imagegensim"), "{shown}");
}
