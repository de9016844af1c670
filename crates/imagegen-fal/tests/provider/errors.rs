//! Error answers (both documented shapes, any status) → the `Error` the
//! client sees: kind, code, retryability, and whether a submit may have
//! been accepted (the codec's reading, settled by the core).

use imagegen_core::{Error, ErrorKind, TaskStatus};
use imagegen_fal::FalCodec;
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Map, Value, json};

fn submit(http: u16, headers: &[(&'static str, &str)], body: &str) -> Result<TaskStatus, Error> {
    read_create::<FalCodec>(&answer(http, headers, body.as_bytes()))
}

fn items(kind: &str, msg: &str) -> String {
    json!({"detail": [{"loc": ["body", "prompt"], "msg": msg, "type": kind}]}).to_string()
}

fn infra(message: &str, kind: &str) -> String {
    json!({"detail": message, "error_type": kind}).to_string()
}

/// The documented error of each kind, as the client sees it after a submit.
#[test]
fn every_documented_error_maps_to_its_kind() {
    use ErrorKind::*;
    let locked = r#"{"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."}"#;
    let cases: Vec<(u16, String, ErrorKind, Option<&str>, bool)> = vec![
        // (HTTP, body, kind, code, may have been accepted)
        (
            400,
            r#"{"detail": "Bad request"}"#.into(),
            InvalidRequest,
            None,
            false,
        ),
        (
            401,
            r#"{"detail": "No user found for Key ID and Secret"}"#.into(),
            Unauthorized,
            None,
            false,
        ),
        (403, locked.into(), InsufficientCredits, None, false),
        (
            403,
            r#"{"detail": "Forbidden"}"#.into(),
            Forbidden,
            None,
            false,
        ),
        (
            404,
            r#"{"detail": "Not Found"}"#.into(),
            NotFound,
            None,
            false,
        ),
        (
            422,
            items("image_too_large", "Image dimensions are too large."),
            InvalidRequest,
            Some("image_too_large"),
            false,
        ),
        (
            422,
            items("extra_forbidden", "Extra inputs are not permitted"),
            InvalidRequest,
            Some("extra_forbidden"),
            false,
        ),
        (
            422,
            items("content_policy_violation", "flagged"),
            GenerationFailed,
            Some("content_policy_violation"),
            false,
        ),
        (
            429,
            infra("Too Many Requests", "rate_limited"),
            RateLimited,
            Some("rate_limited"),
            false,
        ),
        (
            500,
            r#"{"detail": "Internal Server Error"}"#.into(),
            Server,
            None,
            true,
        ),
        (
            503,
            infra("Runner scheduling failed", "runner_scheduling_failure"),
            Server,
            Some("runner_scheduling_failure"),
            true,
        ),
        (
            503,
            infra("Runner disconnected", "runner_disconnected"),
            Server,
            Some("runner_disconnected"),
            true,
        ),
        (
            504,
            infra("Request timed out", "request_timeout"),
            Timeout,
            Some("request_timeout"),
            true,
        ),
        (
            504,
            infra("Startup timed out", "startup_timeout"),
            Timeout,
            Some("startup_timeout"),
            true,
        ),
    ];
    for (http, body, kind, code, reached) in cases {
        let err = submit(http, &[], &body).unwrap_err();
        assert_eq!(err.kind(), kind, "{http} {body}");
        assert_eq!(err.code(), code, "{http} {body}");
        assert_eq!(err.may_have_reached_server(), reached, "{http} {body}");
        assert_eq!(
            err.is_retryable(),
            kind.retryable_by_default(),
            "{http} {body}"
        );
        assert_eq!(err.provider(), Some("fal"));
        assert_eq!(err.http_status(), Some(http));
    }
}

#[test]
fn messages_come_from_either_shape() {
    let err = submit(422, &[], &items("missing", "Field required")).unwrap_err();
    assert_eq!(err.message(), "Field required");
    let two = json!({"detail": [{"msg": "a", "type": "t1"}, {"msg": "b", "type": "t2"}]});
    let err = submit(422, &[], &two.to_string()).unwrap_err();
    assert_eq!((err.message(), err.code()), ("a; b", Some("t1")));
    // Read from the body: the `X-Fal-Error-Type` header repeats it.
    let err = read_status::<FalCodec>(
        "r1",
        &answer(
            504,
            &[("x-fal-error-type", "request_timeout")],
            infra("Request timed out", "request_timeout").as_bytes(),
        ),
    )
    .unwrap_err();
    assert_eq!(err.code(), Some("request_timeout"));
    assert_eq!(err.task_id(), Some("r1"));
    // A body that is not JSON keeps its text.
    let err = submit(502, &[], "<html>502 Bad Gateway</html>").unwrap_err();
    assert!(err.message().contains("502 Bad Gateway"), "{err}");
}

#[test]
fn hints_say_what_to_do() {
    let err = submit(
        401,
        &[],
        r#"{"detail": "No user found for Key ID and Secret"}"#,
    )
    .unwrap_err();
    assert!(err.hint().unwrap().contains("FAL_KEY"), "{err:?}");
    let locked = r#"{"detail": "User is locked. Reason: Exhausted balance."}"#;
    assert!(
        submit(403, &[], locked)
            .unwrap_err()
            .hint()
            .unwrap()
            .contains("top up")
    );
    let err = submit(
        429,
        &[("retry-after", "2")],
        &infra("Too Many Requests", "rate_limited"),
    );
    assert_eq!(
        err.unwrap_err().retry_after(),
        Some(std::time::Duration::from_secs(2))
    );
}

/// "5xx are not billed", fal says; a 5xx answer to a submit is still
/// possibly accepted, whatever its body, so it is never sent again unless
/// the caller opted in.
#[test]
fn a_5xx_submit_may_have_been_accepted_whatever_its_body() {
    for http in [500, 502, 503, 504] {
        let err = submit(http, &[], &items("content_policy_violation", "flagged")).unwrap_err();
        assert!(err.may_have_reached_server(), "{http}");
    }
}

#[test]
fn error_answers_snapshot() {
    let cases: Vec<(&str, u16, String)> = vec![
        ("doc: model error items", 422, items("image_too_large", "Image dimensions are too large.")),
        ("doc: infrastructure error", 504, infra("Request timed out", "request_timeout")),
        ("content policy", 422, items("content_policy_violation", "flagged")),
        ("bad key", 401, r#"{"detail": "No user found for Key ID and Secret"}"#.into()),
        ("no key", 401, r#"{"detail": "Authentication is required to access this application."}"#.into()),
        ("exhausted balance", 403, r#"{"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."}"#.into()),
        ("rate limited", 429, infra("Too Many Requests", "rate_limited")),
        ("message instead of detail", 400, r#"{"message": "Bad request"}"#.into()),
        ("empty body", 500, String::new()),
    ];
    let mut out = Map::new();
    for (case, http, body) in cases {
        out.insert(
            case.to_owned(),
            error_summary(&submit(http, &[], &body).unwrap_err()),
        );
    }
    snapshot!("error_answers", Value::Object(out));
}
