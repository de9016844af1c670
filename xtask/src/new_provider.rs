//! `cargo xtask new-provider NAME` (not written yet).

use std::path::Path;

use anyhow::{Result, bail};

/// Scaffolds provider `name` in the workspace at `root`.
pub fn run(_root: &Path, name: &str) -> Result<()> {
    bail!("new-provider {name}: not written yet")
}
