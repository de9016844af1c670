//! gptimage15.ai error answers → [`Error`].
//!
//! Every gptimage15.ai answer is the envelope `{"code", "message"?, "data"}`
//! (doc). An error is an envelope whose `code` is not 200, and it may come
//! with HTTP 200: `{"code":400,"message":"Bad Request: 'prompt' is required.","data":null}`
//! is an error whatever the HTTP status says.
//!
//! Decisions applied (see `PROVIDERS.md`):
//! - The kind comes from the envelope's `code` when it is not 200, else from
//!   the HTTP status:
//!
//!   | code | [`ErrorKind`] | retryable | hint |
//!   |---|---|---|---|
//!   | 400 | `InvalidRequest` | no | |
//!   | 401 | `Unauthorized` | no | names `GPTIMAGE15_API_KEY` |
//!   | 402 | `InsufficientCredits` | no | top up |
//!   | 404 | `NotFound` | no | the task id does not exist (for this key) |
//!   | 429 | `RateLimited` | yes | `Retry-After` kept (not documented; the simulator sends it) |
//!   | 500 (any 5xx) | `Server` | yes | |
//!
//!   Other codes follow [`ErrorKind::from_http_status`]; a code that is no
//!   HTTP-like status falls back to the HTTP status, or `Decode` if that was 2xx.
//! - The error's `code` is the envelope code as text (`"400"`); its
//!   `http_status` is the real HTTP status.
//! - A 4xx (and 429) is a refusal: `may_have_reached_server` is false. A 5xx
//!   code or HTTP status may have been acted on: true, and so is a code of
//!   600 or more, which no page explains (conservatively: it may have been
//!   charged).
//! - A body that is not the envelope: with a 2xx HTTP status it is a
//!   `Decode` error keeping the raw text (see [`crate::status`]); with an
//!   error HTTP status (a gateway's HTML 502, say) the HTTP status decides
//!   the kind, and the raw text is kept in the message. Only the HTTP status
//!   is left to go by, and a transient 5xx must stay retryable.

use std::time::SystemTime;

use imagegen_core::transport::parse_retry_after;
use imagegen_core::{Error, ErrorKind, HttpResponse};
use reqwest::header::HeaderMap;

use crate::generated::Gptimage15ErrorBody;
use crate::{API_KEY_VAR, NAME};

/// How much of a non-envelope body is quoted.
const EXCERPT: usize = 300;

/// The error for a gptimage15.ai answer that is not a success: an envelope
/// whose `code` is not 200, or a non-2xx HTTP status. Bodies that are not
/// the envelope are handled as the module docs say.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    match serde_json::from_slice::<Gptimage15ErrorBody>(body) {
        Ok(envelope) => envelope_error(status, headers, envelope.code, envelope.message),
        Err(err) if (200..300).contains(&status) => not_envelope(body, err),
        Err(_) => status_error(status, headers, body),
    }
}

/// [`parse_error`] for a whole response.
pub fn from_response(response: &HttpResponse) -> Error {
    parse_error(response.status, &response.headers, &response.body)
}

/// The kind an envelope `code` (or HTTP status) means, when it is known.
pub fn kind_for_code(code: i64) -> Option<ErrorKind> {
    let kind = u16::try_from(code).ok().map(ErrorKind::from_http_status)?;
    (kind != ErrorKind::Decode).then_some(kind)
}

/// The error for an envelope with `code` (and `message`) received with HTTP
/// `status`.
pub fn envelope_error(
    status: u16,
    headers: &HeaderMap,
    code: i64,
    message: Option<String>,
) -> Error {
    let decisive = if code != 200 { code } else { i64::from(status) };
    let kind = kind_for_code(decisive)
        .or_else(|| kind_for_code(i64::from(status)))
        .unwrap_or(ErrorKind::Decode);
    let message = message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("gptimage15.ai answered code {code} with no message"));
    let mut error = Error::new(kind, message)
        .with_provider(NAME)
        .with_http_status(status)
        // 5xx, or a code nobody documented: it may have been acted on.
        .with_may_have_reached_server(decisive >= 500 || status >= 500);
    if code != 200 {
        error = error.with_code(code.to_string());
    }
    finish(error, headers)
}

/// A non-2xx answer whose body is not the envelope.
fn status_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let text = excerpt(body);
    let message = if text.is_empty() {
        format!("gptimage15.ai answered HTTP {status} with an empty body")
    } else {
        format!(
            "gptimage15.ai answered HTTP {status} with a body that is not its envelope: `{text}`"
        )
    };
    let kind = ErrorKind::from_http_status(status);
    let error = Error::new(kind, message)
        .with_provider(NAME)
        .with_http_status(status)
        .with_may_have_reached_server(status >= 500);
    finish(error, headers)
}

/// A 2xx answer whose body is not the envelope: a decode error keeping the
/// raw text.
pub(crate) fn not_envelope(body: &[u8], source: serde_json::Error) -> Error {
    Error::decode("the gptimage15.ai envelope", body, source)
        .with_provider(NAME)
        .with_may_have_reached_server(true)
}

fn finish(mut error: Error, headers: &HeaderMap) -> Error {
    if let Some(wait) = parse_retry_after(headers, SystemTime::now()) {
        error = error.with_retry_after(wait);
    }
    if error.kind() == ErrorKind::RateLimited {
        // A rate-limited request is refused before it is accepted.
        error = error.with_may_have_reached_server(false);
    }
    let hint = match error.kind() {
        ErrorKind::Unauthorized => Some(format!(
            "set {API_KEY_VAR} to a valid gptimage15.ai API key"
        )),
        ErrorKind::InsufficientCredits => {
            Some("top up your gptimage15.ai credits (a task costs 10), then submit again".into())
        }
        ErrorKind::NotFound => {
            Some("the task id does not exist, or was created with another API key".into())
        }
        _ => None,
    };
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT)];
    let text = String::from_utf8_lossy(cut).trim().to_owned();
    if body.len() > EXCERPT {
        format!("{text}…")
    } else {
        text
    }
}
