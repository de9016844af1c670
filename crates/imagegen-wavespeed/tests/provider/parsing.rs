//! Envelopes → `TaskStatus`, as the client sees them (the codec's reading,
//! settled by the core): every documented status, a failure inside a 200,
//! URL, `data:` and bare base64 outputs, the result link, the schema's
//! examples, and fields and statuses no page documents.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use imagegen_test_support::wire::{examples, with_unknown_fields};
use imagegen_test_support::{answer, read_create, read_status, snapshot};
use imagegen_wavespeed::WavespeedCodec;
use serde_json::{Map, Value, json};

const TASK_RESPONSE: &str = include_str!("../../../../schemas/wavespeed/task-response.json");

const ID: &str = "8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60";
const GET: &str =
    "https://api.wavespeed.ai/api/v3/predictions/8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60/result";
const PNG_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII=";

/// The task object with `status` and `more` fields.
fn task(status: &str, more: Value) -> Value {
    let mut task = json!({
        "id": ID, "model": "openai/gpt-image-1.5/text-to-image", "outputs": [],
        "urls": {"get": GET}, "has_nsfw_contents": [], "status": status,
        "created_at": "2025-12-17T10:00:00.123Z", "error": "", "timings": {"inference": 0}
    });
    if let (Some(task), Some(more)) = (task.as_object_mut(), more.as_object()) {
        task.extend(more.clone());
    }
    task
}

fn envelope(data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"code": 200, "message": "success", "data": data})).unwrap()
}

/// An HTTP 200 result answer, as the client sees it.
fn status_of(body: &[u8]) -> Result<TaskStatus, Error> {
    read_status::<WavespeedCodec>(ID, &answer(200, &[], body))
}

fn parse(data: Value) -> TaskStatus {
    status_of(&envelope(data.clone())).unwrap_or_else(|e| panic!("{data}: {e}"))
}

#[test]
fn every_documented_status_maps_to_its_state() {
    let cases = [
        ("created", TaskState::Queued),
        ("processing", TaskState::Running),
        (
            "failed",
            TaskState::failed("the task failed; the provider gave no reason", None),
        ),
        ("cancelled", TaskState::Cancelled),
        (
            "timeout",
            TaskState::failed("the task failed; the provider gave no reason", None),
        ),
        (
            "pending",
            TaskState::Unknown {
                raw: "pending".into(),
            },
        ),
        ("", TaskState::Unknown { raw: String::new() }),
    ];
    for (raw, state) in cases {
        let status = parse(task(raw, json!({})));
        assert_eq!(status.state, state, "{raw}");
        assert_eq!(status.raw_status.as_deref(), Some(raw));
        assert_eq!(status.task_id, ID);
        assert_eq!(
            status.links.status.as_deref(),
            Some(GET),
            "urls.get is kept"
        );
        assert!(status.outputs.is_empty());
    }
    let done = parse(task(
        "completed",
        json!({"outputs": ["https://cdn.wavespeed.ai/a.png"]}),
    ));
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(
        done.outputs,
        [ImageOutput::Url {
            url: "https://cdn.wavespeed.ai/a.png".into()
        }]
    );
}

#[test]
fn a_failure_inside_a_200_is_a_failed_task_with_its_message() {
    let failed = status_of(&envelope(task(
        "failed",
        json!({"error": "Content policy violation: the request was flagged by the safety system."}),
    )))
    .unwrap();
    assert_eq!(
        failed.state,
        TaskState::failed(
            "Content policy violation: the request was flagged by the safety system.",
            None
        )
    );
    // The same from the create, and with `error` null or blank.
    let created = read_create::<WavespeedCodec>(&answer(
        200,
        &[],
        &envelope(task("failed", json!({"error": "boom"}))),
    ));
    assert_eq!(created.unwrap().state, TaskState::failed("boom", None));
    for error in [json!(null), json!("  ")] {
        let status = parse(task("failed", json!({"error": error})));
        assert_eq!(
            status.state,
            TaskState::failed("the task failed; the provider gave no reason", None)
        );
    }
}

fn inline(output: &ImageOutput) -> (usize, &str) {
    match output {
        ImageOutput::Inline {
            data, media_type, ..
        } => (data.len(), media_type.as_str()),
        other => panic!("inline bytes expected: {other:?}"),
    }
}

#[test]
fn base64_and_data_uri_outputs_are_decoded_beside_urls() {
    let done = parse(task(
        "completed",
        json!({"outputs": [
            PNG_B64,
            format!("data:image/png;base64,{PNG_B64}"),
            "https://cdn.wavespeed.ai/a.png",
            "  ",
        ]}),
    ));
    assert_eq!(done.outputs.len(), 3, "the blank one is skipped");
    assert_eq!(inline(&done.outputs[0]), (68, "image/png"));
    assert_eq!(inline(&done.outputs[1]), (68, "image/png"));
    assert!(matches!(done.outputs[2], ImageOutput::Url { .. }));
    // Text that is neither a URL nor base64 is an unreadable answer.
    let err = status_of(&envelope(task("completed", json!({"outputs": ["%%%"]})))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

#[test]
fn a_sync_mode_answer_is_the_finished_task_and_a_sync_timeout_is_polled() {
    // `enable_sync_mode` through provider_options: the create answers the
    // finished task.
    let done = read_create::<WavespeedCodec>(&answer(
        200,
        &[],
        &envelope(task("completed", json!({"outputs": [PNG_B64]}))),
    ))
    .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.outputs.len(), 1);
    // The Python SDK's sync-mode timeout: code 5004 with the task still
    // running. Its id is kept and it is polled.
    let body = json!({"code": 5004, "message": "Sync mode timed out", "data": task("processing", json!({"error": "Sync mode timed out"}))});
    let running =
        read_create::<WavespeedCodec>(&answer(200, &[], body.to_string().as_bytes())).unwrap();
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.task_id, ID);
}

#[test]
fn the_schema_examples_and_unknown_fields_parse() {
    let mut out = Map::new();
    for (i, example) in examples(TASK_RESPONSE).into_iter().enumerate() {
        let body = example.to_string();
        let seen = match status_of(body.as_bytes()) {
            Ok(status) => serde_json::to_value(&status).unwrap(),
            Err(err) => json!({"error": imagegen_test_support::error_summary(&err)}),
        };
        // Open: a field (or a status) no page documents changes nothing.
        let extended = with_unknown_fields(&example).to_string();
        let again = match status_of(extended.as_bytes()) {
            Ok(status) => serde_json::to_value(&status).unwrap(),
            Err(err) => json!({"error": imagegen_test_support::error_summary(&err)}),
        };
        assert_eq!(seen, again, "example {i}");
        out.insert(format!("example {i}"), seen);
    }
    snapshot!("statuses", Value::Object(out));
}

#[test]
fn statuses_without_links_or_outputs_still_parse() {
    let bare = json!({"code": 200, "data": {"id": "t-1", "status": "processing"}});
    let status = status_of(bare.to_string().as_bytes()).unwrap();
    assert_eq!(status.state, TaskState::Running);
    assert!(status.links.is_empty());
    // Succeeded without an image: the core refuses it (paid, nothing to get).
    let empty = json!({"code": 200, "data": {"id": "t-1", "status": "completed"}});
    let err = status_of(empty.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("holds no image"), "{err}");
}
