//! Jobs as a store records them: states, jobs, outputs, summaries.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Where a job is. Stored as its lower-case name; a store refuses a name
/// it does not know rather than guess.
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
    /// Its create failed before anything could be charged (connection
    /// refused, 429, deadline before sending): it is submitted again.
    Retryable,
    /// The provider accepted it; the task id is known. Polled, never resent.
    Submitted,
    /// The deadline ran out while polling; the task id is known.
    TimedOut,
    /// The images are saved.
    Done,
    /// The provider refused the create, or the generation failed.
    Failed,
    /// Not submitted because the credit limit would have been passed.
    Skipped,
}

impl JobState {
    /// Every state, in display order.
    pub const ALL: [JobState; 10] = [
        JobState::Done,
        JobState::Failed,
        JobState::Invalid,
        JobState::Ambiguous,
        JobState::Submitting,
        JobState::Submitted,
        JobState::TimedOut,
        JobState::Retryable,
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
            JobState::Retryable => "retryable",
            JobState::Submitted => "submitted",
            JobState::TimedOut => "timed_out",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
        }
    }

    /// Parses a stored name; `None` for a name this version does not know.
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a create for this job may have reached the server while its
    /// task id is unknown.
    pub fn is_ambiguous(self) -> bool {
        matches!(self, JobState::Submitting | JobState::Ambiguous)
    }

    /// Whether the job will not change without the user asking
    /// (`--retry-failed`, `--retry-ambiguous`).
    pub fn is_settled(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Invalid)
    }

    /// Whether no worker will move the job on by itself: settled, or
    /// ambiguous (handed out again only on an explicit opt-in). What an
    /// application waiting on a job waits for.
    pub fn is_final(self) -> bool {
        self.is_settled() || self == JobState::Ambiguous
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a provider's API was reached: a base URL, or the in-process
/// simulator (whose state lives in the batch folder). Serialized as it is
/// stored: the URL, or `sim`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A base URL (the provider's default, a variable's, or `--base-url`).
    Url(String),
    /// The simulator started by `--sim`.
    Sim,
}

impl Endpoint {
    /// How it is stored: the URL, or `sim`.
    pub fn as_stored(&self) -> &str {
        match self {
            Endpoint::Url(url) => url,
            Endpoint::Sim => "sim",
        }
    }

    /// Reads the stored form.
    pub fn from_stored(text: &str) -> Endpoint {
        match text {
            "sim" => Endpoint::Sim,
            url => Endpoint::Url(url.to_owned()),
        }
    }

    /// The host, for sidecars and messages: never a key, user info or query.
    pub fn host(&self) -> String {
        match self {
            Endpoint::Sim => "simulator".to_owned(),
            Endpoint::Url(url) => imagegen_core::codec::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown host".to_owned()),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_stored())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Sim => f.write_str("the simulator (--sim)"),
            Endpoint::Url(url) => f.write_str(url),
        }
    }
}

/// A job to record.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Line of the batch file (0 for a job not from a file).
    pub line: usize,
    /// Index among the line's images.
    pub copy: u32,
    /// File-name stem, if the line named one.
    pub name: Option<String>,
    /// The prompt (or the raw line, for an invalid one).
    pub prompt: String,
    /// Provider fallback order.
    pub providers: Vec<String>,
    /// The request as JSON (with its provider options); `None` for an
    /// invalid line.
    pub request: Option<String>,
    /// `strict` or `best_effort`: what to do with settings a provider lacks.
    pub strictness: String,
    /// Why the line is invalid, if it is.
    pub invalid: Option<String>,
}

impl NewJob {
    /// A job for one image of `request` from an application (not a batch
    /// file: line 0), tried at `providers` in order, with `strictness`:
    /// everything a worker needs to send it.
    pub fn for_request(
        request: &imagegen_core::ImageRequest,
        providers: &[&str],
        strictness: imagegen_core::Strictness,
    ) -> NewJob {
        NewJob {
            line: 0,
            copy: 0,
            name: None,
            prompt: request.prompt.clone(),
            providers: providers.iter().map(|p| (*p).to_owned()).collect(),
            request: Some(serde_json::to_string(request).expect("requests serialize")),
            strictness: match strictness {
                imagegen_core::Strictness::BestEffort => "best_effort",
                _ => "strict",
            }
            .to_owned(),
            invalid: None,
        }
    }
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
    /// `strict` or `best_effort`.
    pub strictness: String,
    /// Current state.
    pub state: JobState,
    /// The provider the create was sent to.
    pub provider: Option<String>,
    /// Where that provider was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// The provider's task id, once known.
    pub task_id: Option<String>,
    /// The serialized task handle (without inline image bytes).
    #[serde(skip)]
    pub handle: Option<String>,
    /// Kind of the last error.
    pub error_kind: Option<String>,
    /// The last error, for a person.
    pub error: Option<String>,
    /// Credits the provider reported.
    pub credits: Option<f64>,
    /// Credits estimated when the create was sent, by the provider that
    /// was sent it.
    pub est_credits: Option<f64>,
    /// How many creates were sent.
    pub attempts: i64,
    /// The saved images.
    pub outputs: Vec<OutputRow>,
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
    /// Where it was downloaded from (`None` for inline images).
    pub url: Option<String>,
    /// The machine whose disk holds `path` (workers of a shared store save
    /// under their own folders).
    pub host: Option<String>,
}

/// Counts and credits of a store.
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
    /// The kinds of the last errors of the jobs in each state, counted
    /// (`failed` → `insufficient_credits` → 12): why jobs ended where they
    /// did, without reading every job.
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Summary {
    /// Jobs in `state`.
    pub fn count(&self, state: JobState) -> u64 {
        self.by_state.get(state.as_str()).copied().unwrap_or(0)
    }

    /// The error kinds of the jobs in `state`, counted.
    pub fn errors_in(&self, state: JobState) -> impl Iterator<Item = (&str, u64)> {
        self.errors
            .get(state.as_str())
            .into_iter()
            .flatten()
            .map(|(kind, n)| (kind.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_names_are_none() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
        }
        assert_eq!(JobState::parse("weird"), None);
        assert_eq!(JobState::parse("Done"), None);
    }

    #[test]
    fn endpoints_show_only_the_host() {
        let url = Endpoint::Url("https://user:pw@api.example/v1?token=secret".into());
        assert_eq!(url.host(), "api.example");
        assert_eq!(Endpoint::from_stored(url.as_stored()), url);
        assert_eq!(Endpoint::from_stored("sim"), Endpoint::Sim);
        assert_eq!(Endpoint::Sim.host(), "simulator");
    }
}
