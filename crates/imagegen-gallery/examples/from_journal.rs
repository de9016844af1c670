//! Writes `DIR/index.html` from the journal of an `imagegen batch` folder,
//! as `imagegen gallery DIR` does:
//!
//! ```sh
//! cargo run -p imagegen-gallery --example from_journal -- dataset
//! ```
//!
//! The journal is opened (and so locked) for as long as it is read: do not
//! run it on a folder a batch is writing.

use std::path::PathBuf;
use std::process::ExitCode;

use imagegen_jobs::{JobStore, SqliteStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: from_journal DIR");
        return ExitCode::from(2);
    };
    let read = async {
        let store = SqliteStore::open(&dir)?;
        let jobs = store.jobs().await?;
        let summary = store.summary().await?;
        Ok::<_, imagegen_jobs::StoreError>((jobs, summary))
    };
    let (jobs, summary) = match read.await {
        Ok(read) => read,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    match imagegen_gallery::write(&imagegen_gallery::Gallery::new(&dir, &jobs, &summary)) {
        Ok(written) => {
            println!(
                "{}: {} cards, {} thumbnails made, {} reused, in {:?}",
                written.index.display(),
                written.cards,
                written.thumbnails_made,
                written.thumbnails_reused,
                started.elapsed()
            );
            for problem in &written.problems {
                println!("  no thumbnail: {problem}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
