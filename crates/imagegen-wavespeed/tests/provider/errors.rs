//! Error answers → the `Error` the client sees (the codec's reading, settled
//! by the core): the envelope's code with any HTTP status, bodies that are
//! not the envelope, and what may have been charged.

use std::time::Duration;

use imagegen_core::{Error, ErrorKind, TaskStatus};
use imagegen_test_support::{
    answer, assert_secret_hidden, error_summary, read_create, read_create_with_key, read_status,
    snapshot,
};
use imagegen_wavespeed::WavespeedCodec;
use serde_json::{Map, Value, json};

fn created(
    status: u16,
    headers: &[(&'static str, &str)],
    body: &[u8],
) -> Result<TaskStatus, Error> {
    read_create::<WavespeedCodec>(&answer(status, headers, body))
}

fn polled(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Result<TaskStatus, Error> {
    read_status::<WavespeedCodec>("8b7f1f2e", &answer(status, headers, body))
}

fn error_envelope(code: i64, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"code": code, "message": message, "data": null})).unwrap()
}

#[test]
fn every_error_code_maps_to_its_kind_whatever_the_http_status() {
    use ErrorKind::*;
    let cases = [
        (400, InvalidRequest, false, false),
        (401, Unauthorized, false, false),
        (402, InsufficientCredits, false, false),
        (403, Forbidden, false, false),
        (404, NotFound, false, false),
        (429, RateLimited, true, false),
        (500, Server, true, true),
        (503, Server, true, true),
    ];
    for (code, kind, retryable, reached) in cases {
        for http in [code as u16, 200] {
            let body = error_envelope(code, "what went wrong");
            for err in [
                created(http, &[], &body).unwrap_err(),
                polled(http, &[], &body).unwrap_err(),
            ] {
                assert_eq!(err.kind(), kind, "code {code}, HTTP {http}");
                assert_eq!(err.is_retryable(), retryable, "code {code}, HTTP {http}");
                assert_eq!(
                    err.may_have_reached_server(),
                    reached,
                    "code {code}, HTTP {http}"
                );
                assert_eq!(err.message(), "what went wrong");
                assert_eq!(err.http_status(), Some(http));
                assert_eq!(err.provider(), Some("wavespeed"));
                // The envelope's code is named when the HTTP status does not say it.
                let expected = (http != code as u16).then(|| code.to_string());
                assert_eq!(err.code(), expected.as_deref(), "code {code}, HTTP {http}");
            }
        }
    }
}

#[test]
fn a_5xx_create_may_have_been_accepted_whatever_its_body_says() {
    for status in [500, 502, 503, 504] {
        for body in [
            error_envelope(429, "Too many requests, please retry later."),
            error_envelope(400, "Invalid request"),
            b"<html><head><title>504 Gateway Time-out</title></head></html>".to_vec(),
            Vec::new(),
        ] {
            let err = created(status, &[], &body).unwrap_err();
            assert!(err.may_have_reached_server(), "HTTP {status}: {err:?}");
            assert_eq!(err.http_status(), Some(status));
        }
    }
    // The sync-mode gateway timeout: no task id, and the task goes on.
    let page = b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n</html>\r\n";
    let err = created(504, &[], page).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("504 Gateway Time-out"), "{err}");
    assert!(err.may_have_reached_server());
}

#[test]
fn a_4xx_without_the_envelope_is_a_refusal_by_its_status() {
    for (status, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Unauthorized),
        (402, ErrorKind::InsufficientCredits),
        (404, ErrorKind::NotFound),
        (429, ErrorKind::RateLimited),
    ] {
        for body in [&b"<html>nope</html>"[..], b"", br#"{"error": "nope"}"#] {
            let err = created(status, &[], body).unwrap_err();
            assert_eq!(err.kind(), kind, "HTTP {status}");
            assert_eq!(err.code(), None);
            assert!(!err.may_have_reached_server(), "HTTP {status}: {err:?}");
        }
    }
}

#[test]
fn a_429_keeps_its_retry_after() {
    let body = error_envelope(
        429,
        "Rate limit exceeded: your account level allows 2 images per 60 s.",
    );
    let err = created(429, &[("retry-after", "12")], &body).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
    assert!(
        !err.may_have_reached_server(),
        "refused: safe to send again"
    );
}

#[test]
fn a_200_without_a_task_or_a_readable_body() {
    // Code 200 and no task: nothing to read, and a create may have been accepted.
    let err = created(200, &[], br#"{"code":200,"message":"success","data":null}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    // Cut JSON.
    let err = polled(200, &[], br#"{"code":200,"data":{"id":"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.is_retryable(), "a poll is read again");
    // An unknown code without a task, inside a 200: ambiguous, never a refusal.
    let err = created(200, &[], &error_envelope(5004, "Sync mode timed out")).unwrap_err();
    assert_eq!(err.code(), Some("5004"));
    assert!(err.may_have_reached_server(), "{err:?}");
}

#[test]
fn error_answers_snapshot() {
    let cases: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "HTTP 400 envelope",
            400,
            error_envelope(400, "Invalid request: 'prompt' is required."),
        ),
        (
            "HTTP 401 envelope",
            401,
            error_envelope(401, "Unauthorized: invalid API key"),
        ),
        (
            "HTTP 402 envelope",
            402,
            error_envelope(
                402,
                "Insufficient balance: please top up your account to continue.",
            ),
        ),
        (
            "HTTP 404 envelope",
            404,
            error_envelope(404, "Task '8b7f1f2e' not found."),
        ),
        (
            "HTTP 429 envelope",
            429,
            error_envelope(429, "Too many requests, please retry later."),
        ),
        (
            "HTTP 500 envelope",
            500,
            error_envelope(500, "Internal server error, please retry later."),
        ),
        (
            "HTTP 200, code 401",
            200,
            error_envelope(401, "Unauthorized: invalid API key"),
        ),
        (
            "HTTP 200, code 200 without data",
            200,
            br#"{"code":200,"message":"success","data":null}"#.to_vec(),
        ),
        ("HTTP 502, HTML", 502, b"<html>Bad Gateway</html>".to_vec()),
        ("HTTP 504, empty", 504, Vec::new()),
    ];
    let mut out = Map::new();
    for (case, status, body) in cases {
        let err = polled(status, &[], &body).unwrap_err();
        out.insert(case.to_owned(), error_summary(&err));
    }
    snapshot!("error_answers", Value::Object(out));
}

#[test]
fn a_key_the_server_echoes_never_shows() {
    const KEY: &str = "ws-live-0123456789abcdef";
    let body = error_envelope(401, &format!("Unauthorized: invalid API key Bearer {KEY}"));
    for status in [401, 200] {
        let err =
            read_create_with_key::<WavespeedCodec>(KEY, &answer(status, &[], &body)).unwrap_err();
        assert_secret_hidden(&err, KEY);
    }
}
