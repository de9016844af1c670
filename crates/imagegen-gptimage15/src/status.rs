//! gptimage15.ai answers (`POST /generate`, `GET /status`) → [`TaskStatus`].
//!
//! Both answers are the envelope `{code, message?, data}`. An envelope whose
//! `code` is not 200 is an error even with HTTP 200 (see [`crate::error`]).
//!
//! Status mapping (doc, plus the provider's other pages):
//!
//! | `status` | [`TaskState`] |
//! |---|---|
//! | `PENDING` | `Queued` |
//! | `IN_PROGRESS`, `0` | `Running` |
//! | `SUCCESS`, `1` | `Succeeded`, `response` as [`ImageOutput::Url`] |
//! | `FAILED`, `-1` | `Failed`, message from `error_message` |
//! | anything else | `Unknown { raw }`: the client treats it as still in progress, warns once and relies on its deadline |
//!
//! Numbers may also come as strings (`"1"`); names are compared ignoring
//! case. `raw_status` keeps the status as sent (a number as its digits).
//!
//! Decisions applied (see `PROVIDERS.md`):
//! - `response` may be an array of URLs or a JSON string holding that array;
//!   both are read (a plain string that is itself one `http(s)` URL is taken
//!   as that URL).
//! - Credits: `consumed_credits`, else `consumed_credit`, go to
//!   [`TaskStatus::credits`] on every status, so a failed task reporting 0
//!   shows `Some(0.0)`: it was refunded.
//! - A finished (`SUCCESS`/`1`) task without any URL is a
//!   [`ErrorKind::Decode`] error (not retryable): it is paid for yet there is
//!   nothing to download, and reporting success with no image would hide it.
//! - The create answer only acknowledges the task: it carries no URLs, no
//!   error message and no credits. So it is reported as `Queued` (`PENDING`)
//!   or `Running` (any other status), with `raw_status` as sent; the status
//!   poll decides how the task ended.
//! - A 2xx body that is not the envelope, or an envelope with code 200 whose
//!   `data` is null or unreadable, is a [`ErrorKind::Decode`] error keeping
//!   the raw text, marked as possibly accepted. For a create it is not
//!   retryable (it may have been charged); for a status poll (a safe `GET`)
//!   it is, so one garbled answer does not abandon a paid-for task.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::NAME;
use crate::error::{envelope_error, not_envelope, parse_error};
use crate::generated::{
    Gptimage15ErrorBody, Gptimage15GenerateData, Gptimage15GenerateEnvelope, Gptimage15Status,
    Gptimage15StatusEnvelope, Gptimage15Task, Gptimage15TaskResponse,
};

/// Which call an answer belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    Status,
}

/// Parses the body of an HTTP 200 `POST /generate` answer (which may still
/// hold an error envelope).
pub fn parse_created(body: &[u8]) -> Result<TaskStatus, Error> {
    parse_created_answer(200, &HeaderMap::new(), body)
}

/// Parses a whole `POST /generate` answer: HTTP status, headers
/// (`Retry-After`) and body.
pub fn parse_created_answer(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TaskStatus, Error> {
    let data: Gptimage15GenerateData = open(
        Call::Create,
        status,
        headers,
        body,
        |e: Gptimage15GenerateEnvelope| (e.code, e.message, e.data),
    )?;
    Ok(created_to_status(data))
}

/// Parses the body of an HTTP 200 `GET /status` answer (which may still
/// hold an error envelope).
pub fn parse_status(body: &[u8]) -> Result<TaskStatus, Error> {
    parse_status_answer(200, &HeaderMap::new(), body)
}

/// Parses a whole `GET /status` answer: HTTP status, headers and body.
pub fn parse_status_answer(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TaskStatus, Error> {
    let task: Gptimage15Task = open(
        Call::Status,
        status,
        headers,
        body,
        |e: Gptimage15StatusEnvelope| (e.code, e.message, e.data),
    )?;
    task_to_status(task).map_err(|e| e.with_http_status(status))
}

/// Opens an envelope: its `data` when `code` is 200 and the HTTP status 2xx,
/// the error it stands for otherwise.
fn open<E: DeserializeOwned, D>(
    call: Call,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    split: impl FnOnce(E) -> (i64, Option<String>, Option<D>),
) -> Result<D, Error> {
    let success = (200..300).contains(&status);
    let decode_error = |e: Error| {
        e.with_http_status(status)
            .with_retryable(call == Call::Status)
            .with_may_have_reached_server(true)
    };
    match serde_json::from_slice::<E>(body) {
        Ok(envelope) => {
            let (code, message, data) = split(envelope);
            if code != 200 || !success {
                return Err(envelope_error(status, headers, code, message));
            }
            data.ok_or_else(|| {
                decode_error(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "gptimage15.ai answered code 200 without data: `{}`",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ),
                ))
                .with_provider(NAME)
            })
        }
        Err(err) => match serde_json::from_slice::<Gptimage15ErrorBody>(body) {
            // An error envelope (its `data` would not parse as a task).
            Ok(envelope) if envelope.code != 200 || !success => Err(envelope_error(
                status,
                headers,
                envelope.code,
                envelope.message,
            )),
            // Code 200, but `data` is not what the docs describe.
            Ok(_) => Err(decode_error(
                Error::decode("the gptimage15.ai task data", body, err).with_provider(NAME),
            )),
            Err(_) if success => Err(decode_error(not_envelope(body, err))),
            Err(_) => Err(parse_error(status, headers, body)),
        },
    }
}

/// The state and raw text of a status, string or number (see the table in
/// the module docs).
pub fn map_state(status: &Gptimage15Status, error_message: Option<&str>) -> (TaskState, String) {
    let failed = || TaskState::Failed {
        message: error_message
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("the task failed (gptimage15.ai gave no reason)")
            .to_owned(),
        code: None,
    };
    let numeric = |n: i64, raw: &str| match n {
        0 => TaskState::Running,
        1 => TaskState::Succeeded,
        -1 => failed(),
        _ => TaskState::Unknown {
            raw: raw.to_owned(),
        },
    };
    match status {
        Gptimage15Status::Integer(n) => {
            let raw = n.to_string();
            (numeric(*n, &raw), raw)
        }
        Gptimage15Status::String(raw) => {
            let s = raw.trim();
            let state = if s.eq_ignore_ascii_case("PENDING") {
                TaskState::Queued
            } else if s.eq_ignore_ascii_case("IN_PROGRESS") {
                TaskState::Running
            } else if s.eq_ignore_ascii_case("SUCCESS") {
                TaskState::Succeeded
            } else if s.eq_ignore_ascii_case("FAILED") {
                failed()
            } else if let Ok(n) = s.parse::<i64>() {
                numeric(n, raw)
            } else {
                TaskState::Unknown { raw: raw.clone() }
            };
            (state, raw.clone())
        }
    }
}

/// Maps the `data` of a create answer (see the module docs: never terminal).
pub fn created_to_status(data: Gptimage15GenerateData) -> TaskStatus {
    let (state, raw) = map_state(&data.status, None);
    let state = match state {
        TaskState::Queued => TaskState::Queued,
        _ => TaskState::Running,
    };
    TaskStatus::new(data.task_id, state).with_raw_status(raw)
}

/// Maps the `data` of a status answer.
pub fn task_to_status(task: Gptimage15Task) -> Result<TaskStatus, Error> {
    let (state, raw) = map_state(&task.status, task.error_message.as_deref());
    let credits = task.consumed_credits.or(task.consumed_credit);
    let outputs = match state {
        TaskState::Succeeded => {
            let urls = response_urls(task.response.as_ref())
                .map_err(|e| e.with_task_id(task.task_id.clone()))?;
            if urls.is_empty() {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "the task succeeded but its response has no URLs, so there is no image to download",
                )
                .with_provider(NAME)
                .with_task_id(task.task_id)
                .with_retryable(false)
                .with_may_have_reached_server(true));
            }
            urls.into_iter()
                .map(|url| ImageOutput::Url { url })
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(TaskStatus::new(task.task_id, state)
        .with_outputs(outputs)
        .with_credits(credits)
        .with_raw_status(raw))
}

/// The URLs in `response`: an array, or a string holding one as JSON.
fn response_urls(response: Option<&Gptimage15TaskResponse>) -> Result<Vec<String>, Error> {
    let urls = match response {
        None => Vec::new(),
        Some(Gptimage15TaskResponse::Array(urls)) => urls.clone(),
        Some(Gptimage15TaskResponse::String(text)) => {
            let text = text.trim();
            if text.is_empty() {
                Vec::new()
            } else if text.starts_with("http://") || text.starts_with("https://") {
                vec![text.to_owned()]
            } else {
                serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                    Error::decode(
                        "the gptimage15.ai `response` string (expected a JSON array of URLs)",
                        text.as_bytes(),
                        e,
                    )
                    .with_provider(NAME)
                    .with_retryable(false)
                    .with_may_have_reached_server(true)
                })?
            }
        }
    };
    Ok(urls
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect())
}
