//! Helpers for xtask's tests: scratch directories and copies.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed when dropped. Named after
/// the test and the process so parallel tests and runs do not collide.
pub(crate) struct Scratch {
    pub(crate) path: PathBuf,
}

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        Scratch::at(std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id())))
    }

    /// A scratch directory at a fixed `path`, emptied first: a build in it
    /// keeps the same package ids from run to run, so its artifacts in a
    /// shared target directory are replaced rather than piled up.
    pub(crate) fn at(path: PathBuf) -> Self {
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Copies directory `from` to `to` recursively, skipping `target/` and `.git/`.
pub(crate) fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}
