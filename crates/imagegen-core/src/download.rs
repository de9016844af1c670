//! Saving generated images to disk, safely.
//!
//! Image URLs point at CDNs, not at the provider's API, so the
//! [`Downloader`] uses its own HTTP client that never sends an
//! `Authorization` header (an API key must not leak to a CDN or to wherever a
//! redirect points) and follows at most a few redirects. Each image is
//! streamed to a temporary file in the target directory and moved into place
//! only once it is complete, capped in size and checked to start like a PNG,
//! JPEG or WebP (an expired link that answers with an HTML page is an error,
//! not a `.png` full of HTML). A JSON sidecar next to each image records the
//! prompt, settings, provider, task, credits and SHA-256. Downloads are free,
//! so transient failures are retried.

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::generation::{GeneratedImage, Generation};
use crate::provider::ImageOutput;
use crate::retry::{CallKind, Jitter, Retrier, RetryPolicy};
use crate::sidecar::{TempFile, default_stem, place, sanitize_stem, write_sidecar};

pub use crate::magic::{extension_for, sniff_image};
pub use crate::sidecar::{SavedImage, Sidecar, SidecarSettings, slug};

/// The default size cap for one image: 50 MiB.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;

/// Image bytes fetched into memory (reference images).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetched {
    /// The bytes.
    pub bytes: Bytes,
    /// `image/png`, `image/jpeg` or `image/webp`, from the bytes themselves.
    pub media_type: &'static str,
}

/// Downloads and saves images. Cheap to clone.
///
/// ```no_run
/// # async fn run(generation: imagegen_core::Generation) -> Result<(), imagegen_core::Error> {
/// use imagegen_core::Downloader;
/// let downloader = Downloader::new().with_max_bytes(20 * 1024 * 1024);
/// for saved in downloader.save(&generation, "out").await? {
///     println!("{} ({} bytes, sha256 {})", saved.path.display(), saved.bytes, saved.sha256);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Downloader {
    client: reqwest::Client,
    max_bytes: u64,
    timeout: Duration,
    retry: RetryPolicy,
    jitter: std::sync::Arc<Jitter>,
}

impl Default for Downloader {
    fn default() -> Self {
        Downloader::new()
    }
}

impl Downloader {
    /// A downloader with its own client (no auth, at most 5 redirects, 10 s
    /// to connect, 2 minutes per image), a 50 MiB cap and 4 attempts.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("imagegen/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("the default reqwest client configuration is valid");
        Downloader::with_client(client)
    }

    /// A downloader over a caller's client (proxies, roots). The client must
    /// not carry an API key in its default headers.
    pub fn with_client(client: reqwest::Client) -> Self {
        Downloader {
            client,
            max_bytes: DEFAULT_MAX_IMAGE_BYTES,
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::default()
                .with_deadline(Duration::from_secs(300))
                .with_budget(None),
            jitter: std::sync::Arc::new(Jitter::from_entropy()),
        }
    }

    /// Sets the size cap per image.
    pub fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }
    /// Sets the timeout of one download attempt.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets the retry policy (its budget is ignored: downloads are free).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Seeds the backoff jitter.
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter = std::sync::Arc::new(Jitter::seeded(seed));
        self
    }
    /// The size cap per image.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn retrier<'a>(&'a self, deadline: Instant) -> Retrier<'a> {
        Retrier {
            policy: &self.retry,
            budget: None,
            rate: None,
            jitter: &self.jitter,
            kind: CallKind::Download,
            provider: "download",
            deadline,
            observer: None,
        }
    }

    /// Downloads `url` into memory (capped, checked to be an image, retried).
    pub async fn fetch(&self, url: &str) -> Result<Fetched, Error> {
        let deadline = crate::clock::after(self.retry.deadline);
        let (result, _) = self
            .retrier(deadline)
            .run(|| async move {
                let mut body = BytesMut::new();
                let media_type = self.stream(url, Sink::Memory(&mut body)).await?;
                Ok(Fetched {
                    bytes: body.freeze(),
                    media_type,
                })
            })
            .await;
        result
    }

    /// Saves every image of `generation` into `dir` (created if needed) with
    /// the default names; stops at the first failure (files already saved
    /// stay). See [`save_all`](Self::save_all) to try every image.
    pub async fn save(
        &self,
        generation: &Generation,
        dir: impl AsRef<Path>,
    ) -> Result<Vec<SavedImage>, Error> {
        self.save_all(generation, dir).await.into_iter().collect()
    }

    /// Saves every image of `generation`, up to four at a time, and reports
    /// each result in order.
    pub async fn save_all(
        &self,
        generation: &Generation,
        dir: impl AsRef<Path>,
    ) -> Vec<Result<SavedImage, Error>> {
        let dir = dir.as_ref();
        let mut saves = Vec::with_capacity(generation.images.len());
        for image in &generation.images {
            saves.push(self.save_image(generation, image, dir, None));
        }
        futures::stream::iter(saves).buffered(4).collect().await
    }

    /// Saves one image as `<stem>.<ext>` with its sidecar `<stem>.json`
    /// (default stem: `<prompt slug>-<task id>-<index>`). An existing file is
    /// never overwritten: a `-1`, `-2`, ... suffix is added instead.
    pub async fn save_image(
        &self,
        generation: &Generation,
        image: &GeneratedImage,
        dir: impl AsRef<Path>,
        stem: Option<&str>,
    ) -> Result<SavedImage, Error> {
        let labels = serde_json::Map::new();
        self.save_labeled(generation, image, dir, stem, &labels)
            .await
    }

    /// [`save_image`](Self::save_image) with `labels` added to the sidecar
    /// as top-level members (a batch's job id, line and copy; the endpoint
    /// host; the model): what traces a file back to what made it.
    pub async fn save_labeled(
        &self,
        generation: &Generation,
        image: &GeneratedImage,
        dir: impl AsRef<Path>,
        stem: Option<&str>,
        labels: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<SavedImage, Error> {
        let dir = dir.as_ref();
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
        let (temp, source) = match &image.output {
            ImageOutput::Url { url } => (self.download_to_temp(url, dir).await?, url.clone()),
            ImageOutput::Inline { data, .. } => (write_inline(data, dir).await?, "inline".into()),
        };
        let stem = match stem {
            Some(stem) => sanitize_stem(stem),
            None => default_stem(&generation.request.prompt, &image.task_id, image.index),
        };
        let ext = extension_for(temp.media_type);
        let (path, sidecar_path) = place(temp.file, dir, &stem, ext).await?;
        let mut sidecar = Sidecar::new(
            generation,
            image,
            &temp.sha256,
            temp.bytes,
            temp.media_type,
            &source,
        );
        sidecar.labels = labels.clone();
        let sidecar_path = write_sidecar(&sidecar, dir, &sidecar_path, &path).await?;
        tracing::info!(path = %path.display(), bytes = temp.bytes, "image saved");
        Ok(SavedImage {
            path,
            sidecar_path,
            task_id: image.task_id.clone(),
            index: image.index,
            sha256: temp.sha256,
            bytes: temp.bytes,
            media_type: temp.media_type.to_owned(),
            source,
        })
    }

    /// Streams `url` into a temporary file in `dir`, with retries.
    async fn download_to_temp(&self, url: &str, dir: &Path) -> Result<Temp, Error> {
        let deadline = crate::clock::after(self.retry.deadline);
        let (result, _) = self
            .retrier(deadline)
            .run(|| async move {
                let mut file = TempFile::create(dir).await?;
                let mut hasher = Sha256::new();
                let mut bytes = 0u64;
                let sink = Sink::File {
                    file: &mut file,
                    hasher: &mut hasher,
                    bytes: &mut bytes,
                };
                let media_type = self.stream(url, sink).await?;
                file.finish().await?;
                Ok(Temp {
                    file,
                    sha256: hex::encode(hasher.finalize()),
                    bytes,
                    media_type,
                })
            })
            .await;
        result
    }

    /// One GET of `url`, handing each chunk to `sink`; checks the status, the
    /// cap and the magic bytes (before any byte reaches `sink`).
    async fn stream(&self, url: &str, mut sink: Sink<'_>) -> Result<&'static str, Error> {
        let shown = redact_query(url);
        let mut response = self
            .client
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| classify(&shown, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let mut err = Error::new(
                ErrorKind::from_http_status(status),
                format!("downloading {shown} failed"),
            )
            .with_http_status(status)
            .with_retryable(matches!(status, 408 | 429 | 500..=599));
            if let Some(wait) =
                crate::http::parse_retry_after(response.headers(), std::time::SystemTime::now())
            {
                err = err.with_retry_after(wait);
            }
            return Err(err);
        }
        if let Some(len) = response.content_length()
            && len > self.max_bytes
        {
            return Err(too_large(&shown, self.max_bytes));
        }
        // The first bytes are held back until they can be checked.
        let mut head: Vec<u8> = Vec::new();
        let mut media_type = None;
        let mut total = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&shown, e))? {
            total += chunk.len() as u64;
            if total > self.max_bytes {
                return Err(too_large(&shown, self.max_bytes));
            }
            if media_type.is_some() {
                sink.put(&chunk).await?;
                continue;
            }
            head.extend_from_slice(&chunk);
            if head.len() >= 12 {
                media_type = Some(sniff_image(&head).ok_or_else(|| not_image(&shown, &head))?);
                sink.put(&head).await?;
                head = Vec::new();
            }
        }
        match media_type {
            Some(media_type) => Ok(media_type),
            None => {
                let media_type = sniff_image(&head).ok_or_else(|| not_image(&shown, &head))?;
                sink.put(&head).await?;
                Ok(media_type)
            }
        }
    }
}

/// Where downloaded bytes go.
enum Sink<'a> {
    Memory(&'a mut BytesMut),
    File {
        file: &'a mut TempFile,
        hasher: &'a mut Sha256,
        bytes: &'a mut u64,
    },
}

impl Sink<'_> {
    async fn put(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match self {
            Sink::Memory(body) => {
                body.extend_from_slice(chunk);
                Ok(())
            }
            Sink::File {
                file,
                hasher,
                bytes,
            } => {
                hasher.update(chunk);
                **bytes += chunk.len() as u64;
                file.write(chunk).await
            }
        }
    }
}

/// A complete temporary file and what is known about it.
struct Temp {
    file: TempFile,
    sha256: String,
    bytes: u64,
    media_type: &'static str,
}

async fn write_inline(data: &Bytes, dir: &Path) -> Result<Temp, Error> {
    let media_type = sniff_image(data).ok_or_else(|| not_image("the inline image", data))?;
    let mut file = TempFile::create(dir).await?;
    file.write(data).await?;
    file.finish().await?;
    Ok(Temp {
        file,
        sha256: hex::encode(Sha256::digest(data)),
        bytes: data.len() as u64,
        media_type,
    })
}

pub(crate) fn io_error(err: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, err.to_string())
        .with_retryable(false)
        .with_source(err)
}

/// The URL without its query (signed CDN URLs carry tokens there).
fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

fn too_large(url: &str, max: u64) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("the image at {url} is larger than the {max}-byte cap"),
    )
    .with_retryable(false)
    .with_hint("raise the cap with Downloader::with_max_bytes if this is expected")
}

fn not_image(what: &str, head: &[u8]) -> Error {
    let start: String = String::from_utf8_lossy(&head[..head.len().min(16)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    Error::new(
        ErrorKind::Decode,
        format!("{what} is not a PNG, JPEG or WebP image (it starts with `{start}`)"),
    )
    .with_retryable(false)
    .with_hint("the link may have expired; fetch the task status again for fresh URLs")
}

fn classify(url: &str, err: reqwest::Error) -> Error {
    let (kind, message, retryable) = if err.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("downloading {url} timed out"),
            true,
        )
    } else if err.is_redirect() {
        (
            ErrorKind::Transport,
            format!("too many redirects from {url}"),
            false,
        )
    } else if err.is_builder() {
        (
            ErrorKind::InvalidRequest,
            format!("`{url}` is not a valid URL"),
            false,
        )
    } else {
        (
            ErrorKind::Transport,
            format!("downloading {url} failed"),
            true,
        )
    };
    Error::new(kind, message)
        .with_retryable(retryable)
        .with_source(err.without_url())
}

#[cfg(test)]
#[path = "tests/download_tests.rs"]
mod tests;
