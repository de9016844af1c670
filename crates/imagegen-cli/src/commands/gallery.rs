//! `imagegen gallery DIR`: the batch's page, `DIR/index.html`, written on
//! demand; `batch` and `resume` write it at their end through [`write`].
//! With `--store`, the page of a shared queue, showing the images saved on
//! this host (other workers' machines hold the rest).

use std::path::Path;
use std::time::Duration;

use imagegen_gallery::{Gallery, Written};
use imagegen_jobs::{JobStore, SqliteStore};

use crate::args::GalleryArgs;
use crate::commands::store;
use crate::exit::{CliError, CliResult, Exit};

/// The journal's meta key of the time every run of the batch took, added
/// up (milliseconds): the gallery's "wall time".
const WALL_TIME_KEY: &str = "wall_time_ms";

pub async fn run(args: GalleryArgs) -> CliResult<Exit> {
    let written = match store::queue_of(&args.store)? {
        Some(queue) => {
            let opened = store::open(&queue).await?;
            std::fs::create_dir_all(&args.dir).map_err(|e| {
                CliError::failed(format!("cannot create {}: {e}", args.dir.display()))
            })?;
            write(&*opened, &args.dir, true).await?
        }
        None => {
            // Read-only: a batch may be running in the folder, and that is fine.
            let journal = SqliteStore::open_to_read(&args.dir)?;
            write(&journal, &args.dir, false).await?
        }
    };
    for problem in &written.problems {
        eprintln!("warning: image {}: {}", problem.recorded, problem.problem);
    }
    eprintln!("{}", written_line(&written));
    println!("{}", written.index.display());
    if args.open {
        open::that_detached(&written.index).map_err(|e| {
            CliError::failed(format!("cannot open {}: {e}", written.index.display()))
                .hint("open the file in a browser yourself; it needs no server")
        })?;
    }
    Ok(Exit::Ok)
}

/// Writes the gallery of the batch in `dir` from its `store`; with
/// `only_this_host`, only the images the store says this host holds (a
/// shared store's other images are on other workers' machines).
pub async fn write(store: &dyn JobStore, dir: &Path, only_this_host: bool) -> CliResult<Written> {
    let mut jobs = store.jobs().await?;
    if only_this_host {
        let here = crate::runner::this_host();
        for job in &mut jobs {
            job.outputs
                .retain(|o| o.host.as_deref() == Some(here.as_str()));
        }
    }
    let summary = store.summary().await?;
    let wall_time = recorded_wall_time(store).await?;
    let dir = dir.to_owned();
    // Thumbnails are decoded and encoded on every core: off the runtime.
    tokio::task::spawn_blocking(move || {
        let mut gallery = Gallery::new(&dir, &jobs, &summary);
        if let Some(wall_time) = wall_time {
            gallery = gallery.wall_time(wall_time);
        }
        imagegen_gallery::write(&gallery)
    })
    .await
    .map_err(|e| CliError::failed(format!("the gallery writer stopped: {e}")))?
    .map_err(|e| CliError::failed(format!("cannot write the gallery: {e}")))
}

/// What to tell the user once the page is written.
pub fn written_line(written: &Written) -> String {
    format!(
        "gallery: {} ({} jobs, {} images; {} thumbnails made, {} reused)",
        written.index.display(),
        written.cards,
        written.images,
        written.thumbnails_made,
        written.thumbnails_reused
    )
}

/// Adds `elapsed`, one run's time, to the batch's recorded wall time.
pub async fn add_wall_time(store: &dyn JobStore, elapsed: Duration) -> CliResult<()> {
    let before = recorded_wall_time(store).await?.unwrap_or_default();
    let total = (before + elapsed).as_millis();
    store.set_meta(WALL_TIME_KEY, &total.to_string()).await?;
    Ok(())
}

async fn recorded_wall_time(store: &dyn JobStore) -> CliResult<Option<Duration>> {
    Ok(store
        .meta(WALL_TIME_KEY)
        .await?
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis))
}
