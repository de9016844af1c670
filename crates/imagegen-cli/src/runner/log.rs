//! A job's create log: how the runner hears each create the client sends
//! for a job, whichever provider of its fallback order takes it, and
//! records it before anything can be lost.
//!
//! - **Before a create leaves** ([`CreateLog::sending`]): the credit guard
//!   (`--max-credits`), then `submitting` is recorded durably. If the store
//!   cannot record it, nothing is sent.
//! - **The moment it is accepted** ([`CreateLog::accepted`]): images that
//!   came inline (synchronous providers) are saved first, so their bytes
//!   never need to go into the journal; then the task id is recorded. If
//!   the journal cannot record it, the task id is printed on stderr with the
//!   `imagegen wait` command that fetches it, and the run ends with exit 8.
//! - **When it fails** ([`CreateLog::failed`]): a provider that refused
//!   without charging gives back its credit estimate, and the refusal is
//!   noted and shown when the next provider is tried.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use imagegen_core::{
    Client, CreateLog, Error, ErrorKind, ImageOutput, ImageRequest, TaskHandle, WaitOptions,
};
use imagegen_jobs::{JobError, JobRow, JobState};
use tokio_util::sync::CancellationToken;

use super::{Runner, Tally, output_row};
use crate::exit::{CliResult, describe};
use crate::progress::Ended;
use crate::providers::estimate_credits;

/// The create log of one job.
pub struct JobLog<'a> {
    runner: &'a Runner,
    job: &'a JobRow,
    client: &'a Client,
    tally: &'a Tally,
    stop: &'a CancellationToken,
    /// The credit estimate of the create in flight.
    estimate: Mutex<f64>,
    /// The credit guard stopped the create.
    over_budget: AtomicBool,
    /// Ctrl-C or the run's deadline stopped the create before it left.
    stopped: AtomicBool,
}

impl<'a> JobLog<'a> {
    pub fn new(
        runner: &'a Runner,
        job: &'a JobRow,
        client: &'a Client,
        tally: &'a Tally,
        stop: &'a CancellationToken,
    ) -> Self {
        JobLog {
            runner,
            job,
            client,
            tally,
            stop,
            estimate: Mutex::new(0.0),
            over_budget: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// The credit estimate of the create that was accepted.
    pub fn estimate(&self) -> f64 {
        *self.estimate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How the job ended if no create left because of the credit guard or
    /// a stop, recording what applies.
    pub async fn stopped_before_sending(&self, job: &JobRow) -> CliResult<Option<Ended>> {
        if self.over_budget.load(Ordering::SeqCst) {
            let max = self.runner.options.max_credits.unwrap_or_default();
            let error = JobError {
                kind: "max_credits".to_owned(),
                message: format!("not sent: --max-credits {max} would be passed"),
            };
            self.runner
                .store
                .record_state(job.id, JobState::Skipped, Some(&error))
                .await?;
            return Ok(Some(Ended::Unfinished(error.message)));
        }
        if self.stopped.load(Ordering::SeqCst) {
            return Ok(Some(Ended::Unfinished("not sent (stopped)".to_owned())));
        }
        Ok(None)
    }

    fn uncommit(&self) {
        let estimate =
            std::mem::take(&mut *self.estimate.lock().unwrap_or_else(|p| p.into_inner()));
        if self.runner.options.max_credits.is_some() {
            *self
                .tally
                .committed_credits
                .lock()
                .unwrap_or_else(|p| p.into_inner()) -= estimate;
        }
    }

    /// Saves the images a create answered with inline; `None` when there
    /// were none, else whether every one was saved.
    async fn save_inline(&self, handle: &TaskHandle) -> Option<bool> {
        let finished = handle.finished.as_ref()?;
        if !finished
            .outputs
            .iter()
            .any(|o| matches!(o, ImageOutput::Inline { .. }))
        {
            return None;
        }
        let generation = match self.client.wait_with(handle, WaitOptions::new()).await {
            Ok(generation) => generation,
            Err(_) => return Some(false),
        };
        let owner = self.runner.owner(self.job, &handle.provider);
        let mut all_saved = true;
        for image in &generation.images {
            match crate::files::save(self.client, &generation, image, &self.runner.dir, &owner)
                .await
            {
                Ok(saved) => {
                    let row = output_row(image.index, saved);
                    if self
                        .runner
                        .store
                        .record_output(self.job.id, &row)
                        .await
                        .is_err()
                    {
                        all_saved = false;
                    }
                }
                Err(err) => {
                    self.runner.progress.warn(format!(
                        "job {}: could not save an inline image: {}",
                        self.job.id,
                        describe(&err)
                    ));
                    all_saved = false;
                }
            }
        }
        Some(all_saved)
    }
}

#[imagegen_core::async_trait]
impl CreateLog for JobLog<'_> {
    async fn sending(&self, provider: &str, request: &ImageRequest) -> Result<(), Error> {
        if self.stop.is_cancelled() {
            self.stopped.store(true, Ordering::SeqCst);
            return Err(Error::new(ErrorKind::Cancelled, "stopped before sending"));
        }
        let estimate = estimate_credits(provider, request.count);
        if let Some(max) = self.runner.options.max_credits {
            let mut committed = self
                .tally
                .committed_credits
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *committed + estimate > max {
                self.over_budget.store(true, Ordering::SeqCst);
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    format!("--max-credits {max} would be passed"),
                ));
            }
            *committed += estimate;
        }
        *self.estimate.lock().unwrap_or_else(|p| p.into_inner()) = estimate;
        let Some(endpoint) = self.runner.conn.endpoint(provider) else {
            self.uncommit();
            return Err(Error::invalid_request(format!(
                "{provider} is not connected"
            )));
        };
        if let Err(e) = self
            .runner
            .store
            .mark_submitting(self.job.id, provider, &endpoint, estimate)
            .await
        {
            self.uncommit();
            return Err(Error::new(
                ErrorKind::Io,
                format!("not sent: the journal could not record the create first: {e}"),
            ));
        }
        Ok(())
    }

    async fn accepted(&self, handle: &TaskHandle) {
        let id = self.job.id;
        let provider = &handle.provider;
        let task_id = &handle.task_id;
        let inline_saved = self.save_inline(handle).await;
        // Inline bytes stay out of the journal once they are on disk; if
        // they could not be saved, the journal keeps them so a resume can.
        let stored = match inline_saved {
            Some(true) => without_inline_bytes(handle),
            _ => handle.clone(),
        };
        let json = serde_json::to_string(&stored).unwrap_or_default();
        if let Err(e) = self
            .runner
            .store
            .record_task(id, provider, task_id, &json)
            .await
        {
            self.tally.lost_task_ids.fetch_add(1, Ordering::SeqCst);
            self.runner.progress.warn(format!(
                "error: job {id}: {provider} accepted task {task_id} (it may be paid for) but the journal could not record it: {e}\nhint: `imagegen wait --provider {provider} --out {} {task_id}` fetches its images",
                self.runner.dir.display()
            ));
            return;
        }
        self.runner
            .progress
            .event(format!("job {id}: {provider} task {task_id}"));
    }

    async fn failed(&self, provider: &str, error: &Error) {
        if error.may_have_reached_server() {
            return;
        }
        self.uncommit();
        let order = &self.job.providers;
        let next = order
            .iter()
            .position(|p| p == provider)
            .and_then(|i| order.get(i + 1));
        if let Some(next) = next {
            let reason = describe(error);
            let _ = self
                .runner
                .store
                .note(
                    self.job.id,
                    &format!("{provider} refused: {reason}; trying {next}"),
                )
                .await;
            self.runner.progress.warn(format!(
                "job {}: {provider} refused ({reason}); trying {next}",
                self.job.id
            ));
        }
    }
}

/// `handle` with the bytes of its inline images dropped (they are saved
/// as files): what the journal records.
fn without_inline_bytes(handle: &TaskHandle) -> TaskHandle {
    let mut stored = handle.clone();
    if let Some(finished) = stored.finished.as_mut() {
        for output in &mut finished.outputs {
            if let ImageOutput::Inline { data, .. } = output {
                *data = Default::default();
            }
        }
    }
    stored
}
