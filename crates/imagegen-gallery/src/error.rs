//! What can stop a gallery from being written.
//!
//! Only the folder and the page itself are errors: an image that is
//! missing or cannot be decoded is reported on its card and in
//! [`Written::problems`](crate::Written::problems), never here.

use std::path::PathBuf;

/// Why the gallery page could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GalleryError {
    /// The batch folder does not exist or cannot be read.
    #[error("the batch folder {path} cannot be used: {source}")]
    Folder {
        /// The folder as given.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The folder given is a file.
    #[error("{path} is not a folder (pass the output folder of a batch)")]
    NotAFolder {
        /// The path as given.
        path: PathBuf,
    },
    /// The thumbnail folder could not be created.
    #[error("cannot create the thumbnail folder {path}: {source}")]
    ThumbnailFolder {
        /// `DIR/.thumbs`.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The page could not be written or moved into place.
    #[error("cannot write the gallery page {path}: {source}")]
    Page {
        /// `DIR/index.html`.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}
