//! `imagegen`: generate one image or ten thousand with GPT Image 1.5 from
//! any API that sells it. A thin shell over imagegen-core's `Client`, with
//! a crash-safe journal for batches (imagegen-jobs).

mod args;
mod batchfile;
mod commands;
mod connect;
mod exit;
mod files;
mod input;
mod output;
mod progress;
mod providers;
mod runner;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
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

/// Logs on stderr: `IMAGEGEN_LOG` when set, else what `-v` asks for.
/// Colour only on a terminal, and never with `NO_COLOR`.
fn init_logging(verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMAGEGEN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match verbose {
            0 => "off",
            1 => "imagegen_core=info,imagegen_cli=info",
            _ => "imagegen_core=debug,imagegen_cli=debug,imagegen_jobs=debug",
        })
    });
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
