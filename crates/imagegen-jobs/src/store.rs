//! The store interface: what a batch runner records, and in what order, so
//! that nothing paid for is lost or paid twice. It names no database: the
//! SQLite journal implements it, and a shared store can.
//!
//! The promises a store keeps:
//!
//! * a job is recorded before its create is sent ([`JobStore::mark_submitting`],
//!   durable when it returns);
//! * its task id is recorded the moment it is known
//!   ([`JobStore::record_task`], durable when it returns);
//! * a job with a task id is never submitted again, whatever its state says;
//! * a state, schema or record it does not understand is an error, never a
//!   guess.

use async_trait::async_trait;

use crate::model::{Endpoint, JobRow, JobState, NewJob, OutputRow, Summary};

/// What went wrong with a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// Another process holds the batch (its folder's lock).
    InUse,
    /// There is nothing to open, or the request does not fit the store
    /// (a batch folder that already holds a batch).
    Usage,
    /// The store holds what this version does not understand, or was cut
    /// short: nothing is guessed.
    Unreadable,
    /// Reading or writing failed (disk full, permissions).
    Io,
    /// A shared store refused [`JobStore::mark_submitting`]: this handle no
    /// longer holds the job (its lease ran out and another worker may have
    /// taken it), or the job has a task id. The create must not be sent;
    /// the job is skipped, the run goes on.
    ClaimLost,
}

/// A store error: what, where, and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// For a person.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl StoreError {
    /// An error of `kind`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
            hint: None,
        }
    }
    /// With a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// `Result` with a [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a job ended where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The error kind's name (`rate_limited`, `invalid_request`).
    pub kind: String,
    /// For a person.
    pub message: String,
}

/// Which settled-looking jobs a [`JobStore::claim`] also hands out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claim {
    /// Ambiguous jobs without a task id (their create may have been paid
    /// for): the user accepted paying twice (`--retry-ambiguous`).
    pub ambiguous: bool,
    /// Failed jobs: the user asked to try again (`--retry-failed`). A job
    /// whose create was refused is submitted again; one with a task id (its
    /// generation failed) is only polled again, never resubmitted.
    pub failed: bool,
}

/// A durable record of jobs. See the [module docs](self) for its promises.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Where the store is, for messages.
    fn location(&self) -> String;

    /// A batch-wide value (`batch_file`, `strictness`, ...).
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a batch-wide value.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Where `provider` is reached for this batch, if recorded.
    async fn endpoint(&self, provider: &str) -> StoreResult<Option<Endpoint>>;
    /// Records where `provider` is reached for this batch.
    async fn set_endpoint(&self, provider: &str, endpoint: &Endpoint) -> StoreResult<()>;

    /// Records a chunk of jobs, atomically. A batch records its jobs in
    /// chunks as it reads its file, then calls [`finish_ingest`]: a store
    /// whose ingest never finished (killed while reading the file) is
    /// refused at the next open, before anything is sent.
    ///
    /// [`finish_ingest`]: JobStore::finish_ingest
    async fn add_jobs(&self, jobs: &[NewJob]) -> StoreResult<()>;

    /// Marks the ingest complete; returns the number of jobs recorded.
    async fn finish_ingest(&self) -> StoreResult<u64>;

    /// Every job, in order, with its outputs.
    async fn jobs(&self) -> StoreResult<Vec<JobRow>>;

    /// Up to `limit` jobs this worker should work on next, in job order,
    /// each handed out once per store handle: pending, retryable and
    /// skipped jobs (to submit), submitted and timed-out ones (to poll),
    /// and, as `claim` asks, ambiguous and failed ones. Empty when there
    /// is nothing left.
    ///
    /// A shared store hands each job to one handle at a time: the handle
    /// holds it (a lease it renews) until it records a state other than
    /// `submitting` or `submitted`, or [`release`](JobStore::release)s it,
    /// or dies. It refuses to hand out the jobs of a batch whose ingest
    /// has not finished.
    async fn claim(&self, limit: usize, claim: &Claim) -> StoreResult<Vec<JobRow>>;

    /// Durably marks job `id` as being sent to `provider` at `endpoint`,
    /// estimated at `est_credits`: called before the create leaves, which
    /// must not leave if this fails. A shared store fails it with
    /// [`StoreErrorKind::ClaimLost`] when this handle no longer holds the
    /// job or the job has a task id.
    async fn mark_submitting(
        &self,
        id: i64,
        provider: &str,
        endpoint: &Endpoint,
        est_credits: f64,
    ) -> StoreResult<()>;

    /// Durably records the task the provider accepted (`handle` is the
    /// serialized task handle, with no inline image bytes).
    async fn record_task(
        &self,
        id: i64,
        provider: &str,
        task_id: &str,
        handle: &str,
    ) -> StoreResult<()>;

    /// Moves job `id` to `state`, with the error that put it there.
    async fn record_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&JobError>,
    ) -> StoreResult<()>;

    /// Records one saved image of job `id` (what not to download again).
    async fn record_output(&self, id: i64, output: &OutputRow) -> StoreResult<()>;

    /// Marks job `id` done with the credits its provider reported.
    async fn record_done(&self, id: i64, credits: Option<f64>, images: usize) -> StoreResult<()>;

    /// Appends an event to job `id` without changing its state (a warning,
    /// a provider that refused before the next one took it).
    async fn note(&self, id: i64, detail: &str) -> StoreResult<()>;

    /// Counts by state, credits and images.
    async fn summary(&self) -> StoreResult<Summary>;

    /// Gives back the jobs this handle claimed and did not finish (a worker
    /// stopping on Ctrl-C), so another worker can take them at once. A
    /// store with a single worker has nothing to give back.
    async fn release(&self) -> StoreResult<()> {
        Ok(())
    }

    /// How many jobs other handles of a shared store hold now: a worker
    /// that found nothing to claim waits for them rather than stopping,
    /// since a holder that dies hands them over when its lease runs out. A
    /// store only one process writes has none.
    async fn held_elsewhere(&self) -> StoreResult<u64> {
        Ok(0)
    }

    /// Waits at most `timeout` for jobs to be added by another process (a
    /// worker that follows a queue). A store only one process writes
    /// returns at once.
    async fn wait_for_work(&self, timeout: std::time::Duration) -> StoreResult<()> {
        let _ = timeout;
        Ok(())
    }
}
