//! `imagegen batch FILE`: record every job in the journal, then run them.

use std::sync::Arc;

use crate::args::BatchArgs;
use crate::batchfile::{self, LineSpec};
use crate::commands::runner::Runner;
use crate::commands::{RequestDefaults, connect, strictness};
use crate::engine::Engine;
use crate::exit::{CliError, CliResult, Exit, describe};
use crate::journal::{JobState, Journal, NewJob};
use crate::progress::{Mode, Progress};
use crate::providers::check_name;
use crate::providers::estimate_credits;

pub async fn run(args: BatchArgs, mode: Mode) -> CliResult<Exit> {
    let default_providers = args
        .provider
        .iter()
        .map(|p| check_name(p))
        .collect::<CliResult<Vec<_>>>()?;
    let defaults = RequestDefaults::parse(&args.request)?;
    if args.n == 0 {
        return Err(CliError::new(Exit::Usage, "-n must be at least 1"));
    }
    let entries = batchfile::read(&args.file)?;
    if entries.is_empty() {
        return Err(
            CliError::invalid(format!("{} holds no prompts", args.file.display()))
                .hint("write one prompt a line, or one JSON object a line with a `prompt`"),
        );
    }

    // Every provider any line names must be known and reachable (keys!) before anything is sent.
    let mut names: Vec<&'static str> = default_providers.clone();
    for entry in &entries {
        if let Ok(LineSpec {
            providers: Some(ps),
            ..
        }) = &entry.spec
        {
            for p in ps {
                if let Ok(name) = check_name(p)
                    && !names.contains(&name)
                {
                    names.push(name);
                }
            }
        }
    }
    if Journal::path_in(&args.output.out).exists()
        && Journal::open(&args.output.out)?.job_count()? > 0
    {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{} already holds a batch journal",
                args.output.out.display()
            ),
        )
        .hint(format!(
            "`imagegen resume {}` continues it; or pass another --out",
            args.output.out.display()
        )));
    }
    let session = connect(
        &args.conn,
        &names,
        strictness(args.request.best_effort),
        args.retry_ambiguous,
    )
    .await?;
    let engine = session.engine.clone();

    let jobs = plan(&entries, &defaults, &default_providers, args.n, &engine);
    let journal = Journal::create(&args.output.out)?;
    journal.set_meta("batch_file", &args.file.display().to_string())?;
    journal.set_meta(
        "strictness",
        if args.request.best_effort {
            "best_effort"
        } else {
            "strict"
        },
    )?;
    journal.add_jobs(&jobs)?;

    let total = journal.job_count()?;
    let progress = Arc::new(Progress::new(mode, total));
    let invalid = journal.summary()?.count(JobState::Invalid);
    progress.say(format!(
        "batch: {} jobs from {} ({} invalid), journal {}",
        total,
        args.file.display(),
        invalid,
        journal.path().display()
    ));
    for job in journal
        .jobs()?
        .iter()
        .filter(|j| j.state == JobState::Invalid)
    {
        progress.warn(format!(
            "invalid: {}",
            job.error.as_deref().unwrap_or("invalid line")
        ));
    }

    Runner {
        engine,
        journal,
        out: args.output.out.clone(),
        progress,
        json: args.output.json,
        timeout: args.output.timeout,
        concurrency: args.concurrency as usize,
        max_credits: args.max_credits,
        retry_ambiguous: args.retry_ambiguous,
        stop: Default::default(),
        stop_notify: Default::default(),
    }
    .run()
    .await
}

/// Turns the file's lines into jobs: one per image, invalid lines kept with their reason.
fn plan(
    entries: &[batchfile::Entry],
    defaults: &RequestDefaults,
    default_providers: &[&'static str],
    default_n: u32,
    engine: &Engine,
) -> Vec<NewJob> {
    let mut jobs = Vec::new();
    for entry in entries {
        let invalid = |prompt: String, why: String| NewJob {
            line: entry.line,
            copy: 0,
            name: None,
            prompt,
            providers: default_providers.iter().map(|p| p.to_string()).collect(),
            request: None,
            invalid: Some(why),
            est_credits: 0.0,
        };
        let spec = match &entry.spec {
            Ok(spec) => spec,
            Err(why) => {
                jobs.push(invalid(
                    String::new(),
                    format!("line {}: {why}", entry.line),
                ));
                continue;
            }
        };
        let providers: Result<Vec<&'static str>, CliError> = match &spec.providers {
            Some(ps) => ps.iter().map(|p| check_name(p)).collect(),
            None => Ok(default_providers.to_vec()),
        };
        let providers = match providers {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => {
                jobs.push(invalid(
                    spec.prompt.clone(),
                    format!("line {}: empty provider list", entry.line),
                ));
                continue;
            }
            Err(e) => {
                jobs.push(invalid(
                    spec.prompt.clone(),
                    format!("line {}: {}", entry.line, e.message),
                ));
                continue;
            }
        };
        let mut line_defaults = defaults.clone();
        if let Some(a) = spec.aspect {
            line_defaults.aspect = Some(a);
            line_defaults.size = None;
        }
        if let Some(s) = spec.size {
            line_defaults.size = Some(s);
            line_defaults.aspect = None;
        }
        if spec.quality.is_some() {
            line_defaults.quality = spec.quality;
        }
        if let Some(refs) = &spec.refs {
            line_defaults.refs = refs.clone();
        }
        if spec.fidelity.is_some() {
            line_defaults.fidelity = spec.fidelity;
        }
        if spec.callback_url.is_some() {
            line_defaults.callback_url = spec.callback_url.clone();
        }
        let request = line_defaults.request(&spec.prompt, 1);
        // Refused by every provider of the line: invalid, before anything is sent.
        let accepted = providers
            .iter()
            .map(|p| engine.check(p, &request))
            .collect::<Vec<_>>();
        if let Some(Err(first)) = accepted.first()
            && accepted.iter().all(Result::is_err)
        {
            jobs.push(invalid(
                spec.prompt.clone(),
                format!("line {}: {}", entry.line, describe(first)),
            ));
            continue;
        }
        let request_json = serde_json::to_string(&request).expect("requests serialize");
        let n = spec.n.unwrap_or(default_n);
        for copy in 0..n {
            jobs.push(NewJob {
                line: entry.line,
                copy,
                name: spec.name.as_ref().map(|name| {
                    if n > 1 {
                        format!("{name}-{}", copy + 1)
                    } else {
                        name.clone()
                    }
                }),
                prompt: spec.prompt.clone(),
                providers: providers.iter().map(|p| p.to_string()).collect(),
                request: Some(request_json.clone()),
                invalid: None,
                est_credits: estimate_credits(providers[0], 1),
            });
        }
    }
    jobs
}
