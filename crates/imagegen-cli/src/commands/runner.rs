//! Runs journaled jobs: the engine of `batch` and `resume`.
//!
//! For each job, by state:
//! - `pending`, `skipped`: submitted (within `--max-credits`);
//! - `submitted`, `timed_out`: polled with their task id, never resubmitted;
//! - `submitting`, `ambiguous`: resubmitted only with `--retry-ambiguous`;
//! - `done`, `failed`, `invalid`: left alone.
//!
//! The journal is written before each create is sent and as soon as a task
//! id is known, so a crash can only leave a job `submitting`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use imagegen_core::{Error, ErrorKind, ImageOutput, ImageRequest};

use crate::engine::{Engine, Finished, Task};
use crate::exit::{CliResult, Exit, describe};
use crate::journal::{JobRow, JobState, Journal, OutputRow};
use crate::output::{ImageRecord, print_json, slug};
use crate::progress::{Progress, human_duration};
use crate::providers::estimate_credits;

/// How to run.
pub struct Runner {
    pub engine: Arc<Engine>,
    pub journal: Journal,
    pub out: PathBuf,
    pub progress: Arc<Progress>,
    pub json: bool,
    pub timeout: Duration,
    pub concurrency: usize,
    pub max_credits: Option<f64>,
    pub retry_ambiguous: bool,
    /// Set on the first Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// Wakes waits on the first Ctrl-C.
    pub stop_notify: Arc<tokio::sync::Notify>,
}

/// Set by Ctrl-C: start no new create, stop waiting (task ids are saved).
fn interrupted(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

/// Shared counters.
struct Tally {
    finished: AtomicU64,
    committed_credits: Mutex<f64>,
}

/// What happened to one job in this run.
enum Outcome {
    Done,
    AlreadyDone,
    Failed(String),
    Ambiguous,
    Unfinished(String),
    Skipped,
    Invalid,
}

impl Runner {
    /// Runs every job of the journal that still needs work; returns the exit code.
    pub async fn run(self) -> CliResult<Exit> {
        let jobs = self.journal.jobs()?;
        let start = self.journal.summary()?;
        let tally = Arc::new(Tally {
            finished: AtomicU64::new(0),
            committed_credits: Mutex::new(start.credits_reported + start.credits_estimated),
        });
        let this = Arc::new(self);
        {
            // First Ctrl-C: no new creates, in-flight creates finish and are
            // journaled, waits stop (resume picks them up). Second: exit now.
            let stop = this.stop.clone();
            let notify = this.stop_notify.clone();
            let progress = this.progress.clone();
            let dir = this.out.display().to_string();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.store(true, Ordering::SeqCst);
                    notify.notify_waiters();
                    progress.warn(format!(
                        "interrupted: finishing creates in flight, then stopping; `imagegen resume {dir}` continues (Ctrl-C again to quit at once)"
                    ));
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                }
            });
        }
        let outcomes: Vec<Outcome> = futures::stream::iter(jobs)
            .map(|job| {
                let this = this.clone();
                let tally = tally.clone();
                async move {
                    let id = job.id;
                    let outcome = this.job(job, &tally).await.unwrap_or_else(|e| {
                        Outcome::Unfinished(format!("job {id}: {}", e.message))
                    });
                    let n = tally.finished.fetch_add(1, Ordering::SeqCst) + 1;
                    let line = match &outcome {
                        Outcome::Done => format!("job {id}: done"),
                        Outcome::AlreadyDone => format!("job {id}: already done"),
                        Outcome::Failed(why) => format!("job {id}: failed: {why}"),
                        Outcome::Ambiguous => format!("job {id}: ambiguous create, not resent"),
                        Outcome::Unfinished(why) => format!("job {id}: unfinished: {why}"),
                        Outcome::Skipped => format!("job {id}: skipped (--max-credits)"),
                        Outcome::Invalid => format!("job {id}: invalid"),
                    };
                    this.progress.finished(n, line);
                    outcome
                }
            })
            .buffer_unordered(this.concurrency)
            .collect()
            .await;
        this.progress.finish();
        let _ = outcomes;
        this.summarize()
    }

    fn summarize(&self) -> CliResult<Exit> {
        let s = self.journal.summary()?;
        let ambiguous = s.count(JobState::Ambiguous) + s.count(JobState::Submitting);
        let failed = s.count(JobState::Failed) + s.count(JobState::Invalid);
        let unfinished = s.count(JobState::Submitted) + s.count(JobState::TimedOut);
        let skipped = s.count(JobState::Skipped) + s.count(JobState::Pending);
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for job in self.journal.jobs()? {
            if matches!(job.state, JobState::Failed | JobState::Invalid) {
                *reasons
                    .entry(job.error_kind.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
            }
        }
        let reasons = if reasons.is_empty() {
            String::new()
        } else {
            let list: Vec<_> = reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
            format!(" ({})", list.join(", "))
        };
        let p = &self.progress;
        p.say(format!(
            "done {} of {} jobs, {} images; failed {failed}{reasons}; ambiguous {ambiguous}; unfinished {unfinished}; not submitted {skipped}",
            s.count(JobState::Done),
            s.total,
            s.images,
        ));
        p.say(format!(
            "credits: {} reported, {} estimated; time {}",
            s.credits_reported,
            s.credits_estimated,
            human_duration(p.elapsed())
        ));
        if ambiguous > 0 {
            p.warn(format!(
                "warning: {ambiguous} job(s) may have been accepted (and paid for) without a task id reaching us; `imagegen jobs {0}` lists them, `imagegen resume {0} --retry-ambiguous` resubmits them",
                self.out.display()
            ));
        }
        if unfinished > 0 {
            p.warn(format!(
                "note: {unfinished} job(s) have a task id but did not finish; `imagegen resume {}` polls them again",
                self.out.display()
            ));
        }
        let out_of_credits =
            reasons.contains("insufficient_credits") || reasons.contains("quota_exhausted");
        Ok(if ambiguous > 0 {
            Exit::Ambiguous
        } else if out_of_credits {
            Exit::Credits
        } else if failed + unfinished + skipped > 0 {
            Exit::Failed
        } else {
            Exit::Ok
        })
    }

    async fn job(&self, job: JobRow, tally: &Tally) -> CliResult<Outcome> {
        match job.state {
            JobState::Done => Ok(Outcome::AlreadyDone),
            JobState::Failed => Ok(Outcome::Failed(job.error.unwrap_or_default())),
            JobState::Invalid => Ok(Outcome::Invalid),
            JobState::Submitted | JobState::TimedOut => match self.task_of(&job) {
                Some(task) => self.follow(&job, task).await,
                None => Ok(Outcome::Unfinished("no task handle recorded".into())),
            },
            JobState::Submitting | JobState::Ambiguous if !self.retry_ambiguous => {
                if job.state == JobState::Submitting {
                    // Crashed while sending: say so in the journal.
                    self.journal.record_state(
                        job.id,
                        JobState::Ambiguous,
                        Some("found in `submitting` after a crash; the create may have been accepted"),
                    )?;
                }
                Ok(Outcome::Ambiguous)
            }
            _ if interrupted(&self.stop) => Ok(Outcome::Unfinished("interrupted".into())),
            JobState::Submitting | JobState::Ambiguous | JobState::Pending | JobState::Skipped => {
                self.submit(&job, tally).await
            }
        }
    }

    fn task_of(&self, job: &JobRow) -> Option<Task> {
        let provider = job.provider.clone()?;
        let task_id = job.task_id.clone()?;
        Some(Task {
            provider,
            task_id,
            handle: job.handle.clone().unwrap_or_default(),
        })
    }

    fn request_of(job: &JobRow) -> Result<ImageRequest, String> {
        let json = job.request.as_deref().ok_or("no request recorded")?;
        serde_json::from_str(json).map_err(|e| format!("unreadable request in journal: {e}"))
    }

    async fn submit(&self, job: &JobRow, tally: &Tally) -> CliResult<Outcome> {
        let request = match Runner::request_of(job) {
            Ok(r) => r,
            Err(why) => {
                self.journal.record_error(
                    job.id,
                    JobState::Invalid,
                    "invalid_request",
                    &why,
                    None,
                )?;
                return Ok(Outcome::Invalid);
            }
        };
        let mut last: Option<Error> = None;
        for (i, provider) in job.providers.iter().enumerate() {
            let is_last = i + 1 == job.providers.len();
            if let Err(e) = self.engine.check(provider, &request) {
                self.journal
                    .note(job.id, &format!("{provider}: {}", describe(&e)))?;
                last = Some(e);
                continue;
            }
            // The credit guard: stop submitting new jobs past --max-credits.
            let estimate = estimate_credits(provider, request.count);
            if let Some(max) = self.max_credits {
                let mut committed = tally.committed_credits.lock().unwrap();
                if *committed + estimate > max {
                    drop(committed);
                    self.journal.record_state(
                        job.id,
                        JobState::Skipped,
                        Some(&format!("--max-credits {max} would be passed")),
                    )?;
                    return Ok(Outcome::Skipped);
                }
                *committed += estimate;
            }
            self.journal.mark_submitting(job.id, provider)?;
            match self.engine.submit(provider, &request).await {
                Ok((tasks, warnings)) => {
                    for w in &warnings {
                        self.journal
                            .note(job.id, &format!("warning: {}", w.message))?;
                    }
                    let Some(task) = tasks.into_iter().next() else {
                        self.journal.record_error(
                            job.id,
                            JobState::Ambiguous,
                            "decode",
                            "the provider accepted the create but returned no task",
                            None,
                        )?;
                        return Ok(Outcome::Ambiguous);
                    };
                    self.journal.record_task(
                        job.id,
                        &task.provider,
                        &task.task_id,
                        &task.handle,
                    )?;
                    self.progress.event(format!(
                        "job {}: submitted {} task {}",
                        job.id, task.provider, task.task_id
                    ));
                    let outcome = self.follow(job, task).await?;
                    // Reported credits replace the estimate in the guard.
                    if self.max_credits.is_some()
                        && let Some(reported) = self.reported_credits(job.id)?
                    {
                        *tally.committed_credits.lock().unwrap() += reported - estimate;
                    }
                    return Ok(outcome);
                }
                Err(e) if e.may_have_reached_server() => {
                    self.journal.record_error(
                        job.id,
                        JobState::Ambiguous,
                        e.kind().as_str(),
                        &describe(&e),
                        None,
                    )?;
                    self.progress.warn(format!(
                        "job {}: ambiguous create: {}",
                        job.id,
                        describe(&e)
                    ));
                    return Ok(Outcome::Ambiguous);
                }
                Err(e) => {
                    self.uncommit(tally, estimate);
                    let worth_fallback = !is_last && e.kind() != ErrorKind::Cancelled;
                    if worth_fallback {
                        self.journal.record_error(
                            job.id,
                            JobState::Pending,
                            e.kind().as_str(),
                            &describe(&e),
                            None,
                        )?;
                        last = Some(e);
                        continue;
                    }
                    self.journal.record_error(
                        job.id,
                        JobState::Failed,
                        e.kind().as_str(),
                        &describe(&e),
                        None,
                    )?;
                    return Ok(Outcome::Failed(describe(&e)));
                }
            }
        }
        let e = last.unwrap_or_else(|| Error::invalid_request("no provider"));
        let state = if e.kind() == ErrorKind::InvalidRequest {
            JobState::Invalid
        } else {
            JobState::Failed
        };
        self.journal
            .record_error(job.id, state, e.kind().as_str(), &describe(&e), None)?;
        Ok(if state == JobState::Invalid {
            Outcome::Invalid
        } else {
            Outcome::Failed(describe(&e))
        })
    }

    fn reported_credits(&self, id: i64) -> CliResult<Option<f64>> {
        self.journal.credits(id)
    }

    fn uncommit(&self, tally: &Tally, estimate: f64) {
        if self.max_credits.is_some() {
            *tally.committed_credits.lock().unwrap() -= estimate;
        }
    }

    /// Waits for a job's task and saves its images.
    async fn follow(&self, job: &JobRow, task: Task) -> CliResult<Outcome> {
        let notified = self.stop_notify.notified();
        if interrupted(&self.stop) {
            return Ok(Outcome::Unfinished(format!(
                "interrupted; task {} saved",
                task.task_id
            )));
        }
        let waited = tokio::select! {
            r = self.engine.wait(&task, self.timeout) => r,
            _ = notified => {
                return Ok(Outcome::Unfinished(format!("interrupted; task {} saved", task.task_id)));
            }
        };
        let finished = match waited {
            Ok(f) => f,
            Err(e) => {
                let (state, outcome) = match e.kind() {
                    ErrorKind::Timeout => (
                        JobState::TimedOut,
                        Outcome::Unfinished(format!("timed out; task {}", task.task_id)),
                    ),
                    ErrorKind::GenerationFailed | ErrorKind::NotFound | ErrorKind::Cancelled => {
                        (JobState::Failed, Outcome::Failed(describe(&e)))
                    }
                    _ => (JobState::Submitted, Outcome::Unfinished(describe(&e))),
                };
                self.journal
                    .record_error(job.id, state, e.kind().as_str(), &describe(&e), None)?;
                return Ok(outcome);
            }
        };
        let saved = self.journal.outputs(job.id)?;
        let stem = job
            .name
            .clone()
            .map(|n| slug(&n, 60))
            .unwrap_or_else(|| slug(&job.prompt, 60));
        let mut count = 0;
        for (idx, output) in finished.outputs.iter().enumerate() {
            let done_before = saved
                .iter()
                .find(|o| o.idx == idx as i64 && std::path::Path::new(&o.path).exists());
            let row = match done_before {
                Some(row) => row.clone(),
                None => self.save(job, &finished, idx, output, &stem).await?,
            };
            count += 1;
            if self.json {
                print_json(&ImageRecord {
                    path: Some(row.path.clone()),
                    provider: finished.provider.clone(),
                    task_id: finished.task_id.clone(),
                    prompt: job.prompt.clone(),
                    sha256: Some(row.sha256.clone()),
                    width: row.width.map(|w| w as u32),
                    height: row.height.map(|h| h as u32),
                    credits: finished.credits,
                    url: row.url.clone(),
                    job: Some(job.id),
                });
            }
        }
        self.journal.record_done(job.id, finished.credits, count)?;
        Ok(Outcome::Done)
    }

    async fn save(
        &self,
        job: &JobRow,
        finished: &Finished,
        idx: usize,
        output: &ImageOutput,
        stem: &str,
    ) -> CliResult<OutputRow> {
        let saved = self
            .engine
            .save(finished, idx, &self.out, stem, &job.prompt)
            .await?;
        let row = OutputRow {
            idx: idx as i64,
            path: saved.path.display().to_string(),
            sha256: saved.sha256,
            bytes: Some(saved.bytes as i64),
            width: saved.width.map(i64::from),
            height: saved.height.map(i64::from),
            url: match output {
                ImageOutput::Url { url } => Some(url.clone()),
                _ => None,
            },
        };
        self.journal.record_output(job.id, &row)?;
        Ok(row)
    }
}
