//! imagegen-runbase: the Runbase (`runbase.net`) provider for imagegen.
//!
//! Runbase sells OpenAI's GPT Image 1.5 as the model `openai/gpt-image-1.5`
//! behind an asynchronous API: `POST {base}/runs` submits a run,
//! `GET {base}/runs/{id}` polls it until `status` is `succeeded`, and the
//! images are at `output.urls`. Authentication is
//! `Authorization: Bearer $RUNBASE_API_KEY`.
//!
//! ```no_run
//! use imagegen_core::{ApiKey, ImageProvider, ImageRequest, ProviderConfig};
//! use imagegen_runbase::Runbase;
//! # async fn demo() -> Result<(), imagegen_core::Error> {
//! let runbase = Runbase::from_config(ProviderConfig::new().api_key(ApiKey::new("rb-...")))?;
//! let task = runbase.submit(&ImageRequest::new("A ceramic lamp")).await?; // one POST
//! let now = runbase.status(&task.task_id).await?; // one GET; the core's Client polls
//! # Ok(()) }
//! ```
//!
//! Like every provider, this crate only maps and parses: each
//! [`ImageProvider`] method sends at most one HTTP request and never sleeps,
//! retries or polls. The core's `Client` owns timing.
//!
//! ## What Runbase offers ([`Runbase::default_capabilities`])
//!
//! | | |
//! |---|---|
//! | aspects | 1:1, 2:3, 3:2 (doc) |
//! | qualities | medium, high; no `low` (doc); default not documented (`None`) |
//! | prompt | at most 4000 characters (**decision**: Runbase documents no limit) |
//! | reference images | public URLs (`image_urls`), at most 16 (**decision**: no limit documented) |
//! | input fidelity, webhooks | not offered |
//! | images per run | 1 |
//! | poll interval | 2 s (their advice is 1-2 s) |
//! | rate limit | 20 requests per 10 s per key, creates and polls together (their rate-limits page) |
//! | request timeout | 30 s per HTTP call |
//! | credits | Runbase reports none: `TaskStatus::credits` is always `None` |
//!
//! The other decisions are in the modules: [`request`] (mapping and the
//! `provider_options` escape hatch), [`status`] (status table, a `succeeded`
//! run without URLs), [`error`] (error codes and bodies of unknown shape).
//! [`wire`] gathers the pure functions, for tests and benchmarks.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use imagegen_core::capabilities::{Mode, RateLimit, ReferenceInput};
use imagegen_core::provider_base::{BaseUrl, ProviderBase, ProviderSpec};
use imagegen_core::{
    Aspect, Capabilities, Error, ImageProvider, ImageRequest, ProviderConfig, Quality, TaskStatus,
};
use reqwest::header::CONTENT_TYPE;

pub mod error;
pub mod generated;
pub mod request;
pub mod status;

/// The pure mapping and parsing functions, in one place, for tests and
/// benchmarks: no I/O, no clock.
pub mod wire {
    pub use crate::error::{from_response, kind_for_code, parse_error};
    pub use crate::request::{build_create_request, create_body, create_body_json};
    pub use crate::status::{map_state, parse_created, parse_status, run_to_status};
}

pub(crate) const NAME: &str = Runbase::NAME;
pub(crate) const API_KEY_VAR: &str = Runbase::API_KEY_VAR;
pub(crate) const BASE_URL_VAR: &str = Runbase::BASE_URL_VAR;

/// The Runbase provider: one API key on one base URL.
///
/// `Debug` shows the base URL and a fingerprint of the key, never the key.
#[derive(Clone)]
pub struct Runbase {
    base: ProviderBase,
    root: BaseUrl,
}

impl fmt::Debug for Runbase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.base.debug_struct(f, "Runbase").finish_non_exhaustive()
    }
}

impl Runbase {
    /// The provider's name, in errors, logs, task handles and `--provider`.
    pub const NAME: &'static str = "runbase";
    /// The environment variable holding the API key (the doc's name).
    pub const API_KEY_VAR: &'static str = "RUNBASE_API_KEY";
    /// The environment variable that overrides the base URL (a gateway, the
    /// simulator).
    pub const BASE_URL_VAR: &'static str = "RUNBASE_BASE_URL";
    /// Runbase's documented base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://runbase.net/api/v1";

    const SPEC: ProviderSpec = ProviderSpec::new(
        Self::NAME,
        Self::API_KEY_VAR,
        Self::BASE_URL_VAR,
        Self::DEFAULT_BASE_URL,
    );

    /// How long one HTTP call may take.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// Everything from the environment: the key from `RUNBASE_API_KEY`, the
    /// base URL from `RUNBASE_BASE_URL` or [`Self::DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, Error> {
        Runbase::from_config(ProviderConfig::new())
    }

    /// From `config`, with unset fields read from the environment. A missing
    /// key is an `Unauthorized` error naming `RUNBASE_API_KEY`; a base URL
    /// that is not an `http(s)` URL is an `InvalidRequest` error.
    pub fn from_config(config: ProviderConfig) -> Result<Self, Error> {
        let base = ProviderBase::from_config(Self::SPEC, config, Self::default_capabilities())?;
        let root = base.parse_base_url()?;
        Ok(Runbase { base, root })
    }

    /// What Runbase offers (see the crate docs for the decisions behind
    /// each value).
    pub fn default_capabilities() -> Capabilities {
        Capabilities {
            aspects: vec![Aspect::Square, Aspect::Portrait, Aspect::Landscape],
            qualities: vec![Quality::Medium, Quality::High],
            default_quality: None,
            max_prompt_chars: 4000,
            max_reference_images: 16,
            reference_input: ReferenceInput::Urls,
            input_fidelity: false,
            webhooks: false,
            mode: Mode::Async,
            max_images_per_request: 1,
            poll_interval: Duration::from_secs(2),
            rate_limit: Some(RateLimit {
                requests: 20,
                per: Duration::from_secs(10),
            }),
            request_timeout: Self::REQUEST_TIMEOUT,
        }
    }

    /// The base URL in use, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.base_url()
    }
}

#[async_trait]
impl ImageProvider for Runbase {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> &Capabilities {
        self.base.capabilities()
    }

    fn account_id(&self) -> String {
        self.base.account_id().to_owned()
    }

    /// One `POST {base}/runs`. A 2xx answer is the new run; anything else is
    /// mapped by [`error::from_response`].
    async fn submit(&self, request: &ImageRequest) -> Result<TaskStatus, Error> {
        let body = request::create_body(request)?;
        let http = self
            .base
            .client()
            .post(self.root.endpoint(&["runs"]))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let response = self.base.send(http).await?;
        if !response.is_success() {
            return Err(error::from_response(&response));
        }
        let task = status::parse_created(&response.body)
            .map_err(|e| e.with_http_status(response.status))?;
        tracing::debug!(provider = Self::NAME, task_id = %task.task_id, status = ?task.raw_status, "run created");
        Ok(task)
    }

    /// One `GET {base}/runs/{id}`, the id percent-encoded as one path
    /// segment.
    async fn status(&self, task_id: &str) -> Result<TaskStatus, Error> {
        if task_id.trim().is_empty() {
            return Err(Error::invalid_request("the run id is empty").with_provider(Self::NAME));
        }
        let http = self
            .base
            .client()
            .get(self.root.endpoint(&["runs", task_id]));
        let response = self
            .base
            .send(http)
            .await
            .map_err(|e| e.with_task_id(task_id))?;
        if !response.is_success() {
            return Err(error::from_response(&response).with_task_id(task_id));
        }
        status::parse_status(&response.body).map_err(|e| {
            let e = e.with_http_status(response.status);
            if e.task_id().is_some() {
                e
            } else {
                e.with_task_id(task_id)
            }
        })
    }
}
