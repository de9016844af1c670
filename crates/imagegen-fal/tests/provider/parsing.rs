//! Answers → `TaskStatus`, as the client sees them (the codec's reading,
//! settled by the core): every documented shape of the submit answer, every
//! queue status, and every result answer (images, `data:` URIs, and the
//! model's errors as the task's outcome).

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskLinks, TaskRef, TaskState, TaskStatus};
use imagegen_fal::FalCodec;
use imagegen_test_support::wire::{examples, with_unknown_fields};
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Map, Value, json};

use super::common::{REQUEST_ID, read_result};

const SUBMIT_RESPONSE: &str = include_str!("../../../../schemas/fal/submit-response.json");
const STATUS_RESPONSE: &str = include_str!("../../../../schemas/fal/status-response.json");
const RESULT_RESPONSE: &str = include_str!("../../../../schemas/fal/result-response.json");
const ERROR: &str = include_str!("../../../../schemas/fal/error.json");

const AT: &str =
    "https://queue.fal.run/fal-ai/gpt-image-1.5/requests/764cabcf-b745-4b3e-ae38-1200304cf45b";

fn summary(read: Result<TaskStatus, Error>) -> Value {
    match read {
        Ok(status) => serde_json::to_value(status).unwrap(),
        Err(err) => json!({"error": error_summary(&err)}),
    }
}

fn status(http: u16, body: Value) -> Result<TaskStatus, Error> {
    read_status::<FalCodec>(REQUEST_ID, &answer(http, &[], body.to_string().as_bytes()))
}

fn result(http: u16, headers: &[(&'static str, &str)], body: &str) -> Result<TaskStatus, Error> {
    read_result(
        &TaskRef::new(REQUEST_ID),
        &answer(http, headers, body.as_bytes()),
    )
}

#[test]
fn every_documented_submit_answer_is_a_queued_task() {
    let mut out = Vec::new();
    for example in examples(SUBMIT_RESPONSE) {
        let read = read_create::<FalCodec>(&answer(200, &[], example.to_string().as_bytes()));
        let task = read.unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(task.task_id, REQUEST_ID);
        assert_eq!(task.state, TaskState::Queued);
        out.push(serde_json::to_value(task).unwrap());
    }
    // The queue page's example: the three URLs, kept as they are.
    let links = TaskLinks::new(
        Some(format!("{AT}/status")),
        Some(AT.to_owned()),
        Some(format!("{AT}/cancel")),
    );
    assert_eq!(serde_json::to_value(&links).unwrap(), out[0]["links"]);
    snapshot!("submit_answers", out);
}

#[test]
fn a_submit_answer_that_cannot_be_read_may_have_been_charged() {
    for body in [&b"{\"request_i"[..], b"{}", b"<html>ok</html>", b""] {
        let err = read_create::<FalCodec>(&answer(200, &[], body)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.may_have_reached_server(), "{err:?}");
    }
}

#[test]
fn every_status_maps() {
    let unknown = |raw: &str| TaskState::Unknown { raw: raw.into() };
    for (http, raw, state) in [
        (202, "IN_QUEUE", TaskState::Queued),
        (202, "IN_PROGRESS", TaskState::Running),
        (200, "COMPLETED", TaskState::ResultReady),
        // Listed by a third-party schema only: finished, the result says how.
        (200, "FAILED", TaskState::ResultReady),
        (200, "CANCELED", TaskState::ResultReady),
        (202, "STARTING", unknown("STARTING")),
        (200, "completed", unknown("completed")),
    ] {
        let read = status(http, json!({"status": raw, "request_id": REQUEST_ID})).unwrap();
        assert_eq!(read.state, state, "{raw}");
        assert_eq!(read.raw_status.as_deref(), Some(raw));
        assert_eq!(read.task_id, REQUEST_ID);
        assert!(read.outputs.is_empty());
    }
}

#[test]
fn statuses_snapshot() {
    let mut out = Map::new();
    for (i, example) in examples(STATUS_RESPONSE).into_iter().enumerate() {
        let http = if example["status"] == "COMPLETED" {
            200
        } else {
            202
        };
        out.insert(format!("example {i}"), summary(status(http, example)));
    }
    for (case, http, body) in [
        ("no status", 200, json!({"request_id": REQUEST_ID})),
        ("unknown status", 202, json!({"status": "STARTING"})),
        ("not found", 404, json!({"detail": "Request not found"})),
        (
            "server error",
            500,
            json!({"detail": "Internal Server Error"}),
        ),
    ] {
        out.insert(case.to_owned(), summary(status(http, body)));
    }
    snapshot!("statuses", out);
}

#[test]
fn results_are_images_or_the_model_s_error() {
    let ok = result(200, &[], &examples(RESULT_RESPONSE)[0].to_string()).unwrap();
    assert_eq!(ok.state, TaskState::Succeeded);
    assert_eq!(
        ok.outputs,
        [ImageOutput::Url {
            url: "https://v3.fal.media/files/rabbit/EnWrO3XWjPE0nxBDpaQrj.png".into()
        }]
    );
    // `sync_mode`: a data: URI, decoded in place.
    let inline = result(200, &[], &examples(RESULT_RESPONSE)[1].to_string()).unwrap();
    let [
        ImageOutput::Inline {
            media_type, data, ..
        },
    ] = inline.outputs.as_slice()
    else {
        panic!("inline bytes: {:?}", inline.outputs)
    };
    assert_eq!(media_type, "image/png");
    assert!(data.starts_with(b"\x89PNG"));

    let policy = examples(ERROR)[4].to_string();
    let failed = result(422, &[], &policy).unwrap();
    assert_eq!(
        failed.state,
        TaskState::failed(
            "The content could not be processed because it contained material flagged by a content checker.",
            Some("content_policy_violation".into())
        )
    );
    let broken = r#"{"detail": "Internal Server Error", "error_type": "internal_server_error"}"#;
    let failed = result(500, &[], broken).unwrap();
    assert!(
        matches!(failed.state, TaskState::Failed { code: Some(c), .. } if c == "internal_server_error")
    );
    let disconnected = r#"{"detail": "Runner disconnected", "error_type": "runner_disconnected"}"#;
    let failed = result(
        503,
        &[("x-fal-error-type", "runner_disconnected")],
        disconnected,
    );
    assert!(matches!(failed.unwrap().state, TaskState::Failed { .. }));
    let cancelled = r#"{"detail": "Request was cancelled", "error_type": "request_cancelled"}"#;
    assert_eq!(
        result(400, &[], cancelled).unwrap().state,
        TaskState::Cancelled
    );
}

#[test]
fn a_result_answer_about_the_request_itself_is_an_error() {
    for (http, body, kind, retryable) in [
        (
            500,
            r#"{"detail": "Internal Server Error"}"#,
            ErrorKind::Server,
            true,
        ),
        (502, "<html>Bad Gateway</html>", ErrorKind::Server, true),
        (
            429,
            r#"{"detail": "Too Many Requests", "error_type": "rate_limited"}"#,
            ErrorKind::RateLimited,
            true,
        ),
        (
            404,
            r#"{"detail": "Request not found"}"#,
            ErrorKind::NotFound,
            false,
        ),
        (
            401,
            r#"{"detail": "No user found for Key ID and Secret"}"#,
            ErrorKind::Unauthorized,
            false,
        ),
        (
            400,
            r#"{"detail": "Request is still in progress"}"#,
            ErrorKind::InvalidRequest,
            false,
        ),
    ] {
        let err = result(http, &[], body).unwrap_err();
        assert_eq!(
            (err.kind(), err.is_retryable()),
            (kind, retryable),
            "{http} {body}"
        );
        assert_eq!(err.task_id(), Some(REQUEST_ID));
    }
    // A success without a single image is paid for with nothing to download.
    let err = result(200, &[], r#"{"images": []}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(!err.is_retryable());
}

#[test]
fn results_snapshot() {
    let mut out = Map::new();
    for (i, example) in examples(RESULT_RESPONSE).into_iter().enumerate() {
        out.insert(
            format!("example {i}"),
            summary(result(200, &[], &example.to_string())),
        );
    }
    for (i, example) in examples(ERROR).into_iter().enumerate() {
        for http in [422, 500] {
            let read = result(http, &[], &example.to_string());
            out.insert(format!("error example {i}, HTTP {http}"), summary(read));
        }
    }
    snapshot!("results", out);
}

/// Every documented answer with a field no page documents added to every
/// object reads as it does without: answers are open.
#[test]
fn documented_answers_with_unknown_fields_read_the_same() {
    let same = |schema: &str, read: &dyn Fn(&str) -> Value| {
        for example in examples(schema) {
            let extended = with_unknown_fields(&example).to_string();
            assert_eq!(read(&example.to_string()), read(&extended), "{extended}");
        }
    };
    same(SUBMIT_RESPONSE, &|body| {
        summary(read_create::<FalCodec>(&answer(200, &[], body.as_bytes())))
    });
    same(STATUS_RESPONSE, &|body| {
        summary(read_status::<FalCodec>(
            REQUEST_ID,
            &answer(202, &[], body.as_bytes()),
        ))
    });
    same(RESULT_RESPONSE, &|body| summary(result(200, &[], body)));
    same(ERROR, &|body| summary(result(422, &[], body)));
}
