//! Every documented Runbase error, and bodies of unknown shape, → `Error`.

use std::time::Duration;

use imagegen_core::ErrorKind;
use imagegen_runbase::wire::parse_error;
use imagegen_test_support::{error_summary, headers, snapshot};
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

fn documented(message: &str, code: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {"message": message, "code": code}})).unwrap()
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
        let err = parse_error(
            case.status,
            &HeaderMap::new(),
            &documented("msg", case.code),
        );
        assert_eq!(err.kind(), case.kind, "{}", case.code);
        assert_eq!(err.is_retryable(), case.retryable, "{}", case.code);
        assert_eq!(err.code(), Some(case.code));
        assert_eq!(err.http_status(), Some(case.status));
        assert_eq!(err.provider(), Some("runbase"));
        assert_eq!(err.message(), "msg");
        assert!(
            !err.may_have_reached_server(),
            "a 4xx is a refusal: {}",
            case.code
        );
    }
}

#[test]
fn hints_say_what_to_do() {
    let hint = |status, code| {
        parse_error(status, &HeaderMap::new(), &documented("m", code))
            .hint()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(hint(401, "invalid_api_key").contains("RUNBASE_API_KEY"));
    assert!(hint(401, "missing_api_key").contains("RUNBASE_API_KEY"));
    assert!(hint(402, "insufficient_balance").contains("top up"));
    assert!(hint(403, "api_key_spend_limit_exceeded").contains("spend limit"));
    assert!(hint(403, "ip_not_allowed").contains("IP"));
}

#[test]
fn rate_limited_keeps_retry_after_and_was_never_accepted() {
    let err = parse_error(
        429,
        &headers(&[("retry-after", "3")]),
        &documented("Rate limit exceeded.", "RATE_LIMITED"),
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert!(!err.may_have_reached_server());

    let err = parse_error(
        429,
        &headers(&[("retry-after", "1"), ("retry-after-ms", "250")]),
        &documented("slow down", "rate_limited"),
    );
    assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimited,
        "codes compare ignoring case"
    );

    let err = parse_error(
        429,
        &HeaderMap::new(),
        &documented("gone", "USAGE_EXCEEDED"),
    );
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    assert!(!err.is_retryable());
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
        let err = parse_error(status, &headers(&[("retry-after", "2")]), body);
        assert_eq!(err.kind(), ErrorKind::Server, "{status}");
        assert!(err.is_retryable());
        assert!(err.may_have_reached_server());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(err.code(), None);
    }
}

#[test]
fn a_known_code_beats_the_http_status_and_an_unknown_one_does_not() {
    let err = parse_error(
        400,
        &HeaderMap::new(),
        &documented("m", "insufficient_balance"),
    );
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits);
    let err = parse_error(403, &HeaderMap::new(), &documented("m", "some_new_code"));
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.code(), Some("some_new_code"));
    let err = parse_error(429, &HeaderMap::new(), &documented("m", "some_new_code"));
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
        let err = parse_error(status, &HeaderMap::new(), body);
        out.insert(case.to_owned(), error_summary(&err));
    }
    snapshot!("error_bodies", Value::Object(out));
}
