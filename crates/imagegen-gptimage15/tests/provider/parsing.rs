//! Envelopes → `TaskStatus`, as the client sees them (the codec's reading,
//! settled by the core): every documented status and every variant the
//! provider's pages show (numeric, numbers as strings, string-encoded
//! `response`, `consumed_credit`), unknown statuses, missing URLs, and the
//! schema's examples with fields no page documents.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use imagegen_gptimage15::Gptimage15Codec;
use imagegen_gptimage15::generated::{
    Gptimage15ErrorBody, Gptimage15GenerateEnvelope, Gptimage15StatusEnvelope,
};
use imagegen_test_support::wire::{UNKNOWN_FIELD, examples, with_unknown_fields};
use imagegen_test_support::{answer, error_summary, read_create, read_status, snapshot};
use serde_json::{Map, Value, json};

const GENERATE_RESPONSE: &str =
    include_str!("../../../../schemas/gptimage15/generate-response.json");
const STATUS_RESPONSE: &str = include_str!("../../../../schemas/gptimage15/status-response.json");
const ERROR: &str = include_str!("../../../../schemas/gptimage15/error.json");

/// An HTTP 200 answer to a status request, as the client sees it.
fn parse_status(body: &[u8]) -> Result<TaskStatus, Error> {
    read_status::<Gptimage15Codec>("n36abc123def456gptimg", &answer(200, &[], body))
}

/// An HTTP 200 answer to a create, as the client sees it.
fn parse_created(body: &[u8]) -> Result<TaskStatus, Error> {
    read_create::<Gptimage15Codec>(&answer(200, &[], body))
}

const URL: &str = "https://cdn.example.com/image.png";

fn envelope(data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"code": 200, "data": data})).unwrap()
}

fn task(status: Value) -> Value {
    json!({
        "task_id": "n36abc123def456gptimg",
        "status": status,
        "consumed_credits": 10,
        "created_at": "2024-12-19T10:00:00Z"
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn parse(data: Value) -> TaskStatus {
    parse_status(&envelope(data.clone())).unwrap_or_else(|e| panic!("{data}: {e}"))
}

fn url() -> Vec<ImageOutput> {
    vec![ImageOutput::Url { url: URL.into() }]
}

#[test]
fn the_documented_examples_parse() {
    // The API page's three status examples, verbatim but for `request: {...}`.
    let running = parse_status(
        br#"{"code":200,"data":{"task_id":"n36abc123def456gptimg","status":"IN_PROGRESS","consumed_credits":10,"created_at":"2024-12-19T10:00:00Z"}}"#,
    )
    .unwrap();
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.credits, Some(10.0));
    assert_eq!(running.raw_status.as_deref(), Some("IN_PROGRESS"));

    let done = parse_status(
        br#"{"code":200,"data":{"task_id":"n36abc123def456gptimg","status":"SUCCESS","response":["https://cdn.example.com/image.png"]}}"#,
    )
    .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.outputs, url());
    assert_eq!(done.credits, None);

    let failed = parse_status(
        br#"{"code":200,"message":"success","data":{"task_id":"n36abc123def456gptimg","status":"FAILED","consumed_credits":0,"error_message":"Content policy violation detected","created_at":"2024-12-19T10:00:00Z","request":{"prompt":"x"},"response":null}}"#,
    )
    .unwrap();
    assert_eq!(
        failed.state,
        TaskState::Failed {
            message: "Content policy violation detected".into(),
            code: None
        }
    );
    assert_eq!(failed.credits, Some(0.0), "refunded, and reported");
}

#[test]
fn every_status_and_variant_maps() {
    let succeeded = |status: Value| with(task(status), "response", json!([URL]));
    let failed = |status: Value| {
        let t = with(task(status), "error_message", json!("nope"));
        with(t, "consumed_credits", json!(0))
    };
    let nope = TaskState::Failed {
        message: "nope".into(),
        code: None,
    };
    let unknown = |raw: &str| TaskState::Unknown { raw: raw.into() };
    let cases = [
        (task(json!("PENDING")), TaskState::Queued, "PENDING"),
        (
            task(json!("IN_PROGRESS")),
            TaskState::Running,
            "IN_PROGRESS",
        ),
        (succeeded(json!("SUCCESS")), TaskState::Succeeded, "SUCCESS"),
        (failed(json!("FAILED")), nope.clone(), "FAILED"),
        (task(json!(0)), TaskState::Running, "0"),
        (succeeded(json!(1)), TaskState::Succeeded, "1"),
        (failed(json!(-1)), nope.clone(), "-1"),
        (task(json!("0")), TaskState::Running, "0"),
        (succeeded(json!("1")), TaskState::Succeeded, "1"),
        (failed(json!("-1")), nope.clone(), "-1"),
        (succeeded(json!("success")), TaskState::Succeeded, "success"),
        (
            task(json!("RUNNING_SLOWLY")),
            unknown("RUNNING_SLOWLY"),
            "RUNNING_SLOWLY",
        ),
        (task(json!(2)), unknown("2"), "2"),
        (task(json!("")), unknown(""), ""),
    ];
    for (data, state, raw) in cases {
        let status = parse(data.clone());
        assert_eq!(status.state, state, "{data}");
        assert_eq!(status.raw_status.as_deref(), Some(raw), "{data}");
        assert_eq!(status.task_id, "n36abc123def456gptimg");
        let expected_outputs = if state == TaskState::Succeeded {
            url()
        } else {
            vec![]
        };
        assert_eq!(status.outputs, expected_outputs, "{data}");
    }
}

#[test]
fn string_encoded_fields_and_the_other_credit_spelling() {
    let data = json!({
        "task_id": "t1",
        "status": 1,
        "consumed_credit": 24,
        "created_at": "2024-12-19 10:00:00",
        "response": format!("[\"{URL}\", \"{URL}?2\"]"),
        "request": "{\"prompt\":\"x\",\"size\":\"1024*1024\"}",
        "type": "text-to-image",
        "updated_at": "2024-12-19 10:00:09"
    });
    let status = parse(data);
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.credits, Some(24.0));
    assert_eq!(
        status.outputs,
        [
            ImageOutput::Url { url: URL.into() },
            ImageOutput::Url {
                url: format!("{URL}?2")
            }
        ]
    );
    // When both spellings are present, `consumed_credits` wins.
    let both = with(task(json!("PENDING")), "consumed_credit", json!(20));
    assert_eq!(parse(both).credits, Some(10.0));
    // A bare URL string is taken as that URL.
    let bare = with(task(json!("SUCCESS")), "response", json!(URL));
    assert_eq!(parse(bare).outputs, url());
}

#[test]
fn success_without_urls_is_a_decode_error() {
    for response in [
        None,
        Some(json!(null)),
        Some(json!([])),
        Some(json!("[]")),
        Some(json!("")),
        Some(json!("  ")),
    ] {
        let mut data = task(json!("SUCCESS"));
        if let Some(r) = &response {
            data["response"] = r.clone();
        }
        let err = parse_status(&envelope(data)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{response:?}");
        assert!(!err.is_retryable(), "{response:?}");
        assert!(err.may_have_reached_server(), "paid for");
        assert_eq!(err.task_id(), Some("n36abc123def456gptimg"));
    }
}

/// A `response` string that is neither a JSON array nor a URL names no
/// image: the old provider refused it as a decode error (not retryable,
/// with the task id). FAILS with the new codec, which reports the task as
/// succeeded with the string as an image URL (`ImageOutput::Url { url: "not
/// json" }`), so the failure only shows later, as a download error without
/// the task's context.
#[test]
fn a_response_that_is_neither_json_nor_a_url_is_a_decode_error() {
    for response in ["not json", "[\"https://cdn.example.com/a.png\"", "{}"] {
        let data = with(task(json!("SUCCESS")), "response", json!(response));
        let read = parse_status(&envelope(data));
        let err = read.expect_err(response);
        assert_eq!(err.kind(), ErrorKind::Decode, "{response}");
        assert!(!err.is_retryable(), "{response}");
        assert_eq!(err.task_id(), Some("n36abc123def456gptimg"));
    }
}

#[test]
fn statuses_snapshot() {
    let cases = [
        ("PENDING", task(json!("PENDING"))),
        ("IN_PROGRESS", task(json!("IN_PROGRESS"))),
        (
            "SUCCESS, response array",
            with(task(json!("SUCCESS")), "response", json!([URL])),
        ),
        (
            "FAILED, refunded",
            json!({"task_id": "t", "status": "FAILED", "consumed_credits": 0,
                   "error_message": "Content policy violation detected",
                   "request": {"prompt": "x"}, "response": null}),
        ),
        (
            "FAILED without error_message",
            json!({"task_id": "t", "status": "FAILED"}),
        ),
        ("numeric 0", task(json!(0))),
        (
            "numeric 1, string-encoded response, consumed_credit",
            json!({"task_id": "t", "status": 1, "consumed_credit": 10,
                   "response": format!("[\"{URL}\"]"), "created_at": "2024-12-19 10:00:00"}),
        ),
        (
            "numeric -1",
            json!({"task_id": "t", "status": -1, "consumed_credit": 0,
                   "error_message": "Content policy violation detected",
                   "request": "{\"prompt\":\"x\"}"}),
        ),
        (
            "number as a string",
            with(task(json!("1")), "response", json!([URL])),
        ),
        ("SUCCESS without response", task(json!("SUCCESS"))),
        ("unknown string", task(json!("RUNNING_SLOWLY"))),
        ("unknown number", task(json!(2))),
    ];
    let mut out = Map::new();
    for (case, data) in cases {
        let value = match parse_status(&envelope(data)) {
            Ok(status) => serde_json::to_value(status).unwrap(),
            Err(err) => json!({"error": error_summary(&err)}),
        };
        out.insert(case.to_owned(), value);
    }
    snapshot!("statuses", out);
}

#[test]
fn the_create_answer_acknowledges_a_task() {
    let created = parse_created(
        br#"{"code":200,"data":{"task_id":"n36abc123def456gptimg","status":"IN_PROGRESS"}}"#,
    )
    .unwrap();
    assert_eq!(created.task_id, "n36abc123def456gptimg");
    assert_eq!(created.state, TaskState::Running);
    assert_eq!(created.raw_status.as_deref(), Some("IN_PROGRESS"));
    let queued =
        parse_created(br#"{"code":200,"data":{"task_id":"a","status":"PENDING"}}"#).unwrap();
    assert_eq!(queued.state, TaskState::Queued);
    // The create answer carries no URLs: a finished status there is only a
    // reason to poll, never a result without images.
    for status in [
        json!("SUCCESS"),
        json!(1),
        json!("FAILED"),
        json!("WHATEVER"),
    ] {
        let body = envelope(json!({"task_id": "a", "status": status}));
        let created = parse_created(&body).unwrap();
        assert_eq!(created.state, TaskState::Running, "{status}");
        assert!(!created.state.is_terminal());
    }
}

#[test]
fn a_create_answer_without_data_may_have_been_charged() {
    for body in [
        &br#"{"code":200,"data":null}"#[..],
        br#"{"code":200,"message":"success","data":null}"#,
        br#"{"code":200,"data":{"status":"IN_PROGRESS"}}"#,
    ] {
        let err = parse_created(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        // Possibly charged: the client never sends it again unless the
        // caller opted in.
        assert!(err.may_have_reached_server());
        assert_eq!(err.http_status(), Some(200));
    }
}

#[test]
fn bodies_that_are_not_the_envelope_are_decode_errors_keeping_the_text() {
    for body in [
        &br#"{"code":200,"data":{"task_id":"t","sta"#[..],
        b"<html>maintenance</html>",
        b"[1, 2, 3]",
        b"",
    ] {
        let text = String::from_utf8_lossy(body).to_string();
        let err = parse_status(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{text}");
        assert!(err.is_retryable(), "a poll may be tried again: {text}");
        assert!(err.message().contains(&text), "{err}");
        let err = parse_created(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.may_have_reached_server());
        assert!(err.message().contains(&text), "{err}");
    }
    let err = parse_status(br#"{"code":200,"data":null}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

/// Every documented answer with a field no page documents added to every
/// object reads as it does without: answers are open.
#[test]
fn documented_answers_with_unknown_fields_read_the_same() {
    let summary = |read: Result<TaskStatus, Error>| match read {
        Ok(status) => serde_json::to_value(status).unwrap(),
        Err(err) => json!({"error": error_summary(&err)}),
    };
    let pairs = |schema: &str| -> Vec<(String, String)> {
        examples(schema)
            .iter()
            .map(|example| {
                let extended = with_unknown_fields(example);
                assert!(extended[UNKNOWN_FIELD].is_object());
                (example.to_string(), extended.to_string())
            })
            .collect()
    };
    for (plain, extended) in pairs(GENERATE_RESPONSE) {
        serde_json::from_str::<Gptimage15GenerateEnvelope>(&extended)
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        assert_eq!(
            summary(parse_created(plain.as_bytes())),
            summary(parse_created(extended.as_bytes())),
            "{extended}"
        );
    }
    for (plain, extended) in pairs(STATUS_RESPONSE) {
        serde_json::from_str::<Gptimage15StatusEnvelope>(&extended)
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        assert_eq!(
            summary(parse_status(plain.as_bytes())),
            summary(parse_status(extended.as_bytes())),
            "{extended}"
        );
    }
    for (plain, extended) in pairs(ERROR) {
        serde_json::from_str::<Gptimage15ErrorBody>(&extended)
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        for status in [200, 400, 401, 500] {
            let read = |body: &str| {
                summary(read_create::<Gptimage15Codec>(&answer(
                    status,
                    &[],
                    body.as_bytes(),
                )))
            };
            assert_eq!(read(&plain), read(&extended), "HTTP {status}: {extended}");
        }
    }
}
