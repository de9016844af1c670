//! Error envelopes (with any HTTP status) and bodies that are not the
//! envelope → the `Error` the client sees (the codec's reading, settled by
//! the core).

use std::time::Duration;

use imagegen_core::{Error, ErrorKind, ImageProvider, ImageRequest, SubmitOptions, TaskRef};
use imagegen_gptimage15::Gptimage15Codec;
use imagegen_test_support::{
    answer, assert_secret_hidden, error_summary, provider, read_create, read_create_with_key,
    read_status, serve_once, snapshot,
};
use serde_json::{Map, Value, json};

/// What the client makes of a create answered `status`, `headers`,
/// `body`.
fn parse_created_answer(
    status: u16,
    headers: &[(&'static str, &str)],
    body: &[u8],
) -> Result<imagegen_core::TaskStatus, Error> {
    read_create::<Gptimage15Codec>(&answer(status, headers, body))
}

/// What the client makes of a status request answered `status`,
/// `headers`, `body`.
fn parse_status_answer(
    status: u16,
    headers: &[(&'static str, &str)],
    body: &[u8],
) -> Result<imagegen_core::TaskStatus, Error> {
    read_status::<Gptimage15Codec>("n36abc123def456gptimg", &answer(status, headers, body))
}

fn error_envelope(code: i64, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"code": code, "message": message, "data": null})).unwrap()
}

#[test]
fn every_documented_code_maps_to_its_kind_whatever_the_http_status() {
    use ErrorKind::*;
    let cases = [
        (400, InvalidRequest, false, false),
        (401, Unauthorized, false, false),
        (402, InsufficientCredits, false, false),
        (404, NotFound, false, false),
        (429, RateLimited, true, false),
        (500, Server, true, true),
    ];
    for (code, kind, retryable, reached) in cases {
        // The envelope code decides, with HTTP 200 as well as with the same HTTP status.
        for http in [200, code as u16] {
            let body = error_envelope(code, "msg");
            for err in [
                parse_status_answer(http, &[], &body).unwrap_err(),
                parse_created_answer(http, &[], &body).unwrap_err(),
            ] {
                assert_eq!(err.kind(), kind, "code {code}, HTTP {http}");
                assert_eq!(err.is_retryable(), retryable, "code {code}");
                assert_eq!(err.may_have_reached_server(), reached, "code {code}");
                let expected_code = code.to_string();
                assert_eq!(err.code(), Some(expected_code.as_str()));
                assert_eq!(err.http_status(), Some(http));
                assert_eq!(err.message(), "msg");
                assert_eq!(err.provider(), Some("gptimage15"));
            }
        }
    }
}

/// A 5xx answer to a create is always ambiguous, whatever its body says:
/// the envelope of a rate limit (code 429) is a refusal with HTTP 429 or
/// inside HTTP 200, never with a 5xx.
#[test]
fn a_5xx_create_may_have_been_accepted_even_with_a_refusal_envelope() {
    let body = error_envelope(429, "Too Many Requests");
    for status in [500, 502, 503] {
        let err = parse_created_answer(status, &[], &body).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::RateLimited,
            "{status}: the code decides the kind"
        );
        assert_eq!(err.code(), Some("429"));
        assert_eq!(err.http_status(), Some(status));
        assert!(err.may_have_reached_server(), "HTTP {status}: {err:?}");
    }
    for status in [429, 200] {
        let err = parse_created_answer(status, &[], &body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert!(!err.may_have_reached_server(), "HTTP {status}: {err:?}");
    }
    // The same for the other refusal codes.
    for code in [400, 401, 402] {
        let err = parse_created_answer(502, &[], &error_envelope(code, "no")).unwrap_err();
        assert!(err.may_have_reached_server(), "code {code}: {err:?}");
        let err = parse_created_answer(200, &[], &error_envelope(code, "no")).unwrap_err();
        assert!(!err.may_have_reached_server(), "code {code}: {err:?}");
    }
}

#[test]
fn http_200_with_code_400_is_an_invalid_request() {
    let body = br#"{"code":400,"message":"Bad Request: 'prompt' is required.","data":null}"#;
    let err = parse_created_answer(200, &[], body).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        err.to_string(),
        "gptimage15: Bad Request: 'prompt' is required. (HTTP 200, code 400)"
    );
    // Without `data` at all, too.
    let err = parse_created_answer(200, &[], br#"{"code":400,"message":"no"}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[test]
fn hints_say_what_to_do() {
    let hint = |code| {
        parse_created_answer(200, &[], &error_envelope(code, "m"))
            .unwrap_err()
            .hint()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(hint(401).contains("GPTIMAGE15_API_KEY"));
    assert!(hint(402).contains("top up"));
    assert!(hint(404).contains("task id"));
}

#[test]
fn rate_limited_keeps_retry_after() {
    let err = parse_status_answer(
        429,
        &[("retry-after", "1")],
        &error_envelope(429, "Too Many Requests"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(!err.may_have_reached_server());
}

#[test]
fn an_error_http_status_without_the_envelope_goes_by_the_status() {
    let err = parse_created_answer(
        502,
        &[("retry-after", "5")],
        b"<html><body>502 Bad Gateway</body></html>",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(err.message().contains("502 Bad Gateway"), "{err}");

    let err = parse_status_answer(404, &[], b"Not Found").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("Not Found"), "{err}");
}

#[test]
fn error_answers_snapshot() {
    let cases: Vec<(&str, u16, &[u8])> = vec![
        (
            "doc: HTTP 200, code 400",
            200,
            br#"{"code":400,"message":"Bad Request: 'prompt' is required.","data":null}"#,
        ),
        (
            "HTTP 401, code 401",
            401,
            br#"{"code":401,"message":"Unauthorized: invalid API key.","data":null}"#,
        ),
        (
            "HTTP 402, code 402",
            402,
            br#"{"code":402,"message":"Payment Required: insufficient credits.","data":null}"#,
        ),
        (
            "HTTP 404, code 404",
            404,
            br#"{"code":404,"message":"Not Found: task 'x' does not exist.","data":null}"#,
        ),
        (
            "HTTP 500, code 500",
            500,
            br#"{"code":500,"message":"Internal Server Error","data":null}"#,
        ),
        (
            "HTTP 200, code 500, no message",
            200,
            br#"{"code":500,"data":null}"#,
        ),
        (
            "HTTP 200, unknown code 1001",
            200,
            br#"{"code":1001,"message":"weird","data":null}"#,
        ),
        (
            "HTTP 503, code 200 (HTTP decides)",
            503,
            br#"{"code":200,"message":"busy","data":null}"#,
        ),
        ("HTTP 502, HTML", 502, b"<html>Bad Gateway</html>"),
        ("HTTP 500, empty body", 500, b""),
    ];
    let mut out = Map::new();
    for (case, status, body) in cases {
        let err = parse_status_answer(status, &[], body).unwrap_err();
        out.insert(case.to_owned(), error_summary(&err));
    }
    snapshot!("error_answers", Value::Object(out));
}

/// An envelope whose code is 200 says nothing about what went wrong: with
/// an error HTTP status, the HTTP status decides and the error has no
/// provider code, as the old provider reported it. FAILS with the new codec,
/// which reports `code 200` on a failure (`gptimage15: busy (HTTP 503, code
/// 200)`). The kind and ambiguity are right.
#[test]
fn an_envelope_code_of_200_is_not_the_error_s_code() {
    let body = br#"{"code":200,"message":"busy","data":null}"#;
    for err in [
        parse_created_answer(503, &[], body).unwrap_err(),
        parse_status_answer(503, &[], body).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.may_have_reached_server());
        assert_eq!(err.message(), "busy");
        assert_eq!(err.code(), None, "{err}");
    }
}

/// A create refused with a documented 4xx status whose body is not the
/// envelope (a gateway's or proxy's page in front of the API) was refused
/// before any work, as the old provider decided and as Runbase's and
/// OpenAI's codecs still decide for their documented statuses whatever the
/// body. FAILS with the new codec: such an answer settles as possibly
/// accepted, which stops fallback and marks a batch job ambiguous.
#[test]
fn a_documented_4xx_without_the_envelope_is_a_refusal() {
    for (status, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Unauthorized),
        (402, ErrorKind::InsufficientCredits),
        (404, ErrorKind::NotFound),
    ] {
        for body in [&b"<html>nope</html>"[..], b"", br#"{"error": "nope"}"#] {
            let err = parse_created_answer(status, &[], body).unwrap_err();
            assert_eq!(err.kind(), kind, "HTTP {status}");
            assert!(
                !err.may_have_reached_server(),
                "HTTP {status} with body {:?}: {err:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

const KEY: &str = "g15-live-0123456789abcdef";

#[test]
fn a_key_the_server_echoes_never_shows() {
    let echoes: Vec<(u16, Vec<u8>)> = vec![
        (
            200,
            error_envelope(401, &format!("Incorrect API key provided: Bearer {KEY}")),
        ),
        (401, error_envelope(401, &format!("key {KEY} is not valid"))),
        (
            502,
            format!("upstream refused Authorization: Bearer {KEY}").into_bytes(),
        ),
    ];
    for (status, body) in echoes {
        let answer = answer(status, &[], &body);
        let err = read_create_with_key::<Gptimage15Codec>(KEY, &answer).unwrap_err();
        assert_secret_hidden(&err, KEY);
        assert!(err.message().contains("[redacted]"), "{err}");
    }
    // Without the key to hide, only a `Bearer` token is caught: the check
    // above can fail.
    let answer = answer(
        401,
        &[],
        &error_envelope(401, &format!("key {KEY} is not valid")),
    );
    let err = read_create::<Gptimage15Codec>(&answer).unwrap_err();
    assert!(err.message().contains(KEY), "{err:?}");
}

#[tokio::test]
async fn a_key_the_server_echoes_never_shows_over_http() {
    let body = error_envelope(401, &format!("Incorrect API key provided: Bearer {KEY}"));
    let (url, server) =
        serve_once(answer(401, &[("content-type", "application/json")], &body)).await;
    let g15 = provider::<Gptimage15Codec>(&format!("{url}/api"), KEY);
    let err = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /api/generate HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_secret_hidden(&err, KEY);

    let failed = json!({"code": 200, "data": {"task_id": "t", "status": "FAILED",
                        "error_message": format!("upstream refused key {KEY}")}});
    let (url, server) = serve_once(answer(200, &[], failed.to_string().as_bytes())).await;
    let g15 = provider::<Gptimage15Codec>(&format!("{url}/api"), KEY);
    let status = g15.status(&TaskRef::new("t")).await.unwrap();
    server.await.unwrap();
    let shown = format!("{status:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}
