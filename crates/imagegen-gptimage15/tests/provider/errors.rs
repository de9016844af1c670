//! Error envelopes (with any HTTP status) and bodies that are not the
//! envelope → `Error`.

use std::time::Duration;

use imagegen_core::ErrorKind;
use imagegen_gptimage15::wire::{parse_created_answer, parse_error, parse_status_answer};
use imagegen_test_support::{error_summary, headers, snapshot};
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

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
                parse_status_answer(http, &HeaderMap::new(), &body).unwrap_err(),
                parse_created_answer(http, &HeaderMap::new(), &body).unwrap_err(),
                parse_error(http, &HeaderMap::new(), &body),
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

#[test]
fn http_200_with_code_400_is_an_invalid_request() {
    let body = br#"{"code":400,"message":"Bad Request: 'prompt' is required.","data":null}"#;
    let err = parse_created_answer(200, &HeaderMap::new(), body).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        err.to_string(),
        "gptimage15: Bad Request: 'prompt' is required. (HTTP 200, code 400)"
    );
    // Without `data` at all, too.
    let err = parse_created_answer(200, &HeaderMap::new(), br#"{"code":400,"message":"no"}"#)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[test]
fn hints_say_what_to_do() {
    let hint = |code| {
        parse_error(200, &HeaderMap::new(), &error_envelope(code, "m"))
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
        &headers(&[("retry-after", "1")]),
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
        &headers(&[("retry-after", "5")]),
        b"<html><body>502 Bad Gateway</body></html>",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(err.message().contains("502 Bad Gateway"), "{err}");

    let err = parse_status_answer(404, &HeaderMap::new(), b"Not Found").unwrap_err();
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
        let err = parse_status_answer(status, &HeaderMap::new(), body).unwrap_err();
        out.insert(case.to_owned(), error_summary(&err));
    }
    snapshot!("error_answers", Value::Object(out));
}
