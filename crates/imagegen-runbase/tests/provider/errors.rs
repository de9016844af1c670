//! Every documented Runbase error, and bodies of unknown shape, → the
//! `Error` the client sees (the codec's reading, settled by the core).

use std::time::Duration;

use imagegen_core::http_provider::settle;
use imagegen_core::{
    Codec, Error, ErrorKind, HttpResponse, ImageProvider, ImageRequest, SubmitOptions,
};
use imagegen_runbase::RunbaseCodec;
use imagegen_test_support::{
    answer, assert_secret_hidden, codec, error_summary, provider, read_create,
    read_create_with_key, read_status, serve_once, snapshot,
};
use serde_json::{Map, Value, json};

fn documented(message: &str, code: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {"message": message, "code": code}})).unwrap()
}

/// The error the client sees for a create answered `status`, `headers`,
/// `body`.
fn create_error(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Error {
    read_create::<RunbaseCodec>(&answer(status, headers, body)).unwrap_err()
}

struct Case {
    status: u16,
    code: &'static str,
    kind: ErrorKind,
    retryable: bool,
}

#[test]
fn every_documented_code_maps_to_its_kind() {
    use ErrorKind::*;
    let cases = [
        Case {
            status: 400,
            code: "invalid_json",
            kind: InvalidRequest,
            retryable: false,
        },
        Case {
            status: 400,
            code: "missing_model",
            kind: InvalidRequest,
            retryable: false,
        },
        Case {
            status: 400,
            code: "missing_input",
            kind: InvalidRequest,
            retryable: false,
        },
        Case {
            status: 400,
            code: "invalid_input",
            kind: InvalidRequest,
            retryable: false,
        },
        Case {
            status: 400,
            code: "model_not_found",
            kind: InvalidRequest,
            retryable: false,
        },
        Case {
            status: 401,
            code: "missing_api_key",
            kind: Unauthorized,
            retryable: false,
        },
        Case {
            status: 401,
            code: "invalid_api_key",
            kind: Unauthorized,
            retryable: false,
        },
        Case {
            status: 402,
            code: "insufficient_balance",
            kind: InsufficientCredits,
            retryable: false,
        },
        Case {
            status: 403,
            code: "api_key_spend_limit_exceeded",
            kind: QuotaExhausted,
            retryable: false,
        },
        Case {
            status: 403,
            code: "ip_not_allowed",
            kind: Forbidden,
            retryable: false,
        },
        Case {
            status: 404,
            code: "run_not_found",
            kind: NotFound,
            retryable: false,
        },
        Case {
            status: 429,
            code: "RATE_LIMITED",
            kind: RateLimited,
            retryable: true,
        },
        Case {
            status: 429,
            code: "USAGE_EXCEEDED",
            kind: QuotaExhausted,
            retryable: false,
        },
    ];
    for case in cases {
        let answer = answer(case.status, &[], &documented("msg", case.code));
        let create = read_create::<RunbaseCodec>(&answer).unwrap_err();
        let status = read_status::<RunbaseCodec>("run_1", &answer).unwrap_err();
        for err in [create, status] {
            assert_eq!(err.kind(), case.kind, "{}", case.code);
            assert_eq!(err.is_retryable(), case.retryable, "{}", case.code);
            assert_eq!(err.code(), Some(case.code));
            assert_eq!(err.http_status(), Some(case.status));
            assert_eq!(err.provider(), Some("runbase"));
            assert_eq!(err.message(), "msg");
            assert!(
                !err.may_have_reached_server(),
                "a documented 4xx is a refusal: {}",
                case.code
            );
        }
    }
}

#[test]
fn hints_say_what_to_do() {
    let hint = |status, code| {
        create_error(status, &[], &documented("m", code))
            .hint()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(hint(401, "invalid_api_key").contains("RUNBASE_API_KEY"));
    assert!(hint(401, "missing_api_key").contains("RUNBASE_API_KEY"));
    assert!(hint(402, "insufficient_balance").contains("top up"));
    assert!(hint(403, "api_key_spend_limit_exceeded").contains("spend limit"));
    assert!(hint(403, "ip_not_allowed").contains("IP"));
    assert!(hint(429, "USAGE_EXCEEDED").contains("quota"));
    assert!(hint(404, "run_not_found").contains("run"));
}

#[test]
fn rate_limited_keeps_retry_after_and_was_never_accepted() {
    let err = create_error(
        429,
        &[("retry-after", "3")],
        &documented("Rate limit exceeded.", "RATE_LIMITED"),
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert!(!err.may_have_reached_server());

    let err = create_error(
        429,
        &[("retry-after", "1"), ("retry-after-ms", "250")],
        &documented("slow down", "rate_limited"),
    );
    assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimited,
        "codes compare ignoring case"
    );

    let err = create_error(429, &[], &documented("gone", "USAGE_EXCEEDED"));
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
}

/// A 5xx answer to a create is always ambiguous, whatever its body says:
/// the same rate-limit body is a refusal only with HTTP 429.
#[test]
fn a_5xx_create_may_have_been_accepted_even_with_a_refusal_body() {
    let body = documented("Rate limit exceeded.", "RATE_LIMITED");
    for status in [500, 502, 503] {
        let err = create_error(status, &[], &body);
        assert_eq!(
            err.kind(),
            ErrorKind::RateLimited,
            "{status}: the code decides the kind"
        );
        assert_eq!(err.http_status(), Some(status));
        assert!(err.may_have_reached_server(), "HTTP {status}: {err:?}");
    }
    let err = create_error(429, &[], &body);
    assert!(!err.may_have_reached_server(), "{err:?}");
    // The same for the other documented refusals.
    for code in ["invalid_api_key", "insufficient_balance", "invalid_input"] {
        let err = create_error(502, &[], &documented("no", code));
        assert!(err.may_have_reached_server(), "{code}: {err:?}");
    }
}

#[test]
fn server_errors_are_retryable_and_may_have_been_accepted() {
    for (status, body) in [
        (
            500,
            &br#"{"error": {"message": "Internal server error"}}"#[..],
        ),
        (502, b"<html><body>Bad gateway</body></html>"),
        (503, b""),
    ] {
        let err = create_error(status, &[("retry-after", "2")], body);
        assert_eq!(err.kind(), ErrorKind::Server, "{status}");
        assert!(err.is_retryable());
        assert!(err.may_have_reached_server());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(err.code(), None);
    }
}

#[test]
fn a_known_code_beats_the_http_status_and_an_unknown_one_does_not() {
    let err = create_error(400, &[], &documented("m", "insufficient_balance"));
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits);
    let err = create_error(403, &[], &documented("m", "some_new_code"));
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.code(), Some("some_new_code"));
    let err = create_error(429, &[], &documented("m", "some_new_code"));
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
}

#[test]
fn error_bodies_snapshot() {
    let cases: Vec<(&str, u16, &[u8])> = vec![
        (
            "documented object",
            402,
            br#"{"error": {"message": "Insufficient balance.", "code": "insufficient_balance"}}"#,
        ),
        ("error as a string", 401, br#"{"error": "bad key"}"#),
        (
            "top-level message",
            400,
            br#"{"message": "prompt is required"}"#,
        ),
        ("detail string", 404, br#"{"detail": "Not found."}"#),
        (
            "detail list (FastAPI style)",
            400,
            br#"{"detail": [{"loc": ["body", "input"], "msg": "field required"}]}"#,
        ),
        (
            "error object without message",
            403,
            br#"{"error": {"code": "ip_not_allowed"}}"#,
        ),
        (
            "500 without code",
            500,
            br#"{"error": {"message": "Internal server error"}}"#,
        ),
        ("plain text", 502, b"upstream connect error"),
        ("empty body", 500, b""),
        ("unknown JSON shape", 400, br#"{"errors": [1, 2]}"#),
    ];
    let mut out = Map::new();
    for (case, status, body) in cases {
        let err = create_error(status, &[], body);
        out.insert(case.to_owned(), error_summary(&err));
    }
    snapshot!("error_bodies", Value::Object(out));
}

const KEY: &str = "rb-live-0123456789abcdef";

/// What a gateway that echoes the request's credentials might answer.
fn echoes() -> Vec<(u16, Vec<u8>)> {
    vec![
        (
            401,
            documented(
                &format!("Incorrect API key provided: Bearer {KEY}"),
                "invalid_api_key",
            ),
        ),
        (
            401,
            documented(&format!("key {KEY} is not valid"), "invalid_api_key"),
        ),
        (
            502,
            format!("upstream refused Authorization: Bearer {KEY}").into_bytes(),
        ),
        (
            200,
            format!(r#"{{"id": "run_1", "status": "failed", "error": "bad key {KEY}"}}"#)
                .into_bytes(),
        ),
    ]
}

#[test]
fn a_key_the_server_echoes_never_shows() {
    for (status, body) in echoes() {
        let answer = answer(status, &[], &body);
        match read_create_with_key::<RunbaseCodec>(KEY, &answer) {
            Err(err) => {
                assert_secret_hidden(&err, KEY);
                assert!(err.message().contains("[redacted]"), "{err}");
            }
            Ok(status) => {
                let shown = format!("{status:?}");
                assert!(!shown.contains(KEY), "{shown}");
                assert!(shown.contains("[redacted]"), "{shown}");
            }
        }
    }
    // `settle` is what the provider runs on every answer; without the key
    // to hide, only the `Bearer` token is caught.
    let answer = HttpResponse::new(401, documented(&format!("bad {KEY}"), "invalid_api_key"));
    let read = codec::<RunbaseCodec>().read_create(&answer);
    let err = settle(&RunbaseCodec::SPEC, &[], &answer, read, None).unwrap_err();
    assert!(err.message().contains(KEY), "the test above is not vacuous");
}

#[tokio::test]
async fn a_key_the_server_echoes_never_shows_over_http() {
    let body = documented(
        &format!("Incorrect API key provided: Bearer {KEY}"),
        "invalid_api_key",
    );
    let (url, server) =
        serve_once(answer(401, &[("content-type", "application/json")], &body)).await;
    let runbase = provider::<RunbaseCodec>(&format!("{url}/api/v1"), KEY);
    let err = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    let seen = server.await.unwrap();
    assert_eq!(seen.request_line(), "POST /api/v1/runs HTTP/1.1");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_secret_hidden(&err, KEY);
}
