//! Error answers → the `Error` the client sees (OpenAI's reading, made
//! precise by Azure's error body, settled by the core): the content filter
//! in each documented shape, deployments, keys, quota, validation, and what
//! may have been charged.

use std::time::Duration;

use imagegen_azure::AzureCodec;
use imagegen_core::{Error, ErrorKind, TaskStatus};
use imagegen_test_support::{
    answer, assert_secret_hidden, error_summary, read_create, read_create_with_key, snapshot,
};
use serde_json::{Map, Value, json};

const ERRORS: &str = include_str!("../../../../schemas/azure/error-response.json");

fn created(
    status: u16,
    headers: &[(&'static str, &str)],
    body: &Value,
) -> Result<TaskStatus, Error> {
    read_create::<AzureCodec>(&answer(status, headers, body.to_string().as_bytes()))
}

fn filter_results(sexual: bool, violence: bool) -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "jailbreak": {"detected": false, "filtered": false},
        "profanity": {"detected": false, "filtered": false},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": sexual, "severity": if sexual { "high" } else { "safe" }},
        "violence": {"filtered": violence, "severity": if violence { "medium" } else { "safe" }},
        "custom_blocklists": {"filtered": false, "details": []}
    })
}

#[test]
fn a_content_filter_refusal_is_a_generation_failure_naming_its_categories() {
    let refusal = |code: &str, results: Value| {
        json!({"created": 1698435368, "error": {
            "code": code, "message": "Your task failed as a result of our safety system.",
            "param": "prompt", "type": null,
            "inner_error": {"code": "ResponsibleAIPolicyViolation",
                            "content_filter_results": results, "revised_prompt": null}}})
    };
    for code in ["contentFilter", "content_policy_violation", "BadRequest"] {
        let err = created(400, &[], &refusal(code, filter_results(true, false))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::GenerationFailed, "{code}");
        assert_eq!(
            err.message(),
            "Your task failed as a result of our safety system. (content filter: sexual)"
        );
        assert_eq!(err.code(), Some(code));
        assert!(!err.is_retryable());
        assert!(
            !err.may_have_reached_server(),
            "refused: nothing was charged"
        );
    }
    // Several categories, by name.
    let err = created(
        400,
        &[],
        &refusal("contentFilter", filter_results(true, true)),
    )
    .unwrap_err();
    assert!(
        err.message()
            .ends_with("(content filter: sexual, violence)"),
        "{err}"
    );
    // The how-to's shapes, without `inner_error`: still a refusal of the filter.
    for message in [
        "Your task failed as a result of our safety system.",
        "Generated image was filtered as a result of our safety system.",
    ] {
        let body =
            json!({"created": 1698435368, "error": {"code": "contentFilter", "message": message}});
        let err = created(400, &[], &body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::GenerationFailed);
        assert_eq!(err.message(), message);
        assert!(!err.is_retryable());
    }
}

#[test]
fn every_documented_error_maps_to_its_kind() {
    use ErrorKind::*;
    let error = |code: &str, message: &str| json!({"error": {"code": code, "message": message}});
    let cases = [
        (
            400,
            error("InvalidPayload", "The request is invalid."),
            InvalidRequest,
            false,
            "",
            false,
        ),
        (
            400,
            error("BadRequest", "API version not supported"),
            InvalidRequest,
            false,
            "",
            false,
        ),
        (
            401,
            error(
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint.",
            ),
            Unauthorized,
            false,
            "AZURE_OPENAI_API_KEY",
            false,
        ),
        (
            403,
            error(
                "403",
                "Access denied due to Virtual Network/Firewall rules.",
            ),
            Forbidden,
            false,
            "network rules",
            false,
        ),
        (
            403,
            error(
                "403",
                "Out of call volume quota for AIServices S0 pricing tier.",
            ),
            Forbidden,
            false,
            "quota",
            false,
        ),
        (
            404,
            error(
                "DeploymentNotFound",
                "The API deployment for this resource does not exist.",
            ),
            NotFound,
            false,
            "AZURE_OPENAI_DEPLOYMENT",
            false,
        ),
        (
            404,
            error("404", "Resource not found"),
            NotFound,
            false,
            "AZURE_OPENAI_ENDPOINT",
            false,
        ),
        (
            429,
            error(
                "429",
                "Requests to the Images_Generations Operation under Azure OpenAI API version 2025-04-01-preview have exceeded call rate limit.",
            ),
            RateLimited,
            true,
            "",
            false,
        ),
        (
            500,
            error(
                "InternalServerError",
                "The server had an error while processing your request.",
            ),
            Server,
            true,
            "",
            true,
        ),
    ];
    for (status, body, kind, retryable, hint, reached) in cases {
        let err = created(status, &[], &body).unwrap_err();
        assert_eq!(err.kind(), kind, "{body}");
        assert_eq!(err.is_retryable(), retryable, "{body}");
        assert_eq!(err.may_have_reached_server(), reached, "{body}");
        assert!(
            err.hint().unwrap_or_default().contains(hint),
            "{body}: {:?}",
            err.hint()
        );
        assert_eq!(err.provider(), Some("azure"));
    }
}

#[test]
fn a_429_waits_as_azure_says() {
    let body = json!({"error": {"code": "429", "message": "Requests ... have exceeded call rate limit. Please retry after 6 seconds."}});
    let err = created(
        429,
        &[("retry-after", "6"), ("retry-after-ms", "5500")],
        &body,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(
        err.retry_after(),
        Some(Duration::from_millis(5500)),
        "retry-after-ms first"
    );
    let err = created(429, &[("retry-after", "6")], &body).unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(6)));
    assert!(
        !err.may_have_reached_server(),
        "refused: safe to send again"
    );
}

#[test]
fn a_5xx_may_have_been_charged_whatever_its_body_says() {
    for body in [
        json!({"error": {"code": "contentFilter", "message": "Your task failed as a result of our safety system."}}),
        json!({"error": {"code": "429", "message": "slow down"}}),
        json!("<html>Bad Gateway</html>"),
    ] {
        for status in [500, 502, 503] {
            let err = created(status, &[], &body).unwrap_err();
            assert!(err.may_have_reached_server(), "HTTP {status}: {err:?}");
        }
    }
}

#[test]
fn error_answers_snapshot() {
    let mut out = Map::new();
    let statuses = [400, 400, 400, 404, 401, 429, 400];
    for (i, (example, status)) in imagegen_test_support::wire::examples(ERRORS)
        .into_iter()
        .zip(statuses)
        .enumerate()
    {
        let err = created(status, &[], &example).unwrap_err();
        out.insert(format!("example {i} (HTTP {status})"), error_summary(&err));
    }
    let plain =
        read_create::<AzureCodec>(&answer(502, &[], b"<html>Bad Gateway</html>")).unwrap_err();
    out.insert("HTML (HTTP 502)".into(), error_summary(&plain));
    snapshot!("errors", Value::Object(out));
}

#[test]
fn a_key_the_server_echoes_never_shows() {
    const KEY: &str = "0123456789abcdef0123456789abcdef";
    let body =
        json!({"error": {"code": "401", "message": format!("Access denied for key {KEY}.")}});
    let err =
        read_create_with_key::<AzureCodec>(KEY, &answer(401, &[], body.to_string().as_bytes()))
            .unwrap_err();
    assert_secret_hidden(&err, KEY);
}
