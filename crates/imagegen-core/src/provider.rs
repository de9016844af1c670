//! The [`ImageProvider`] trait every provider crate implements, and the
//! provider-neutral task status it reports.
//!
//! A provider maps an [`ImageRequest`] onto its wire format, sends exactly one
//! HTTP request per call through [`crate::transport::HttpTransport`], and
//! parses the answer. It never sleeps, retries or polls: the
//! [`Client`](crate::Client) does that, the same way for every provider.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::error::Error;
use crate::request::ImageRequest;

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TaskState {
    /// Accepted, waiting for a worker.
    Queued,
    /// Being generated.
    Running,
    /// Done; the outputs are ready.
    Succeeded,
    /// The generation failed (content policy, model error). Whether it was
    /// charged is in [`TaskStatus::credits`].
    Failed {
        /// The provider's reason, for a person.
        message: String,
        /// The provider's code for it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Cancelled before it finished.
    Cancelled,
    /// A status string the provider is not documented to send. The client
    /// treats it as still in progress, warns once, and relies on its deadline.
    Unknown {
        /// The status exactly as the provider sent it.
        raw: String,
    },
}

impl TaskState {
    /// Whether the task will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed { .. } | TaskState::Cancelled
        )
    }

    /// A short name (`queued`, `running`, `succeeded`, `failed`, `cancelled`, `unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed { .. } => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Unknown { .. } => "unknown",
        }
    }
}

/// One generated image, as the provider hands it over.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ImageOutput {
    /// A URL to download (Runbase, gptimage15.ai).
    Url {
        /// The image URL.
        url: String,
    },
    /// Image bytes in the response itself (OpenAI's `b64_json`).
    Inline {
        /// The decoded image bytes.
        #[serde(with = "crate::serde_b64")]
        data: Bytes,
        /// `image/png`, `image/jpeg` or `image/webp`.
        media_type: String,
        /// The prompt as the provider rewrote it, if it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revised_prompt: Option<String>,
    },
}

impl fmt::Debug for ImageOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageOutput::Url { url } => f.debug_struct("Url").field("url", url).finish(),
            ImageOutput::Inline {
                data,
                media_type,
                revised_prompt,
            } => f
                .debug_struct("Inline")
                .field("bytes", &data.len())
                .field("media_type", media_type)
                .field("revised_prompt", revised_prompt)
                .finish(),
        }
    }
}

/// Token usage, as OpenAI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt and reference-image tokens.
    pub input_tokens: u64,
    /// Generated image tokens.
    pub output_tokens: u64,
    /// The sum.
    pub total_tokens: u64,
}

/// A task as the provider last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskStatus {
    /// The provider's task id (synthesised for synchronous providers).
    pub task_id: String,
    /// Where the task is.
    pub state: TaskState,
    /// The images, once [`TaskState::Succeeded`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ImageOutput>,
    /// Credits the provider says the task consumed (0 for a refunded failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// Token usage, for providers that bill by token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// The status exactly as the provider sent it (`"IN_PROGRESS"`, `"1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_status: Option<String>,
}

impl TaskStatus {
    /// A status with no outputs, credits or usage.
    pub fn new(task_id: impl Into<String>, state: TaskState) -> Self {
        TaskStatus {
            task_id: task_id.into(),
            state,
            outputs: Vec::new(),
            credits: None,
            usage: None,
            raw_status: None,
        }
    }
    /// Sets the outputs.
    pub fn with_outputs(mut self, outputs: Vec<ImageOutput>) -> Self {
        self.outputs = outputs;
        self
    }
    /// Sets the credits consumed.
    pub fn with_credits(mut self, credits: Option<f64>) -> Self {
        self.credits = credits;
        self
    }
    /// Sets the token usage.
    pub fn with_usage(mut self, usage: Option<TokenUsage>) -> Self {
        self.usage = usage;
        self
    }
    /// Sets the raw status string.
    pub fn with_raw_status(mut self, raw: impl Into<String>) -> Self {
        self.raw_status = Some(raw.into());
        self
    }
}

/// An image API: maps requests, sends one HTTP request per call, parses.
///
/// Implementations never sleep, retry or poll; the [`Client`](crate::Client)
/// owns timing. Every method makes at most one HTTP request, so the client can
/// count it against the key's rate budget and decide about retries.
///
/// A minimal provider (see `cargo xtask new-provider` for a full skeleton):
///
/// ```
/// use async_trait::async_trait;
/// use imagegen_core::{Capabilities, Error, ImageProvider, ImageRequest, TaskStatus};
///
/// #[derive(Debug)]
/// struct Nothing(Capabilities);
///
/// #[async_trait]
/// impl ImageProvider for Nothing {
///     fn name(&self) -> &str { "nothing" }
///     fn capabilities(&self) -> &Capabilities { &self.0 }
///     fn account_id(&self) -> String { "nothing".into() }
///     async fn submit(&self, _: &ImageRequest) -> Result<TaskStatus, Error> {
///         Err(Error::not_implemented("nothing", "submit"))
///     }
///     async fn status(&self, _: &str) -> Result<TaskStatus, Error> {
///         Err(Error::not_implemented("nothing", "status"))
///     }
/// }
/// ```
#[async_trait]
pub trait ImageProvider: Send + Sync + fmt::Debug {
    /// The provider's short name (`runbase`), used in errors, logs, task
    /// handles and the CLI's `--provider`.
    fn name(&self) -> &str;

    /// What the provider offers.
    fn capabilities(&self) -> &Capabilities;

    /// A stable, non-secret id of the account behind this provider instance
    /// (e.g. a hash of base URL and API key). Instances with the same id share
    /// one rate budget and one retry budget. Must never contain the key.
    fn account_id(&self) -> String;

    /// Sends one create request for `request` (already checked against
    /// [`capabilities`](Self::capabilities), reference images already in the
    /// form the provider takes, `count` no more than
    /// `max_images_per_request`).
    ///
    /// Asynchronous providers return the new task, usually
    /// [`TaskState::Queued`] or [`TaskState::Running`]; synchronous ones return
    /// a finished task with its outputs. A failure after the request may have
    /// reached the server must be marked
    /// [`Error::with_may_have_reached_server`] (the transport does this).
    async fn submit(&self, request: &ImageRequest) -> Result<TaskStatus, Error>;

    /// Sends one status request for `task_id`.
    async fn status(&self, task_id: &str) -> Result<TaskStatus, Error>;

    /// Asks the provider to cancel `task_id`. Most image APIs cannot; the
    /// default says so with [`ErrorKind::NotImplemented`](crate::ErrorKind::NotImplemented).
    async fn cancel(&self, task_id: &str) -> Result<(), Error> {
        let _ = task_id;
        Err(Error::not_implemented(self.name(), "cancel"))
    }
}
