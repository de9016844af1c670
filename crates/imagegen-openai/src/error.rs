//! OpenAI's error bodies, `{"error":{"message","type","param","code"}}`,
//! mapped onto the core's error kinds.
//!
//! * 400 → `InvalidRequest` (the message names the `param`), never retried;
//!   except `moderation_blocked` (the safety system refused the prompt or an
//!   input image) → `GenerationFailed`, never retried.
//! * 401 → `Unauthorized`, with a hint naming `OPENAI_API_KEY`.
//! * 403 → `Forbidden`; 404 → `NotFound`.
//! * 429 with `insufficient_quota` (as `code` or `type`) → `QuotaExhausted`,
//!   never retried; any other 429 → `RateLimited`, retried after
//!   `retry-after-ms` / `retry-after`, and known to have been refused before
//!   acceptance.
//! * 5xx → `Server`, retryable, and possibly accepted: OpenAI's generation is
//!   synchronous, so a failed call may still have been billed. The client
//!   does not resend it unless the caller opted in.
//!
//! A body that is not this shape (a gateway's `{"error": "..."}`,
//! `{"detail": ...}`, a proxy's HTML page) keeps its text in the message;
//! the HTTP status decides the kind. `code` is OpenAI's `code` as sent (never
//! its `type`, which is a category such as `invalid_request_error`).

use imagegen_core::{Error, ErrorKind, HttpResponse};
use reqwest::header::HeaderMap;

use crate::generated::OpenAiErrorBody;

/// The error for a non-2xx answer.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    from_response(&HttpResponse {
        status,
        headers: headers.clone(),
        body: body.to_vec().into(),
    })
}

/// The error for a non-2xx [`HttpResponse`].
pub fn from_response(response: &HttpResponse) -> Error {
    let parsed: Option<OpenAiErrorBody> = serde_json::from_slice(&response.body).ok();
    let (message, kind_hint, param, code) = match parsed {
        Some(body) => (
            body.error.message,
            body.error.type_,
            body.error.param,
            body.error.code,
        ),
        None => (untyped_message(response), None, None, None),
    };
    let mut error = response.status_error(crate::NAME, message.clone());
    if let Some(code) = code.as_deref() {
        error = error.with_code(code);
    }
    let is = |wanted: &str| [code.as_deref(), kind_hint.as_deref()].contains(&Some(wanted));
    match response.status {
        429 if is("insufficient_quota") => {
            Error::new(ErrorKind::QuotaExhausted, message)
                .with_provider(crate::NAME)
                .with_http_status(429)
                .with_code("insufficient_quota")
                .with_retryable(false)
                .with_hint("the account's quota is used up: check billing at platform.openai.com")
        }
        // A refusal before any work: safe to resend after the wait.
        429 => error.with_may_have_reached_server(false),
        400 if is("moderation_blocked") => Error::new(ErrorKind::GenerationFailed, message)
            .with_provider(crate::NAME)
            .with_http_status(400)
            .with_code("moderation_blocked")
            .with_retryable(false)
            .with_hint("OpenAI's safety system refused the prompt or reference images; rephrase"),
        400 => match param {
            Some(param) if !message.contains(param.as_str()) => {
                error.with_message(format!("{message} (parameter `{param}`)"))
            }
            _ => error,
        },
        401 => error.with_hint(format!(
            "check {}: the key was missing or refused",
            crate::API_KEY_VAR
        )),
        403 => error.with_hint(
            "the key's organization or project may lack access to this model (gpt-image models may require a verified organization)",
        ),
        _ => error,
    }
}

/// The message of a body that is not OpenAI's shape (a gateway's, a proxy's
/// HTML page): the text of `{"error": "..."}`, `{"message": ...}` or
/// `{"detail": ...}` when it is one of those, else the body's text.
fn untyped_message(response: &HttpResponse) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let found = json.as_ref().and_then(|json| {
        ["error", "message", "detail"]
            .iter()
            .find_map(|key| match json.get(key)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Object(inner) => inner
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned),
                _ => None,
            })
    });
    match found {
        Some(text) if !text.trim().is_empty() => text,
        _ => {
            let text = response.text_excerpt(300);
            if text.is_empty() {
                "the response body was empty".to_owned()
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
        serde_json::json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
            .to_string()
    }

    fn err(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Error {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        parse_error(status, &map, body.as_bytes())
    }

    /// Every documented status and code, one row each: what the client
    /// sees and decides from.
    #[test]
    fn every_status_and_code_maps_to_a_kind() {
        let rate_headers = [("retry-after", "1"), ("retry-after-ms", "1500")];
        let cases: Vec<(&str, Error)> = vec![
            (
                "400 unknown parameter",
                err(
                    400,
                    &[],
                    &body(
                        "Unknown parameter: 'response_format'.",
                        "invalid_request_error",
                        Some("response_format"),
                        Some("unknown_parameter"),
                    ),
                ),
            ),
            (
                "400 param not in the message",
                err(
                    400,
                    &[],
                    &body(
                        "Invalid value: 'huge'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
                        "invalid_request_error",
                        Some("quality"),
                        Some("invalid_value"),
                    ),
                ),
            ),
            (
                "400 moderation blocked",
                err(
                    400,
                    &[],
                    &body(
                        "Your request was rejected as a result of our safety system.",
                        "image_generation_user_error",
                        None,
                        Some("moderation_blocked"),
                    ),
                ),
            ),
            (
                "401 wrong key",
                err(
                    401,
                    &[],
                    &body(
                        "Incorrect API key provided: sk-ab***wxyz.",
                        "invalid_request_error",
                        None,
                        Some("invalid_api_key"),
                    ),
                ),
            ),
            (
                "401 no key",
                err(
                    401,
                    &[],
                    &body(
                        "You didn't provide an API key.",
                        "invalid_request_error",
                        None,
                        None,
                    ),
                ),
            ),
            (
                "403",
                err(
                    403,
                    &[],
                    &body(
                        "Your organization must be verified to use the model `gpt-image-1.5`.",
                        "invalid_request_error",
                        None,
                        None,
                    ),
                ),
            ),
            (
                "404",
                err(
                    404,
                    &[],
                    &body(
                        "Invalid URL (POST /v1/images/generate)",
                        "invalid_request_error",
                        None,
                        None,
                    ),
                ),
            ),
            (
                "429 insufficient_quota (code)",
                err(
                    429,
                    &[],
                    &body(
                        "You exceeded your current quota, please check your plan and billing details.",
                        "insufficient_quota",
                        None,
                        Some("insufficient_quota"),
                    ),
                ),
            ),
            (
                "429 insufficient_quota (type only)",
                err(
                    429,
                    &rate_headers,
                    &body(
                        "You exceeded your current quota.",
                        "insufficient_quota",
                        None,
                        None,
                    ),
                ),
            ),
            (
                "429 rate limit, retry-after-ms",
                err(
                    429,
                    &rate_headers,
                    &body(
                        "Rate limit reached for gpt-image-1.5 on images per minute.",
                        "requests",
                        None,
                        Some("rate_limit_exceeded"),
                    ),
                ),
            ),
            (
                "429 rate limit, retry-after seconds",
                err(
                    429,
                    &[("retry-after", "7")],
                    &body(
                        "Rate limit reached.",
                        "requests",
                        None,
                        Some("rate_limit_exceeded"),
                    ),
                ),
            ),
            (
                "429 rate limit, no header",
                err(
                    429,
                    &[],
                    &body(
                        "Rate limit reached.",
                        "requests",
                        None,
                        Some("rate_limit_exceeded"),
                    ),
                ),
            ),
            (
                "500",
                err(
                    500,
                    &[],
                    &body(
                        "The server had an error while processing your request. Sorry about that!",
                        "server_error",
                        None,
                        None,
                    ),
                ),
            ),
            (
                "503 html",
                err(
                    503,
                    &[("retry-after", "2")],
                    "<html><body>upstream unavailable</body></html>",
                ),
            ),
            ("502 empty", err(502, &[], "")),
            (
                "400 gateway string error",
                err(400, &[], r#"{"error":"model not allowed"}"#),
            ),
            (
                "422 gateway detail",
                err(422, &[], r#"{"detail":"prompt is required"}"#),
            ),
            (
                "400 error object without message",
                err(400, &[], r#"{"error":{"code":"bad"}}"#),
            ),
        ];
        let table: Vec<_> = cases
            .iter()
            .map(|(case, e)| {
                serde_json::json!({
                    "case": case,
                    "kind": e.kind().as_str(),
                    "http_status": e.http_status(),
                    "code": e.code(),
                    "retryable": e.is_retryable(),
                    "retry_after_ms": e.retry_after().map(|d| d.as_millis() as u64),
                    "may_have_reached_server": e.may_have_reached_server(),
                    "display": e.to_string(),
                })
            })
            .collect();
        insta::assert_json_snapshot!("errors", table);
    }

    #[test]
    fn the_400_names_the_refused_parameter() {
        let e = err(
            400,
            &[],
            &body(
                "Unknown parameter: 'response_format'.",
                "invalid_request_error",
                Some("response_format"),
                Some("unknown_parameter"),
            ),
        );
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(!e.is_retryable());
        assert!(e.message().contains("'response_format'"), "{e}");
        let e = err(
            400,
            &[],
            &body(
                "Invalid value: 'huge'.",
                "invalid_request_error",
                Some("quality"),
                None,
            ),
        );
        assert!(e.message().contains("`quality`"), "{e}");
    }

    #[test]
    fn quota_is_final_and_rate_limits_are_retried_after_the_wait() {
        let quota = err(
            429,
            &[("retry-after", "1")],
            &body(
                "quota",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
        );
        assert_eq!(quota.kind(), ErrorKind::QuotaExhausted);
        assert!(!quota.is_retryable());
        assert!(quota.hint().unwrap().contains("billing"));

        let limited = err(
            429,
            &[("retry-after-ms", "1500"), ("retry-after", "2")],
            &body("slow down", "requests", None, Some("rate_limit_exceeded")),
        );
        assert_eq!(limited.kind(), ErrorKind::RateLimited);
        assert!(limited.is_retryable());
        assert!(!limited.may_have_reached_server());
        assert_eq!(
            limited.retry_after(),
            Some(std::time::Duration::from_millis(1500))
        );
    }

    #[test]
    fn server_errors_may_have_been_billed_and_keep_their_text() {
        let e = err(503, &[], "<html>upstream down</html>");
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(e.is_retryable());
        assert!(e.may_have_reached_server());
        assert!(e.to_string().contains("upstream down"), "{e}");
    }

    #[test]
    fn unauthorized_names_the_variable() {
        let e = err(
            401,
            &[],
            &body(
                "Incorrect API key provided",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
    }
}
