//! File names, atomic placement and the JSON sidecar of saved images.
//!
//! An image is written to a hidden temporary file in its final directory,
//! then *linked* to its final name: `link` fails if the name exists, so an
//! existing file is never overwritten and a reader never sees a partial
//! image. The sidecar (`<stem>.json`) is placed the same way.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::download::io_error;
use crate::error::Error;
use crate::generation::{GeneratedImage, Generation};
use crate::provider::ImageOutput;
use crate::request::{Aspect, Fidelity, Quality};

/// An image saved to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedImage {
    /// The image file.
    pub path: PathBuf,
    /// The JSON sidecar next to it.
    pub sidecar_path: PathBuf,
    /// The task that made it.
    pub task_id: String,
    /// Its index among the task's outputs.
    pub index: u32,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// The size in bytes.
    pub bytes: u64,
    /// `image/png`, `image/jpeg` or `image/webp` (from the bytes).
    pub media_type: String,
    /// The URL it was downloaded from, or `inline`.
    pub source: String,
}

/// The settings an image was made with, as recorded in its sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SidecarSettings {
    /// The aspect asked for (directly or through a size).
    pub aspect: Option<Aspect>,
    /// The quality asked for.
    pub quality: Option<Quality>,
    /// The pixel size of the aspect (`1024x1536`).
    pub size: Option<String>,
    /// The input fidelity asked for.
    pub input_fidelity: Option<Fidelity>,
    /// The reference images (URLs, paths, or names and sizes).
    pub references: Vec<String>,
}

/// The JSON written next to each image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sidecar {
    /// The prompt as sent.
    pub prompt: String,
    /// The prompt as the provider rewrote it, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
    /// The provider's name.
    pub provider: String,
    /// The task that made the image.
    pub task_id: String,
    /// The image's index among its task's outputs.
    pub index: u32,
    /// The settings.
    pub settings: SidecarSettings,
    /// Credits the provider reported for the task.
    pub credits: Option<f64>,
    /// SHA-256 of the image bytes.
    pub sha256: String,
    /// The image size in bytes.
    pub bytes: u64,
    /// The image's media type, from its bytes.
    pub media_type: String,
    /// The URL it was downloaded from, or `inline`.
    pub source: String,
    /// When it was saved (RFC 3339, UTC).
    pub created_at: String,
    /// What the caller adds (a batch's job id, line and copy, the endpoint
    /// host, the model), as top-level members.
    #[serde(flatten)]
    pub labels: serde_json::Map<String, serde_json::Value>,
}

impl Sidecar {
    pub(crate) fn new(
        generation: &Generation,
        image: &GeneratedImage,
        sha256: &str,
        bytes: u64,
        media_type: &str,
        source: &str,
    ) -> Self {
        let request = &generation.request;
        let aspect = request.effective_aspect();
        let revised_prompt = match &image.output {
            ImageOutput::Inline { revised_prompt, .. } => revised_prompt.clone(),
            ImageOutput::Url { .. } => None,
        };
        Sidecar {
            prompt: request.prompt.clone(),
            revised_prompt,
            provider: generation.provider.clone(),
            task_id: image.task_id.clone(),
            index: image.index,
            settings: SidecarSettings {
                aspect,
                quality: request.quality,
                size: request
                    .size
                    .or(aspect.map(Aspect::size))
                    .map(|s| s.to_string()),
                input_fidelity: request.input_fidelity,
                references: request.references.iter().map(|r| r.describe()).collect(),
            },
            credits: generation.task_credits(&image.task_id),
            sha256: sha256.to_owned(),
            bytes,
            media_type: media_type.to_owned(),
            source: source.to_owned(),
            created_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            labels: serde_json::Map::new(),
        }
    }
}

/// A file-name-safe slug of `text`: transliterated to ASCII (so "Ünïcödé
/// Café" is `unicode-cafe` and a Japanese or Hebrew prompt keeps its words
/// in Latin letters), lower-case letters and digits separated by single
/// dashes, at most `max` bytes, cut at a word; `image` when nothing is left.
///
/// ```
/// use imagegen_core::download::slug;
/// assert_eq!(slug("Ünïcödé Café", 60), "unicode-cafe");
/// assert_eq!(slug("A cinematic product photo of a ceramic lamp", 20), "a-cinematic-product");
/// assert_eq!(slug("!!!", 60), "image");
/// assert_ne!(slug("東京の夜景", 60), "image");
/// ```
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in deunicode::deunicode(text).chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
        if out.len() > max + 1 {
            break;
        }
    }
    if out.len() > max {
        let cut = out[..max]
            .rfind('-')
            .filter(|&i| i > max / 2)
            .unwrap_or(max);
        out.truncate(cut);
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "image".to_owned()
    } else {
        out.to_owned()
    }
}

/// A stem that is one safe file name: no separators, no leading dot.
pub(crate) fn sanitize_stem(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "image".to_owned()
    } else {
        cleaned.chars().take(120).collect()
    }
}

/// `<slug of prompt>-<task id>-<index>`.
pub(crate) fn default_stem(prompt: &str, task_id: &str, index: u32) -> String {
    let task: String = sanitize_stem(task_id).chars().take(64).collect();
    format!("{}-{task}-{index}", slug(prompt, 48))
}

/// The prefix and suffix of a download's temporary file.
const PARTIAL_PREFIX: &str = ".imagegen-";
const PARTIAL_SUFFIX: &str = ".part";

/// Removes the temporary files of downloads that a killed process left in
/// `dir`; returns how many. Call it only while no other process downloads
/// into `dir` (a batch holds its folder's lock).
pub fn remove_partial_downloads(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PARTIAL_PREFIX) && name.ends_with(PARTIAL_SUFFIX) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A temporary file in the destination directory, removed on drop unless
/// it was placed.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    placed: bool,
}

impl TempFile {
    pub(crate) async fn create(dir: &Path) -> Result<TempFile, Error> {
        for _ in 0..16 {
            let name = format!(
                "{PARTIAL_PREFIX}{:016x}{PARTIAL_SUFFIX}",
                rand::random::<u64>()
            );
            let path = dir.join(name);
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file: Some(file),
                        placed: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error(e)),
            }
        }
        Err(io_error(std::io::Error::other(
            "could not create a temporary file",
        )))
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self.file.as_mut() {
            Some(file) => file.write_all(bytes).await.map_err(io_error),
            None => Err(io_error(std::io::Error::other("temporary file closed"))),
        }
    }

    /// Flushes to disk and closes.
    pub(crate) async fn finish(&mut self) -> Result<(), Error> {
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(io_error)?;
            file.sync_all().await.map_err(io_error)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Moves `temp` to `dir/<stem>[-n].<ext>` without overwriting anything
/// (the sidecar name `<stem>[-n].json` must be free too). Returns the image
/// path and the sidecar path to use.
pub(crate) async fn place(
    mut temp: TempFile,
    dir: &Path,
    stem: &str,
    ext: &str,
) -> Result<(PathBuf, PathBuf), Error> {
    for n in 0..10_000u32 {
        let name = if n == 0 {
            stem.to_owned()
        } else {
            format!("{stem}-{n}")
        };
        let image = dir.join(format!("{name}.{ext}"));
        let sidecar = dir.join(format!("{name}.json"));
        if tokio::fs::try_exists(&sidecar).await.map_err(io_error)? {
            continue;
        }
        if link_new(&temp.path, &image).await? {
            let _ = tokio::fs::remove_file(&temp.path).await;
            temp.placed = true;
            return Ok((image, sidecar));
        }
    }
    Err(io_error(std::io::Error::other(format!(
        "no free file name for {stem}.{ext} in {}",
        dir.display()
    ))))
}

/// Links `from` to `to` if `to` does not exist; `false` if it does. Falls
/// back to reserving the name and renaming over the reservation on file
/// systems without hard links.
async fn link_new(from: &Path, to: &Path) -> Result<bool, Error> {
    match tokio::fs::hard_link(from, to).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(to)
                .await
            {
                Ok(_) => {
                    tokio::fs::rename(from, to).await.map_err(io_error)?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io_error(e)),
            }
        }
    }
}

/// Writes `sidecar` atomically at `path`, or at `<image file>.json` if
/// something took `path` meanwhile.
pub(crate) async fn write_sidecar(
    sidecar: &Sidecar,
    dir: &Path,
    path: &Path,
    image: &Path,
) -> Result<PathBuf, Error> {
    let json = serde_json::to_vec_pretty(sidecar)
        .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
    let mut temp = TempFile::create(dir).await?;
    temp.write(&json).await?;
    temp.write(b"\n").await?;
    temp.finish().await?;
    let mut fallback = image.as_os_str().to_owned();
    fallback.push(".json");
    for candidate in [path.to_path_buf(), PathBuf::from(fallback)] {
        if link_new(&temp.path, &candidate).await? {
            let _ = tokio::fs::remove_file(&temp.path).await;
            temp.placed = true;
            return Ok(candidate);
        }
    }
    Err(io_error(std::io::Error::other(format!(
        "the sidecar {} exists already",
        path.display()
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lowercase_dashed_and_keep_every_script() {
        assert_eq!(
            slug("A cinematic product photo of a ceramic lamp!", 48),
            "a-cinematic-product-photo-of-a-ceramic-lamp"
        );
        assert_eq!(slug("  --Ünïcode ☃ only  ", 48), "unicode-snowman-only");
        assert_eq!(slug("!!! ???", 48), "image");
        // The CLI's README shows this one.
        assert_eq!(slug("東京の猫", 60), "dong-jing-nomao");
        let long = slug(&"word ".repeat(40), 48);
        assert!(long.len() <= 48 && !long.ends_with('-'), "{long}");
        for (prompt, not) in [
            ("חתול על גג", "image"),
            ("قطة على السطح", "image"),
            ("猫が屋根の上に", "image"),
        ] {
            let s = slug(prompt, 48);
            assert_ne!(s, not, "{prompt}");
            assert!(
                s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{s}"
            );
        }
    }

    #[test]
    fn stems_cannot_escape_the_directory() {
        assert_eq!(sanitize_stem("../../etc/passwd"), "-..-etc-passwd");
        assert_eq!(sanitize_stem(".hidden"), "hidden");
        assert_eq!(default_stem("Lamp", "run/1", 0), "lamp-run-1-0");
    }
}
