//! Run objects → `TaskStatus`, as the client sees them (the codec's
//! reading, settled by the core): every documented and decided status, the
//! `error` shapes, the bodies that are not run objects, and the schema's
//! examples with fields no page documents.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use imagegen_runbase::RunbaseCodec;
use imagegen_runbase::generated::{RunbaseErrorBody, RunbaseRun};
use imagegen_test_support::wire::{UNKNOWN_FIELD, examples, with_unknown_fields};
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Map, Value, json};

const RUN: &str = include_str!("../../../../schemas/runbase/run.json");
const ERROR: &str = include_str!("../../../../schemas/runbase/error.json");

/// A 200 answer to a status request for `run_123`, as the client sees it.
fn parse_status(body: &[u8]) -> Result<TaskStatus, Error> {
    read_status::<RunbaseCodec>("run_123", &answer(200, &[], body))
}

/// A 200 answer to a create, as the client sees it.
fn parse_created(body: &[u8]) -> Result<TaskStatus, Error> {
    read_create::<RunbaseCodec>(&answer(200, &[], body))
}

fn run(status: &str) -> Value {
    json!({
        "id": "run_123",
        "model": "openai/gpt-image-1.5",
        "status": status,
        "input": {"prompt": "lamp"},
        "output": null,
        "error": null,
        "created_at": "2025-01-01T00:00:00.000Z",
        "completed_at": null
    })
}

fn parse(v: &Value) -> TaskStatus {
    parse_status(&serde_json::to_vec(v).unwrap()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[test]
fn every_status_maps_as_decided() {
    let cases = [
        ("queued", TaskState::Queued),
        ("starting", TaskState::Running),
        ("processing", TaskState::Running),
        ("running", TaskState::Running),
        ("canceled", TaskState::Cancelled),
        ("cancelled", TaskState::Cancelled),
        (
            "warming_up",
            TaskState::Unknown {
                raw: "warming_up".into(),
            },
        ),
        (
            "Succeeded-ish",
            TaskState::Unknown {
                raw: "Succeeded-ish".into(),
            },
        ),
    ];
    for (raw, state) in cases {
        let status = parse(&run(raw));
        assert_eq!(status.state, state, "{raw}");
        assert_eq!(status.raw_status.as_deref(), Some(raw));
        assert_eq!(status.task_id, "run_123");
        assert!(status.outputs.is_empty());
        assert_eq!(status.credits, None, "Runbase reports no credits");
    }
}

#[test]
fn statuses_snapshot() {
    let urls = json!({"urls": ["https://cdn.runbase.net/a.png", "https://cdn.runbase.net/b.png"]});
    let cases = [
        ("queued", run("queued")),
        ("starting", run("starting")),
        ("processing", run("processing")),
        (
            "succeeded with two urls",
            with(run("succeeded"), "output", urls),
        ),
        (
            "failed with an error string",
            with(run("failed"), "error", json!("Content policy violation")),
        ),
        (
            "failed with an error object",
            with(
                run("failed"),
                "error",
                json!({"message": "model crashed", "code": "model_error", "details": [1]}),
            ),
        ),
        ("failed without error", run("failed")),
        (
            "failed with an object lacking message",
            with(run("failed"), "error", json!({"reason": "nsfw"})),
        ),
        ("cancelled", run("cancelled")),
        ("unknown status", run("warming_up")),
        (
            "minimal run with unknown fields",
            json!({"id": "r", "status": "queued", "progress": 0.5, "logs": ["x"]}),
        ),
    ];
    let mut out = Map::new();
    for (case, body) in cases {
        out.insert(case.to_owned(), serde_json::to_value(parse(&body)).unwrap());
    }
    snapshot!("statuses", out);
}

/// The run's own `created_at` and `completed_at` give the client the
/// task's exact duration, which it learns its poll timing from.
#[test]
fn a_completed_run_reports_how_long_it_took() {
    let done = with(
        with(
            run("succeeded"),
            "output",
            json!({"urls": ["https://cdn/x.png"]}),
        ),
        "completed_at",
        json!("2025-01-01T00:00:09.250Z"),
    );
    assert_eq!(
        parse(&done).reported_duration,
        Some(std::time::Duration::from_millis(9250))
    );
    // Running (no completion yet), unreadable, or out of order: nothing.
    assert_eq!(parse(&run("running")).reported_duration, None);
    for completed in ["yesterday", "2024-12-31T23:59:59Z"] {
        let odd = with(done.clone(), "completed_at", json!(completed));
        assert_eq!(parse(&odd).reported_duration, None, "{completed}");
    }
}

#[test]
fn succeeded_carries_urls_and_failed_carries_the_message() {
    let done = parse(&with(
        run("succeeded"),
        "output",
        json!({"urls": ["https://cdn/x.png"]}),
    ));
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(
        done.outputs,
        [ImageOutput::Url {
            url: "https://cdn/x.png".into()
        }]
    );
    let failed = parse(&with(
        run("failed"),
        "error",
        json!({"message": "boom", "code": "E1"}),
    ));
    assert_eq!(
        failed.state,
        TaskState::Failed {
            message: "boom".into(),
            code: Some("E1".into())
        }
    );
}

#[test]
fn succeeded_without_urls_is_a_decode_error() {
    for output in [
        json!(null),
        json!({}),
        json!({"urls": []}),
        json!({"urls": [" "]}),
    ] {
        let body = serde_json::to_vec(&with(run("succeeded"), "output", output.clone())).unwrap();
        for err in [
            parse_status(&body).unwrap_err(),
            parse_created(&body).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::Decode, "{output}");
            assert!(!err.is_retryable());
            assert!(err.may_have_reached_server(), "paid for");
            assert_eq!(err.task_id(), Some("run_123"));
            assert!(err.message().contains("holds no image"), "{err}");
        }
    }
}

#[test]
fn bodies_that_are_not_runs_are_decode_errors_with_an_excerpt() {
    for body in [
        &b"{\"id\": \"run_1\", \"status\": \"que"[..],
        b"<html>502</html>",
        b"{\"status\": \"queued\"}",
        b"{\"id\": 5, \"status\": \"queued\"}",
        b"",
    ] {
        let text = String::from_utf8_lossy(body).to_string();
        // A poll is a safe GET: retryable.
        let err = parse_status(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{text}");
        assert!(err.is_retryable(), "{text}");
        assert!(err.message().contains(&text), "{err}");
        assert_eq!(err.http_status(), Some(200));
        // A create may have been accepted: possibly charged, so the client
        // never sends it again unless the caller opted in (the core's rule
        // for every create that may have reached the server).
        let err = parse_created(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.may_have_reached_server());
        assert!(err.message().contains(&text), "{err}");
    }
}

#[test]
fn create_answer_is_a_run_object() {
    let created = parse_created(&serde_json::to_vec(&run("queued")).unwrap()).unwrap();
    assert_eq!(created.task_id, "run_123");
    assert_eq!(created.state, TaskState::Queued);
}

/// Every documented answer with a field no page documents added to every
/// object reads as it does without: answers are open.
#[test]
fn documented_answers_with_unknown_fields_read_the_same() {
    let summary = |read: Result<TaskStatus, Error>| match read {
        Ok(status) => serde_json::to_value(status).unwrap(),
        Err(err) => json!({"error": error_summary(&err)}),
    };
    for example in examples(RUN) {
        let extended = with_unknown_fields(&example);
        assert!(extended[UNKNOWN_FIELD].is_object());
        serde_json::from_value::<RunbaseRun>(extended.clone())
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        let (plain, extended) = (example.to_string(), extended.to_string());
        assert_eq!(
            summary(parse_status(plain.as_bytes())),
            summary(parse_status(extended.as_bytes())),
            "{extended}"
        );
        assert_eq!(
            summary(parse_created(plain.as_bytes())),
            summary(parse_created(extended.as_bytes())),
            "{extended}"
        );
    }
    for example in examples(ERROR) {
        let extended = with_unknown_fields(&example);
        serde_json::from_value::<RunbaseErrorBody>(extended.clone())
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        for status in [400, 401, 402, 403, 404, 429, 500] {
            let read = |body: &Value| {
                summary(read_create::<RunbaseCodec>(&answer(
                    status,
                    &[],
                    body.to_string().as_bytes(),
                )))
            };
            assert_eq!(read(&example), read(&extended), "HTTP {status}: {extended}");
        }
    }
}
