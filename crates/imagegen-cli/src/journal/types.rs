//! The journal's rows: job states, jobs, outputs, summaries.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where a job is. Stored as the lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Recorded; its create was never sent.
    Pending,
    /// The line or request is invalid; never sent, never retried.
    Invalid,
    /// Its create is being sent: it may have reached the server.
    Submitting,
    /// Its create failed in a way that may have reached the server (a 5xx,
    /// a dropped connection): it may have been accepted and paid for.
    Ambiguous,
    /// The provider accepted it; the task id is known. Polled, never resent.
    Submitted,
    /// The deadline ran out while polling; the task id is known.
    TimedOut,
    /// The images are saved.
    Done,
    /// The provider refused the create, or the generation failed.
    Failed,
    /// Not submitted because `--max-credits` would have been passed.
    Skipped,
}

impl JobState {
    /// Every state, in display order.
    pub const ALL: [JobState; 9] = [
        JobState::Done,
        JobState::Failed,
        JobState::Invalid,
        JobState::Ambiguous,
        JobState::Submitting,
        JobState::Submitted,
        JobState::TimedOut,
        JobState::Pending,
        JobState::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Invalid => "invalid",
            JobState::Submitting => "submitting",
            JobState::Ambiguous => "ambiguous",
            JobState::Submitted => "submitted",
            JobState::TimedOut => "timed_out",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a create for this job may have reached the server while we
    /// do not know its task id.
    pub fn is_ambiguous(self) -> bool {
        matches!(self, JobState::Submitting | JobState::Ambiguous)
    }
}

/// A job to record when a batch starts.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Line of the batch file.
    pub line: usize,
    /// Index among the line's `n` images.
    pub copy: u32,
    /// File-name stem, if the line named one.
    pub name: Option<String>,
    /// The prompt (or the raw line, for an invalid one).
    pub prompt: String,
    /// Provider fallback order.
    pub providers: Vec<String>,
    /// The request as JSON; `None` for an invalid line.
    pub request: Option<String>,
    /// Why the line is invalid, if it is.
    pub invalid: Option<String>,
    /// Estimated credits of the job.
    pub est_credits: f64,
}

/// A job as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// Job number (1-based, file order).
    pub id: i64,
    /// Line of the batch file.
    pub line: i64,
    /// Index among the line's images.
    pub copy: i64,
    /// File-name stem, if the line named one.
    pub name: Option<String>,
    /// The prompt.
    pub prompt: String,
    /// Provider fallback order.
    pub providers: Vec<String>,
    /// The request JSON.
    #[serde(skip)]
    pub request: Option<String>,
    /// Current state.
    pub state: JobState,
    /// The provider the create was sent to.
    pub provider: Option<String>,
    /// The provider's task id, once known.
    pub task_id: Option<String>,
    /// The serialized task handle.
    #[serde(skip)]
    pub handle: Option<String>,
    /// Kind of the last error.
    pub error_kind: Option<String>,
    /// The last error, for a person.
    pub error: Option<String>,
    /// Credits the provider reported.
    pub credits: Option<f64>,
    /// Credits estimated before submitting.
    pub est_credits: Option<f64>,
    /// How many creates were sent.
    pub attempts: i64,
}

/// One saved image.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputRow {
    /// Index among the job's images.
    pub idx: i64,
    /// Where it was saved.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// File size.
    pub bytes: Option<i64>,
    /// Width in pixels, when known.
    pub width: Option<i64>,
    /// Height in pixels, when known.
    pub height: Option<i64>,
    /// Where it was downloaded from.
    pub url: Option<String>,
}

/// Counts and credits of a journal.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Jobs by state name.
    pub by_state: BTreeMap<String, u64>,
    /// All jobs.
    pub total: u64,
    /// Credits the providers reported, summed.
    pub credits_reported: f64,
    /// Credits estimated for jobs that were sent but reported none.
    pub credits_estimated: f64,
    /// Images saved.
    pub images: u64,
}

impl Summary {
    /// Jobs in `state`.
    pub fn count(&self, state: JobState) -> u64 {
        self.by_state.get(state.as_str()).copied().unwrap_or(0)
    }
}
