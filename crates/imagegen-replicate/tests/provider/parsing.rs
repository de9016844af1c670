//! Predictions → `TaskStatus`, as the client sees them (the codec's reading,
//! settled by the core): every status, the outputs of a succeeded one, a
//! failure's message, the links it hands out, and answers with fields no
//! page documents.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use imagegen_replicate::ReplicateCodec;
use imagegen_test_support::wire::{examples, with_unknown_fields};
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Value, json};

use super::common::PREDICTION_ID;

const PREDICTION: &str = include_str!("../../../../schemas/replicate/prediction.json");
const GET: &str = "https://api.replicate.com/v1/predictions/z3jpsevkdhrm80cv56maz0tehw";

fn summary(read: Result<TaskStatus, Error>) -> Value {
    match read {
        Ok(status) => serde_json::to_value(status).unwrap(),
        Err(err) => json!({"error": error_summary(&err)}),
    }
}

fn prediction(status: &str, extra: Value) -> Value {
    let mut p = json!({
        "id": PREDICTION_ID, "status": status, "output": null, "error": null,
        "urls": {"get": GET, "cancel": format!("{GET}/cancel")}
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

fn polled(body: &Value) -> Result<TaskStatus, Error> {
    read_status::<ReplicateCodec>(
        PREDICTION_ID,
        &answer(200, &[], body.to_string().as_bytes()),
    )
}

#[test]
fn every_status_maps() {
    let output = json!({"output": ["https://replicate.delivery/xezq/a/output_0.png"]});
    let unknown = |raw: &str| TaskState::Unknown { raw: raw.into() };
    for (status, extra, state) in [
        ("starting", json!({}), TaskState::Queued),
        // Files may be listed before the end: not read until `succeeded`.
        ("processing", output.clone(), TaskState::Running),
        ("succeeded", output.clone(), TaskState::Succeeded),
        (
            "failed",
            json!({"error": "The input or output was flagged as sensitive. (E005)"}),
            TaskState::failed("The input or output was flagged as sensitive. (E005)", None),
        ),
        (
            "failed",
            json!({}),
            TaskState::failed("the task failed; the provider gave no reason", None),
        ),
        (
            "failed",
            json!({"error": {"detail": "boom"}}),
            TaskState::failed("boom", None),
        ),
        ("canceled", json!({}), TaskState::Cancelled),
        ("aborted", json!({}), TaskState::Cancelled),
        ("queued", json!({}), unknown("queued")),
    ] {
        let read = polled(&prediction(status, extra)).unwrap();
        assert_eq!(read.state, state, "{status}");
        assert_eq!(read.raw_status.as_deref(), Some(status));
        assert_eq!(read.task_id, PREDICTION_ID);
        assert_eq!(
            read.outputs.len(),
            usize::from(read.state == TaskState::Succeeded)
        );
        assert_eq!(read.links.status.as_deref(), Some(GET));
        assert_eq!(read.links.cancel, Some(format!("{GET}/cancel")));
    }
}

/// A create answers a prediction too: finished within the hold, or still
/// running, to be polled at its `urls.get`, else at its `Location`.
/// `created_at` and `completed_at` give the client the prediction's exact
/// duration, which it learns its poll timing from.
#[test]
fn a_completed_prediction_reports_how_long_it_took() {
    let times = json!({
        "output": ["https://replicate.delivery/xezq/a/output_0.png"],
        "created_at": "2026-01-01T00:00:00.000Z",
        "started_at": "2026-01-01T00:00:01.000Z",
        "completed_at": "2026-01-01T00:00:09.500Z"
    });
    let done = polled(&prediction("succeeded", times)).unwrap();
    assert_eq!(
        done.reported_duration,
        Some(std::time::Duration::from_millis(9500))
    );
    let running = json!({"created_at": "2026-01-01T00:00:00.000Z"});
    let running = polled(&prediction("processing", running)).unwrap();
    assert_eq!(running.reported_duration, None);
}

#[test]
fn a_create_answers_a_prediction() {
    let done = prediction(
        "succeeded",
        json!({"output": ["https://replicate.delivery/a.png"]}),
    );
    let read = read_create::<ReplicateCodec>(&answer(201, &[], done.to_string().as_bytes()));
    let read = read.unwrap();
    assert_eq!(read.state, TaskState::Succeeded);
    assert_eq!(
        read.outputs,
        [ImageOutput::Url {
            url: "https://replicate.delivery/a.png".into()
        }]
    );
    let bare = json!({"id": PREDICTION_ID, "status": "starting"});
    let located = answer(201, &[("location", GET)], bare.to_string().as_bytes());
    let read = read_create::<ReplicateCodec>(&located).unwrap();
    assert_eq!(
        (read.state, read.links.status.as_deref()),
        (TaskState::Queued, Some(GET))
    );
    // A data: URI output is decoded in place.
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let inline = prediction("succeeded", json!({"output": [png]}));
    let read = read_create::<ReplicateCodec>(&answer(201, &[], inline.to_string().as_bytes()));
    assert!(matches!(
        &read.unwrap().outputs[..],
        [ImageOutput::Inline { .. }]
    ));
}

#[test]
fn a_success_without_output_is_paid_for_with_nothing_to_download() {
    for extra in [
        json!({}),
        json!({"output": []}),
        json!({"data_removed": true}),
    ] {
        let err = polled(&prediction("succeeded", extra.clone())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{extra}");
        assert!(!err.is_retryable());
        assert_eq!(err.task_id(), Some(PREDICTION_ID));
    }
}

#[test]
fn answers_that_are_not_predictions_are_decode_errors() {
    for body in [
        &b"{\"id\": \"p\""[..],
        b"{\"id\": \"p\"}",
        b"<html>ok</html>",
        b"",
    ] {
        let err = read_create::<ReplicateCodec>(&answer(201, &[], body)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.may_have_reached_server(), "a create: possibly charged");
        let err = read_status::<ReplicateCodec>(PREDICTION_ID, &answer(200, &[], body));
        assert!(err.unwrap_err().is_retryable(), "a poll may be sent again");
    }
}

#[test]
fn predictions_snapshot() {
    let out: Vec<Value> = examples(PREDICTION)
        .iter()
        .map(|p| summary(polled(p)))
        .collect();
    snapshot!("predictions", out);
}

/// Every documented prediction with a field no page documents added to
/// every object reads as it does without: answers are open.
#[test]
fn documented_answers_with_unknown_fields_read_the_same() {
    for example in examples(PREDICTION) {
        let extended = with_unknown_fields(&example);
        assert_eq!(
            summary(polled(&example)),
            summary(polled(&extended)),
            "{extended}"
        );
    }
}
