//! Webhook calls → the request they name, only once their ED25519 signature
//! verifies against a configured key (`FalCodec::webhook`): accepted, and
//! refused for a wrong key, an altered body, a stale timestamp, a missing
//! header, or no key configured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use imagegen_core::{Codec, Error, ErrorKind, ImageProvider, WebhookCall};
use imagegen_fal::FalCodec;
use imagegen_test_support::{codec, headers, loopback_config};

use super::common::{codec_with_keys, provider_with_keys};

const SENT_AT: u64 = 1_767_225_600;
const BODY: &str = r#"{"request_id":"764cabcf-b745-4b3e-ae38-1200304cf45b","gateway_request_id":"764cabcf-b745-4b3e-ae38-1200304cf45b","status":"OK","payload":{"images":[{"url":"https://v3.fal.media/files/rabbit/a.png"}]}}"#;

fn signer(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(seed: u8) -> String {
    hex::encode(signer(seed).verifying_key().to_bytes())
}

/// A call as fal sends it: signed by `signer` at `SENT_AT` over `signed`,
/// carrying `body`, received `after` seconds later.
fn call(signer: &SigningKey, signed: &str, body: &str, after: u64) -> WebhookCall {
    let (id, user, time) = (
        "764cabcf-b745-4b3e-ae38-1200304cf45b",
        "user-1",
        SENT_AT.to_string(),
    );
    let digest = imagegen_core::signature::sha256_hex(signed.as_bytes());
    let signature = signer.sign(format!("{id}\n{user}\n{time}\n{digest}").as_bytes());
    let signature = hex::encode(signature.to_bytes());
    let mut call = WebhookCall::new(
        headers(&[
            ("x-fal-webhook-request-id", id),
            ("x-fal-webhook-user-id", user),
            ("x-fal-webhook-timestamp", &time),
            ("x-fal-webhook-signature", &signature),
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
fn a_call_signed_with_a_configured_key_names_its_request() {
    let codec = codec_with_keys(&format!("{}, {}", public(9), public(7)));
    let id = codec.webhook(&call(&signer(7), BODY, BODY, 30)).unwrap();
    assert_eq!(id, "764cabcf-b745-4b3e-ae38-1200304cf45b");
    // Within five minutes either way of the call's timestamp.
    codec.webhook(&call(&signer(7), BODY, BODY, 300)).unwrap();
}

#[test]
fn forged_altered_stale_or_incomplete_calls_are_refused() {
    let codec = codec_with_keys(&public(7));
    refused(
        codec.webhook(&call(&signer(8), BODY, BODY, 30)),
        "wrong key",
    );
    let altered = BODY.replace("a.png", "evil.png");
    refused(
        codec.webhook(&call(&signer(7), BODY, &altered, 30)),
        "altered body",
    );
    refused(
        codec.webhook(&call(&signer(7), BODY, BODY, 301)),
        "stale timestamp",
    );
    let mut early = call(&signer(7), BODY, BODY, 0);
    early.received_at = UNIX_EPOCH + Duration::from_secs(SENT_AT - 600);
    refused(codec.webhook(&early), "from the future");
    let mut unsigned = call(&signer(7), BODY, BODY, 30);
    unsigned.headers.remove("x-fal-webhook-signature");
    refused(codec.webhook(&unsigned), "no signature");
    let mut anonymous = call(&signer(7), BODY, BODY, 30);
    anonymous.headers.remove("x-fal-webhook-user-id");
    refused(codec.webhook(&anonymous), "no user id");
}

#[test]
fn a_verified_call_must_still_name_a_plausible_request() {
    let codec = codec_with_keys(&public(7));
    for body in [r#"{"request_id":"../x y"}"#, "{}", "not json"] {
        let err = codec
            .webhook(&call(&signer(7), body, body, 30))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body}");
    }
}

#[test]
fn without_keys_every_call_is_refused() {
    let err = codec::<FalCodec>()
        .webhook(&call(&signer(7), BODY, BODY, 30))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("no public key"), "{err}");
    let now = WebhookCall::new(headers(&[]), BODY.to_owned(), None);
    assert!(now.received_at <= SystemTime::now());
    refused(codec::<FalCodec>().webhook(&now), "unsigned, unconfigured");
}

#[test]
fn keys_that_are_not_keys_are_refused_when_the_provider_is_built() {
    for keys in ["not hex", "abcd", &format!("{},zz", public(7))] {
        let config =
            loopback_config("http://127.0.0.1:9/fal", "k").setting("webhook_public_keys", keys);
        let err = imagegen_core::HttpProvider::<FalCodec>::from_config(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{keys}");
        assert!(
            err.hint().unwrap().contains("FAL_WEBHOOK_PUBLIC_KEYS"),
            "{err:?}"
        );
    }
    // Blank entries are ignored.
    let fal = provider_with_keys(
        "http://127.0.0.1:9/fal",
        "k",
        &format!(" {} ,, ", public(7)),
    );
    let id = fal.webhook_task(&call(&signer(7), BODY, BODY, 30)).unwrap();
    assert_eq!(id, "764cabcf-b745-4b3e-ae38-1200304cf45b");
    assert!(FalCodec::capabilities().webhooks);
}
