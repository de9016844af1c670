//! imagegen-gptimage15: the gptimage15.ai provider for imagegen.
//!
//! gptimage15.ai sells OpenAI's GPT Image 1.5 behind an asynchronous API:
//! `POST {base}/generate` starts a task and answers its `task_id`,
//! `GET {base}/status?task_id=...` reports it (poll every 5-10 s, the page
//! says), and the images are in `response` once the status is `SUCCESS`.
//! Every answer is the envelope `{code, message?, data}`. Authentication is
//! `Authorization: Bearer <key>`; the key is read from `GPTIMAGE15_API_KEY`
//! (**decision**: the page names no variable).
//!
//! ```no_run
//! use imagegen_core::{ApiKey, ImageProvider, ImageRequest, ProviderConfig};
//! use imagegen_gptimage15::Gptimage15;
//! # async fn demo() -> Result<(), imagegen_core::Error> {
//! let provider = Gptimage15::from_config(ProviderConfig::new().api_key(ApiKey::new("...")))?;
//! let task = provider.submit(&ImageRequest::new("A ceramic lamp")).await?; // one POST
//! let now = provider.status(&task.task_id).await?; // one GET; the core's Client polls
//! # Ok(()) }
//! ```
//!
//! Like every provider, this crate only maps and parses: each
//! [`ImageProvider`] method sends at most one HTTP request and never sleeps,
//! retries or polls. The core's `Client` owns timing.
//!
//! ## What gptimage15.ai offers ([`Gptimage15::default_capabilities`])
//!
//! | | |
//! |---|---|
//! | aspects | 1:1, 2:3, 3:2 as `size` `1024*1024`, `1024*1536`, `1536*1024` (doc) |
//! | qualities | low, medium, high; default medium (doc) |
//! | prompt | at most 2000 characters (doc) |
//! | reference images | public URLs (`images`), at most 16 (**decision**: no limit documented) |
//! | input fidelity | low, high (doc; image-to-image only) |
//! | webhooks | yes, `callback_url` (doc). **Decision**: the webhook body is not documented, so a call is only a hint to confirm with an authenticated `GET /status` (the core's webhook module does that) |
//! | images per task | 1 |
//! | poll interval | 5 s (their advice is 5-10 s) |
//! | rate limit | not documented (`None`) |
//! | request timeout | 30 s per HTTP call |
//! | credits | `consumed_credits` (or `consumed_credit`) on every status; 10 per task on the API page |
//!
//! The other decisions are in the modules: [`request`] (mapping and the
//! `provider_options` escape hatch), [`status`] (status table, numeric and
//! string-encoded variants, credits), [`error`] (envelope codes, bodies that
//! are not the envelope). [`wire`] gathers the pure functions, for tests and
//! benchmarks.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use imagegen_core::capabilities::{Mode, ReferenceInput};
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
    pub use crate::error::{envelope_error, from_response, kind_for_code, parse_error};
    pub use crate::request::{build_create_request, create_body, create_body_json};
    pub use crate::status::{
        created_to_status, map_state, parse_created, parse_created_answer, parse_status,
        parse_status_answer, task_to_status,
    };
}

pub(crate) const NAME: &str = Gptimage15::NAME;
pub(crate) const API_KEY_VAR: &str = Gptimage15::API_KEY_VAR;

/// The gptimage15.ai provider: one API key on one base URL.
///
/// `Debug` shows the base URL and a fingerprint of the key, never the key.
#[derive(Clone)]
pub struct Gptimage15 {
    base: ProviderBase,
    root: BaseUrl,
}

impl fmt::Debug for Gptimage15 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.base
            .debug_struct(f, "Gptimage15")
            .finish_non_exhaustive()
    }
}

impl Gptimage15 {
    /// The provider's name, in errors, logs, task handles and `--provider`.
    pub const NAME: &'static str = "gptimage15";
    /// The environment variable holding the API key (a decision: the page
    /// names none).
    pub const API_KEY_VAR: &'static str = "GPTIMAGE15_API_KEY";
    /// The environment variable that overrides the base URL (a gateway, the
    /// simulator).
    pub const BASE_URL_VAR: &'static str = "GPTIMAGE15_BASE_URL";
    /// gptimage15.ai's documented base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://gptimage15.ai/api";

    const SPEC: ProviderSpec = ProviderSpec::new(
        Self::NAME,
        Self::API_KEY_VAR,
        Self::BASE_URL_VAR,
        Self::DEFAULT_BASE_URL,
    );

    /// How long one HTTP call may take.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// Everything from the environment: the key from `GPTIMAGE15_API_KEY`,
    /// the base URL from `GPTIMAGE15_BASE_URL` or [`Self::DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, Error> {
        Gptimage15::from_config(ProviderConfig::new())
    }

    /// From `config`, with unset fields read from the environment. A missing
    /// key is an `Unauthorized` error naming `GPTIMAGE15_API_KEY`; a base URL
    /// that is not an `http(s)` URL is an `InvalidRequest` error.
    pub fn from_config(config: ProviderConfig) -> Result<Self, Error> {
        let base = ProviderBase::from_config(Self::SPEC, config, Self::default_capabilities())?;
        let root = base.parse_base_url()?;
        Ok(Gptimage15 { base, root })
    }

    /// What gptimage15.ai offers (see the crate docs for the decisions
    /// behind each value).
    pub fn default_capabilities() -> Capabilities {
        Capabilities {
            aspects: vec![Aspect::Square, Aspect::Portrait, Aspect::Landscape],
            qualities: vec![Quality::Low, Quality::Medium, Quality::High],
            default_quality: Some(Quality::Medium),
            max_prompt_chars: 2000,
            max_reference_images: 16,
            reference_input: ReferenceInput::Urls,
            input_fidelity: true,
            webhooks: true,
            mode: Mode::Async,
            max_images_per_request: 1,
            poll_interval: Duration::from_secs(5),
            rate_limit: None,
            request_timeout: Self::REQUEST_TIMEOUT,
        }
    }

    /// The base URL in use, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.base_url()
    }
}

#[async_trait]
impl ImageProvider for Gptimage15 {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> &Capabilities {
        self.base.capabilities()
    }

    fn account_id(&self) -> String {
        self.base.account_id().to_owned()
    }

    /// One `POST {base}/generate`. The answer's envelope decides: `data`
    /// is the new task, a `code` other than 200 an error.
    async fn submit(&self, request: &ImageRequest) -> Result<TaskStatus, Error> {
        let body = request::create_body(request)?;
        let http = self
            .base
            .client()
            .post(self.root.endpoint(&["generate"]))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let response = self.base.send(http).await?;
        let task =
            status::parse_created_answer(response.status, &response.headers, &response.body)?;
        tracing::debug!(provider = Self::NAME, task_id = %task.task_id, status = ?task.raw_status, "task created");
        Ok(task)
    }

    /// One `GET {base}/status?task_id=...` (the id query-encoded).
    async fn status(&self, task_id: &str) -> Result<TaskStatus, Error> {
        if task_id.trim().is_empty() {
            return Err(Error::invalid_request("the task id is empty").with_provider(Self::NAME));
        }
        let mut url = self.root.endpoint(&["status"]);
        url.query_pairs_mut().append_pair("task_id", task_id);
        let response = self
            .base
            .send(self.base.client().get(url))
            .await
            .map_err(|e| e.with_task_id(task_id))?;
        status::parse_status_answer(response.status, &response.headers, &response.body).map_err(
            |e| {
                if e.task_id().is_some() {
                    e
                } else {
                    e.with_task_id(task_id)
                }
            },
        )
    }
}
