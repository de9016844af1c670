//! OpenAI's error bodies, `{"error":{"message","type","param","code"}}`,
//! mapped onto the core's error kinds.
//!
//! * 400 → `InvalidRequest` (the message names the `param`), never retried.
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
//! A body that is not this shape keeps its text in the message; the HTTP
//! status decides the kind.

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
        None => {
            let text = response.text_excerpt(300);
            let message = if text.is_empty() {
                format!("HTTP {}", response.status)
            } else {
                text
            };
            (message, None, None, None)
        }
    };
    let mut error = response.status_error(crate::NAME, message);
    if let Some(code) = code.as_deref().or(kind_hint.as_deref()) {
        error = error.with_code(code);
    }
    let quota = [code.as_deref(), kind_hint.as_deref()].contains(&Some("insufficient_quota"));
    match (response.status, quota) {
        (429, true) => {
            error = Error::new(ErrorKind::QuotaExhausted, error.message().to_owned())
                .with_provider(crate::NAME)
                .with_http_status(429)
                .with_code("insufficient_quota")
                .with_retryable(false)
                .with_hint("the account's quota is used up: check billing at platform.openai.com");
        }
        (429, false) => error = error.with_may_have_reached_server(false),
        (400, _) => {
            if let Some(param) = param {
                error = error.with_hint(format!("the parameter `{param}` was refused"));
            }
        }
        (401, _) => {
            error = error.with_hint(format!("check {}: the key was refused", crate::API_KEY_VAR));
        }
        _ => {}
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn err(status: u16, body: &str) -> Error {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        parse_error(status, &headers, body.as_bytes())
    }

    #[test]
    fn documented_errors_map_to_kinds() {
        let e = err(
            400,
            r#"{"error":{"message":"Unknown parameter: 'response_format'.","type":"invalid_request_error","param":"response_format","code":"unknown_parameter"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("response_format"), "{e}");

        let e = err(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");

        let e = err(
            429,
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
        assert!(!e.is_retryable());

        let e = err(
            429,
            r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!(e.is_retryable());
        assert!(!e.may_have_reached_server());
        assert_eq!(
            e.retry_after(),
            Some(std::time::Duration::from_millis(1500))
        );

        let e = err(503, "<html>upstream down</html>");
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(e.is_retryable());
        assert!(e.may_have_reached_server());
        assert!(e.to_string().contains("upstream down"), "{e}");

        assert_eq!(
            err(403, r#"{"error":{"message":"no"}}"#).kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(
            err(404, r#"{"error":{"message":"no"}}"#).kind(),
            ErrorKind::NotFound
        );
    }
}
