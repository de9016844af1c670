//! A scripted, in-process [`ImageProvider`] for tests of code that uses the
//! [`Client`](crate::Client), here and in the provider crates and the CLI.
//!
//! Script the answers to creates and status polls; anything unscripted gets
//! a sensible default (creates make a queued task `<name>-<n>`; polls report
//! success with one URL per requested image, or inline PNGs for a
//! [`Mode::Sync`] provider). Every call is recorded with the `tokio` clock,
//! so tests under paused time can check pacing.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use std::sync::Arc;
//! use imagegen_core::testing::{ScriptedProvider, errors};
//! use imagegen_core::{Client, ImageRequest};
//! let fake = Arc::new(ScriptedProvider::polled_api("fake"));
//! fake.push_submit(Err(errors::refused()));
//! let client = Client::builder().provider_arc(fake.clone()).build().unwrap();
//! let generation = client.generate(ImageRequest::new("lamp")).await.unwrap();
//! assert_eq!(generation.images.len(), 1);
//! assert_eq!(fake.submit_count(), 2); // a refused connection is retried
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;

use crate::capabilities::{Capabilities, Mode, tests_support};
use crate::error::Error;
use crate::provider::{ImageOutput, ImageProvider, SubmitOptions, TaskRef, TaskState, TaskStatus};
use crate::request::ImageRequest;
use crate::webhook::WebhookCall;

/// The smallest byte string [`sniff_image`](crate::download::sniff_image)
/// takes for a PNG (not a decodable image).
pub const FAKE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRfake-png-body";

/// Which trait method was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `submit`, with the request's prompt and count.
    Submit {
        /// The request's count.
        count: u32,
    },
    /// `status` of a task.
    Status(String),
    /// `result` of a task.
    Result(String),
    /// `cancel` of a task.
    Cancel(String),
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// What was called.
    pub op: Op,
    /// When (the `tokio` clock).
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Script {
    submits: VecDeque<Result<TaskStatus, Error>>,
    statuses: HashMap<String, VecDeque<Result<TaskStatus, Error>>>,
    results: HashMap<String, VecDeque<Result<TaskStatus, Error>>>,
    counts: HashMap<String, u32>,
    next_id: u32,
    calls: Vec<Call>,
}

/// A provider whose answers are scripted. See the [module docs](self).
#[derive(Debug)]
pub struct ScriptedProvider {
    name: String,
    caps: Capabilities,
    account: String,
    script: Mutex<Script>,
}

impl ScriptedProvider {
    /// A provider named `name` with `caps`, its own account.
    pub fn new(name: &str, caps: Capabilities) -> Self {
        ScriptedProvider {
            name: name.to_owned(),
            caps,
            account: format!("{name}:test-account"),
            script: Mutex::new(Script::default()),
        }
    }

    /// An asynchronous, one-image-per-task polled API
    /// (20 requests per 10 s, 2 s poll advice).
    pub fn polled_api(name: &str) -> Self {
        ScriptedProvider::new(name, tests_support::polled_api())
    }

    /// Uses `account` as the account id (share it to share budgets).
    pub fn with_account(mut self, account: &str) -> Self {
        self.account = account.to_owned();
        self
    }

    /// Changes the capabilities.
    pub fn with_capabilities(mut self, edit: impl FnOnce(&mut Capabilities)) -> Self {
        edit(&mut self.caps);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the answer to the next unscripted `submit`.
    pub fn push_submit(&self, answer: Result<TaskStatus, Error>) {
        self.lock().submits.push_back(answer);
    }

    /// Queues the answer to the next `status` of `task_id`.
    pub fn push_status(&self, task_id: &str, answer: Result<TaskStatus, Error>) {
        self.lock()
            .statuses
            .entry(task_id.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// Queues the answer to the next `result` of `task_id` (unscripted
    /// results succeed like unscripted statuses).
    pub fn push_result(&self, task_id: &str, answer: Result<TaskStatus, Error>) {
        self.lock()
            .results
            .entry(task_id.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many `submit` calls were made.
    pub fn submit_count(&self) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(c.op, Op::Submit { .. }))
            .count()
    }

    /// How many `result` calls were made for `task_id`.
    pub fn result_count(&self, task_id: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(&c.op, Op::Result(t) if t == task_id))
            .count()
    }

    /// How many `status` calls were made for `task_id`.
    pub fn status_count(&self, task_id: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(&c.op, Op::Status(t) if t == task_id))
            .count()
    }

    fn outputs(&self, task_id: &str, count: u32) -> Vec<ImageOutput> {
        (0..count)
            .map(|i| match self.caps.mode {
                Mode::Sync => ImageOutput::Inline {
                    data: Bytes::from_static(FAKE_PNG),
                    media_type: "image/png".to_owned(),
                    revised_prompt: None,
                },
                Mode::Async => ImageOutput::Url {
                    url: format!("https://images.invalid/{task_id}/{i}.png"),
                },
            })
            .collect()
    }
}

#[async_trait]
impl ImageProvider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn account_id(&self) -> String {
        self.account.clone()
    }

    async fn submit(
        &self,
        request: &ImageRequest,
        _options: &SubmitOptions,
    ) -> Result<TaskStatus, Error> {
        let mut script = self.lock();
        script.calls.push(Call {
            op: Op::Submit {
                count: request.count,
            },
            at: Instant::now(),
        });
        let answer = match script.submits.pop_front() {
            Some(answer) => answer,
            None => {
                script.next_id += 1;
                let task_id = format!("{}-{}", self.name, script.next_id);
                Ok(match self.caps.mode {
                    Mode::Sync => TaskStatus::new(&task_id, TaskState::Succeeded)
                        .with_outputs(self.outputs(&task_id, request.count)),
                    Mode::Async => TaskStatus::new(&task_id, TaskState::Queued),
                })
            }
        };
        if let Ok(status) = &answer {
            script.counts.insert(status.task_id.clone(), request.count);
        }
        answer
    }

    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        self.answer(Op::Status(task.id.clone()), &task.id)
    }

    async fn result(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        self.answer(Op::Result(task.id.clone()), &task.id)
    }

    async fn cancel(&self, task: &TaskRef) -> Result<(), Error> {
        self.lock().calls.push(Call {
            op: Op::Cancel(task.id.clone()),
            at: Instant::now(),
        });
        Ok(())
    }

    /// `task` from a JSON body, else from the query string.
    fn webhook_task(&self, call: &WebhookCall) -> Result<String, Error> {
        let id = call
            .field(&[&["task"]], "task")
            .ok_or_else(|| Error::invalid_request("the call names no task id"))?;
        crate::webhook::task_id(&id)
    }
}

impl ScriptedProvider {
    /// The scripted answer to a status or result call, or success.
    fn answer(&self, op: Op, task_id: &str) -> Result<TaskStatus, Error> {
        let mut script = self.lock();
        let scripted = match &op {
            Op::Result(_) => script.results.get_mut(task_id),
            _ => script.statuses.get_mut(task_id),
        }
        .and_then(|q| q.pop_front());
        script.calls.push(Call {
            op,
            at: Instant::now(),
        });
        if let Some(answer) = scripted {
            return answer;
        }
        let count = script.counts.get(task_id).copied().unwrap_or(1);
        Ok(TaskStatus::new(task_id, TaskState::Succeeded)
            .with_outputs(self.outputs(task_id, count))
            .with_credits(Some(10.0)))
    }
}

/// Errors shaped like the ones providers and the transport produce.
pub mod errors {
    use std::time::Duration;

    use crate::error::{Error, ErrorKind};

    /// A refused connection: never reached the server, retryable.
    pub fn refused() -> Error {
        Error::new(ErrorKind::Transport, "could not connect to 127.0.0.1").with_provider("fake")
    }
    /// A 500: may have been accepted, retryable.
    pub fn server() -> Error {
        Error::new(ErrorKind::Server, "internal server error")
            .with_provider("fake")
            .with_http_status(500)
            .with_may_have_reached_server(true)
    }
    /// A timeout after sending: may have been accepted, retryable.
    pub fn timeout_after_send() -> Error {
        Error::new(ErrorKind::Timeout, "no complete answer")
            .with_provider("fake")
            .with_may_have_reached_server(true)
    }
    /// `429 RATE_LIMITED`, optionally with `Retry-After`.
    pub fn rate_limited(retry_after: Option<Duration>) -> Error {
        let err = Error::new(ErrorKind::RateLimited, "rate limit exceeded")
            .with_provider("fake")
            .with_http_status(429)
            .with_code("RATE_LIMITED");
        match retry_after {
            Some(wait) => err.with_retry_after(wait),
            None => err,
        }
    }
    /// `429 USAGE_EXCEEDED`: the quota is gone, not retryable.
    pub fn usage_exceeded() -> Error {
        Error::new(ErrorKind::QuotaExhausted, "usage exceeded")
            .with_provider("fake")
            .with_http_status(429)
            .with_code("USAGE_EXCEEDED")
            .with_retryable(false)
    }
    /// 401.
    pub fn unauthorized() -> Error {
        Error::new(ErrorKind::Unauthorized, "invalid api key")
            .with_provider("fake")
            .with_http_status(401)
            .with_code("invalid_api_key")
    }
    /// 402.
    pub fn insufficient_credits() -> Error {
        Error::new(ErrorKind::InsufficientCredits, "insufficient balance")
            .with_provider("fake")
            .with_http_status(402)
            .with_code("insufficient_balance")
    }
    /// 404 for a task.
    pub fn not_found() -> Error {
        Error::new(ErrorKind::NotFound, "run not found")
            .with_provider("fake")
            .with_http_status(404)
    }
}
