//! `cargo xtask`: see `cargo xtask --help`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::{codegen, services};

/// Workspace automation for imagegen.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate `crates/imagegen-<provider>/src/generated.rs` from
    /// `schemas/<provider>/*.json` with typify.
    Codegen {
        /// Write nothing; exit non-zero and name each stale or missing file.
        #[arg(long)]
        check: bool,
    },
    /// Scaffold a new provider: template schemas, a crate with a working
    /// codec, and its registration in the workspace and facade registry.
    NewProvider {
        /// Lower-case provider name (`[a-z][a-z0-9]*`), e.g. `acme`.
        name: String,
    },
    /// Count each provider crate's hand-written, non-test lines; fail when
    /// one is over its limit.
    Lines,
    /// Run every test with the services they need: start a private
    /// PostgreSQL (installing Debian's `postgresql` when missing), find or
    /// install Chromium, then `cargo test --workspace --locked` with
    /// IMAGEGEN_TEST_DATABASE_URL and IMAGEGEN_CHROMIUM set. Stops the
    /// database at the end.
    Test {
        /// Passed on to `cargo test` (`-- --nocapture`, a test name, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The tests' private PostgreSQL, for running tests by hand:
    /// `eval "$(cargo xtask db start)"`, then `cargo xtask db stop`.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
}

#[derive(Subcommand)]
enum DbAction {
    /// Start it (installing PostgreSQL when missing) and print the
    /// `export IMAGEGEN_TEST_DATABASE_URL=...` line to eval.
    Start,
    /// Stop it.
    Stop,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = codegen::workspace_root();
    match cli.command {
        Cmd::Codegen { check: true } => {
            let drift = codegen::check(&root)?;
            if drift.is_empty() {
                println!("generated code is up to date");
                return Ok(ExitCode::SUCCESS);
            }
            for d in &drift {
                let path = d.path().strip_prefix(&root).unwrap_or(d.path());
                eprintln!("{}: {}", d.kind(), path.display());
            }
            eprintln!("run `cargo xtask codegen` and commit the result");
            Ok(ExitCode::FAILURE)
        }
        Cmd::Codegen { check: false } => {
            let written = codegen::write_all(&root)?;
            for path in &written {
                let path = path.strip_prefix(&root).unwrap_or(path);
                println!("wrote {}", path.display());
            }
            if written.is_empty() {
                println!("generated code was already up to date");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::NewProvider { name } => {
            xtask::new_provider::run(&root, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { args } => {
            let status = services::run_tests(&root, &args)?;
            // The tests' own code, so CI fails exactly when they do.
            Ok(status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .map_or(ExitCode::FAILURE, ExitCode::from))
        }
        Cmd::Db {
            action: DbAction::Start,
        } => {
            let bin = services::ensure_postgres_bin()?;
            let postgres = services::Postgres::start(&bin, &services::pg_dir(&root))?;
            // The one line on stdout, for eval; everything else is on stderr.
            println!("export {}={}", services::DATABASE_URL_VAR, postgres.url());
            postgres.keep_running();
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Db {
            action: DbAction::Stop,
        } => {
            let bin = services::ensure_postgres_bin()?;
            if services::Postgres::stop_in(&bin, &services::pg_dir(&root))? {
                eprintln!("xtask: stopped the tests' PostgreSQL");
            } else {
                eprintln!("xtask: the tests' PostgreSQL was not running");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Lines => {
            let counts = xtask::lines::count_all(&root)?;
            let mut over = false;
            for count in &counts {
                let mark = if count.ok() { "ok" } else { "OVER" };
                println!(
                    "{:<24} {:>4} lines (limit {:>3}) {mark}",
                    format!("imagegen-{}", count.provider),
                    count.lines,
                    count.limit
                );
                over |= !count.ok();
            }
            if over {
                eprintln!(
                    "hand-written provider code over its limit: move what is shared into imagegen-core, docs into the crate README"
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
