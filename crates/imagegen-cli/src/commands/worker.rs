//! `imagegen worker`: work on a queue of a shared PostgreSQL job store,
//! and [`work_on`], what `batch --store` and `resume --store` run too.
//!
//! Everything that decides how a job is sent comes from the store, so any
//! worker on any machine runs a queue the same way: each job carries its
//! request, provider order and strictness, and the queue records where
//! each provider is reached (a worker reaches a provider the queue has not
//! recorded where its own command line says, and records that).

use std::path::Path;
use std::sync::Arc;

use imagegen_jobs::{Claim, JobState, JobStore};

use crate::args::{ConnArgs, WorkerArgs};
use crate::commands::store::{self, Queue};
use crate::connect::{ClientSettings, Connection, Recorded};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::{Mode, Progress};
use crate::providers::check_name;
use crate::runner::{RunOptions, Runner, Target};

pub async fn run(args: WorkerArgs, mode: Mode) -> CliResult<Exit> {
    let Some(queue) = store::queue_of(&args.store)? else {
        return Err(CliError::usage(
            "a worker works on a shared queue: give --store (or set IMAGEGEN_STORE)",
        )
        .hint("e.g. imagegen worker --store postgres://USER:PASSWORD@HOST:PORT/DATABASE; a batch folder on one machine needs no worker: `imagegen batch FILE` or `imagegen resume DIR`"));
    };
    store::refuse_in_process_sim(&args.conn)?;
    let options = RunOptions {
        concurrency: args.concurrency as usize,
        max_credits: None,
        claim: Claim {
            ambiguous: args.retry_ambiguous,
            failed: false,
        },
        task_timeout: args.task_timeout,
        run_timeout: None,
        json: args.json,
        // Many workers may share the folder: `imagegen gallery DIR --store …`
        // writes the page on demand.
        gallery: false,
        follow: args.follow,
    };
    let opened = store::open(&queue).await?;
    let work = Work {
        queue: &queue,
        conn: &args.conn,
        out: &args.out,
        endpoint_moved: false,
        options,
    };
    work_on(opened, work, mode, "worker").await
}

/// A run on a queue: where, how, and into which folder.
pub struct Work<'a> {
    /// The queue.
    pub queue: &'a Queue,
    /// Connection options of the command line.
    pub conn: &'a ConnArgs,
    /// The folder this process saves images into.
    pub out: &'a Path,
    /// `resume --endpoint-moved`.
    pub endpoint_moved: bool,
    /// How to run the jobs.
    pub options: RunOptions,
}

/// Works on the jobs of `store` (the queue `work.queue` names) until it has
/// nothing left for this process, or for good with `follow`.
pub async fn work_on(
    store: Arc<dyn JobStore>,
    work: Work<'_>,
    mode: Mode,
    command: &str,
) -> CliResult<Exit> {
    // Absolute, so the store tells any process where on this host the
    // images are, whatever its current directory.
    let out = std::path::absolute(work.out)
        .map_err(|e| CliError::usage(format!("cannot use {} as --out: {e}", work.out.display())))?;
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", out.display())))?;
    let (names, recorded) = recorded_providers(&*store, work.endpoint_moved).await?;
    let summary = store.summary().await?;
    let claim = work.options.claim;
    let left = summary.total
        - summary.count(JobState::Done)
        - summary.count(JobState::Invalid)
        - if claim.ambiguous {
            0
        } else {
            summary.count(JobState::Ambiguous)
        }
        - if claim.failed {
            0
        } else {
            summary.count(JobState::Failed)
        };
    let progress = Arc::new(Progress::jobs(mode, left));
    let settings = ClientSettings {
        retry_ambiguous: claim.ambiguous,
        observer: Some(progress.clone()),
        shared_store: Some(work.queue.url.clone()),
    };
    let conn = Connection::open(&names, work.conn, &recorded, None, settings).await?;
    record_new_endpoints(&*store, &conn, &recorded).await?;
    for note in conn.notes() {
        progress.say(note);
    }
    progress.say(format!(
        "{command}: {} ({} jobs, {} done, {left} to check or finish{}), images into {}",
        store.location(),
        summary.total,
        summary.count(JobState::Done),
        if work.options.follow {
            "; following"
        } else {
            ""
        },
        out.display()
    ));
    Runner {
        store,
        conn: Arc::new(conn),
        dir: out,
        progress,
        options: work.options,
        target: Target::Shared(work.queue.options()),
    }
    .run()
    .await
}

/// Records where `conn` reaches each provider, where that is not what the
/// store had recorded (a provider reached for the first time, or an
/// endpoint the user moved).
pub async fn record_new_endpoints(
    store: &dyn JobStore,
    conn: &Connection,
    recorded: &Recorded,
) -> CliResult<()> {
    for (name, endpoint) in conn.endpoints() {
        if recorded.endpoints.get(name) != Some(&endpoint) {
            store.set_endpoint(name, &endpoint).await?;
        }
    }
    Ok(())
}

/// The providers a store's jobs use, each with where the store recorded
/// it is reached (`moved`: the user says the endpoints moved,
/// `--endpoint-moved`).
pub async fn recorded_providers(
    store: &dyn JobStore,
    moved: bool,
) -> CliResult<(Vec<&'static str>, Recorded)> {
    let names = providers_of(store).await?;
    let mut recorded = Recorded {
        endpoints: Default::default(),
        moved,
    };
    for name in &names {
        if let Some(endpoint) = store.endpoint(name).await? {
            recorded.endpoints.insert(name.to_string(), endpoint);
        }
    }
    Ok((names, recorded))
}

/// The providers a batch or queue uses: recorded at ingest, or (stores
/// from before that) read from its jobs. A queue an application fills may
/// record none: its workers reach each provider when a job names it.
async fn providers_of(store: &dyn JobStore) -> CliResult<Vec<&'static str>> {
    let listed: Vec<String> = match store.meta("providers").await? {
        Some(list) => list
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        None => {
            let mut all = std::collections::BTreeSet::new();
            for job in store.jobs().await? {
                all.extend(job.providers);
                all.extend(job.provider);
            }
            all.into_iter().collect()
        }
    };
    let mut names = Vec::new();
    for name in listed {
        let name = check_name(&name)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}
