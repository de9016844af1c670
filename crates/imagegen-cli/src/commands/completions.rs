//! `imagegen completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::exit::{CliResult, Exit};

pub fn run(args: CompletionsArgs) -> CliResult<Exit> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "imagegen",
        &mut std::io::stdout(),
    );
    Ok(Exit::Ok)
}
