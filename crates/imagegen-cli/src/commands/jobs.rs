//! `imagegen jobs DIR` (or `--store`): what the journal, or the queue,
//! says.

use std::sync::Arc;

use serde::Serialize;

use imagegen_jobs::{JobRow, JobState, JobStore, SqliteStore, Summary};

use crate::args::JobsArgs;
use crate::commands::store;
use crate::exit::{CliError, CliResult, Exit};

#[derive(Serialize)]
struct Report<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    summary: &'a Summary,
    jobs: Vec<&'a JobRow>,
}

pub async fn run(args: JobsArgs) -> CliResult<Exit> {
    // What the first line names: the journal's path, or the queue.
    let (journal, label, location): (Arc<dyn JobStore>, &str, String) = match (
        store::queue_of(&args.store)?,
        &args.dir,
    ) {
        (Some(_), Some(dir)) => {
            return Err(CliError::usage(format!(
                    "with --store, `jobs` lists the queue; {} is a folder",
                    dir.display()
                ))
                .hint("drop DIR to list the queue, or drop --store (unset IMAGEGEN_STORE) to read the folder's journal"));
        }
        (Some(queue), None) => {
            let opened = store::open(&queue).await?;
            let location = opened.location();
            (opened, "queue", location)
        }
        (None, Some(dir)) => {
            let journal = SqliteStore::open_to_read(dir)?;
            let location = journal.path().display().to_string();
            (Arc::new(journal) as Arc<dyn JobStore>, "journal", location)
        }
        (None, None) => {
            return Err(CliError::usage(
                "jobs needs the batch folder (DIR) or --store",
            ));
        }
    };
    let summary = journal.summary().await?;
    let jobs = journal.jobs().await?;
    if args.json {
        let (journal, queue) = if label == "queue" {
            (None, Some(location))
        } else {
            (Some(location), None)
        };
        let report = Report {
            journal,
            queue,
            summary: &summary,
            jobs: jobs.iter().collect(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    out.push_str(&format!("{label}: {location}\n"));
    out.push_str(&format!("jobs: {}\n", summary.total));
    for state in JobState::ALL {
        let n = summary.count(state);
        if n > 0 {
            out.push_str(&format!("  {:<11} {n}\n", state.as_str()));
        }
    }
    out.push_str(&format!("images saved: {}\n", summary.images));
    out.push_str(&format!(
        "credits: {} reported, {} estimated\n",
        summary.credits_reported, summary.credits_estimated
    ));
    let show = |title: &str, pick: &dyn Fn(&JobRow) -> bool, out: &mut String| {
        let picked: Vec<_> = jobs.iter().filter(|j| pick(j)).collect();
        if picked.is_empty() {
            return;
        }
        out.push_str(&format!("\n{title}:\n"));
        for j in picked {
            out.push_str(&format!(
                "  job {:<5} line {:<5} {:<10} {}{}\n",
                j.id,
                j.line,
                j.state.as_str(),
                j.task_id
                    .as_ref()
                    .map(|t| format!("[{} {t}] ", j.provider.as_deref().unwrap_or("?")))
                    .unwrap_or_default(),
                j.error.as_deref().unwrap_or(&j.prompt),
            ));
            for output in &j.outputs {
                out.push_str(&format!("      {}\n", output.path));
            }
        }
    };
    show(
        "failed",
        &|j| matches!(j.state, JobState::Failed | JobState::Invalid),
        &mut out,
    );
    show(
        "retryable (nothing was charged; `imagegen resume DIR` sends them)",
        &|j| j.state == JobState::Retryable,
        &mut out,
    );
    show(
        "ambiguous (create may have been accepted; `imagegen resume DIR --retry-ambiguous` resubmits)",
        &|j| j.state.is_ambiguous(),
        &mut out,
    );
    if args.all {
        show("all jobs", &|_| true, &mut out);
    }
    print!("{out}");
    Ok(Exit::Ok)
}
