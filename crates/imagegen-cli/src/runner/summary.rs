//! The end of a run: what happened, in a few lines, and the exit code
//! from the one table (see [`Exit`]).

use std::sync::atomic::Ordering;

use imagegen_jobs::{JobState, JobStore, Summary};

use super::Tally;
use crate::exit::{CliResult, Exit};
use crate::progress::{Progress, human_duration};

/// Prints the summary of the store after a run and returns the exit code.
pub async fn summarize(
    store: &dyn JobStore,
    dir: &str,
    progress: &Progress,
    tally: &Tally,
) -> CliResult<Exit> {
    let s = store.summary().await?;
    let ambiguous = s.count(JobState::Ambiguous) + s.count(JobState::Submitting);
    let failed = s.count(JobState::Failed) + s.count(JobState::Invalid);
    let unfinished = s.count(JobState::Submitted) + s.count(JobState::TimedOut);
    let retryable = s.count(JobState::Retryable);
    let not_sent = s.count(JobState::Pending) + s.count(JobState::Skipped);
    let reasons = reasons(&s, &[JobState::Failed, JobState::Invalid]);
    progress.say(format!(
        "done {} of {} jobs, {} images; failed {failed}{reasons}; ambiguous {ambiguous}; retryable {retryable}; unfinished {unfinished}; not sent {not_sent}",
        s.count(JobState::Done),
        s.total,
        s.images,
    ));
    progress.say(format!(
        "credits: {} reported, {} estimated; time {}",
        significant_credits(s.credits_reported),
        significant_credits(s.credits_estimated),
        human_duration(progress.elapsed())
    ));
    if ambiguous > 0 {
        progress.warn(format!(
            "warning: {ambiguous} job(s) may have been accepted (and paid for) without their task id reaching us; `imagegen jobs {dir}` lists them, `imagegen resume {dir} --retry-ambiguous` sends them again (which may pay twice)"
        ));
    }
    if retryable > 0 {
        progress.warn(format!(
            "note: {retryable} job(s) were not sent, nothing was charged{}; `imagegen resume {dir}` sends them",
            reasons_of(&s, JobState::Retryable)
        ));
    }
    if unfinished > 0 {
        progress.warn(format!(
            "note: {unfinished} job(s) have a task id but did not finish; `imagegen resume {dir}` polls them again"
        ));
    }
    let lost = tally.lost_task_ids.load(Ordering::SeqCst);
    if lost > 0 {
        progress.warn(format!(
            "error: {lost} accepted task id(s) could not be recorded in the journal; they are printed above with the `imagegen wait` command that fetches them"
        ));
    }
    Ok(exit_code(&s, tally))
}

/// The exit code of a run, most urgent first: paid work unaccounted for,
/// then the run's deadline, then why jobs failed or are left.
pub fn exit_code(s: &Summary, tally: &Tally) -> Exit {
    let ambiguous = s.count(JobState::Ambiguous) + s.count(JobState::Submitting);
    if ambiguous > 0 || tally.lost_task_ids.load(Ordering::SeqCst) > 0 {
        return Exit::Ambiguous;
    }
    let left = s.count(JobState::Submitted)
        + s.count(JobState::TimedOut)
        + s.count(JobState::Retryable)
        + s.count(JobState::Pending)
        + s.count(JobState::Skipped);
    if tally.out_of_time.load(Ordering::SeqCst) && left > 0 {
        return Exit::Timeout;
    }
    let failed_because = |kinds: &[&str]| {
        [JobState::Failed, JobState::Retryable]
            .into_iter()
            .flat_map(|state| s.errors_in(state))
            .any(|(kind, _)| kinds.contains(&kind))
    };
    if failed_because(&["insufficient_credits", "quota_exhausted"]) {
        return Exit::Credits;
    }
    if failed_because(&["unauthorized", "forbidden"]) {
        return Exit::Auth;
    }
    if s.errors_in(JobState::Retryable)
        .any(|(kind, _)| kind == "transport")
    {
        return Exit::Unreachable;
    }
    let failed = s.count(JobState::Failed) + s.count(JobState::Invalid);
    if failed + left > 0 || tally.journal_errors.load(Ordering::SeqCst) > 0 {
        return Exit::Failed;
    }
    Exit::Ok
}

/// ` (insufficient_credits 3, invalid_request 1)`, or nothing.
fn reasons(s: &Summary, states: &[JobState]) -> String {
    let mut counts: std::collections::BTreeMap<&str, u64> = Default::default();
    for state in states {
        for (kind, n) in s.errors_in(*state) {
            *counts.entry(kind).or_default() += n;
        }
    }
    if counts.is_empty() {
        return String::new();
    }
    let list: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!(" ({})", list.join(", "))
}

fn reasons_of(s: &Summary, state: JobState) -> String {
    reasons(s, &[state])
}

/// Credits to the hundredth, without trailing zeros.
fn significant_credits(credits: f64) -> String {
    let text = format!("{credits:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
