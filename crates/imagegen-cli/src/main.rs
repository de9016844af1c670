//! `imagegen`: generate one image or ten thousand with GPT Image 1.5 from
//! Runbase, gptimage15.ai or OpenAI.

mod args;
mod batchfile;
mod commands;
mod engine;
mod exit;
mod journal;
mod output;
mod progress;
mod providers;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMAGEGEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            eprintln!("{}", err.render());
            ExitCode::from(err.exit.code())
        }
    }
}
