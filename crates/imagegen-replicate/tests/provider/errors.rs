//! Error answers (problem details, or the docs' bare `{"detail"}`) → the
//! `Error` the client sees: kind, code, retryability, and whether a create
//! may have been accepted (the codec's reading, settled by the core).

use std::time::Duration;

use imagegen_core::{Error, ErrorKind, TaskStatus};
use imagegen_replicate::ReplicateCodec;
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Map, Value, json};

fn create(http: u16, headers: &[(&'static str, &str)], body: &str) -> Result<TaskStatus, Error> {
    read_create::<ReplicateCodec>(&answer(http, headers, body.as_bytes()))
}

fn problem(status: u16, title: &str, detail: &str) -> String {
    json!({"title": title, "detail": detail, "status": status}).to_string()
}

#[test]
fn every_documented_error_maps_to_its_kind() {
    use ErrorKind::*;
    let throttled = r#"{"detail":"Request was throttled. Your rate limit resets in ~30s."}"#;
    let cases: Vec<(u16, String, ErrorKind, Option<&str>, bool)> = vec![
        // (HTTP, body, kind, code, may have been accepted)
        (
            400,
            problem(400, "Invalid Prefer header", "Prefer: wait=N takes ..."),
            InvalidRequest,
            Some("Invalid Prefer header"),
            false,
        ),
        (
            401,
            problem(
                401,
                "Unauthenticated",
                "You did not pass a valid authentication token",
            ),
            Unauthorized,
            Some("Unauthenticated"),
            false,
        ),
        (
            402,
            problem(
                402,
                "Insufficient credit",
                "You have insufficient credit to run this model.",
            ),
            InsufficientCredits,
            Some("Insufficient credit"),
            false,
        ),
        (
            404,
            problem(404, "Not found", "Prediction not found."),
            NotFound,
            Some("Not found"),
            false,
        ),
        (
            422,
            problem(422, "Input validation failed", "- input.quality: ..."),
            InvalidRequest,
            Some("Input validation failed"),
            false,
        ),
        (429, throttled.into(), RateLimited, None, false),
        (
            500,
            problem(
                500,
                "Internal Server Error",
                "An unexpected error occurred.",
            ),
            Server,
            Some("Internal Server Error"),
            true,
        ),
        (
            503,
            "<html>Service Unavailable</html>".into(),
            Server,
            None,
            true,
        ),
    ];
    for (http, body, kind, code, reached) in cases {
        let err = create(http, &[], &body).unwrap_err();
        assert_eq!(err.kind(), kind, "{http} {body}");
        assert_eq!(err.code(), code, "{http} {body}");
        assert_eq!(err.may_have_reached_server(), reached, "{http} {body}");
        assert_eq!(err.is_retryable(), kind.retryable_by_default(), "{http}");
        assert_eq!(err.provider(), Some("replicate"));
    }
    // The RFC 7807 `type`, when given, is the code.
    let typed = json!({"type": "https://replicate.com/errors/x", "title": "X", "status": 409});
    let err = create(409, &[], &typed.to_string()).unwrap_err();
    assert_eq!(err.code(), Some("https://replicate.com/errors/x"));
    assert!(!err.may_have_reached_server());
}

#[test]
fn messages_hints_and_retry_after() {
    let body = r#"{"detail":"Request was throttled. Your rate limit resets in ~30s."}"#;
    let err = read_status::<ReplicateCodec>(
        "p1",
        &answer(429, &[("retry-after", "30")], body.as_bytes()),
    );
    let err = err.unwrap_err();
    assert_eq!(
        err.message(),
        "Request was throttled. Your rate limit resets in ~30s."
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(err.task_id(), Some("p1"));
    let err = create(401, &[], &problem(401, "Unauthenticated", "no token")).unwrap_err();
    assert!(
        err.hint().unwrap().contains("REPLICATE_API_TOKEN"),
        "{err:?}"
    );
    let err = create(402, &[], &problem(402, "Insufficient credit", "no")).unwrap_err();
    assert!(err.hint().unwrap().contains("top up"), "{err:?}");
}

#[test]
fn error_answers_snapshot() {
    let cases: Vec<(&str, u16, String)> = vec![
        ("doc: throttled", 429, r#"{"detail":"Request was throttled. Your rate limit resets in ~30s."}"#.into()),
        ("bad token", 401, problem(401, "Unauthenticated", "You did not pass a valid authentication token")),
        ("no credit", 402, problem(402, "Insufficient credit", "You have insufficient credit to run this model.")),
        ("validation", 422, json!({"title": "Input validation failed", "detail": "- input.aspect_ratio: aspect_ratio must be one of the following: \"1:1\", \"3:2\", \"2:3\"\n", "status": 422, "invalid_fields": [{"type": "enum", "field": "input.aspect_ratio", "description": "..."}]}).to_string()),
        ("server", 500, problem(500, "Internal Server Error", "An unexpected error occurred. Please try again.")),
        ("gateway", 502, "<html>Bad Gateway</html>".into()),
    ];
    let mut out = Map::new();
    for (case, http, body) in cases {
        out.insert(
            case.to_owned(),
            error_summary(&create(http, &[], &body).unwrap_err()),
        );
    }
    snapshot!("error_answers", Value::Object(out));
}
