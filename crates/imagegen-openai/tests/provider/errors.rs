//! OpenAI's error bodies, `{"error":{"message","type","param","code"}}`,
//! and bodies of other shapes → the `Error` the client sees (the codec's
//! reading, settled by the core).

use std::time::Duration;

use imagegen_core::{Error, ErrorKind, ImageProvider, ImageRequest, SubmitOptions};
use imagegen_openai::OpenAiCodec;
use imagegen_test_support::{
    answer, assert_secret_hidden, provider, read_create, read_create_with_key, serve_once, snapshot,
};
use serde_json::json;

fn body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
        .to_string()
}

/// The error the client sees for a create answered `status`, `headers`,
/// `body`.
fn err(status: u16, headers: &[(&'static str, &str)], body: &str) -> Error {
    read_create::<OpenAiCodec>(&answer(status, headers, body.as_bytes())).unwrap_err()
}

/// Every documented status and code, one row each: what the client sees
/// and decides from.
#[test]
fn every_status_and_code_maps_to_a_kind() {
    let rate_headers = [("retry-after", "1"), ("retry-after-ms", "1500")];
    let cases: Vec<(&str, Error)> = vec![
        (
            "400 unknown parameter",
            err(
                400,
                &[],
                &body(
                    "Unknown parameter: 'response_format'.",
                    "invalid_request_error",
                    Some("response_format"),
                    Some("unknown_parameter"),
                ),
            ),
        ),
        (
            "400 param not in the message",
            err(
                400,
                &[],
                &body(
                    "Invalid value: 'huge'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
                    "invalid_request_error",
                    Some("quality"),
                    Some("invalid_value"),
                ),
            ),
        ),
        (
            "400 moderation blocked",
            err(
                400,
                &[],
                &body(
                    "Your request was rejected as a result of our safety system.",
                    "image_generation_user_error",
                    None,
                    Some("moderation_blocked"),
                ),
            ),
        ),
        (
            "401 wrong key",
            err(
                401,
                &[],
                &body(
                    "Incorrect API key provided: sk-ab***wxyz.",
                    "invalid_request_error",
                    None,
                    Some("invalid_api_key"),
                ),
            ),
        ),
        (
            "401 no key",
            err(
                401,
                &[],
                &body(
                    "You didn't provide an API key.",
                    "invalid_request_error",
                    None,
                    None,
                ),
            ),
        ),
        (
            "403",
            err(
                403,
                &[],
                &body(
                    "Your organization must be verified to use the model `gpt-image-1.5`.",
                    "invalid_request_error",
                    None,
                    None,
                ),
            ),
        ),
        (
            "404",
            err(
                404,
                &[],
                &body(
                    "Invalid URL (POST /v1/images/generate)",
                    "invalid_request_error",
                    None,
                    None,
                ),
            ),
        ),
        (
            "429 insufficient_quota (code)",
            err(
                429,
                &[],
                &body(
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    None,
                    Some("insufficient_quota"),
                ),
            ),
        ),
        (
            "429 insufficient_quota (type only)",
            err(
                429,
                &rate_headers,
                &body(
                    "You exceeded your current quota.",
                    "insufficient_quota",
                    None,
                    None,
                ),
            ),
        ),
        (
            "429 rate limit, retry-after-ms",
            err(
                429,
                &rate_headers,
                &body(
                    "Rate limit reached for gpt-image-1.5 on images per minute.",
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            ),
        ),
        (
            "429 rate limit, retry-after seconds",
            err(
                429,
                &[("retry-after", "7")],
                &body(
                    "Rate limit reached.",
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            ),
        ),
        (
            "429 rate limit, no header",
            err(
                429,
                &[],
                &body(
                    "Rate limit reached.",
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            ),
        ),
        (
            "500",
            err(
                500,
                &[],
                &body(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                    None,
                ),
            ),
        ),
        (
            "503 html",
            err(
                503,
                &[("retry-after", "2")],
                "<html><body>upstream unavailable</body></html>",
            ),
        ),
        ("502 empty", err(502, &[], "")),
        (
            "400 gateway string error",
            err(400, &[], r#"{"error":"model not allowed"}"#),
        ),
        (
            "422 gateway detail",
            err(422, &[], r#"{"detail":"prompt is required"}"#),
        ),
        (
            "400 error object without message",
            err(400, &[], r#"{"error":{"code":"bad"}}"#),
        ),
    ];
    let table: Vec<_> = cases
        .iter()
        .map(|(case, e)| {
            json!({
                "case": case,
                "kind": e.kind().as_str(),
                "http_status": e.http_status(),
                "code": e.code(),
                "retryable": e.is_retryable(),
                "retry_after_ms": e.retry_after().map(|d| d.as_millis() as u64),
                "may_have_reached_server": e.may_have_reached_server(),
                "display": e.to_string(),
            })
        })
        .collect();
    snapshot!("errors", table);
}

#[test]
fn the_400_names_the_refused_parameter() {
    let e = err(
        400,
        &[],
        &body(
            "Unknown parameter: 'response_format'.",
            "invalid_request_error",
            Some("response_format"),
            Some("unknown_parameter"),
        ),
    );
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(!e.is_retryable());
    assert!(!e.may_have_reached_server());
    assert!(e.message().contains("'response_format'"), "{e}");
    let e = err(
        400,
        &[],
        &body(
            "Invalid value: 'huge'.",
            "invalid_request_error",
            Some("quality"),
            None,
        ),
    );
    assert!(e.message().contains("`quality`"), "{e}");
}

#[test]
fn quota_is_final_and_rate_limits_are_retried_after_the_wait() {
    let quota = err(
        429,
        &[("retry-after", "1")],
        &body(
            "quota",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
    );
    assert_eq!(quota.kind(), ErrorKind::QuotaExhausted);
    assert!(!quota.is_retryable());
    assert!(!quota.may_have_reached_server());
    assert!(quota.hint().unwrap().contains("billing"));

    let limited = err(
        429,
        &[("retry-after-ms", "1500"), ("retry-after", "2")],
        &body("slow down", "requests", None, Some("rate_limit_exceeded")),
    );
    assert_eq!(limited.kind(), ErrorKind::RateLimited);
    assert!(limited.is_retryable());
    assert!(!limited.may_have_reached_server());
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(1500)));
}

/// A 5xx answer to a create is always ambiguous, whatever its body says:
/// the same rate-limit body is a refusal only with HTTP 429.
#[test]
fn a_5xx_create_may_have_been_accepted_even_with_a_refusal_body() {
    let limited = body(
        "Rate limit reached.",
        "requests",
        None,
        Some("rate_limit_exceeded"),
    );
    for status in [500, 502, 503] {
        let e = err(status, &[], &limited);
        assert_eq!(e.code(), Some("rate_limit_exceeded"));
        assert_eq!(e.http_status(), Some(status));
        assert!(e.is_retryable());
        assert!(e.may_have_reached_server(), "HTTP {status}: {e:?}");
    }
    let e = err(429, &[], &limited);
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(!e.may_have_reached_server(), "{e:?}");
    // The same for the other documented refusals.
    let quota = body("q", "insufficient_quota", None, Some("insufficient_quota"));
    let key = body("k", "invalid_request_error", None, Some("invalid_api_key"));
    for refusal in [quota, key] {
        let e = err(502, &[], &refusal);
        assert!(e.may_have_reached_server(), "{refusal}: {e:?}");
    }
}

#[test]
fn server_errors_may_have_been_billed_and_keep_their_text() {
    let e = err(503, &[], "<html>upstream down</html>");
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.is_retryable());
    assert!(e.may_have_reached_server());
    assert!(e.to_string().contains("upstream down"), "{e}");
}

#[test]
fn unauthorized_names_the_variable() {
    let e = err(
        401,
        &[],
        &body(
            "Incorrect API key provided",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!e.is_retryable());
    assert!(!e.may_have_reached_server());
    assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
}

const KEY: &str = "sk-proj-live0123456789abcdef";

#[test]
fn a_key_the_server_echoes_never_shows() {
    let echoes = [
        (
            401,
            body(
                &format!("Incorrect API key provided: Bearer {KEY}"),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        ),
        (
            401,
            body(
                &format!("Incorrect API key provided: {KEY}."),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        ),
        (
            400,
            body(
                "Invalid value.",
                "invalid_request_error",
                Some(&format!("key={KEY}")),
                None,
            ),
        ),
        (
            502,
            format!("<html>upstream refused Authorization: Bearer {KEY}</html>"),
        ),
    ];
    for (status, text) in echoes {
        let answer = answer(status, &[], text.as_bytes());
        let e = read_create_with_key::<OpenAiCodec>(KEY, &answer).unwrap_err();
        assert_secret_hidden(&e, KEY);
        assert!(e.message().contains("[redacted]"), "{e}");
    }
    // Without the key to hide, only a `Bearer` token is caught: the check
    // above can fail.
    let e = err(401, &[], &body(&format!("bad {KEY}"), "x", None, None));
    assert!(e.message().contains(KEY), "{e:?}");
}

#[tokio::test]
async fn a_key_the_server_echoes_never_shows_over_http() {
    let text = body(
        &format!("Incorrect API key provided: Bearer {KEY}"),
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    );
    let (url, server) = serve_once(answer(
        401,
        &[("content-type", "application/json")],
        text.as_bytes(),
    ))
    .await;
    let openai = provider::<OpenAiCodec>(&format!("{url}/v1"), KEY);
    let e = openai
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /v1/images/generations HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_secret_hidden(&e, KEY);
}
