//! The subcommands, and what they share.

mod batch;
mod completions;
pub mod gallery;
mod generate;
mod jobs;
mod providers;
mod resume;
mod sim;
mod status;
pub(crate) mod store;
mod wait;
mod worker;

use imagegen_core::Strictness;
use imagegen_jobs::Claim;

use crate::args::{Cli, Command, RunArgs};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::Mode;
use crate::runner::RunOptions;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult<Exit> {
    let mode = Mode::detect(cli.quiet);
    match cli.command {
        Command::Generate(args) => generate::run(args, mode).await,
        Command::Batch(args) => batch::run(args, mode).await,
        Command::Resume(args) => resume::run(args, mode).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::Worker(args) => worker::run(args, mode).await,
        Command::Gallery(args) => gallery::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Wait(args) => wait::run(args, mode).await,
        Command::Providers(args) => providers::run(args),
        Command::Sim(args) => sim::run(args).await,
        Command::Completions(args) => completions::run(args),
    }
}

/// The checked names of a `--provider` list, in order, without repeats.
pub fn provider_names(list: &[String]) -> CliResult<Vec<&'static str>> {
    let mut names = Vec::new();
    for name in list {
        let name = crate::providers::check_name(name)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(CliError::usage("--provider names no provider"));
    }
    Ok(names)
}

/// Strict or best-effort, from `--best-effort`.
pub fn strictness(best_effort: bool) -> Strictness {
    if best_effort {
        Strictness::BestEffort
    } else {
        Strictness::Strict
    }
}

/// How `batch` and `resume` run their jobs.
pub fn run_options(args: &RunArgs, retry_failed: bool) -> RunOptions {
    RunOptions {
        concurrency: args.concurrency as usize,
        max_credits: args.max_credits,
        claim: Claim {
            ambiguous: args.retry_ambiguous,
            failed: retry_failed,
        },
        task_timeout: args.task_timeout,
        run_timeout: args.timeout,
        gallery: !args.no_gallery,
        json: args.json,
        follow: false,
    }
}
