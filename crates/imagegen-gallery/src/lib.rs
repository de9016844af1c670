//! A static HTML gallery of an imagegen batch folder.
//!
//! [`write`] turns the jobs of a batch journal into `DIR/index.html`: one
//! card per job with a thumbnail, the prompt, provider, task id, credits
//! and state; failed, invalid and ambiguous jobs marked with their reasons;
//! a header with the totals; filters by state and provider and a search, in
//! a little inline JavaScript. The page opens from the file system, loads
//! nothing from anywhere else, and links with paths relative to `DIR`, so
//! the folder can be moved or archived whole.
//!
//! ```no_run
//! # fn run(jobs: Vec<imagegen_jobs::JobRow>, summary: imagegen_jobs::Summary) -> Result<(), imagegen_gallery::GalleryError> {
//! use std::path::Path;
//! use std::time::Duration;
//!
//! let gallery = imagegen_gallery::Gallery::new(Path::new("dataset"), &jobs, &summary)
//!     .wall_time(Duration::from_secs(95));
//! let written = imagegen_gallery::write(&gallery)?;
//! println!(
//!     "{} ({} thumbnails made, {} reused)",
//!     written.index.display(),
//!     written.thumbnails_made,
//!     written.thumbnails_reused
//! );
//! # Ok(()) }
//! ```
//!
//! * Thumbnails are JPEGs of at most [`THUMBNAIL_SIZE`] pixels in
//!   `DIR/.thumbs/`, made on every core, and only when missing or older
//!   than their image: writing the page again after `resume` decodes only
//!   new images. The page never shows a full image; a thumbnail links to it.
//! * An image that is missing or cannot be decoded never fails the page:
//!   its card says so, and [`Written::problems`] lists it.
//! * Every text from a job is HTML-escaped, and the page's
//!   Content-Security-Policy allows no script or style but its own.
//! * Off-screen cards are not laid out (`content-visibility`) and
//!   thumbnails load lazily, so 10,000 jobs open in well under two seconds
//!   (docs/PERFORMANCE.md).

mod error;
#[cfg(feature = "fixture")]
pub mod fixture;
mod locate;
mod page;
mod shrink;
mod thumbs;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use imagegen_jobs::{JobRow, Summary};

pub use error::GalleryError;
pub use thumbs::{THUMBNAIL_FOLDER, THUMBNAIL_SIZE};

use thumbs::{Places, Preview};

/// The page's file name in the batch folder.
pub const INDEX_FILE: &str = "index.html";

/// What to put in a gallery. Build it with [`Gallery::new`]; the other
/// fields have defaults and builder methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Gallery<'a> {
    /// The batch folder: the page is `dir/index.html`, thumbnails go to
    /// `dir/.thumbs/`, and links are relative to it.
    pub dir: &'a Path,
    /// The page's title (`imagegen batch: <folder name>` by default).
    pub title: String,
    /// One card per job, in this order.
    pub jobs: &'a [JobRow],
    /// The header's totals.
    pub summary: &'a Summary,
    /// How long the batch took, for the header.
    pub wall_time: Option<Duration>,
    /// The directory that recorded relative image paths are relative to:
    /// the current directory of the process that saved them. `None`: this
    /// process's current directory. (Images are also looked for in `dir`
    /// when not found there; see [`write`].)
    pub saved_from: Option<PathBuf>,
    /// How many threads make thumbnails; `None`: one per core.
    pub threads: Option<NonZeroUsize>,
}

impl<'a> Gallery<'a> {
    /// The gallery of `jobs` in `dir`, with defaults for the rest.
    pub fn new(dir: &'a Path, jobs: &'a [JobRow], summary: &'a Summary) -> Gallery<'a> {
        let name = std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        Gallery {
            dir,
            title: format!("imagegen batch: {name}"),
            jobs,
            summary,
            wall_time: None,
            saved_from: None,
            threads: None,
        }
    }

    /// Sets the page's title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the wall time shown in the header.
    pub fn wall_time(mut self, elapsed: Duration) -> Self {
        self.wall_time = Some(elapsed);
        self
    }

    /// Sets the directory relative image paths were saved from.
    pub fn saved_from(mut self, dir: impl Into<PathBuf>) -> Self {
        self.saved_from = Some(dir.into());
        self
    }

    /// Sets how many threads make thumbnails.
    pub fn threads(mut self, threads: NonZeroUsize) -> Self {
        self.threads = Some(threads);
        self
    }
}

/// What [`write`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Written {
    /// The page: `dir/index.html`.
    pub index: PathBuf,
    /// Cards on the page (one per job).
    pub cards: usize,
    /// Distinct image paths recorded by the jobs.
    pub images: usize,
    /// Thumbnails made by this call.
    pub thumbnails_made: usize,
    /// Thumbnails of earlier calls still newer than their image, reused.
    pub thumbnails_reused: usize,
    /// Images shown without a thumbnail, and why.
    pub problems: Vec<ImageProblem>,
}

/// An image the page shows without a thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageProblem {
    /// The path as the journal records it.
    pub recorded: String,
    /// Why: missing, or what went wrong reading it.
    pub problem: String,
}

impl std::fmt::Display for ImageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.recorded, self.problem)
    }
}

/// Writes `gallery.dir/index.html` (to a temporary file, then renamed over
/// the old page, so a browser never sees half a page), making the missing or
/// stale thumbnails in `.thumbs/` first.
///
/// A recorded image path is found as it is (absolute), from
/// [`Gallery::saved_from`], from the batch folder, or by its ever shorter
/// tails inside the batch folder (a folder moved since the batch). Only the
/// folder and the page can fail; an image never does.
pub fn write(gallery: &Gallery) -> Result<Written, GalleryError> {
    let folder_error = |source| GalleryError::Folder {
        path: gallery.dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(gallery.dir).map_err(folder_error)?;
    if !meta.is_dir() {
        return Err(GalleryError::NotAFolder {
            path: gallery.dir.to_path_buf(),
        });
    }
    // Canonical, so that links from it to canonical image paths are exact.
    let dir = std::fs::canonicalize(gallery.dir).map_err(folder_error)?;
    let thumbs = thumbs::folder_of(&dir);
    std::fs::create_dir_all(&thumbs).map_err(|source| GalleryError::ThumbnailFolder {
        path: thumbs.clone(),
        source,
    })?;
    let saved_from = match &gallery.saved_from {
        Some(from) => from.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| dir.clone()),
    };

    // Each distinct recorded path once (jobs may share a file).
    let mut recorded: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for output in gallery.jobs.iter().flat_map(|job| &job.outputs) {
        if seen.insert(output.path.as_str()) {
            recorded.push(&output.path);
        }
    }
    let threads = gallery
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .unwrap_or(NonZeroUsize::MIN);
    let places = Places {
        dir: &dir,
        saved_from: &saved_from,
        thumbs: &thumbs,
    };
    let views = thumbs::prepare_all(&recorded, &places, threads);

    let mut written = Written {
        index: gallery.dir.join(INDEX_FILE),
        cards: gallery.jobs.len(),
        images: recorded.len(),
        thumbnails_made: 0,
        thumbnails_reused: 0,
        problems: Vec::new(),
    };
    for (path, view) in recorded.iter().zip(&views) {
        match &view.preview {
            Preview::Thumbnail { made: true, .. } => written.thumbnails_made += 1,
            Preview::Thumbnail { made: false, .. } => written.thumbnails_reused += 1,
            Preview::Missing => written.problems.push(ImageProblem {
                recorded: (*path).to_owned(),
                problem: "not found".to_owned(),
            }),
            Preview::Unusable { reason } => written.problems.push(ImageProblem {
                recorded: (*path).to_owned(),
                problem: reason.clone(),
            }),
        }
    }

    let by_path: HashMap<&str, &thumbs::ImageView> =
        recorded.iter().copied().zip(views.iter()).collect();
    let html = page::render(gallery, &by_path, &now());
    thumbs::write_atomically(&dir, &dir.join(INDEX_FILE), html.as_bytes(), true).map_err(
        |source| GalleryError::Page {
            path: written.index.clone(),
            source,
        },
    )?;
    Ok(written)
}

/// The time for the footer, UTC to the second.
fn now() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "an unknown time".to_owned())
}

#[cfg(test)]
mod tests;
