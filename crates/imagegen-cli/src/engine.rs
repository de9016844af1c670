//! The CLI's one door to imagegen-core's `Client`: submit, wait, status,
//! download. Retries, rate budgets, polling and downloads all happen in the
//! core; this module only translates between the client's types and what
//! the commands and the journal store.
//!
//! The batch runner journals each create before it is sent, so it must
//! choose the provider of each create itself (lines can override the
//! fallback order). The engine therefore keeps one core `Client` per
//! provider, all sharing one `Budgets`: every request to an account, submit
//! or poll, from any job, draws on the same rate and retry budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imagegen_core::{
    Budgets, Client, Error, Generation, ImageOutput, ImageProvider, ImageRequest, PollPolicy,
    RateLimit, Strictness, TaskHandle, TaskStatus, WaitOptions, Warning,
};

/// How the client behaves.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Strict or best-effort.
    pub strictness: Strictness,
    /// A rate budget override (`IMAGEGEN_RATE_LIMIT`), for simulators.
    pub rate_limit: Option<(u32, Duration)>,
    /// A poll interval override (`IMAGEGEN_POLL_INTERVAL`), for simulators.
    pub poll_interval: Option<Duration>,
    /// Resend creates that may have been accepted (`--retry-ambiguous`).
    pub retry_ambiguous: bool,
}

/// A task the provider accepted, with its serialized handle.
#[derive(Debug, Clone)]
pub struct Task {
    /// Provider name.
    pub provider: String,
    /// The provider's task id.
    pub task_id: String,
    /// The core's `TaskHandle`, as JSON (what the journal stores).
    pub handle: String,
}

/// A finished, successful task.
#[derive(Debug)]
pub struct Finished {
    /// Provider name.
    pub provider: String,
    /// The task id.
    pub task_id: String,
    /// The images.
    pub outputs: Vec<ImageOutput>,
    /// Credits the provider reported.
    pub credits: Option<f64>,
    generation: Generation,
}

/// One image saved to disk.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The file.
    pub path: PathBuf,
    /// SHA-256, hex.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// Width, when cheap to know.
    pub width: Option<u32>,
    /// Height, when cheap to know.
    pub height: Option<u32>,
}

/// The providers in use, one client each over shared budgets.
pub struct Engine {
    clients: BTreeMap<String, Client>,
}

impl Engine {
    /// Clients over `providers`, sharing one set of budgets.
    pub fn new(
        providers: Vec<Arc<dyn ImageProvider>>,
        settings: Settings,
    ) -> Result<Engine, Error> {
        let budgets = Arc::new(Budgets::default());
        let mut poll = PollPolicy::default();
        if let Some(interval) = settings.poll_interval {
            poll = poll
                .with_initial_interval(interval)
                .with_max_interval(interval);
        }
        let mut clients = BTreeMap::new();
        for provider in providers {
            let name = provider.name().to_owned();
            let mut builder = Client::builder()
                .provider_arc(provider)
                .strictness(settings.strictness)
                .retry_ambiguous_creates(settings.retry_ambiguous)
                .budgets(budgets.clone())
                .poll_policy(poll.clone());
            if let Some((requests, per)) = settings.rate_limit {
                builder = builder.rate_limit(name.clone(), RateLimit { requests, per });
            }
            clients.insert(name, builder.build()?);
        }
        Ok(Engine { clients })
    }

    fn client(&self, name: &str) -> Result<&Client, Error> {
        self.clients
            .get(name)
            .ok_or_else(|| Error::invalid_request(format!("provider `{name}` is not configured")))
    }

    /// Checks `request` for `provider` exactly as the core's submit will
    /// (the same function), so a batch can refuse a job before journaling
    /// its create.
    pub fn check(
        &self,
        provider: &str,
        request: &ImageRequest,
    ) -> Result<(ImageRequest, Vec<Warning>), Error> {
        self.client(provider)?.check(provider, request)
    }

    /// Sends the create(s) for `request` to `provider`.
    pub async fn submit(
        &self,
        provider: &str,
        request: &ImageRequest,
    ) -> Result<(Vec<Task>, Vec<Warning>), Error> {
        let submission = self.client(provider)?.submit(request.clone()).await?;
        let tasks = submission
            .handles
            .iter()
            .map(|h| Task {
                provider: h.provider.clone(),
                task_id: h.task_id.clone(),
                handle: serde_json::to_string(h).expect("handles serialize"),
            })
            .collect();
        if let Some(failure) = submission.failures.into_iter().next()
            && submission.handles.is_empty()
        {
            return Err(failure.error);
        }
        Ok((tasks, submission.warnings))
    }

    /// A task for a bare id (as `imagegen wait` gets it).
    pub fn task(&self, provider: &str, task_id: &str) -> Result<Task, Error> {
        self.client(provider)?;
        let handle = TaskHandle::new(provider, task_id, ImageRequest::new(task_id));
        Ok(Task {
            provider: provider.to_owned(),
            task_id: task_id.to_owned(),
            handle: serde_json::to_string(&handle).expect("handles serialize"),
        })
    }

    /// Waits for `task` to finish, at most `timeout`.
    pub async fn wait(&self, task: &Task, timeout: Duration) -> Result<Finished, Error> {
        let handle: TaskHandle = serde_json::from_str(&task.handle).unwrap_or_else(|_| {
            TaskHandle::new(
                &task.provider,
                &task.task_id,
                ImageRequest::new(&task.task_id),
            )
        });
        let generation = self
            .client(&task.provider)?
            .wait_with(&handle, WaitOptions::new().deadline(timeout))
            .await
            .map_err(|e| {
                if e.task_id().is_none() {
                    e.with_task_id(&task.task_id)
                } else {
                    e
                }
            })?;
        Ok(Finished {
            provider: task.provider.clone(),
            task_id: task.task_id.clone(),
            outputs: generation.images.iter().map(|i| i.output.clone()).collect(),
            credits: generation.credits,
            generation,
        })
    }

    /// One status request.
    pub async fn status(&self, provider: &str, task_id: &str) -> Result<TaskStatus, Error> {
        self.client(provider)?.status(provider, task_id).await
    }

    /// Saves output `idx` of `finished` into `dir` as `<stem>-<task id>`.
    pub async fn save(
        &self,
        finished: &Finished,
        idx: usize,
        dir: &Path,
        stem: &str,
        _prompt: &str,
    ) -> Result<Saved, Error> {
        let image = &finished.generation.images[idx];
        let mut name = format!("{stem}-{}", crate::output::slug(&finished.task_id, 40));
        if finished.generation.images.len() > 1 {
            name.push_str(&format!("-{}", idx + 1));
        }
        // Killed after the file was renamed into place but before the journal
        // heard of it: the name holds the task id, so the file is this image.
        if let Some(saved) = already_saved(dir, &name)? {
            return Ok(saved);
        }
        let client = self.client(&finished.provider)?;
        let saved = client
            .downloader()
            .save_image(&finished.generation, image, dir, Some(&name))
            .await?;
        let dims = crate::output::png_dimensions(&saved.path);
        Ok(Saved {
            path: saved.path,
            sha256: saved.sha256,
            bytes: saved.bytes,
            width: dims.map(|d| d.0),
            height: dims.map(|d| d.1),
        })
    }
}

/// An image already saved as `dir/<name>.<ext>` (complete: the core writes
/// to a temporary file and renames it), hashed again rather than downloaded.
fn already_saved(dir: &Path, name: &str) -> Result<Option<Saved>, Error> {
    use sha2::{Digest, Sha256};
    for ext in ["png", "jpg", "jpeg", "webp"] {
        let path = dir.join(format!("{name}.{ext}"));
        if path.is_file() {
            let bytes = std::fs::read(&path)?;
            let dims = crate::output::png_dimensions(&path);
            return Ok(Some(Saved {
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: bytes.len() as u64,
                width: dims.map(|d| d.0),
                height: dims.map(|d| d.1),
                path,
            }));
        }
    }
    Ok(None)
}
