//! Webhook calls → the task id they name (`Gptimage15Codec::webhook`). The
//! callback body is undocumented and unauthenticated, so only a task id is
//! taken from it, and only one that can safely go into a URL; the client
//! then confirms with an authenticated status request.

use imagegen_core::webhook::MAX_TASK_ID_LEN;
use imagegen_core::{Codec, Error, ErrorKind, ImageProvider, WebhookCall};
use imagegen_gptimage15::Gptimage15Codec;
use imagegen_test_support::{codec, headers};

use super::common::provider;

fn call(body: &str, query: Option<&str>) -> WebhookCall {
    WebhookCall::new(headers(&[]), body.to_owned(), query.map(str::to_owned))
}

fn task_id(body: &str, query: Option<&str>) -> Result<String, Error> {
    codec::<Gptimage15Codec>().webhook(&call(body, query))
}

#[test]
fn the_task_id_is_read_from_the_body_or_the_query() {
    let cases = [
        // At the top level, as the simulator (and the docs' envelope) send it.
        (
            r#"{"task_id":"n36abc123def456gptimg"}"#,
            None,
            "n36abc123def456gptimg",
        ),
        // Under `data`, as in the envelope of every other answer.
        (r#"{"code":200,"data":{"task_id":"abc"}}"#, None, "abc"),
        // Numbers, at either place.
        (r#"{"task_id":42}"#, None, "42"),
        (r#"{"data":{"task_id":7}}"#, None, "7"),
        // In the query when the body names none.
        ("", Some("task_id=t-9&x=1"), "t-9"),
        ("not json", Some("x=1&task_id=t-10"), "t-10"),
        ("{}", Some("task_id=abc.def:1_2"), "abc.def:1_2"),
        // The body wins over the query, the top level over `data`.
        (r#"{"task_id":"a"}"#, Some("task_id=b"), "a"),
        (
            r#"{"task_id":"top","data":{"task_id":"nested"}}"#,
            None,
            "top",
        ),
        // Surrounding blanks are trimmed.
        (r#"{"task_id":"  n36abc  "}"#, None, "n36abc"),
    ];
    for (body, query, expected) in cases {
        assert_eq!(task_id(body, query).unwrap(), expected, "{body} {query:?}");
    }
}

#[test]
fn nothing_else_in_the_body_is_taken() {
    let body = r#"{"task_id":"t-1","status":"SUCCESS","response":["https://evil.example/x.png"]}"#;
    assert_eq!(task_id(body, None).unwrap(), "t-1");
}

#[test]
fn odd_or_missing_ids_are_refused() {
    let long = "a".repeat(MAX_TASK_ID_LEN + 1);
    let long_body = format!(r#"{{"task_id":"{long}"}}"#);
    let cases: Vec<(&str, Option<&str>)> = vec![
        (r#"{"task_id":"../x y"}"#, None),
        (r#"{"task_id":"a/b"}"#, None),
        (r#"{"task_id":"a?b=c"}"#, None),
        (r#"{"task_id":""}"#, None),
        (r#"{"task_id":"   "}"#, None),
        // An empty id in the body is refused, not replaced by the query's.
        (r#"{"task_id":""}"#, Some("task_id=b")),
        (&long_body, None),
        ("{}", None),
        ("not json", Some("other=1")),
        ("", None),
        ("", Some("task_id=")),
        ("", Some("task_id=..%2Fx%20y")),
        (r#"{"task_id":true}"#, None),
        (r#"{"task_id":{"id":"x"}}"#, None),
    ];
    for (body, query) in cases {
        let err = task_id(body, query).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body} {query:?}");
        assert!(!err.is_retryable());
    }
    let longest = "a".repeat(MAX_TASK_ID_LEN);
    assert_eq!(
        task_id(&format!(r#"{{"task_id":"{longest}"}}"#), None).unwrap(),
        longest
    );
}

#[test]
fn the_provider_reads_webhooks_through_the_codec() {
    let g15 = provider("http://127.0.0.1:9/gptimage15/api", "k");
    assert!(Gptimage15Codec::capabilities().webhooks);
    assert_eq!(
        g15.webhook_task(&call(r#"{"task_id":"n36abc"}"#, None))
            .unwrap(),
        "n36abc"
    );
    let err = g15
        .webhook_task(&call(r#"{"task_id":"../x y"}"#, None))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.provider(), Some("gptimage15"));
}
