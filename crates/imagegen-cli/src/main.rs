//! `imagegen`: generate one image or ten thousand with GPT Image 1.5 from
//! Runbase, gptimage15.ai or OpenAI.

// The commands that use these modules land next.
#![allow(dead_code)]

mod args;
mod batchfile;
mod exit;
mod journal;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = cli;
    ExitCode::SUCCESS
}
