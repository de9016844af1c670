//! End-to-end tests of the `imagegen` binary against the simulator, which
//! runs in this test process on loopback (or in the CLI with `--sim`).
//! One test binary, several modules, to keep link time down.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/help.rs"]
mod help;

#[path = "cli/errors.rs"]
mod errors;

#[path = "cli/generate.rs"]
mod generate;

#[path = "cli/batch.rs"]
mod batch;

#[path = "cli/crash.rs"]
mod crash;

#[path = "cli/journal.rs"]
mod journal;

#[path = "cli/exits.rs"]
mod exits;

#[path = "cli/input.rs"]
mod input;

#[path = "cli/outputs.rs"]
mod outputs;

#[path = "cli/progress.rs"]
mod progress;

#[path = "cli/gallery.rs"]
mod gallery;

#[path = "cli/workers.rs"]
mod workers;
