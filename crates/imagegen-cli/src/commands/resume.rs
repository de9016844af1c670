//! `imagegen resume DIR`: continue a batch from its journal, at the
//! endpoints it recorded.

use std::sync::Arc;

use imagegen_jobs::{JobState, JobStore, SqliteStore};

use crate::args::ResumeArgs;
use crate::commands::run_options;
use crate::commands::store;
use crate::commands::worker::{Work, record_new_endpoints, recorded_providers, work_on};
use crate::connect::{ClientSettings, Connection};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::{Mode, Progress};
use crate::runner::{Runner, Target};

/// Ambiguous jobs listed one by one before the rest are counted.
const AMBIGUOUS_SHOWN: usize = 20;

pub async fn run(args: ResumeArgs, mode: Mode) -> CliResult<Exit> {
    if let Some(queue) = store::queue_of(&args.store)? {
        // A queue is resumed as a worker works on it: into the folder given
        // (no partial downloads are cleaned: other workers may share it).
        store::refuse_in_process_sim(&args.conn)?;
        let opened = store::open(&queue).await?;
        if opened.summary().await?.count(JobState::Ambiguous) > 0 {
            let progress = Progress::jobs(mode, 0);
            list_ambiguous(&*opened, &progress, args.run.retry_ambiguous).await?;
        }
        let out = args.dir.clone().unwrap_or_else(|| "images".into());
        let work = Work {
            queue: &queue,
            conn: &args.conn,
            out: &out,
            endpoint_moved: args.endpoint_moved,
            options: run_options(&args.run, args.retry_failed),
        };
        return work_on(opened, work, mode, "resume").await;
    }
    let Some(dir) = args.dir.clone() else {
        return Err(CliError::usage(
            "resume needs the batch folder (DIR) or --store",
        ));
    };
    let store = SqliteStore::open(&dir)?;
    // This process holds the folder: downloads a killed run left half
    // written are its own to clean.
    let _ = imagegen_core::remove_partial_downloads(&dir);
    let (names, recorded) = recorded_providers(&store, args.endpoint_moved).await?;
    let summary = store.summary().await?;
    let settled = summary.count(JobState::Done)
        + summary.count(JobState::Invalid)
        + if args.run.retry_ambiguous {
            0
        } else {
            summary.count(JobState::Ambiguous)
        }
        + if args.retry_failed {
            0
        } else {
            summary.count(JobState::Failed)
        };
    let progress = Arc::new(Progress::jobs(mode, summary.total - settled));
    let settings = ClientSettings {
        retry_ambiguous: args.run.retry_ambiguous,
        observer: Some(progress.clone()),
        shared_store: None,
    };
    let conn = Connection::open(&names, &args.conn, &recorded, Some(&dir), settings).await?;
    record_new_endpoints(&store, &conn, &recorded).await?;
    for note in conn.notes() {
        progress.say(note);
    }
    progress.say(format!(
        "resume: {} jobs, {} done, {} to check or finish",
        summary.total,
        summary.count(JobState::Done),
        summary.total - settled
    ));
    if summary.count(JobState::Ambiguous) > 0 {
        list_ambiguous(&store, &progress, args.run.retry_ambiguous).await?;
    }
    Runner {
        store: Arc::new(store),
        conn: Arc::new(conn),
        dir,
        progress,
        options: run_options(&args.run, args.retry_failed),
        target: Target::Journal,
    }
    .run()
    .await
}

/// Says which jobs are ambiguous and what happens to them.
async fn list_ambiguous(store: &dyn JobStore, progress: &Progress, retry: bool) -> CliResult<()> {
    let ambiguous: Vec<_> = store
        .jobs()
        .await?
        .into_iter()
        .filter(|j| j.state.is_ambiguous() && j.task_id.is_none())
        .collect();
    let verb = if retry {
        "sending again (--retry-ambiguous: each may be paid twice)"
    } else {
        "not sent again without --retry-ambiguous"
    };
    progress.warn(format!(
        "{} ambiguous job(s): their create may have been accepted; {verb}:",
        ambiguous.len()
    ));
    for job in ambiguous.iter().take(AMBIGUOUS_SHOWN) {
        progress.warn(format!(
            "  job {} (line {}, {}): {}",
            job.id,
            job.line,
            job.provider.as_deref().unwrap_or("?"),
            job.error.as_deref().unwrap_or("interrupted while sending")
        ));
    }
    if ambiguous.len() > AMBIGUOUS_SHOWN {
        progress.warn(format!(
            "  and {} more (`imagegen jobs DIR` lists them)",
            ambiguous.len() - AMBIGUOUS_SHOWN
        ));
    }
    Ok(())
}
