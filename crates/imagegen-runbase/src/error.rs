//! Runbase error answers → [`Error`].
//!
//! Runbase's error-codes page documents `{"error": {"message", "code"}}`.
//! Decision: bodies of any other shape are accepted too (`{"error": "..."}`,
//! `{"message": ...}`, `{"detail": ...}`, or not JSON at all); the message is
//! whatever text can be found, else an excerpt of the body.
//!
//! | HTTP | `code` | [`ErrorKind`] | retryable | notes |
//! |---|---|---|---|---|
//! | 400 | `invalid_json`, `missing_model`, `missing_input`, `invalid_input`, `model_not_found` | `InvalidRequest` | no | |
//! | 401 | `missing_api_key`, `invalid_api_key` | `Unauthorized` | no | hint names `RUNBASE_API_KEY` |
//! | 402 | `insufficient_balance` | `InsufficientCredits` | no | hint: top up |
//! | 403 | `api_key_spend_limit_exceeded` | `QuotaExhausted` | no | hint: raise the key's limit |
//! | 403 | `ip_not_allowed` | `Forbidden` | no | |
//! | 404 | `run_not_found` | `NotFound` | no | |
//! | 429 | `RATE_LIMITED` | `RateLimited` | yes | `Retry-After` kept; refused before acceptance, so never charged |
//! | 429 | `USAGE_EXCEEDED` | `QuotaExhausted` | no | retrying is useless |
//! | 5xx | (none) | `Server` | yes | may have reached the server |
//!
//! A known code decides the kind whatever the HTTP status; an unknown or
//! missing code leaves it to the HTTP status
//! ([`ErrorKind::from_http_status`]). Codes are compared ignoring case.
//! A 4xx is a refusal (`may_have_reached_server` is false: nothing was
//! accepted or charged); a 5xx may have been acted on before failing.

use imagegen_core::{Error, ErrorKind, HttpResponse};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::generated::{RunbaseErrorBody, RunbaseErrorField};
use crate::{API_KEY_VAR, BASE_URL_VAR, NAME};

/// How much of a body that carries no readable message is quoted.
const EXCERPT: usize = 200;

/// The error for a non-2xx Runbase answer, from its HTTP status, headers
/// (`Retry-After`) and body.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    from_response(&HttpResponse {
        status,
        headers: headers.clone(),
        body: bytes::Bytes::copy_from_slice(body),
    })
}

/// The error for a non-2xx Runbase answer.
pub fn from_response(response: &HttpResponse) -> Error {
    let (message, code) = message_and_code(&response.body);
    let message = message.unwrap_or_else(|| {
        let excerpt = response.text_excerpt(EXCERPT);
        if excerpt.is_empty() {
            format!("Runbase answered HTTP {} with no message", response.status)
        } else {
            excerpt
        }
    });
    let known = code.as_deref().and_then(kind_for_code);
    let base = response.status_error(NAME, message);
    let mut error = match known {
        // `status_error` chose the kind from the HTTP status; a documented
        // code is more precise, so rebuild with the code's kind.
        Some((kind, retryable)) if kind != base.kind() => {
            let rebuilt = Error::new(kind, base.message().to_owned())
                .with_provider(NAME)
                .with_http_status(response.status)
                .with_may_have_reached_server(response.status >= 500)
                .with_retryable(retryable);
            match base.retry_after() {
                Some(wait) => rebuilt.with_retry_after(wait),
                None => rebuilt,
            }
        }
        Some((_, retryable)) => base.with_retryable(retryable),
        None => base,
    };
    let kind = error.kind();
    if let Some(code) = code {
        error = error.with_code(code);
    }
    if kind == ErrorKind::RateLimited {
        // Runbase refuses a rate-limited request before accepting it.
        error = error.with_may_have_reached_server(false);
    }
    match hint(kind, error.code()) {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

/// The kind and retryability a documented Runbase error code means.
pub fn kind_for_code(code: &str) -> Option<(ErrorKind, bool)> {
    let code = code.trim().to_ascii_lowercase();
    let kind = match code.as_str() {
        "invalid_json" | "missing_model" | "missing_input" | "invalid_input"
        | "model_not_found" => ErrorKind::InvalidRequest,
        "missing_api_key" | "invalid_api_key" => ErrorKind::Unauthorized,
        "insufficient_balance" => ErrorKind::InsufficientCredits,
        "api_key_spend_limit_exceeded" | "usage_exceeded" => ErrorKind::QuotaExhausted,
        "ip_not_allowed" => ErrorKind::Forbidden,
        "run_not_found" => ErrorKind::NotFound,
        "rate_limited" => ErrorKind::RateLimited,
        _ => return None,
    };
    Some((kind, kind.retryable_by_default()))
}

fn hint(kind: ErrorKind, code: Option<&str>) -> Option<String> {
    let code = code.map(str::to_ascii_lowercase);
    Some(match (kind, code.as_deref()) {
        (ErrorKind::Unauthorized, _) => format!("set {API_KEY_VAR} to a valid Runbase API key"),
        (ErrorKind::InsufficientCredits, _) => {
            "top up your Runbase balance, then submit again".to_owned()
        }
        (ErrorKind::QuotaExhausted, Some("api_key_spend_limit_exceeded")) => {
            "raise this API key's spend limit in Runbase, or use another key".to_owned()
        }
        (ErrorKind::QuotaExhausted, _) => {
            "the key's usage quota is used up; retrying will not help until it is raised".to_owned()
        }
        (ErrorKind::Forbidden, Some("ip_not_allowed")) => {
            "allow this machine's IP address for the key in Runbase".to_owned()
        }
        (ErrorKind::NotFound, Some("run_not_found")) => {
            "the run does not exist, or was created with another API key".to_owned()
        }
        (ErrorKind::NotFound, _) => {
            format!("check the run id, and the base URL ({BASE_URL_VAR})")
        }
        _ => return None,
    })
}

/// The best message and the code found in an error body of any shape.
fn message_and_code(body: &[u8]) -> (Option<String>, Option<String>) {
    let nonempty = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let Ok(parsed) = serde_json::from_slice::<RunbaseErrorBody>(body) else {
        return (None, None);
    };
    let (error_message, code) = match &parsed.error {
        Some(RunbaseErrorField::RunbaseErrorObject(object)) => (
            object.message.as_deref().and_then(nonempty),
            object.code.as_deref().and_then(nonempty),
        ),
        Some(RunbaseErrorField::String(message)) => (nonempty(message), None),
        None => (None, None),
    };
    let message = error_message
        .or_else(|| parsed.message.as_deref().and_then(nonempty))
        .or_else(|| parsed.detail.as_ref().and_then(detail_text));
    (message, code)
}

/// Text from a `detail` of any shape: a string, an object's `message` or
/// `msg`, a list of those, else the compact JSON.
fn detail_text(detail: &Value) -> Option<String> {
    match detail {
        Value::Null => None,
        Value::String(s) => (!s.trim().is_empty()).then(|| s.trim().to_owned()),
        Value::Object(object) => ["message", "msg", "detail"]
            .iter()
            .find_map(|k| object.get(*k).and_then(detail_text))
            .or_else(|| Some(detail.to_string())),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(detail_text).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        other => Some(other.to_string()),
    }
}
