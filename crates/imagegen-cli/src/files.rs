//! Where images land, and how a file is traced back to its prompt.
//!
//! * **Unique names.** An image is saved as `<job>-<slug>-<hash>` (a batch)
//!   or `<slug>-<hash>` (`generate`, `wait`), where `<hash>` is eight hex
//!   digits of the SHA-256 of the task id, and `-<n>` numbers the images of
//!   a task that made several. Task ids that differ only in case, or only
//!   after their first characters, still give different names.
//! * **Adoption.** A file already at that name is this image only if its
//!   sidecar names the same job, task and index (a run killed after saving
//!   it, before its journal heard of it); it is then adopted, not
//!   downloaded again. An image at this name with no sidecar is a save a
//!   kill cut short, and is replaced. `generate` adopts nothing: its task
//!   is new, so a file at its name belongs to an earlier run and is kept
//!   (the new one is numbered `-1`, `-2`...).
//! * **Labels.** Sidecars carry what traces a file back: the batch job, line
//!   and copy, and the endpoint's host (never a key, user info or query).

use std::path::{Path, PathBuf};

use imagegen_core::{Client, Error, GeneratedImage, Generation, ImageOutput, slug};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Which batch job an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLabel {
    /// Job id.
    pub id: i64,
    /// Line of the batch file.
    pub line: i64,
    /// Index among the line's images.
    pub copy: i64,
}

/// Whose images are being saved.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The batch job, if any.
    pub job: Option<JobLabel>,
    /// What names the files: a line's `name`, else the prompt.
    pub title: String,
    /// The endpoint's host.
    pub endpoint_host: String,
    /// Whether a file already at an image's name may be that image, saved
    /// by an earlier run of the same task (`batch`, `resume`, `wait`). Not
    /// after a fresh create: the task is new, so such a file is another
    /// run's and must be kept.
    pub adopts_earlier_files: bool,
}

impl Owner {
    /// The sidecar labels.
    pub fn labels(&self) -> Map<String, Value> {
        let mut labels = Map::new();
        if let Some(job) = self.job {
            labels.insert("job".into(), job.id.into());
            labels.insert("line".into(), job.line.into());
            labels.insert("copy".into(), job.copy.into());
        }
        labels.insert("endpoint".into(), self.endpoint_host.clone().into());
        labels
    }

    /// The file stem of image `index` of `task_id`, out of `images`.
    pub fn stem(&self, task_id: &str, index: u32, images: usize) -> String {
        let hash = hex::encode(&Sha256::digest(task_id.as_bytes())[..4]);
        let mut stem = match self.job {
            Some(job) => format!("{:05}-{}-{hash}", job.id, slug(&self.title, 60)),
            None => format!("{}-{hash}", slug(&self.title, 60)),
        };
        if images > 1 {
            stem.push_str(&format!("-{}", index + 1));
        }
        stem
    }
}

/// One image on disk.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The file.
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// Width and height, read from the file's header.
    pub dimensions: Option<(u32, u32)>,
    /// Where it was downloaded from (`None` for inline images).
    pub url: Option<String>,
}

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// Saves `image` of `generation` into `dir` for `owner`, or adopts the file
/// a previous run saved for it.
pub async fn save(
    client: &Client,
    generation: &Generation,
    image: &GeneratedImage,
    dir: &Path,
    owner: &Owner,
) -> Result<Saved, Error> {
    let stem = owner.stem(
        &image.task_id,
        image.index,
        images_of_task(generation, image),
    );
    let url = match &image.output {
        ImageOutput::Url { url } => Some(url.clone()),
        ImageOutput::Inline { .. } => None,
    };
    if owner.adopts_earlier_files
        && let Some(saved) = adopt(dir, &stem, owner, &image.task_id, image.index, url.clone())?
    {
        return Ok(saved);
    }
    if let ImageOutput::Inline { data, .. } = &image.output
        && data.is_empty()
    {
        // The journal drops inline bytes once they are saved as a file.
        return Err(Error::new(
            imagegen_core::ErrorKind::Io,
            format!(
                "image {} of task {} came inline and was saved as {stem}, which is gone; its bytes were not kept",
                image.index, image.task_id
            ),
        ));
    }
    let saved = client
        .downloader()
        .save_labeled(generation, image, dir, Some(&stem), &owner.labels())
        .await?;
    Ok(Saved {
        dimensions: image::image_dimensions(&saved.path).ok(),
        path: saved.path,
        sha256: saved.sha256,
        bytes: saved.bytes,
        url,
    })
}

/// How many images the task of `image` made.
fn images_of_task(generation: &Generation, image: &GeneratedImage) -> usize {
    generation
        .images
        .iter()
        .filter(|i| i.task_id == image.task_id)
        .count()
}

/// The file a previous run saved for this image, if its sidecar says so.
fn adopt(
    dir: &Path,
    stem: &str,
    owner: &Owner,
    task_id: &str,
    index: u32,
    url: Option<String>,
) -> Result<Option<Saved>, Error> {
    // The core numbers a taken name `-1`, `-2`...: a file of ours may sit
    // under one of them if the plain name was taken by someone else's.
    for n in 0..10 {
        let name = if n == 0 {
            stem.to_owned()
        } else {
            format!("{stem}-{n}")
        };
        let Some(path) = EXTENSIONS
            .iter()
            .map(|ext| dir.join(format!("{name}.{ext}")))
            .find(|p| p.is_file())
        else {
            continue;
        };
        let sidecar_path = dir.join(format!("{name}.json"));
        let Ok(text) = std::fs::read_to_string(&sidecar_path) else {
            if n == 0 {
                // This job's own name with no sidecar: a save a kill cut
                // short between placing the image and its sidecar.
                std::fs::remove_file(&path).map_err(Error::from)?;
                return Ok(None);
            }
            continue;
        };
        let Ok(sidecar) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let same_job = match owner.job {
            Some(job) => sidecar.get("job").and_then(Value::as_i64) == Some(job.id),
            None => sidecar.get("job").is_none(),
        };
        let same_image = sidecar.get("task_id").and_then(Value::as_str) == Some(task_id)
            && sidecar.get("index").and_then(Value::as_u64) == Some(u64::from(index));
        if !(same_job && same_image) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(Error::from)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sidecar.get("sha256").and_then(Value::as_str) != Some(sha256.as_str()) {
            continue;
        }
        return Ok(Some(Saved {
            dimensions: image::image_dimensions(&path).ok(),
            path,
            sha256,
            bytes: bytes.len() as u64,
            url,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(job: Option<i64>) -> Owner {
        Owner {
            job: job.map(|id| JobLabel {
                id,
                line: 3,
                copy: 1,
            }),
            title: "Ünïcödé Café".into(),
            endpoint_host: "api.example".into(),
            adopts_earlier_files: true,
        }
    }

    #[test]
    fn names_are_unique_per_job_task_and_index() {
        let o = owner(Some(14));
        let a = o.stem("Task-ABC", 0, 1);
        assert!(a.starts_with("00014-unicode-cafe-"), "{a}");
        assert_ne!(a, o.stem("task-abc", 0, 1), "ids that differ in case");
        let long = "x".repeat(40);
        assert_ne!(
            o.stem(&format!("{long}1"), 0, 1),
            o.stem(&format!("{long}2"), 0, 1)
        );
        assert_ne!(owner(Some(15)).stem("Task-ABC", 0, 1), a);
        assert!(o.stem("t", 1, 2).ends_with("-2"));
        assert!(!owner(None).stem("t", 0, 1).starts_with('0'));
    }

    #[test]
    fn labels_name_the_job_and_only_the_host() {
        let labels = owner(Some(2)).labels();
        assert_eq!(labels["job"], 2);
        assert_eq!(labels["line"], 3);
        assert_eq!(labels["copy"], 1);
        assert_eq!(labels["endpoint"], "api.example");
    }

    #[test]
    fn a_file_is_adopted_only_when_its_sidecar_names_the_same_image() {
        let dir = tempfile::tempdir().unwrap();
        let o = owner(Some(7));
        let stem = o.stem("t1", 0, 1);
        let bytes = b"\x89PNG fake";
        let sha = hex::encode(Sha256::digest(bytes));
        std::fs::write(dir.path().join(format!("{stem}.png")), bytes).unwrap();
        let sidecar = |job: i64, task: &str| {
            serde_json::json!({"job": job, "task_id": task, "index": 0, "sha256": sha}).to_string()
        };
        std::fs::write(dir.path().join(format!("{stem}.json")), sidecar(8, "t1")).unwrap();
        assert!(
            adopt(dir.path(), &stem, &o, "t1", 0, None)
                .unwrap()
                .is_none()
        );
        std::fs::write(dir.path().join(format!("{stem}.json")), sidecar(7, "t2")).unwrap();
        assert!(
            adopt(dir.path(), &stem, &o, "t1", 0, None)
                .unwrap()
                .is_none()
        );
        std::fs::write(dir.path().join(format!("{stem}.json")), sidecar(7, "t1")).unwrap();
        let adopted = adopt(dir.path(), &stem, &o, "t1", 0, None)
            .unwrap()
            .unwrap();
        assert_eq!(adopted.sha256, sha);

        // An image without its sidecar is a cut-short save: replaced.
        std::fs::remove_file(dir.path().join(format!("{stem}.json"))).unwrap();
        assert!(
            adopt(dir.path(), &stem, &o, "t1", 0, None)
                .unwrap()
                .is_none()
        );
        assert!(!dir.path().join(format!("{stem}.png")).exists());
    }
}
