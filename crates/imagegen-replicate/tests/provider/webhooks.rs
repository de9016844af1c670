//! Webhook calls → the prediction they name, only once their
//! Standard-Webhooks signature verifies (`ReplicateCodec::webhook`):
//! accepted, and refused for a wrong secret, a stale timestamp, an altered
//! body, a missing header, or no secret configured.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use imagegen_core::signature::{hmac_sha256, standard_secret};
use imagegen_core::{Codec, Error, ErrorKind, HttpProvider, ImageProvider, WebhookCall};
use imagegen_replicate::ReplicateCodec;
use imagegen_test_support::{codec, headers, loopback_config};

use super::common::{PREDICTION_ID, SECRET, codec_with_secret, provider_with_secret};

const SENT_AT: u64 = 1_767_225_600;
const BODY: &str = r#"{"id":"z3jpsevkdhrm80cv56maz0tehw","status":"succeeded","output":["https://replicate.delivery/a.png"]}"#;

/// A call signed with `secret` at `SENT_AT` over `signed`, carrying
/// `body`, received `after` seconds later.
fn call(secret: &str, signed: &str, body: &str, after: u64) -> WebhookCall {
    let key = standard_secret(secret).unwrap();
    let mac = hmac_sha256(
        &key,
        &[format!("msg_1.{SENT_AT}.").as_bytes(), signed.as_bytes()],
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(mac);
    let mut call = WebhookCall::new(
        headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &SENT_AT.to_string()),
            ("webhook-signature", &format!("v1,bm90IGl0 v1,{signature}")),
        ]),
        body.to_owned(),
        None,
    );
    call.received_at = UNIX_EPOCH + Duration::from_secs(SENT_AT + after);
    call
}

fn refused(result: Result<String, Error>, why: &str) {
    let err = result.expect_err(why);
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{why}: {err}");
    assert!(!err.is_retryable(), "{why}");
}

#[test]
fn a_call_signed_with_the_secret_names_its_prediction() {
    let codec = codec_with_secret(SECRET);
    assert_eq!(
        codec.webhook(&call(SECRET, BODY, BODY, 60)).unwrap(),
        PREDICTION_ID
    );
    // The secret may be given without its `whsec_` prefix.
    let bare = codec_with_secret(SECRET.trim_start_matches("whsec_"));
    assert_eq!(
        bare.webhook(&call(SECRET, BODY, BODY, 60)).unwrap(),
        PREDICTION_ID
    );
}

#[test]
fn forged_stale_altered_or_incomplete_calls_are_refused() {
    let codec = codec_with_secret(SECRET);
    let other = "whsec_YW5vdGhlciBzZWNyZXQ=";
    refused(codec.webhook(&call(other, BODY, BODY, 60)), "wrong secret");
    refused(
        codec.webhook(&call(SECRET, BODY, BODY, 301)),
        "stale timestamp",
    );
    let altered = BODY.replace("a.png", "evil.png");
    refused(
        codec.webhook(&call(SECRET, BODY, &altered, 60)),
        "altered body",
    );
    let mut unsigned = call(SECRET, BODY, BODY, 60);
    unsigned.headers.remove("webhook-signature");
    refused(codec.webhook(&unsigned), "no signature");
    let mut replayed = call(SECRET, BODY, BODY, 60);
    replayed
        .headers
        .insert("webhook-id", "msg_2".parse().unwrap());
    refused(codec.webhook(&replayed), "another id");
}

#[test]
fn a_verified_call_must_still_name_a_plausible_prediction() {
    let codec = codec_with_secret(SECRET);
    for body in [
        r#"{"id":"../x y","status":"succeeded"}"#,
        r#"{"status":"succeeded"}"#,
        "[]",
    ] {
        let err = codec.webhook(&call(SECRET, body, body, 60)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body}");
    }
}

#[test]
fn without_a_secret_every_call_is_refused() {
    let err = codec::<ReplicateCodec>()
        .webhook(&call(SECRET, BODY, BODY, 60))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.hint(), Some("set REPLICATE_WEBHOOK_SECRET"));
}

#[test]
fn a_secret_that_is_not_one_is_refused_when_the_provider_is_built() {
    let config = loopback_config("http://127.0.0.1:9/replicate/v1", "k")
        .setting("webhook_secret", "whsec_%%% not base64");
    let err = HttpProvider::<ReplicateCodec>::from_config(config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.hint().unwrap().contains("REPLICATE_WEBHOOK_SECRET"),
        "{err:?}"
    );
    assert!(
        !format!("{err} {err:?}").contains("%%%"),
        "the secret never shows"
    );
    let replicate = provider_with_secret("http://127.0.0.1:9/replicate/v1", "k", SECRET);
    assert!(!format!("{replicate:?} {:?}", replicate.codec()).contains("aW1hZ2VnZW4"));
    assert_eq!(
        replicate
            .webhook_task(&call(SECRET, BODY, BODY, 60))
            .unwrap(),
        PREDICTION_ID
    );
    assert!(ReplicateCodec::capabilities().webhooks);
}
