//! What the client hands back: task handles to persist, and finished
//! generations with everything that was paid for.
//!
//! A [`TaskHandle`] is serializable so a caller can write it down the moment
//! a create is accepted and resume waiting after a crash, in another process.
//! A [`Generation`] keeps every image that came out even when sibling tasks
//! failed, because those images are already paid for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::capabilities::Warning;
use crate::error::Error;
use crate::provider::{ImageOutput, TaskLinks, TaskRef, TaskStatus, TokenUsage};
use crate::request::ImageRequest;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One accepted task, enough to wait for it later, even in another process.
///
/// ```
/// use imagegen_core::{ImageRequest, TaskHandle};
/// let handle = TaskHandle::new("runbase", "run_123", ImageRequest::new("lamp"));
/// let json = serde_json::to_string(&handle).unwrap();
/// let back: TaskHandle = serde_json::from_str(&json).unwrap();
/// assert_eq!(back.task_id, "run_123");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskHandle {
    /// The provider's name (as in [`ImageProvider::name`](crate::ImageProvider::name)).
    pub provider: String,
    /// The provider's task id.
    pub task_id: String,
    /// The URLs the create answer handed out for the task, if any.
    #[serde(default, skip_serializing_if = "TaskLinks::is_empty")]
    pub links: TaskLinks,
    /// The request as sent for this task (its `count` is this task's share).
    pub request: ImageRequest,
    /// When the create was accepted, in Unix milliseconds.
    pub submitted_at: u64,
    /// For synchronous providers (and tasks that finished at once): the
    /// finished status, inline image bytes included (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<TaskStatus>,
    /// When this process made the handle, by the runtime's clock (see
    /// [`TaskHandle::age`]); not stored.
    #[serde(skip)]
    made: MadeAt,
}

/// The runtime's instant a handle was made in this process. Not part of a
/// handle's identity: a handle read back from a journal is the same task.
#[derive(Debug, Clone, Copy, Default)]
struct MadeAt(Option<tokio::time::Instant>);

impl PartialEq for MadeAt {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl TaskHandle {
    /// A handle for a task submitted now, not finished.
    pub fn new(
        provider: impl Into<String>,
        task_id: impl Into<String>,
        request: ImageRequest,
    ) -> Self {
        TaskHandle {
            provider: provider.into(),
            task_id: task_id.into(),
            links: TaskLinks::default(),
            request,
            submitted_at: unix_ms_now(),
            finished: None,
            made: MadeAt(Some(tokio::time::Instant::now())),
        }
    }

    /// How long ago the create was accepted. By the runtime's clock when
    /// this process made the handle (so paused-time tests see exact
    /// schedules, where `submitted_at`'s wall-clock milliseconds would put
    /// a poll a millisecond early), unless `submitted_at` says the create is
    /// more than a second older than that: a handle rebuilt from a record
    /// (a resumed task), whose age only the wall clock knows.
    pub(crate) fn age(&self) -> Duration {
        let wall = Duration::from_millis(unix_ms_now().saturating_sub(self.submitted_at));
        match self.made.0.map(|made| made.elapsed()) {
            Some(here) if wall <= here + Duration::from_secs(1) => here,
            _ => wall,
        }
    }

    /// The task as a status or result request names it.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef::new(self.task_id.clone()).with_links(self.links.clone())
    }
}

/// The result of [`Client::submit`](crate::Client::submit): the accepted
/// tasks, what was adjusted, and the creates that failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct Submission {
    /// One handle per accepted task.
    pub handles: Vec<TaskHandle>,
    /// Settings adjusted under best-effort, and providers skipped by fallback.
    pub warnings: Vec<Warning>,
    /// Creates that failed while others were accepted. A failure with
    /// [`Error::may_have_reached_server`] may still have been charged.
    pub failures: Vec<TaskFailure>,
    /// The whole request as checked and sent (before the fan-out split).
    pub request: ImageRequest,
}

/// A task (or a create) that produced no image.
///
/// Serializes as `{task_id, kind, message, provider, http_status, code,
/// hint, retryable, may_have_reached_server}`.
#[derive(Debug)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The task, if a create was accepted.
    pub task_id: Option<String>,
    /// What went wrong.
    pub error: Error,
}

impl Serialize for TaskFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = &self.error;
        let mut s = serializer.serialize_struct("TaskFailure", 9)?;
        s.serialize_field("task_id", &self.task_id)?;
        s.serialize_field("kind", &e.kind())?;
        s.serialize_field("message", e.message())?;
        s.serialize_field("provider", &e.provider())?;
        s.serialize_field("http_status", &e.http_status())?;
        s.serialize_field("code", &e.code())?;
        s.serialize_field("hint", &e.hint())?;
        s.serialize_field("retryable", &e.is_retryable())?;
        s.serialize_field("may_have_reached_server", &e.may_have_reached_server())?;
        s.end()
    }
}

/// One image of a generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct GeneratedImage {
    /// The task that made it.
    pub task_id: String,
    /// Its position among its task's outputs (0-based).
    pub index: u32,
    /// A URL to download or the bytes themselves.
    pub output: ImageOutput,
}

/// What one task cost and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskSummary {
    /// The provider's task id.
    pub task_id: String,
    /// The final state's name (`succeeded`, `failed`, ...), or `timeout` /
    /// `cancelled` / `error` when waiting ended without a final state.
    pub state: String,
    /// Credits the provider reported for the task.
    pub credits: Option<f64>,
    /// Token usage the provider reported.
    pub usage: Option<TokenUsage>,
    /// Status requests sent for this task (retries included).
    pub polls: u32,
    /// When the create was accepted (Unix ms).
    pub submitted_at: u64,
    /// When waiting ended (Unix ms).
    pub finished_at: u64,
}

/// When a generation ran and how long its parts took (durations in
/// milliseconds in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Timings {
    /// The earliest accepted create (Unix ms).
    pub submitted_at: u64,
    /// When the last task ended (Unix ms).
    pub finished_at: u64,
    /// Time spent creating tasks; `None` when waiting on handles from earlier.
    #[serde(rename = "create_ms", serialize_with = "opt_ms")]
    pub create: Option<Duration>,
    /// Time spent waiting for the tasks.
    #[serde(rename = "wait_ms", with = "crate::serde_duration_ms")]
    pub wait: Duration,
}

fn opt_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

/// A finished generation: every image that came out, what it cost, and what
/// went wrong along the way. Serializes to JSON for reports (inline images
/// as base64).
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct Generation {
    /// The provider that made the images.
    pub provider: String,
    /// The images, task by task in submission order.
    pub images: Vec<GeneratedImage>,
    /// One summary per accepted task.
    pub tasks: Vec<TaskSummary>,
    /// The sum of the credits reported; `None` if no task reported any.
    pub credits: Option<f64>,
    /// The sum of the token usage reported; `None` if none was.
    pub usage: Option<TokenUsage>,
    /// Adjusted settings, skipped providers, undocumented statuses.
    pub warnings: Vec<Warning>,
    /// Tasks and creates that produced no image (the images above are kept).
    pub failures: Vec<TaskFailure>,
    /// When and how long.
    pub timings: Timings,
    /// Status requests sent in all.
    pub polls: u32,
    /// The request as checked and sent.
    pub request: ImageRequest,
}

impl Generation {
    /// The images.
    pub fn images(&self) -> &[GeneratedImage] {
        &self.images
    }
    /// The ids of the accepted tasks.
    pub fn task_ids(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.task_id.as_str()).collect()
    }
    /// Whether every task succeeded and every create was accepted.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
    /// The credits reported for `task_id`.
    pub fn task_credits(&self, task_id: &str) -> Option<f64> {
        self.tasks
            .iter()
            .find(|t| t.task_id == task_id)
            .and_then(|t| t.credits)
    }
}

#[cfg(test)]
impl Generation {
    /// A generation of `images` from one task `task_id` that cost `credits`.
    pub(crate) fn for_tests(
        provider: &str,
        request: ImageRequest,
        images: Vec<GeneratedImage>,
        credits: Option<f64>,
    ) -> Generation {
        let tasks = images
            .iter()
            .map(|i| TaskSummary {
                task_id: i.task_id.clone(),
                state: "succeeded".into(),
                credits,
                usage: None,
                polls: 1,
                submitted_at: 0,
                finished_at: 0,
            })
            .collect();
        Generation {
            provider: provider.to_owned(),
            images,
            tasks,
            credits,
            usage: None,
            warnings: Vec::new(),
            failures: Vec::new(),
            timings: Timings {
                submitted_at: 0,
                finished_at: 0,
                create: None,
                wait: Duration::ZERO,
            },
            polls: 1,
            request,
        }
    }
}

impl GeneratedImage {
    /// An image of task `task_id` at `index`.
    pub fn new(task_id: impl Into<String>, index: u32, output: ImageOutput) -> Self {
        GeneratedImage {
            task_id: task_id.into(),
            index,
            output,
        }
    }
}

/// Adds the outputs of a finished status to `images`.
pub(crate) fn push_outputs(images: &mut Vec<GeneratedImage>, status: &TaskStatus) {
    for (index, output) in status.outputs.iter().enumerate() {
        images.push(GeneratedImage {
            task_id: status.task_id.clone(),
            index: index as u32,
            output: output.clone(),
        });
    }
}

/// Sums optional credits: `None` only if none were reported.
pub(crate) fn add_credits(total: Option<f64>, more: Option<f64>) -> Option<f64> {
    match (total, more) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// Sums optional token usage.
pub(crate) fn add_usage(total: Option<TokenUsage>, more: Option<TokenUsage>) -> Option<TokenUsage> {
    match (total, more) {
        (None, None) => None,
        (a, b) => {
            let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
            Some(TokenUsage {
                input_tokens: a.input_tokens + b.input_tokens,
                output_tokens: a.output_tokens + b.output_tokens,
                total_tokens: a.total_tokens + b.total_tokens,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_handle_made_here_ages_by_the_runtime_clock_and_a_record_by_the_wall_clock() {
        let handle = TaskHandle::new("runbase", "run_1", ImageRequest::new("lamp"));
        tokio::time::advance(Duration::from_secs(5)).await;
        // Paused time: exactly, whatever the wall clock did meanwhile.
        assert_eq!(handle.age(), Duration::from_secs(5));
        // The same handle read back from a journal: only the wall clock knows.
        let json = serde_json::to_string(&handle).unwrap();
        let read: TaskHandle = serde_json::from_str(&json).unwrap();
        assert_eq!(read, handle, "the same task");
        assert!(read.age() < Duration::from_secs(1), "{:?}", read.age());
        // Rebuilt from a record of a create a minute ago.
        let mut resumed = TaskHandle::new("runbase", "run_1", ImageRequest::new("lamp"));
        resumed.submitted_at = unix_ms_now() - 60_000;
        let age = resumed.age();
        assert!(
            age >= Duration::from_secs(60) && age < Duration::from_secs(61),
            "{age:?}"
        );
    }
}
