//! `imagegen batch FILE`: record every job in a new journal (streaming the
//! file), then run them.

use std::collections::BTreeSet;
use std::sync::Arc;

use imagegen_core::Strictness;
use imagegen_jobs::{JobStore, NewJob, SqliteStore};

use crate::args::BatchArgs;
use crate::batchfile::{self, Entry, LineSpec};
use crate::commands::store::{self, Queue};
use crate::commands::worker::{Work, work_on};
use crate::commands::{provider_names, run_options, strictness};
use crate::connect::{ClientSettings, Connection, Recorded, choose_endpoints};
use crate::exit::{CliError, CliResult, Exit};
use crate::input::Settings;
use crate::progress::{Mode, Progress};
use crate::providers::{check_name, registration};
use crate::runner::{Runner, Target};

/// Jobs written to the journal per transaction while the file is read.
const INGEST_CHUNK: usize = 5_000;

/// Invalid lines listed one by one before the rest are counted.
const INVALID_SHOWN: usize = 10;

pub async fn run(args: BatchArgs, mode: Mode) -> CliResult<Exit> {
    let defaults = provider_names(&args.provider)?;
    let flags = Settings::from_flags(&args.request);
    let max_count = args.request.max_count;
    // The options alone must make a valid request, as a line must.
    flags
        .request("check", args.n, max_count)
        .map_err(|why| CliError::usage(why.replace("the image count", "-n")))?;
    let strictness = strictness(args.request.best_effort);
    let queue = store::queue_of(&args.store)?;
    if queue.is_none() && args.enqueue_only {
        return Err(CliError::usage(
            "--enqueue-only records the jobs in a shared --store for workers to run, but no --store is given",
        )
        .hint("add --store postgres://USER:PASSWORD@HOST:PORT/DATABASE, or drop --enqueue-only to run the batch here"));
    }
    if queue.is_some() {
        store::refuse_in_process_sim(&args.conn)?;
    }
    let reader = batchfile::open(&args.file)?;
    let source = batchfile::describe(&args.file);
    let plan = Plan {
        flags: &flags,
        defaults: &defaults,
        default_n: args.n,
        max_count,
        strictness,
    };
    match queue {
        Some(queue) => into_queue(&args, &queue, &plan, reader, &source, mode).await,
        None => into_folder(&args, &plan, reader, &source, mode).await,
    }
}

/// What an ingest recorded.
struct Ingested {
    /// Jobs recorded from the file.
    jobs: u64,
    /// Invalid lines (their jobs are recorded as invalid).
    invalid: u64,
    /// Why the first [`INVALID_SHOWN`] invalid lines are invalid (the rest
    /// are in the store: a file of a million bad lines is not held here).
    invalid_shown: Vec<String>,
    /// The providers the valid jobs use.
    used: BTreeSet<&'static str>,
}

/// Records the jobs of every line of `reader` in `store`, a chunk at a time,
/// never holding the file.
async fn ingest(
    store: &dyn JobStore,
    plan: &Plan<'_>,
    reader: impl std::io::BufRead,
    source: &str,
) -> CliResult<Ingested> {
    let mut ingested = Ingested {
        jobs: 0,
        invalid: 0,
        invalid_shown: Vec::new(),
        used: BTreeSet::new(),
    };
    let mut chunk = Vec::with_capacity(INGEST_CHUNK);
    for entry in batchfile::entries(reader) {
        let entry = entry.map_err(|e| {
            CliError::usage(format!("cannot read batch file {source}: {e}"))
                .hint("a batch file is UTF-8 text, one prompt or JSON object a line")
        })?;
        for job in plan.jobs(&entry, &mut ingested.used) {
            if let Some(why) = &job.invalid {
                ingested.invalid += 1;
                if ingested.invalid_shown.len() < INVALID_SHOWN {
                    ingested.invalid_shown.push(why.clone());
                }
            }
            chunk.push(job);
        }
        if chunk.len() >= INGEST_CHUNK {
            store.add_jobs(&chunk).await?;
            ingested.jobs += chunk.len() as u64;
            chunk.clear();
        }
    }
    store.add_jobs(&chunk).await?;
    ingested.jobs += chunk.len() as u64;
    store.finish_ingest().await?;
    Ok(ingested)
}

/// Says how many jobs were recorded and which lines are invalid.
fn report_ingest(progress: &Progress, ingested: &Ingested, recorded: String, jobs_of: &str) {
    progress.say(recorded);
    for why in &ingested.invalid_shown {
        progress.warn(format!("invalid: {why}"));
    }
    if ingested.invalid > INVALID_SHOWN as u64 {
        progress.warn(format!(
            "invalid: {} more; `imagegen jobs {jobs_of}` lists them",
            ingested.invalid - INVALID_SHOWN as u64,
        ));
    }
}

/// The batch folder's journal: record every job, then run them here.
async fn into_folder(
    args: &BatchArgs,
    plan: &Plan<'_>,
    reader: impl std::io::BufRead,
    source: &str,
    mode: Mode,
) -> CliResult<Exit> {
    let store = SqliteStore::create(&args.out)?;
    store.set_meta("batch_file", source).await?;
    store
        .set_meta("strictness", strictness_name(plan.strictness))
        .await?;
    let ingested = ingest(&store, plan, reader, source).await?;
    let total = ingested.jobs;
    if total == 0 {
        drop(store);
        remove_journal(&args.out);
        return Err(no_prompts(source));
    }
    let names: Vec<&'static str> = ingested.used.iter().copied().collect();
    store.set_meta("providers", &names.join(",")).await?;

    let progress = Arc::new(Progress::jobs(mode, total - ingested.invalid));
    report_ingest(
        &progress,
        &ingested,
        format!(
            "batch: {total} jobs from {source} ({} invalid), journal {}",
            ingested.invalid,
            store.path().display()
        ),
        &args.out.display().to_string(),
    );
    if names.is_empty() {
        progress.warn("nothing to send: every line is invalid");
        return Ok(Exit::Failed);
    }
    let settings = ClientSettings {
        retry_ambiguous: args.run.retry_ambiguous,
        observer: Some(progress.clone()),
        shared_store: None,
    };
    let conn = Connection::open(
        &names,
        &args.conn,
        &Recorded::default(),
        Some(&args.out),
        settings,
    )
    .await
    .map_err(|e| {
        let hint = format!(
            "nothing was sent; the jobs are recorded: fix this, then `imagegen resume {}`",
            args.out.display()
        );
        CliError {
            hint: Some(e.hint.map_or(hint.clone(), |h| format!("{h}; {hint}"))),
            ..e
        }
    })?;
    for (name, endpoint) in conn.endpoints() {
        store.set_endpoint(name, &endpoint).await?;
    }
    Runner {
        store: Arc::new(store),
        conn: Arc::new(conn),
        dir: args.out.clone(),
        progress,
        options: run_options(&args.run, false),
        target: Target::Journal,
    }
    .run()
    .await
}

/// A queue of a shared store: record every job (live: workers may start on
/// them once the ingest finishes), with where each provider is reached,
/// then work on the queue here unless `--enqueue-only`.
async fn into_queue(
    args: &BatchArgs,
    queue: &Queue,
    plan: &Plan<'_>,
    reader: impl std::io::BufRead,
    source: &str,
    mode: Mode,
) -> CliResult<Exit> {
    let store = store::open(queue).await?;
    // Endpoints first: a worker that takes the first job reaches each
    // provider where this command says (or where the queue already does).
    let mut names: BTreeSet<&'static str> = plan.defaults.iter().copied().collect();
    let mut recorded = Recorded::default();
    for name in &names {
        if let Some(endpoint) = store.endpoint(name).await? {
            recorded.endpoints.insert(name.to_string(), endpoint);
        }
    }
    let (chosen, notes) = choose_endpoints(
        &names.iter().copied().collect::<Vec<_>>(),
        &args.conn,
        &recorded,
    )?;
    for (name, endpoint) in &chosen {
        if recorded.endpoints.get(*name) != Some(endpoint) {
            store.set_endpoint(name, endpoint).await?;
        }
    }
    store.set_meta("batch_file", source).await?;
    let ingested = ingest(&*store, plan, reader, source).await?;
    if ingested.jobs == 0 {
        return Err(no_prompts(source));
    }
    // The queue's providers: those of every batch enqueued into it.
    if let Some(before) = store.meta("providers").await? {
        names.extend(before.split(',').filter_map(|p| check_name(p).ok()));
    }
    names.extend(ingested.used.iter().copied());
    let list: Vec<&str> = names.iter().copied().collect();
    store.set_meta("providers", &list.join(",")).await?;

    // One line per event: nothing runs yet for a live display to show.
    let report_mode = match mode {
        Mode::Quiet => Mode::Quiet,
        _ => Mode::Lines,
    };
    let progress = Progress::jobs(report_mode, 0);
    for note in &notes {
        progress.say(note);
    }
    report_ingest(
        &progress,
        &ingested,
        format!(
            "batch: {} jobs from {source} ({} invalid) enqueued into {}",
            ingested.jobs,
            ingested.invalid,
            store.location()
        ),
        &queue.options(),
    );
    if args.enqueue_only {
        progress.say(format!(
            "start workers on it: imagegen worker {} --out DIR",
            queue.options()
        ));
        progress.finish();
        return Ok(Exit::Ok);
    }
    progress.finish();
    let work = Work {
        queue,
        conn: &args.conn,
        out: &args.out,
        endpoint_moved: false,
        options: run_options(&args.run, false),
    };
    work_on(store, work, mode, "batch").await
}

/// The error for a batch file without a single prompt.
fn no_prompts(source: &str) -> CliError {
    CliError::usage(format!("{source} holds no prompts"))
        .hint("write one prompt a line, or one JSON object a line with a `prompt`")
}

fn strictness_name(strictness: Strictness) -> &'static str {
    match strictness {
        Strictness::BestEffort => "best_effort",
        _ => "strict",
    }
}

/// Removes the journal of a batch that recorded nothing, so the folder
/// can take a batch again.
fn remove_journal(dir: &std::path::Path) {
    let path = SqliteStore::path_in(dir);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// How lines become jobs.
struct Plan<'a> {
    flags: &'a Settings,
    defaults: &'a [&'static str],
    default_n: u32,
    max_count: u32,
    strictness: Strictness,
}

impl Plan<'_> {
    /// The jobs of one line: one per image, or one invalid job with the
    /// reason. Adds the providers the jobs use to `used`.
    fn jobs(&self, entry: &Entry, used: &mut BTreeSet<&'static str>) -> Vec<NewJob> {
        let line = entry.line;
        let invalid = |prompt: &str, why: String| {
            vec![NewJob {
                line,
                copy: 0,
                name: None,
                prompt: prompt.to_owned(),
                providers: self.defaults.iter().map(|p| p.to_string()).collect(),
                request: None,
                strictness: strictness_name(self.strictness).to_owned(),
                invalid: Some(format!("line {line}: {why}")),
            }]
        };
        let spec: &LineSpec = match &entry.spec {
            Ok(spec) => spec,
            Err(why) => return invalid("", why.clone()),
        };
        let providers = match &spec.providers {
            None => self.defaults.to_vec(),
            Some(list) => {
                let mut names = Vec::new();
                for name in list {
                    match check_name(name) {
                        Ok(n) if !names.contains(&n) => names.push(n),
                        Ok(_) => {}
                        Err(e) => {
                            let hint = e.hint.map(|h| format!("; {h}")).unwrap_or_default();
                            return invalid(&spec.prompt, format!("{}{hint}", e.message));
                        }
                    }
                }
                if names.is_empty() {
                    return invalid(&spec.prompt, "`provider` names no provider".to_owned());
                }
                names
            }
        };
        let n = match spec.n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)) {
            Some(n) => n,
            None => self.default_n,
        };
        if let Err(why) = crate::args::check_count(n, self.max_count, "`n`") {
            return invalid(&spec.prompt, why);
        }
        let settings = self.flags.overridden_by(&spec.settings);
        let request = match settings.request(&spec.prompt, 1, self.max_count) {
            Ok(request) => request,
            Err(why) => return invalid(&spec.prompt, why),
        };
        // Refused by every provider of the line: invalid, before anything is sent.
        let mut first_refusal = None;
        let accepted = providers.iter().any(|p| {
            let checked =
                registration(p).map(|r| r.capabilities().check(p, &request, self.strictness));
            match checked {
                Ok(Ok(_)) => true,
                Ok(Err(e)) | Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            }
        });
        if !accepted {
            let why = first_refusal.map_or_else(String::new, |e| crate::exit::describe(&e));
            return invalid(&spec.prompt, why);
        }
        used.extend(providers.iter().copied());
        let request = serde_json::to_string(&request).expect("requests serialize");
        (0..n)
            .map(|copy| NewJob {
                line,
                copy,
                name: spec.name.clone(),
                prompt: spec.prompt.clone(),
                providers: providers.iter().map(|p| p.to_string()).collect(),
                request: Some(request.clone()),
                strictness: strictness_name(self.strictness).to_owned(),
                invalid: None,
            })
            .collect()
    }
}
