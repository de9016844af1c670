//! `imagegen wait TASK...`: wait for tasks (by id) and save their images.
//!
//! When `--out` is a batch folder whose journal knows a task, the task is
//! polled at the endpoint the batch recorded, its images are named after
//! the job's prompt, and the journal records them. Without a journal the
//! files are named after the provider.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::join_all;
use imagegen_core::{ImageOutput, ImageRequest, Strictness, TaskHandle, WaitOptions};
use imagegen_jobs::{JobRow, JobStore, SqliteStore};
use tokio::time::Instant;

use crate::args::WaitArgs;
use crate::commands::generate::check_writable;
use crate::commands::status::sim_hint;
use crate::connect::{ClientSettings, Connection, Recorded};
use crate::exit::{CliError, CliResult, Exit};
use crate::files::{JobLabel, Owner};
use crate::output::{ImageRecord, print_json};
use crate::progress::{Mode, Progress};
use crate::providers::check_name;
use crate::runner::output_row;

pub async fn run(args: WaitArgs, mode: Mode) -> CliResult<Exit> {
    let deadline = Instant::now() + args.timeout;
    let provider = check_name(&args.provider)?;
    check_writable(&args.save.out)?;
    let journal = if SqliteStore::path_in(&args.save.out).exists() {
        Some(SqliteStore::open(&args.save.out)?)
    } else {
        None
    };
    let mut recorded = Recorded::default();
    let mut jobs: HashMap<String, JobRow> = HashMap::new();
    if let Some(journal) = &journal {
        if let Some(endpoint) = journal.endpoint(provider).await? {
            recorded.endpoints = BTreeMap::from([(provider.to_owned(), endpoint)]);
        }
        for job in journal.jobs().await? {
            if job.provider.as_deref() == Some(provider)
                && let Some(task_id) = &job.task_id
                && args.task_ids.contains(task_id)
            {
                jobs.insert(task_id.clone(), job);
            }
        }
    }
    let progress = Arc::new(Progress::spinner(mode));
    let settings = ClientSettings {
        retry_ambiguous: false,
        observer: Some(progress.clone()),
        shared_store: None,
    };
    let sim_state = journal.as_ref().map(|_| args.save.out.as_path());
    let conn = Connection::open(&[provider], &args.conn, &recorded, sim_state, settings).await?;
    let client = conn.client(&[provider.to_owned()], Strictness::Strict)?;
    let endpoint_host = conn
        .endpoint(provider)
        .map(|e| e.host())
        .unwrap_or_default();
    progress.status(format!(
        "waiting for {provider} task {}",
        args.task_ids.join(", ")
    ));

    let waits = args.task_ids.iter().map(|task_id| {
        let job = jobs.get(task_id);
        let handle = job
            .and_then(|j| j.handle.as_deref())
            .and_then(|h| serde_json::from_str::<TaskHandle>(h).ok())
            .unwrap_or_else(|| TaskHandle::new(provider, task_id, ImageRequest::new("")));
        let owner = Owner {
            job: job.map(|j| JobLabel {
                id: j.id,
                line: j.line,
                copy: j.copy,
            }),
            title: job.map_or_else(
                || provider.to_owned(),
                |j| j.name.clone().unwrap_or_else(|| j.prompt.clone()),
            ),
            endpoint_host: endpoint_host.clone(),
            adopts_earlier_files: true,
        };
        let (client, journal, args, progress) = (&client, &journal, &args, &progress);
        async move {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let generation = client
                .wait_with(&handle, WaitOptions::new().deadline(remaining))
                .await
                .map_err(|err| {
                    let exit = Exit::after_acceptance(err.kind());
                    let mut cli = sim_hint(CliError::from(err), args.conn.sim);
                    cli.exit = exit;
                    cli
                })?;
            let mut records = Vec::new();
            for image in &generation.images {
                let url = match &image.output {
                    ImageOutput::Url { url } => Some(url.clone()),
                    ImageOutput::Inline { .. } => None,
                };
                let mut record = ImageRecord {
                    path: None,
                    provider: provider.to_owned(),
                    task_id: image.task_id.clone(),
                    prompt: generation.request.prompt.clone(),
                    sha256: None,
                    width: None,
                    height: None,
                    credits: generation.credits,
                    url: url.clone(),
                    job: owner.job.map(|j| j.id),
                };
                if !(args.save.no_download && url.is_some()) {
                    let saved =
                        crate::files::save(client, &generation, image, &args.save.out, &owner)
                            .await
                            .map_err(|e| {
                                let exit = Exit::after_acceptance(e.kind());
                                CliError {
                                    exit,
                                    ..CliError::from(e)
                                }
                            })?;
                    let row = output_row(image.index, saved);
                    if let (Some(journal), Some(job)) = (journal, owner.job) {
                        journal.record_output(job.id, &row).await?;
                    }
                    record.path = Some(row.path.clone());
                    record.sha256 = Some(row.sha256.clone());
                    record.width = row.width.and_then(|w| u32::try_from(w).ok());
                    record.height = row.height.and_then(|h| u32::try_from(h).ok());
                }
                records.push(record);
            }
            if let (Some(journal), Some(job)) = (journal, owner.job) {
                journal
                    .record_done(job.id, generation.credits, records.len())
                    .await?;
            }
            progress.status(format!("{provider} task {} done", handle.task_id));
            Ok::<_, CliError>(records)
        }
    });
    let results = join_all(waits).await;
    progress.finish();
    let mut exit = Exit::Ok;
    for result in results {
        match result {
            Ok(records) => {
                for record in records {
                    if args.save.json {
                        print_json(&record);
                    } else if let Some(line) = record.path.as_ref().or(record.url.as_ref()) {
                        println!("{line}");
                    }
                }
            }
            Err(err) => {
                eprintln!("{}", err.render());
                exit = exit.max(err.exit);
            }
        }
    }
    Ok(exit)
}
