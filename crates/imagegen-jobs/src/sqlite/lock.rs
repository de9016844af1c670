//! The exclusive lock of a batch folder: an OS file lock on
//! `DIR/.imagegen.lock`, held for the life of the process's store. The
//! kernel drops it when the process dies, so a stale lock never blocks.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::{LOCK_NAME, io, now};
use crate::store::{StoreError, StoreErrorKind, StoreResult};

/// The exclusive lock on a batch folder, held as long as the value lives.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Takes the lock of `dir` (creating the folder), or says who holds it.
    pub fn take(dir: &Path) -> StoreResult<FolderLock> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(LOCK_NAME);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                };
                return Err(StoreError::new(
                    StoreErrorKind::InUse,
                    format!("{} is in use by imagegen ({who})", dir.display()),
                )
                .hint("wait for it to finish (or stop it), then run the command again"));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let text = format!("pid {} since {}\n", std::process::id(), now());
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(text.as_bytes());
        let _ = file.sync_data();
        Ok(FolderLock { _file: file })
    }
}
