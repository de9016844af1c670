//! Runbase's run object → the neutral [`TaskStatus`].
//!
//! `POST /runs` and `GET /runs/{id}` both answer a run object (decision: the
//! page shows no response body; see `schemas/runbase/run.json`). It is parsed
//! leniently: unknown fields are ignored, only `id` and `status` are needed.
//!
//! Status mapping (decision, by analogy with run APIs of this shape):
//!
//! | `status` | [`TaskState`] |
//! |---|---|
//! | `queued` | `Queued` |
//! | `starting`, `processing`, `running` | `Running` |
//! | `succeeded` | `Succeeded`, `output.urls` as [`ImageOutput::Url`] |
//! | `failed` | `Failed`, message from `error` (a string, or an object's `message`), code from an object's `code` |
//! | `canceled`, `cancelled` | `Cancelled` |
//! | anything else | `Unknown { raw }`: the client treats it as still in progress, warns once and relies on its deadline |
//!
//! Other decisions:
//! - A `succeeded` run without any URL is a [`ErrorKind::Decode`] error (not
//!   retryable): the run is finished and paid for, yet there is nothing to
//!   download, and reporting success with no image would hide that.
//! - Runbase reports no credits or token usage, so `credits` and `usage`
//!   are always `None`.
//! - `raw_status` keeps the status exactly as sent.
//! - A body that is not a run object is a [`ErrorKind::Decode`] error with an
//!   excerpt of the body. For a create it may have been accepted (Runbase
//!   answered 2xx), so it is marked as possibly charged and not retryable;
//!   for a status poll (a safe `GET`) it is retryable, so one garbled answer
//!   does not abandon a paid-for run.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use serde_json::Value;

use crate::NAME;
use crate::generated::{RunbaseRun, RunbaseRunError};

/// Parses the body of a successful (2xx) `POST /runs` answer.
pub fn parse_created(body: &[u8]) -> Result<TaskStatus, Error> {
    let run = decode(body).map_err(|e| e.with_retryable(false))?;
    run_to_status(run)
}

/// Parses the body of a successful (2xx) `GET /runs/{id}` answer.
pub fn parse_status(body: &[u8]) -> Result<TaskStatus, Error> {
    let run = decode(body).map_err(|e| e.with_retryable(true))?;
    run_to_status(run)
}

fn decode(body: &[u8]) -> Result<RunbaseRun, Error> {
    serde_json::from_slice(body).map_err(|e| {
        Error::decode("the Runbase run object", body, e)
            .with_provider(NAME)
            .with_may_have_reached_server(true)
    })
}

/// Maps a Runbase `status` string (and, when failed, the run's `error`) to
/// a [`TaskState`] (see the module docs for the table).
pub fn map_state(status: &str, error: Option<&RunbaseRunError>) -> TaskState {
    match status {
        "queued" => TaskState::Queued,
        "starting" | "processing" | "running" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => {
            let (message, code) = failure(error);
            TaskState::Failed { message, code }
        }
        "canceled" | "cancelled" => TaskState::Cancelled,
        other => TaskState::Unknown {
            raw: other.to_owned(),
        },
    }
}

/// Maps a parsed run to a [`TaskStatus`].
pub fn run_to_status(run: RunbaseRun) -> Result<TaskStatus, Error> {
    let state = map_state(&run.status, run.error.as_ref());
    let outputs: Vec<ImageOutput> = match &state {
        TaskState::Succeeded => run
            .output
            .map(|o| o.urls)
            .unwrap_or_default()
            .into_iter()
            .filter(|url| !url.trim().is_empty())
            .map(|url| ImageOutput::Url { url })
            .collect(),
        _ => Vec::new(),
    };
    if state == TaskState::Succeeded && outputs.is_empty() {
        return Err(Error::new(
            ErrorKind::Decode,
            "the run succeeded but its output has no URLs, so there is no image to download",
        )
        .with_provider(NAME)
        .with_task_id(run.id)
        .with_retryable(false)
        .with_may_have_reached_server(true));
    }
    Ok(TaskStatus::new(run.id, state)
        .with_outputs(outputs)
        .with_raw_status(run.status))
}

/// The message and code of a failed run's `error` (string or object).
fn failure(error: Option<&RunbaseRunError>) -> (String, Option<String>) {
    const NO_REASON: &str = "the run failed (Runbase gave no reason)";
    match error {
        Some(RunbaseRunError::String(message)) if !message.trim().is_empty() => {
            (message.clone(), None)
        }
        Some(RunbaseRunError::Object(object)) => {
            let text = |key: &str| match object.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let message = text("message")
                .or_else(|| text("detail"))
                .or_else(|| (!object.is_empty()).then(|| Value::Object(object.clone()).to_string()))
                .unwrap_or_else(|| NO_REASON.to_owned());
            (message, text("code"))
        }
        _ => (NO_REASON.to_owned(), None),
    }
}
