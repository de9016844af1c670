//! Generating: check, fan out, create, wait, and keep whatever was paid for.
//!
//! * **Fan-out**: a request for `count` images on a provider that makes at
//!   most `max_images_per_request` per task becomes
//!   `ceil(count / max_images_per_request)` creates, sent concurrently.
//! * **Partial failure**: images already made are paid for, so a generation
//!   with some failed tasks is still `Ok`, listing the failures; it is an
//!   error only when no image came out.
//! * **Fallback**: the next provider is tried only when the previous one
//!   provably accepted nothing (a capability refusal, a 4xx, a refused
//!   connection); never after a failure that may have been accepted and
//!   charged.

use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;
use tracing::Instrument;

use crate::capabilities::Warning;
use crate::client::{Client, Entry, no_images};
use crate::download::SavedImage;
use crate::error::{Error, ErrorKind};
use crate::generation::{
    Generation, Submission, TaskFailure, TaskHandle, TaskSummary, Timings, add_credits, add_usage,
    push_outputs, unix_ms_now,
};
use crate::latency::{LatencyEstimate, LatencyKey};
use crate::provider::{SubmitOptions, TaskState};
use crate::rate::with_priority;
use crate::references::resolve_references;
use crate::request::ImageRequest;
use crate::retry::add_hint;
use crate::waiter::{WaitOptions, WaitOutcome, Waiting, wait_task};

/// Told about every create a client sends ([`Client::submit_logged`]), so
/// a caller can record it durably: a journal, a job store.
#[async_trait::async_trait]
pub trait CreateLog: Send + Sync {
    /// A create of `request` (one task's share) is about to be sent to
    /// `provider`, after the capability check. An error stops it: nothing
    /// is sent, and the create fails with that error.
    async fn sending(&self, provider: &str, request: &ImageRequest) -> Result<(), Error>;
    /// A create was accepted: its handle, the moment it is known. The log
    /// must not lose it; if it cannot record it, it must say so itself
    /// (the handle is also in the submission the client returns).
    async fn accepted(&self, handle: &TaskHandle);
    /// A create failed; [`Error::may_have_reached_server`] says whether it
    /// may have been accepted (and charged) anyway.
    async fn failed(&self, provider: &str, error: &Error);
}

/// The log of a plain submit: records nothing.
struct NoLog;

#[async_trait::async_trait]
impl CreateLog for NoLog {
    async fn sending(&self, _: &str, _: &ImageRequest) -> Result<(), Error> {
        Ok(())
    }
    async fn accepted(&self, _: &TaskHandle) {}
    async fn failed(&self, _: &str, _: &Error) {}
}

/// The longest a create is held open for a caller that waits anyway (the
/// providers that hold one cap it at a minute).
const MAX_HOLD: Duration = Duration::from_secs(60);

impl Client {
    /// Generates the images `request` asks for and waits for them.
    ///
    /// Returns `Ok` when at least one image came out, with the failures of
    /// the other tasks listed in [`Generation::failures`]; an error only when
    /// none did. See the [module docs](crate::generate) for fan-out and
    /// fallback.
    pub async fn generate(&self, request: ImageRequest) -> Result<Generation, Error> {
        self.generate_with(request, WaitOptions::default()).await
    }

    /// [`generate`](Self::generate) with a deadline and/or cancellation for
    /// the wait.
    pub async fn generate_with(
        &self,
        request: ImageRequest,
        options: WaitOptions,
    ) -> Result<Generation, Error> {
        let started = Instant::now();
        // The caller waits anyway: a provider may hold the create open until
        // the task is done, within the wait's deadline.
        let wait_for = options.deadline.unwrap_or(self.inner.poll.deadline);
        let submit = SubmitOptions::new()
            .hold(wait_for.min(MAX_HOLD))
            .deadline(wait_for);
        let submission = self.submit_with(request, &submit).await?;
        let create = started.elapsed();
        let Submission {
            handles,
            warnings,
            failures,
            request,
        } = submission;
        self.collect(
            &handles,
            request,
            warnings,
            failures,
            Some(create),
            &options,
        )
        .await
    }

    /// Checks `request`, resolves its reference images, and sends the
    /// creates, without waiting. Persist the handles to resume after a
    /// restart with [`wait`](Self::wait).
    pub async fn submit(&self, request: ImageRequest) -> Result<Submission, Error> {
        self.submit_with(request, &SubmitOptions::new()).await
    }

    /// [`submit`](Self::submit) with [`SubmitOptions`] for the providers
    /// that can use them.
    pub async fn submit_with(
        &self,
        request: ImageRequest,
        options: &SubmitOptions,
    ) -> Result<Submission, Error> {
        self.submit_logged(request, options, &NoLog).await
    }

    /// [`submit_with`](Self::submit_with), telling `log` about every create
    /// as it happens: before it is sent (an error from the log stops it,
    /// nothing sent), the moment it is accepted, and when it fails. This
    /// is how a journal records a job before its create leaves and its
    /// task id the instant it is known, whichever provider of the
    /// fallback order takes it.
    pub async fn submit_logged(
        &self,
        request: ImageRequest,
        options: &SubmitOptions,
        log: &dyn CreateLog,
    ) -> Result<Submission, Error> {
        let providers = &self.inner.providers;
        let mut skipped: Vec<Warning> = Vec::new();
        for (i, entry) in providers.iter().enumerate() {
            let name = entry.provider.name();
            match self.submit_to(entry, &request, options, log).await {
                Ok(mut submission) => {
                    skipped.append(&mut submission.warnings);
                    submission.warnings = skipped;
                    return Ok(submission);
                }
                Err(err) if !err.may_have_reached_server() && i + 1 < providers.len() => {
                    tracing::warn!(provider = name, error = %err, "provider refused before accepting anything; trying the next one");
                    skipped.push(Warning {
                        setting: "provider".to_owned(),
                        message: format!("skipped {name}: {err}"),
                    });
                }
                Err(err) if skipped.is_empty() => return Err(err),
                Err(err) => {
                    let tried: Vec<&str> = skipped.iter().map(|w| w.message.as_str()).collect();
                    return Err(add_hint(err, &format!("also tried: {}", tried.join("; "))));
                }
            }
        }
        unreachable!("a client has at least one provider")
    }

    /// Waits for one task (or returns its result at once if the handle
    /// carries a finished status).
    pub async fn wait(&self, handle: &TaskHandle) -> Result<Generation, Error> {
        self.wait_with(handle, WaitOptions::default()).await
    }

    /// [`wait`](Self::wait) with a deadline and/or cancellation.
    pub async fn wait_with(
        &self,
        handle: &TaskHandle,
        options: WaitOptions,
    ) -> Result<Generation, Error> {
        self.wait_all(std::slice::from_ref(handle), options).await
    }

    /// Waits for several tasks concurrently (e.g. every handle of one
    /// [`Submission`]) and merges them into one generation.
    pub async fn wait_all(
        &self,
        handles: &[TaskHandle],
        options: WaitOptions,
    ) -> Result<Generation, Error> {
        let Some(first) = handles.first() else {
            return Err(Error::invalid_request("no task handles to wait for"));
        };
        let mut request = first.request.clone();
        request.count = handles.iter().map(|h| h.request.count).sum();
        self.collect(handles, request, Vec::new(), Vec::new(), None, &options)
            .await
    }

    /// Saves every image of `generation` into `dir` (see
    /// [`Downloader::save`](crate::Downloader::save)).
    pub async fn download(
        &self,
        generation: &Generation,
        dir: impl AsRef<Path>,
    ) -> Result<Vec<SavedImage>, Error> {
        self.inner.downloader.save(generation, dir).await
    }

    /// Check, resolve and create on one provider.
    async fn submit_to(
        &self,
        entry: &Entry,
        request: &ImageRequest,
        options: &SubmitOptions,
        log: &dyn CreateLog,
    ) -> Result<Submission, Error> {
        let provider = entry.provider.name();
        let caps = entry.provider.capabilities();
        let (checked, warnings) = caps.check(provider, request, self.inner.strictness)?;
        let checked = if checked.references.is_empty() {
            checked
        } else {
            // Boxed: downloads are large futures that most requests never need.
            Box::pin(resolve_references(&self.inner.downloader, caps, checked))
                .await
                .map_err(|e| {
                    e.with_provider(provider)
                        .with_may_have_reached_server(false)
                })?
        };
        let per_task = caps.max_images_per_request.max(1);
        let mut creates = Vec::new();
        for count in split_count(checked.count, per_task) {
            let mut task_request = checked.clone();
            task_request.count = count;
            let span = tracing::info_span!(
                "imagegen.create",
                provider,
                count,
                task_id = tracing::field::Empty
            );
            let create = async move {
                if let Err(error) = log.sending(provider, &task_request).await {
                    let error = error
                        .with_provider(provider)
                        .with_may_have_reached_server(false);
                    return Err(error);
                }
                match self.inner.create_call(entry, &task_request, options).await {
                    Ok(status) => {
                        tracing::Span::current().record("task_id", status.task_id.as_str());
                        tracing::info!("task accepted");
                        let mut handle = TaskHandle::new(provider, &status.task_id, task_request);
                        handle.links = status.links.clone();
                        if status.state.is_terminal() {
                            handle.finished = Some(status);
                        }
                        log.accepted(&handle).await;
                        Ok(handle)
                    }
                    Err(error) => {
                        tracing::warn!(provider, %error, "create failed");
                        log.failed(provider, &error).await;
                        Err(error)
                    }
                }
            }
            .instrument(span);
            creates.push(create);
        }
        let mut handles = Vec::new();
        let mut failures = Vec::new();
        for result in join_all(creates).await {
            match result {
                Ok(handle) => handles.push(handle),
                Err(error) => failures.push(TaskFailure {
                    task_id: error.task_id().map(str::to_owned),
                    error,
                }),
            }
        }
        if handles.is_empty() {
            return Err(no_image_error(provider, failures));
        }
        Ok(Submission {
            handles,
            warnings,
            failures,
            request: checked,
        })
    }

    /// Waits for `handles` concurrently and merges what came out.
    async fn collect(
        &self,
        handles: &[TaskHandle],
        request: ImageRequest,
        mut warnings: Vec<Warning>,
        mut failures: Vec<TaskFailure>,
        create: Option<Duration>,
        options: &WaitOptions,
    ) -> Result<Generation, Error> {
        let wait_started = Instant::now();
        let mut waits = Vec::with_capacity(handles.len());
        for handle in handles {
            let span = tracing::info_span!(
                "imagegen.task",
                provider = handle.provider.as_str(),
                task_id = handle.task_id.as_str()
            );
            let wait = async move {
                let outcome = match self.inner.entry(&handle.provider) {
                    Ok(entry) => {
                        let task = handle.task_ref();
                        let inner = &self.inner;
                        let caps = entry.provider.capabilities();
                        let key = LatencyKey::new(
                            entry.provider.name(),
                            handle.request.quality,
                            handle.request.aspect,
                        );
                        let seed = LatencyEstimate::seed_for(
                            caps.typical_duration,
                            handle.request.quality,
                        );
                        let waiting = Waiting {
                            provider: entry.provider.name(),
                            advised: caps.poll_interval,
                            fastest: caps.fastest_poll_interval,
                            policy: &inner.poll,
                            jitter: &inner.jitter,
                            wakers: &inner.wakers,
                            estimate: inner.latency.get_or(&key, seed),
                            poll: |deadline, priority| {
                                with_priority(priority, inner.status_call(entry, &task, deadline))
                            },
                            fetch_result: |deadline, priority| {
                                with_priority(priority, inner.result_call(entry, &task, deadline))
                            },
                        };
                        let outcome = wait_task(waiting, handle, options).await;
                        if let Some(seen) = outcome.observed {
                            inner.latency.observe(key, seed, seen.after, seen.done);
                        }
                        outcome
                    }
                    Err(err) => WaitOutcome {
                        result: Err(err.with_task_id(&handle.task_id)),
                        polls: 0,
                        warnings: Vec::new(),
                        observed: None,
                    },
                };
                (outcome, unix_ms_now())
            }
            .instrument(span);
            waits.push(wait);
        }
        let outcomes = join_all(waits).await;

        let provider = handles
            .first()
            .map(|h| h.provider.clone())
            .unwrap_or_default();
        let mut generation = Generation {
            provider: provider.clone(),
            images: Vec::new(),
            tasks: Vec::with_capacity(handles.len()),
            credits: None,
            usage: None,
            warnings: Vec::new(),
            failures: Vec::new(),
            timings: Timings {
                submitted_at: handles.iter().map(|h| h.submitted_at).min().unwrap_or(0),
                finished_at: 0,
                create,
                wait: Duration::ZERO,
            },
            polls: 0,
            request,
        };
        for (handle, (outcome, finished_at)) in handles.iter().zip(outcomes) {
            generation.polls += outcome.polls;
            warnings.extend(outcome.warnings);
            let mut summary = TaskSummary {
                task_id: handle.task_id.clone(),
                state: "error".to_owned(),
                credits: None,
                usage: None,
                polls: outcome.polls,
                submitted_at: handle.submitted_at,
                finished_at,
            };
            match outcome.result {
                Ok(status) => {
                    summary.state = status.state.name().to_owned();
                    summary.credits = status.credits;
                    summary.usage = status.usage;
                    generation.credits = add_credits(generation.credits, status.credits);
                    generation.usage = add_usage(generation.usage, status.usage);
                    if let Some(error) = task_error(&handle.provider, &status.state, &status) {
                        tracing::warn!(
                            provider = handle.provider.as_str(),
                            task_id = status.task_id.as_str(),
                            %error,
                            "task failed"
                        );
                        failures.push(TaskFailure {
                            task_id: Some(status.task_id.clone()),
                            error: error.with_task_id(&status.task_id),
                        });
                    } else {
                        push_outputs(&mut generation.images, &status);
                    }
                }
                Err(error) => {
                    summary.state = match error.kind() {
                        ErrorKind::Timeout => "timeout",
                        ErrorKind::Cancelled => "cancelled",
                        _ => "error",
                    }
                    .to_owned();
                    failures.push(TaskFailure {
                        task_id: Some(handle.task_id.clone()),
                        error,
                    });
                }
            }
            generation.timings.finished_at = generation.timings.finished_at.max(finished_at);
            generation.tasks.push(summary);
        }
        generation.timings.wait = wait_started.elapsed();
        generation.warnings = warnings;
        if generation.images.is_empty() {
            return Err(no_image_error(&provider, failures));
        }
        generation.failures = failures;
        Ok(generation)
    }
}

/// The error for a terminal status that produced no image, if it did not.
fn task_error(provider: &str, state: &TaskState, status: &crate::TaskStatus) -> Option<Error> {
    match state {
        TaskState::Succeeded if status.outputs.is_empty() => Some(no_images(provider)),
        TaskState::Succeeded => None,
        TaskState::Failed { message, code } => {
            let mut err = Error::new(ErrorKind::GenerationFailed, message.clone())
                .with_provider(provider)
                .with_retryable(false);
            if let Some(code) = code {
                err = err.with_code(code.clone());
            }
            Some(err)
        }
        TaskState::Cancelled => Some(
            Error::new(
                ErrorKind::Cancelled,
                "the task was cancelled at the provider",
            )
            .with_provider(provider)
            .with_retryable(false),
        ),
        // A wait only returns terminal states.
        TaskState::Queued
        | TaskState::Running
        | TaskState::ResultReady
        | TaskState::Unknown { .. } => {
            Some(Error::new(ErrorKind::Timeout, "the task did not finish").with_provider(provider))
        }
    }
}

/// One error for "nothing came out": the first failure's, summarising the
/// rest, possibly-accepted if any was, naming tasks that can be resumed.
fn no_image_error(provider: &str, failures: Vec<TaskFailure>) -> Error {
    let count = failures.len();
    let ambiguous = failures.iter().any(|f| f.error.may_have_reached_server());
    let resumable: Vec<String> = failures
        .iter()
        .filter(|f| matches!(f.error.kind(), ErrorKind::Timeout | ErrorKind::Cancelled))
        .filter_map(|f| f.task_id.clone())
        .collect();
    let Some(first) = failures.into_iter().next() else {
        return no_images(provider);
    };
    let mut err = first.error;
    if count > 1 {
        let message = format!(
            "no image was produced: {count} tasks failed; the first: {}",
            err.message()
        );
        err = err.with_message(message);
    }
    if ambiguous {
        err = err.with_may_have_reached_server(true);
    }
    if resumable.len() > 1 {
        err = add_hint(
            err,
            &format!(
                "these tasks may still finish; resume them with wait: {}",
                resumable.join(", ")
            ),
        );
    }
    err
}

/// Splits `count` into chunks of at most `per_task`.
fn split_count(count: u32, per_task: u32) -> impl Iterator<Item = u32> {
    let per_task = per_task.max(1);
    let full = count / per_task;
    let rest = count % per_task;
    std::iter::repeat_n(per_task, full as usize).chain((rest > 0).then_some(rest))
}

#[cfg(test)]
#[path = "tests/client_tests.rs"]
mod client_tests;

#[cfg(test)]
#[path = "tests/fanout_tests.rs"]
mod fanout_tests;

#[cfg(test)]
mod tests {
    use super::split_count;

    #[test]
    fn split_count_makes_full_chunks_then_the_rest() {
        assert_eq!(split_count(3, 1).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(split_count(5, 2).collect::<Vec<_>>(), [2, 2, 1]);
        assert_eq!(split_count(4, 10).collect::<Vec<_>>(), [4]);
        assert_eq!(split_count(4, 0).collect::<Vec<_>>(), [1, 1, 1, 1]);
    }
}
