//! `imagegen resume DIR`: continue a batch from its journal.

use std::sync::Arc;

use crate::args::ResumeArgs;
use crate::commands::connect;
use crate::commands::runner::Runner;
use crate::exit::{CliResult, Exit};
use crate::journal::{JobState, Journal};
use crate::progress::{Mode, Progress};
use crate::providers::check_name;

pub async fn run(args: ResumeArgs, mode: Mode) -> CliResult<Exit> {
    let journal = Journal::open(&args.dir)?;
    let jobs = journal.jobs()?;
    let mut names: Vec<&'static str> = Vec::new();
    for job in &jobs {
        for p in job.providers.iter().chain(job.provider.iter()) {
            let name = check_name(p)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let strictness =
        crate::commands::strictness(journal.meta("strictness")?.as_deref() == Some("best_effort"));
    let session = connect(&args.conn, &names, strictness, args.retry_ambiguous).await?;

    let summary = journal.summary()?;
    let todo = summary.total
        - summary.count(JobState::Done)
        - summary.count(JobState::Failed)
        - summary.count(JobState::Invalid);
    let progress = Arc::new(Progress::new(mode, summary.total));
    progress.say(format!(
        "resume: {} jobs, {} done, {} to check or finish",
        summary.total,
        summary.count(JobState::Done),
        todo
    ));
    let ambiguous: Vec<_> = jobs.iter().filter(|j| j.state.is_ambiguous()).collect();
    if !ambiguous.is_empty() {
        let verb = if args.retry_ambiguous {
            "resubmitting (--retry-ambiguous)"
        } else {
            "not resubmitted without --retry-ambiguous"
        };
        progress.warn(format!(
            "{} ambiguous job(s) (their create may have reached {}), {verb}:",
            ambiguous.len(),
            ambiguous
                .iter()
                .filter_map(|j| j.provider.clone())
                .next()
                .unwrap_or_else(|| "the provider".into())
        ));
        for j in &ambiguous {
            progress.warn(format!(
                "  job {} (line {}): {}",
                j.id,
                j.line,
                j.error.as_deref().unwrap_or("interrupted while submitting")
            ));
        }
    }

    Runner {
        engine: session.engine.clone(),
        journal,
        out: args.dir.clone(),
        progress,
        json: args.json,
        timeout: args.timeout,
        concurrency: args.concurrency as usize,
        max_credits: args.max_credits,
        retry_ambiguous: args.retry_ambiguous,
        stop: Default::default(),
        stop_notify: Default::default(),
    }
    .run()
    .await
}
