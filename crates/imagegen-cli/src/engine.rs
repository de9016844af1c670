//! The CLI's one door to imagegen-core's `Client`: submit, wait, status,
//! download. Retries, rate budgets and polling all happen in the core; this
//! module only translates between the client's types and what the commands
//! and the journal store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imagegen_core::{
    Capabilities, Error, ImageOutput, ImageProvider, ImageRequest, Strictness, TaskStatus, Warning,
};

/// How the client behaves.
#[derive(Debug, Clone, Default)]
#[allow(dead_code)] // read by the client wiring that lands with imagegen-core's Client
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
#[derive(Debug, Clone)]
pub struct Finished {
    /// Provider name.
    pub provider: String,
    /// The task id.
    pub task_id: String,
    /// The images.
    pub outputs: Vec<ImageOutput>,
    /// Credits the provider reported.
    pub credits: Option<f64>,
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

/// The providers in use and the one client that paces them.
pub struct Engine {
    providers: BTreeMap<String, Arc<dyn ImageProvider>>,
    settings: Settings,
}

impl Engine {
    /// One client over `providers`.
    pub fn new(
        providers: Vec<Arc<dyn ImageProvider>>,
        settings: Settings,
    ) -> Result<Engine, Error> {
        let providers = providers
            .into_iter()
            .map(|p| (p.name().to_owned(), p))
            .collect();
        Ok(Engine {
            providers,
            settings,
        })
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn ImageProvider>, Error> {
        self.providers
            .get(name)
            .ok_or_else(|| Error::invalid_request(format!("provider `{name}` is not configured")))
    }

    /// What `provider` offers.
    pub fn capabilities(&self, provider: &str) -> Result<&Capabilities, Error> {
        Ok(self.provider(provider)?.capabilities())
    }

    /// Checks `request` for `provider` before anything is sent.
    pub fn check(
        &self,
        provider: &str,
        request: &ImageRequest,
    ) -> Result<(ImageRequest, Vec<Warning>), Error> {
        self.capabilities(provider)?
            .check(provider, request, self.settings.strictness)
    }

    /// Sends the create(s) for `request` to `provider`.
    pub async fn submit(
        &self,
        provider: &str,
        request: &ImageRequest,
    ) -> Result<(Vec<Task>, Vec<Warning>), Error> {
        let _ = (self.provider(provider)?, request);
        Err(Error::not_implemented(
            provider,
            "submit (core Client not landed yet)",
        ))
    }

    /// A task for a bare id (as `imagegen wait` gets it).
    pub fn task(&self, provider: &str, task_id: &str) -> Result<Task, Error> {
        self.provider(provider)?;
        Ok(Task {
            provider: provider.to_owned(),
            task_id: task_id.to_owned(),
            handle: String::new(),
        })
    }

    /// Waits for `task` to finish, at most `timeout`.
    pub async fn wait(&self, task: &Task, timeout: Duration) -> Result<Finished, Error> {
        let _ = timeout;
        Err(Error::not_implemented(
            &task.provider,
            "wait (core Client not landed yet)",
        ))
    }

    /// One status request.
    pub async fn status(&self, provider: &str, task_id: &str) -> Result<TaskStatus, Error> {
        let p = self.provider(provider)?;
        p.status(task_id).await
    }

    /// Saves output `idx` of `finished` into `dir` under `stem` plus the task id.
    pub async fn save(
        &self,
        finished: &Finished,
        idx: usize,
        dir: &Path,
        stem: &str,
        prompt: &str,
    ) -> Result<Saved, Error> {
        let _ = (finished.outputs.get(idx), dir, stem, prompt);
        Err(Error::not_implemented(
            &finished.provider,
            "download (core Downloader not landed yet)",
        ))
    }
}
