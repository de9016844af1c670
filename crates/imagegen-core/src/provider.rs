//! The [`ImageProvider`] trait the [`Client`](crate::Client) drives, and the
//! provider-neutral task it reports.
//!
//! Every built-in provider is a [`Codec`](crate::codec::Codec) (a pure
//! mapping between the common request and the provider's HTTP messages)
//! adapted to this trait by the core's
//! [`HttpProvider`](crate::HttpProvider), which alone sends HTTP. The trait
//! stays public as the extension point for backends that are not an HTTP API
//! of this shape (an in-process model, a queue); its methods are each one
//! unit the client counts against the account's budgets and may retry.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::error::{Error, ErrorKind};
use crate::request::ImageRequest;
use crate::webhook::WebhookCall;

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TaskState {
    /// Accepted, waiting for a worker.
    Queued,
    /// Being generated.
    Running,
    /// The provider says the task is finished, but its outcome (images or
    /// the model's error) is only known from a separate result request
    /// ([`ImageProvider::result`]). Not terminal: the client fetches the
    /// result at once.
    ResultReady,
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
    /// Cancelled (or aborted by a deadline) before it finished.
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

    /// A short name (`queued`, `running`, `result_ready`, `succeeded`,
    /// `failed`, `cancelled`, `unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::ResultReady => "result_ready",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed { .. } => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Unknown { .. } => "unknown",
        }
    }

    /// A failure with `message` and an optional provider `code`.
    pub fn failed(message: impl Into<String>, code: Option<String>) -> TaskState {
        TaskState::Failed {
            message: message.into(),
            code,
        }
    }

    /// A failure with the provider's `reason` if it gave a non-blank one.
    pub fn failed_because(reason: Option<&str>, code: Option<String>) -> TaskState {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        TaskState::failed(
            reason.unwrap_or("the task failed; the provider gave no reason"),
            code,
        )
    }
}

/// One generated image, as the provider hands it over.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ImageOutput {
    /// A URL to download.
    Url {
        /// The image URL.
        url: String,
    },
    /// Image bytes in the answer itself (base64 in JSON, or a `data:` URI).
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

impl ImageOutput {
    /// An output from a string a provider calls a URL: a `data:` URI
    /// (`data:image/png;base64,...`) is decoded to inline bytes, anything
    /// else is kept as a URL to download. A `data:` URI that is not base64
    /// image data is a [`ErrorKind::Decode`] error.
    pub fn from_url(url: impl Into<String>) -> Result<ImageOutput, Error> {
        let url = url.into();
        let Some(rest) = url.strip_prefix("data:") else {
            return Ok(ImageOutput::Url { url });
        };
        let (header, payload) = rest.split_once(',').unwrap_or(("", ""));
        let Some(media_type) = header.strip_suffix(";base64") else {
            return Err(Error::new(
                ErrorKind::Decode,
                "a data: URI output is not base64-encoded",
            ));
        };
        ImageOutput::from_base64(payload, media_type)
    }

    /// An output a provider sends as text that is either a URL (or `data:`
    /// URI, see [`from_url`](Self::from_url)) or, for APIs that answer
    /// base64 in place of URLs when asked, bare base64 image data of
    /// `media_type` (see [`from_base64`](Self::from_base64)).
    pub fn from_text(text: &str, media_type: &str) -> Result<ImageOutput, Error> {
        let text = text.trim();
        if ["http://", "https://", "data:"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            ImageOutput::from_url(text)
        } else {
            ImageOutput::from_base64(text, media_type)
        }
    }

    /// Inline bytes from base64 `text`; `media_type` is what the provider
    /// says (the bytes decide when they are recognizably PNG, JPEG or WebP).
    pub fn from_base64(text: &str, media_type: &str) -> Result<ImageOutput, Error> {
        let data = base64::engine::general_purpose::STANDARD
            .decode(text.trim().as_bytes())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Decode,
                    format!("an image is not valid base64: {e}"),
                )
                .with_source(e)
            })?;
        let media_type = crate::magic::sniff_image(&data).unwrap_or(media_type);
        Ok(ImageOutput::Inline {
            media_type: media_type.to_owned(),
            data: Bytes::from(data),
            revised_prompt: None,
        })
    }
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

/// URLs a create answer handed out for its task (fal's `status_url` and
/// `response_url`, Replicate's `urls.get`). They are kept with the task and
/// used as they are, never rebuilt, because some providers' status and
/// result paths differ from the create path in ways only they know.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskLinks {
    /// Where the task's status is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Where its result is read, for providers with a separate result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Where it is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
}

impl TaskLinks {
    /// The links a create answer handed out: where the task's status, its
    /// result and its cancel requests go.
    pub fn new(status: Option<String>, result: Option<String>, cancel: Option<String>) -> Self {
        TaskLinks {
            status,
            result,
            cancel,
        }
    }
    /// Whether no link is set.
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.result.is_none() && self.cancel.is_none()
    }
    /// Sets the status link.
    pub fn status(mut self, url: Option<String>) -> Self {
        self.status = url;
        self
    }
    /// Sets the result link.
    pub fn result(mut self, url: Option<String>) -> Self {
        self.result = url;
        self
    }
    /// Sets the cancel link.
    pub fn cancel(mut self, url: Option<String>) -> Self {
        self.cancel = url;
        self
    }
}

/// A task as a status or result request names it: its id and the links its
/// create answer handed out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskRef {
    /// The provider's task id.
    pub id: String,
    /// The URLs the create answer gave for it, if any.
    #[serde(default, skip_serializing_if = "TaskLinks::is_empty")]
    pub links: TaskLinks,
}

impl TaskRef {
    /// A task known by its id alone.
    pub fn new(id: impl Into<String>) -> Self {
        TaskRef {
            id: id.into(),
            links: TaskLinks::default(),
        }
    }
    /// The same task with `links`.
    pub fn with_links(mut self, links: TaskLinks) -> Self {
        self.links = links;
        self
    }
}

impl From<&str> for TaskRef {
    fn from(id: &str) -> Self {
        TaskRef::new(id)
    }
}

impl From<&String> for TaskRef {
    fn from(id: &String) -> Self {
        TaskRef::new(id.as_str())
    }
}

impl From<String> for TaskRef {
    fn from(id: String) -> Self {
        TaskRef::new(id)
    }
}

impl From<&TaskRef> for TaskRef {
    fn from(task: &TaskRef) -> Self {
        task.clone()
    }
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
    /// URLs the answer handed out for the task (see [`TaskLinks`]).
    #[serde(default, skip_serializing_if = "TaskLinks::is_empty")]
    pub links: TaskLinks,
    /// How long the task took from its create to done by the provider's
    /// own clock, when its answer says (Runbase's and Replicate's
    /// `created_at` and `completed_at`). The client learns task durations from it exactly,
    /// however late its poll came.
    #[serde(
        default,
        rename = "reported_duration_ms",
        with = "crate::serde_duration_ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub reported_duration: Option<Duration>,
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
            links: TaskLinks::default(),
            reported_duration: None,
        }
    }
    /// Sets the outputs.
    pub fn with_outputs(mut self, outputs: Vec<ImageOutput>) -> Self {
        self.outputs = outputs;
        self
    }
    /// Sets the outputs from URLs (or `data:` URIs, see
    /// [`ImageOutput::from_url`]); blank strings are skipped.
    pub fn with_urls<S: Into<String>>(
        mut self,
        urls: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        for url in urls {
            let url: String = url.into();
            if !url.trim().is_empty() {
                self.outputs.push(ImageOutput::from_url(url.trim())?);
            }
        }
        Ok(self)
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
    /// Sets the links the answer handed out.
    pub fn with_links(mut self, links: TaskLinks) -> Self {
        self.links = links;
        self
    }
    /// Sets [`reported_duration`](Self::reported_duration) from the
    /// provider's RFC 3339 creation and completion times; left unset when
    /// either is missing or unreadable, or they are out of order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use imagegen_core::{TaskState, TaskStatus};
    /// let status = TaskStatus::new("run_1", TaskState::Succeeded).with_reported_times(
    ///     Some("2026-12-01T16:40:00.100Z"),
    ///     Some("2026-12-01T16:40:09.350Z"),
    /// );
    /// assert_eq!(status.reported_duration, Some(Duration::from_millis(9250)));
    /// ```
    pub fn with_reported_times<S: AsRef<str>>(
        mut self,
        created: Option<S>,
        completed: Option<S>,
    ) -> Self {
        let parse = |text: Option<S>| {
            let text = text?;
            time::OffsetDateTime::parse(
                text.as_ref(),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        };
        if let (Some(created), Some(completed)) = (parse(created), parse(completed)) {
            self.reported_duration = Duration::try_from(completed - created).ok();
        }
        self
    }
    /// The task as a later status or result request names it.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef::new(self.task_id.clone()).with_links(self.links.clone())
    }
}

/// How the caller will use a create, for providers that can adapt the
/// request to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubmitOptions {
    /// The caller waits for the result right after the create: a provider
    /// that can hold the create open until the task is done (Replicate's
    /// `Prefer: wait`) may do so for at most this long. `None` when the
    /// caller only submits.
    pub hold: Option<Duration>,
    /// How long the caller will wait for the task in all, for providers
    /// that take a deadline with the create (Replicate's `Cancel-After`).
    pub deadline: Option<Duration>,
}

impl SubmitOptions {
    /// Submit only: no hold, no deadline.
    pub fn new() -> Self {
        SubmitOptions::default()
    }
    /// Sets the hold.
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = Some(hold);
        self
    }
    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// An image backend the [`Client`](crate::Client) drives.
///
/// Built-in providers are [`Codec`](crate::codec::Codec)s wrapped in the
/// core's [`HttpProvider`](crate::HttpProvider); implement this trait
/// directly only for a backend that is not such an HTTP API. Each method is
/// one unit of work that the client counts against the account's rate
/// budget and may retry; implementations never sleep, retry or poll.
///
/// A minimal backend:
///
/// ```
/// use async_trait::async_trait;
/// use imagegen_core::{Capabilities, Error, ImageProvider, ImageRequest, SubmitOptions, TaskRef, TaskStatus};
///
/// #[derive(Debug)]
/// struct Nothing(Capabilities);
///
/// #[async_trait]
/// impl ImageProvider for Nothing {
///     fn name(&self) -> &str { "nothing" }
///     fn capabilities(&self) -> &Capabilities { &self.0 }
///     fn account_id(&self) -> String { "nothing".into() }
///     async fn submit(&self, _: &ImageRequest, _: &SubmitOptions) -> Result<TaskStatus, Error> {
///         Err(Error::not_implemented("nothing", "submit"))
///     }
///     async fn status(&self, _: &TaskRef) -> Result<TaskStatus, Error> {
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

    /// Sends one create for `request` (already checked against
    /// [`capabilities`](Self::capabilities), reference images already in the
    /// form the provider takes, `count` no more than
    /// `max_images_per_request`).
    ///
    /// Returns the new task (queued or running), or a finished one for a
    /// synchronous provider. A failure after the request may have reached the
    /// server must be marked [`Error::with_may_have_reached_server`].
    async fn submit(
        &self,
        request: &ImageRequest,
        options: &SubmitOptions,
    ) -> Result<TaskStatus, Error>;

    /// Asks once for the status of `task`.
    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error>;

    /// Fetches once the result of a task whose status was
    /// [`TaskState::ResultReady`]. The default says the provider has no
    /// separate result.
    async fn result(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let _ = task;
        Err(Error::not_implemented(self.name(), "result"))
    }

    /// Asks the provider to cancel `task`. Most image APIs cannot; the
    /// default says so with [`ErrorKind::NotImplemented`].
    async fn cancel(&self, task: &TaskRef) -> Result<(), Error> {
        let _ = task;
        Err(Error::not_implemented(self.name(), "cancel"))
    }

    /// The task a webhook call is about, after verifying the call where the
    /// provider signs its webhooks. Nothing else in the call is trusted: the
    /// client confirms with an authenticated status request. The default
    /// says the provider has no webhooks.
    fn webhook_task(&self, call: &WebhookCall) -> Result<String, Error> {
        let _ = call;
        Err(Error::not_implemented(self.name(), "webhooks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_become_inline_bytes_and_urls_stay_urls() {
        let png = crate::testing::FAKE_PNG;
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        let inline = ImageOutput::from_url(format!("data:image/webp;base64,{b64}")).unwrap();
        let ImageOutput::Inline {
            data, media_type, ..
        } = inline
        else {
            panic!("inline expected")
        };
        assert_eq!(&data[..], png);
        assert_eq!(media_type, "image/png", "the bytes decide");
        assert_eq!(
            ImageOutput::from_url("https://cdn.example/x.png").unwrap(),
            ImageOutput::Url {
                url: "https://cdn.example/x.png".into()
            }
        );
        assert!(ImageOutput::from_url("data:image/png,raw").is_err());
        assert!(ImageOutput::from_url("data:image/png;base64,%%%").is_err());
    }

    #[test]
    fn text_outputs_are_urls_data_uris_or_bare_base64() {
        let png = crate::testing::FAKE_PNG;
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        for text in [b64.clone(), format!(" data:image/png;base64,{b64} ")] {
            let ImageOutput::Inline { data, .. } =
                ImageOutput::from_text(&text, "image/png").unwrap()
            else {
                panic!("inline expected for {text}")
            };
            assert_eq!(&data[..], png);
        }
        assert_eq!(
            ImageOutput::from_text(" https://cdn.example/x.png", "image/png").unwrap(),
            ImageOutput::Url {
                url: "https://cdn.example/x.png".into()
            }
        );
        assert!(ImageOutput::from_text("not base64!", "image/png").is_err());
    }

    #[test]
    fn with_urls_skips_blanks() {
        let status = TaskStatus::new("t", TaskState::Succeeded)
            .with_urls([" https://a/1.png ", "", "  "])
            .unwrap();
        assert_eq!(
            status.outputs,
            [ImageOutput::Url {
                url: "https://a/1.png".into()
            }]
        );
    }
}
