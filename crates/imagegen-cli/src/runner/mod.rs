//! Runs recorded jobs: the engine of `batch` and `resume`. It drives the
//! core `Client` for every create, wait and download, and records each
//! step through the [`JobStore`] interface.
//!
//! What happens to a job the store hands out ([`JobStore::claim`]):
//! - it has a task id: its task is polled and its images saved, never a
//!   new create, whatever its state says;
//! - `pending`, `retryable`, `skipped` (and `failed` or `ambiguous` when the
//!   user opted in): submitted through the client's fallback order, with
//!   the store told before each create leaves and the moment its task id
//!   is known ([`log::JobLog`]).
//!
//! A failed create becomes `ambiguous` when it may have reached the server,
//! `retryable` when nothing could have been charged (connection refused,
//! 429, deadline before sending), else `failed` (or `invalid` when the
//! provider cannot take the request at all).

mod log;
mod summary;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imagegen_core::{
    Client, Error, ErrorKind, Generation, ImageRequest, Strictness, SubmitOptions, TaskHandle,
    WaitOptions,
};
use imagegen_jobs::{Claim, JobError, JobRow, JobState, JobStore, OutputRow};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::connect::Connection;
use crate::exit::{CliResult, Exit, describe};
use crate::files::{JobLabel, Owner, Saved};
use crate::output::{ImageRecord, print_json};
use crate::progress::{Ended, Progress};

pub use summary::summarize;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// Stop submitting once reported plus estimated credits would pass this.
    pub max_credits: Option<f64>,
    /// Which failed or ambiguous jobs to take up again.
    pub claim: Claim,
    /// The longest wait for one task.
    pub task_timeout: Duration,
    /// The whole run's limit.
    pub run_timeout: Option<Duration>,
    /// Print one JSON record per image on stdout.
    pub json: bool,
    /// Write the batch's gallery (`DIR/index.html`) at the end.
    pub gallery: bool,
    /// Keep claiming when the store has nothing left, woken as jobs are
    /// added (`worker --follow`), until Ctrl-C.
    pub follow: bool,
}

/// How long a follower waits for a notification before it claims again:
/// a dead worker's jobs come back when its lease runs out, which nothing
/// announces.
const FOLLOW_WAIT: Duration = Duration::from_secs(5);

/// How often a worker with nothing to claim looks again while other
/// workers hold jobs (it stops once none do).
const HELD_ELSEWHERE_RECHECK: Duration = Duration::from_secs(1);

/// The journal's meta key of the clients' latency estimates (JSON of
/// `LatencyEstimates`), kept from run to run of a batch.
const LATENCY_KEY: &str = "latency_estimates";

/// A run over one store.
pub struct Runner {
    /// Where jobs are recorded.
    pub store: Arc<dyn JobStore>,
    /// The providers, reached.
    pub conn: Arc<Connection>,
    /// Where images are saved.
    pub dir: PathBuf,
    /// What a person sees.
    pub progress: Arc<Progress>,
    /// How to run.
    pub options: RunOptions,
    /// What the store is, for messages: where a batch folder's journal is,
    /// or which queue of a shared store (and whose images are on this host).
    pub target: Target,
}

/// The store a run records in, as the user names it again.
#[derive(Debug, Clone)]
pub enum Target {
    /// The journal in the batch folder (the run's `dir`).
    Journal,
    /// A queue of a shared store: the options that name it (`--store … --queue …`).
    Shared(String),
}

impl Target {
    /// What `imagegen jobs` and `resume` take to name this store.
    pub fn named(&self, dir: &std::path::Path) -> String {
        match self {
            Target::Journal => dir.display().to_string(),
            Target::Shared(options) => options.clone(),
        }
    }
}

/// What the run counted, for the summary and the exit code.
#[derive(Debug, Default)]
pub struct Tally {
    /// Credits reported plus estimated for jobs sent, for `--max-credits`.
    committed_credits: Mutex<f64>,
    /// Tasks accepted whose id the journal could not record (printed).
    pub lost_task_ids: AtomicU64,
    /// Journal writes that failed (nothing was sent for those jobs).
    pub journal_errors: AtomicU64,
    /// The run's `--timeout` passed.
    pub out_of_time: AtomicBool,
    /// Ctrl-C was pressed.
    pub interrupted: AtomicBool,
}

impl Runner {
    /// Runs every job the store hands out; returns the exit code.
    pub async fn run(self) -> CliResult<Exit> {
        let started = std::time::Instant::now();
        let start = self.store.summary().await?;
        // Polls aim at when tasks like these finished in earlier runs.
        if let Some(json) = self.store.meta(LATENCY_KEY).await?
            && let Ok(snapshot) = serde_json::from_str(&json)
        {
            self.conn.restore_latency(snapshot);
        }
        let tally = Arc::new(Tally {
            committed_credits: Mutex::new(start.credits_reported + start.credits_estimated),
            ..Tally::default()
        });
        let stop = CancellationToken::new();
        self.stop_on_interrupt(&stop, &tally);
        if let Some(limit) = self.options.run_timeout {
            let (stop, tally) = (stop.clone(), tally.clone());
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                tally.out_of_time.store(true, Ordering::SeqCst);
                stop.cancel();
            });
        }
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.options.concurrency));
        let mut running = tokio::task::JoinSet::new();
        'claiming: while !stop.is_cancelled() {
            let page = this
                .store
                .claim(this.options.concurrency * 4, &this.options.claim)
                .await?;
            if page.is_empty() {
                // On a shared store, jobs other workers hold come back here
                // if their worker dies: wait for them rather than stop.
                let wait = if this.options.follow {
                    FOLLOW_WAIT
                } else if this.store.held_elsewhere().await? > 0 {
                    HELD_ELSEWHERE_RECHECK
                } else {
                    break;
                };
                tokio::select! {
                    waited = this.store.wait_for_work(wait) => waited?,
                    () = stop.cancelled() => break 'claiming,
                }
                while running.try_join_next().is_some() {}
                continue;
            }
            for job in page {
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => permit,
                    () = stop.cancelled() => break 'claiming,
                };
                let Ok(permit) = permit else { break 'claiming };
                let (this, tally, stop) = (this.clone(), tally.clone(), stop.clone());
                running.spawn(async move {
                    let id = job.id;
                    this.progress.started();
                    let ended = this.work(job, &tally, &stop).await;
                    this.progress.ended(id, &ended, true);
                    drop(permit);
                });
            }
            // Reap what finished, so a long run does not keep every handle.
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
        this.store.release().await?;
        this.progress.finish();
        let learned = serde_json::to_string(&this.conn.latency_estimates())
            .expect("latency estimates serialize");
        this.store.set_meta(LATENCY_KEY, &learned).await?;
        let named = this.target.named(&this.dir);
        let exit = summarize(&*this.store, &named, &this.progress, &tally).await?;
        crate::commands::gallery::add_wall_time(&*this.store, started.elapsed()).await?;
        if this.options.gallery {
            let only_this_host = matches!(this.target, Target::Shared(_));
            match crate::commands::gallery::write(&*this.store, &this.dir, only_this_host).await {
                Ok(written) => this
                    .progress
                    .say(crate::commands::gallery::written_line(&written)),
                // The images and the journal are what matter; the page can
                // be written again with `imagegen gallery`.
                Err(err) => this.progress.warn(format!(
                    "warning: {}; `imagegen gallery {}{}` tries again",
                    err.message,
                    this.dir.display(),
                    match &this.target {
                        Target::Journal => String::new(),
                        Target::Shared(options) => format!(" {options}"),
                    }
                )),
            }
        }
        Ok(exit)
    }

    /// First Ctrl-C: no new creates; creates in flight finish and are
    /// recorded; waits stop (their task ids are kept). Second: exit now.
    fn stop_on_interrupt(&self, stop: &CancellationToken, tally: &Arc<Tally>) {
        let (stop, tally) = (stop.clone(), tally.clone());
        let progress = self.progress.clone();
        let dir = self.target.named(&self.dir);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tally.interrupted.store(true, Ordering::SeqCst);
                stop.cancel();
                progress.warn(format!(
                    "interrupted: finishing the creates in flight, then stopping; `imagegen resume {dir}` continues (Ctrl-C again to quit at once)"
                ));
                if tokio::signal::ctrl_c().await.is_ok() {
                    progress.finish();
                    std::process::exit(130);
                }
            }
        });
    }

    /// One job, to the end of what this run can do for it.
    async fn work(&self, job: JobRow, tally: &Tally, stop: &CancellationToken) -> Ended {
        let id = job.id;
        if let Err(err) = self.reach_providers(&job).await {
            let hint = err.hint.map(|h| format!("; {h}")).unwrap_or_default();
            return Ended::Unfinished(format!("not sent by this worker: {}{hint}", err.message));
        }
        let result = match (&job.task_id, &job.provider) {
            (Some(task_id), Some(provider)) => {
                let handle = recorded_handle(&job, provider, task_id);
                self.follow(&job, provider, vec![handle], tally, stop, None)
                    .await
            }
            (Some(_), None) => Ok(Ended::Failed(
                "the journal has its task id but not its provider".to_owned(),
            )),
            (None, _) => self.submit(&job, tally, stop).await,
        };
        let ended = result.unwrap_or_else(|e| {
            tally.journal_errors.fetch_add(1, Ordering::SeqCst);
            Ended::Failed(format!("journal: {}", e.message))
        });
        tracing::info!(job = id, ?ended, "job ended");
        ended
    }

    /// Reaches the providers `job` names that this run has not reached yet
    /// (a job enqueued into a shared queue after the worker started), at
    /// the endpoint the store recorded for each, or records where it is
    /// reached now.
    async fn reach_providers(&self, job: &JobRow) -> CliResult<()> {
        for name in job.providers.iter().chain(&job.provider) {
            if self.conn.reaches(name) {
                continue;
            }
            let name = crate::providers::check_name(name)?;
            let recorded = self.store.endpoint(name).await?;
            let endpoint = self.conn.reach(name, recorded.clone())?;
            if recorded.is_none() {
                self.store.set_endpoint(name, &endpoint).await?;
            }
        }
        Ok(())
    }

    /// Sends the job's create through its fallback order, then follows it.
    async fn submit(
        &self,
        job: &JobRow,
        tally: &Tally,
        stop: &CancellationToken,
    ) -> CliResult<Ended> {
        let request: ImageRequest = match job.request.as_deref().map(serde_json::from_str) {
            Some(Ok(request)) => request,
            Some(Err(e)) => {
                return self
                    .settle(
                        job,
                        JobState::Invalid,
                        "invalid_request",
                        format!("unreadable request in the journal: {e}"),
                    )
                    .await;
            }
            None => {
                return self
                    .settle(
                        job,
                        JobState::Invalid,
                        "invalid_request",
                        "no request recorded".to_owned(),
                    )
                    .await;
            }
        };
        let client = self.conn.client(&job.providers, strictness(job))?;
        let log = log::JobLog::new(self, job, &client, tally, stop);
        let options = SubmitOptions::new().deadline(self.options.task_timeout);
        match client.submit_logged(request, &options, &log).await {
            Ok(submission) => {
                for warning in submission
                    .warnings
                    .iter()
                    .filter(|w| w.setting != "provider")
                {
                    self.store
                        .note(job.id, &format!("warning: {}", warning.message))
                        .await?;
                    self.progress
                        .warn(format!("job {}: warning: {}", job.id, warning.message));
                }
                let provider = submission
                    .handles
                    .first()
                    .map(|h| h.provider.clone())
                    .unwrap_or_default();
                let estimate = log.estimate();
                self.follow(
                    job,
                    &provider,
                    submission.handles,
                    tally,
                    stop,
                    Some(estimate),
                )
                .await
            }
            Err(err) => {
                if let Some(ended) = log.stopped_before_sending(job).await? {
                    return Ok(ended);
                }
                let (state, summary) = if err.may_have_reached_server() {
                    (
                        JobState::Ambiguous,
                        format!(
                            "ambiguous create (it may have been accepted and paid for): {}",
                            describe(&err)
                        ),
                    )
                } else if is_transient(&err) {
                    (
                        JobState::Retryable,
                        format!(
                            "not sent, nothing charged; `resume` retries it: {}",
                            describe(&err)
                        ),
                    )
                } else if err.best_effort().is_some() {
                    (JobState::Invalid, format!("refused: {}", describe(&err)))
                } else {
                    (JobState::Failed, format!("failed: {}", describe(&err)))
                };
                let error = JobError {
                    kind: err.kind().as_str().to_owned(),
                    message: describe(&err),
                };
                self.store.record_state(job.id, state, Some(&error)).await?;
                Ok(match state {
                    JobState::Retryable => Ended::Unfinished(summary),
                    _ => Ended::Failed(summary),
                })
            }
        }
    }

    /// Moves a job to a settled state with a reason.
    async fn settle(
        &self,
        job: &JobRow,
        state: JobState,
        kind: &str,
        message: String,
    ) -> CliResult<Ended> {
        let error = JobError {
            kind: kind.to_owned(),
            message: message.clone(),
        };
        self.store.record_state(job.id, state, Some(&error)).await?;
        Ok(Ended::Failed(format!("{state}: {message}")))
    }

    /// Waits for a job's tasks and saves their images.
    async fn follow(
        &self,
        job: &JobRow,
        provider: &str,
        handles: Vec<TaskHandle>,
        tally: &Tally,
        stop: &CancellationToken,
        estimate: Option<f64>,
    ) -> CliResult<Ended> {
        let task_ids: Vec<String> = handles.iter().map(|h| h.task_id.clone()).collect();
        let tasks = task_ids.join(", ");
        if stop.is_cancelled() {
            return Ok(Ended::Unfinished(format!(
                "{provider} task {tasks} kept for `resume`"
            )));
        }
        let client = self.conn.client(&[provider.to_owned()], strictness(job))?;
        let options = WaitOptions::new()
            .deadline(self.options.task_timeout)
            .cancel(stop.child_token());
        let generation = match client.wait_all(&handles, options).await {
            Ok(generation) => generation,
            Err(err) => return self.wait_failed(job, provider, &tasks, err).await,
        };
        let owner = self.owner(job, provider);
        let mut saved = 0u64;
        for image in &generation.images {
            let row = match self.saved_before(job, image.index) {
                Some(row) => row,
                None => match self.save(&client, &generation, image, &owner).await {
                    Ok(row) => row,
                    Err(err) => {
                        let message = format!(
                            "{provider} task {} finished but its image could not be saved: {}",
                            image.task_id,
                            describe(&err)
                        );
                        self.store
                            .record_state(
                                job.id,
                                JobState::Submitted,
                                Some(&JobError {
                                    kind: err.kind().as_str().to_owned(),
                                    message: message.clone(),
                                }),
                            )
                            .await?;
                        return Ok(Ended::Failed(format!("{message}; `resume` tries again")));
                    }
                },
            };
            self.store.record_output(job.id, &row).await?;
            saved += 1;
            if self.options.json {
                print_json(&ImageRecord::of_job(
                    job,
                    provider,
                    &image.task_id,
                    &row,
                    generation.credits,
                ));
            }
        }
        for failure in &generation.failures {
            self.store
                .note(
                    job.id,
                    &format!("task failed: {}", describe(&failure.error)),
                )
                .await?;
        }
        self.store
            .record_done(job.id, generation.credits, saved as usize)
            .await?;
        let credits = generation.credits.or(estimate).unwrap_or(0.0);
        if let (Some(reported), Some(estimate)) = (generation.credits, estimate) {
            let mut committed = tally
                .committed_credits
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *committed += reported - estimate;
        }
        Ok(Ended::Done {
            images: saved,
            credits,
        })
    }

    /// Records why a wait ended without images.
    async fn wait_failed(
        &self,
        job: &JobRow,
        provider: &str,
        tasks: &str,
        err: Error,
    ) -> CliResult<Ended> {
        let (state, ended) = match err.kind() {
            ErrorKind::Cancelled => {
                return Ok(Ended::Unfinished(format!(
                    "{provider} task {tasks} kept for `resume`"
                )));
            }
            ErrorKind::Timeout => (
                JobState::TimedOut,
                Ended::Unfinished(format!(
                    "{provider} task {tasks} timed out; `resume` polls it again"
                )),
            ),
            _ if err.is_retryable() => (
                JobState::Submitted,
                Ended::Unfinished(format!(
                    "{provider} task {tasks} not finished: {}; `resume` polls it again",
                    describe(&err)
                )),
            ),
            _ => (
                JobState::Failed,
                Ended::Failed(format!("failed: {}", describe(&err))),
            ),
        };
        let error = JobError {
            kind: err.kind().as_str().to_owned(),
            message: describe(&err),
        };
        self.store.record_state(job.id, state, Some(&error)).await?;
        Ok(ended)
    }

    /// The output a previous run recorded for image `index`, if its file
    /// is still there.
    fn saved_before(&self, job: &JobRow, index: u32) -> Option<OutputRow> {
        job.outputs
            .iter()
            .find(|o| o.idx == i64::from(index) && std::path::Path::new(&o.path).is_file())
            .cloned()
    }

    /// Who a job's images belong to.
    fn owner(&self, job: &JobRow, provider: &str) -> Owner {
        Owner {
            job: Some(JobLabel {
                id: job.id,
                line: job.line,
                copy: job.copy,
            }),
            title: job.name.clone().unwrap_or_else(|| job.prompt.clone()),
            endpoint_host: self
                .conn
                .endpoint(provider)
                .map(|e| e.host())
                .unwrap_or_default(),
            adopts_earlier_files: true,
        }
    }

    /// Saves (or adopts) one image, as the journal records it.
    async fn save(
        &self,
        client: &Client,
        generation: &Generation,
        image: &imagegen_core::GeneratedImage,
        owner: &Owner,
    ) -> Result<OutputRow, Error> {
        let saved = crate::files::save(client, generation, image, &self.dir, owner).await?;
        Ok(output_row(image.index, saved))
    }
}

/// The journal's row for a saved image.
pub fn output_row(index: u32, saved: Saved) -> OutputRow {
    OutputRow {
        idx: i64::from(index),
        path: saved.path.display().to_string(),
        sha256: saved.sha256,
        bytes: Some(saved.bytes as i64),
        width: saved.dimensions.map(|d| i64::from(d.0)),
        height: saved.dimensions.map(|d| i64::from(d.1)),
        url: saved.url,
        host: Some(this_host()),
    }
}

/// This machine's name, for the outputs it holds.
pub fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The handle the journal recorded, or one rebuilt from the task id.
fn recorded_handle(job: &JobRow, provider: &str, task_id: &str) -> TaskHandle {
    job.handle
        .as_deref()
        .and_then(|h| serde_json::from_str::<TaskHandle>(h).ok())
        .unwrap_or_else(|| {
            let request = job
                .request
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_else(|| ImageRequest::new(&job.prompt));
            TaskHandle::new(provider, task_id, request)
        })
}

/// The strictness a job was recorded with.
fn strictness(job: &JobRow) -> Strictness {
    if job.strictness == "best_effort" {
        Strictness::BestEffort
    } else {
        Strictness::Strict
    }
}

/// A create that failed before anything could be charged, for a reason
/// that passes (connection refused, 429, deadline before sending).
fn is_transient(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Transport | ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Cancelled
    )
}

#[cfg(test)]
mod tests;
