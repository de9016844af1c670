//! imagegen-openai: OpenAI's own Images API as an imagegen provider.
//!
//! Unlike the resellers, OpenAI is synchronous: one `POST` returns the
//! images as base64 (after tens of seconds at `high`). [`OpenAi::submit`]
//! therefore returns a finished task; there is nothing to poll.
//!
//! ```no_run
//! use imagegen_core::{ApiKey, ImageProvider, ImageRequest, ProviderConfig};
//! use imagegen_openai::OpenAi;
//! # async fn demo() -> Result<(), imagegen_core::Error> {
//! let openai = OpenAi::from_config(ProviderConfig::new().api_key(ApiKey::new("sk-...")))?;
//! let done = openai.submit(&ImageRequest::new("A ceramic lamp")).await?; // one POST
//! assert!(done.state.is_terminal());
//! # Ok(()) }
//! ```
//!
//! Like every provider, this crate only maps and parses: each
//! [`ImageProvider`] method sends at most one HTTP request and never sleeps,
//! retries or polls.
//!
//! ## What OpenAI offers ([`OpenAi::default_capabilities`])
//!
//! | | |
//! |---|---|
//! | aspects | 1:1, 2:3, 3:2 (`1024x1024`, `1024x1536`, `1536x1024`); `auto` when unset |
//! | qualities | low, medium, high, auto (default auto) |
//! | prompt | at most 32000 characters (gpt-image models) |
//! | reference images | uploads (`/images/edits`, multipart), at most 16 |
//! | input fidelity | yes, with reference images |
//! | webhooks | no |
//! | images per request | up to 10 (`n`) |
//! | rate limit | per account tier, not published per key: `None`; 429s carry `retry-after` |
//! | request timeout | 10 minutes (**decision**: the call includes the whole generation) |
//!
//! ## Decisions
//!
//! * **Synthesized task id.** OpenAI returns no id for a generation; the
//!   finished status carries `openai-<created>-<16 random hex digits>` so
//!   results, sidecars and journals name it like any other task
//!   ([`response`]).
//! * **Escape hatch.** `request.options_for("openai")` is merged into the
//!   body as it is (JSON fields for a generation, text fields for an edit):
//!   this is how `background`, `output_format`, `output_compression`,
//!   `moderation` and `user` are set. OpenAI answers an unknown one with a
//!   400 naming it ([`request`]).
//! * **`status()` is not implemented.** The API is synchronous: the create
//!   returns the images, and there is no task to ask about later. The
//!   [`Client`](imagegen_core::Client) never polls a [`Mode::Sync`] provider;
//!   calling [`ImageProvider::status`] directly returns a
//!   [`ErrorKind::NotImplemented`] error without sending anything.
//! * **Ambiguous failures.** A 5xx or a timeout may come after OpenAI
//!   generated (and billed) the images: such errors are marked
//!   `may_have_reached_server`, and the client does not resend them unless
//!   the caller opted in ([`error`]).
//! * `response_format` is never sent (gpt-image models reject it), and `n` is
//!   left out when it is 1 (OpenAI's default).
//!
//! Model: `gpt-image-1.5` unless [`OpenAi::with_model`] says otherwise.
//! Headers `OpenAI-Organization` / `OpenAI-Project` come from
//! [`OpenAi::with_organization`] / [`OpenAi::with_project`] or
//! `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use imagegen_core::capabilities::{Mode, ReferenceInput};
use imagegen_core::provider_base::{ProviderBase, ProviderSpec};
use imagegen_core::{
    Aspect, Capabilities, Error, ErrorKind, HttpResponse, ImageProvider, ImageRequest,
    ProviderConfig, Quality, ReferenceImage, TaskStatus,
};

pub mod error;
pub mod generated;
pub mod request;
pub mod response;

/// The pure mapping and parsing functions, for tests and benchmarks.
pub mod wire {
    pub use crate::error::{from_response, parse_error};
    pub use crate::request::{
        EditForm, build_edit_fields, build_generation_request, edit_form, generation_body,
    };
    pub use crate::response::{media_type, parse_images_response};
}

pub(crate) const NAME: &str = OpenAi::NAME;
pub(crate) const API_KEY_VAR: &str = OpenAi::API_KEY_VAR;

/// The OpenAI Images provider: one API key on one base URL.
///
/// `Debug` shows the base URL and a fingerprint of the key, never the key.
#[derive(Clone)]
pub struct OpenAi {
    base: ProviderBase,
    model: String,
    organization: Option<String>,
    project: Option<String>,
}

impl fmt::Debug for OpenAi {
    // Not `ProviderBase::debug_struct`: that puts `key` before `model`, and
    // this output stays as it was.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("base_url", &self.base.base_url())
            .field("model", &self.model)
            .field("key", self.base.key())
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    /// The provider's name.
    pub const NAME: &'static str = "openai";
    /// The environment variable holding the API key.
    pub const API_KEY_VAR: &'static str = "OPENAI_API_KEY";
    /// The environment variable that overrides the base URL (a gateway, the
    /// simulator).
    pub const BASE_URL_VAR: &'static str = "OPENAI_BASE_URL";
    /// OpenAI's base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    /// The model used unless [`OpenAi::with_model`] says otherwise.
    pub const DEFAULT_MODEL: &'static str = "gpt-image-1.5";

    const SPEC: ProviderSpec = ProviderSpec::new(
        Self::NAME,
        Self::API_KEY_VAR,
        Self::BASE_URL_VAR,
        Self::DEFAULT_BASE_URL,
    );

    /// Everything from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
    /// `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`).
    pub fn from_env() -> Result<Self, Error> {
        OpenAi::from_config(ProviderConfig::new())
    }

    /// From `config`, with unset fields read from the environment.
    pub fn from_config(config: ProviderConfig) -> Result<Self, Error> {
        // The base URL is not parsed here (no `parse_base_url`): URLs are
        // formatted as they always were, so a malformed one still fails at
        // the request, not at construction.
        let base = ProviderBase::from_config(Self::SPEC, config, Self::default_capabilities())?;
        let env = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
        Ok(OpenAi {
            base,
            model: Self::DEFAULT_MODEL.to_owned(),
            organization: env("OPENAI_ORG_ID"),
            project: env("OPENAI_PROJECT_ID"),
        })
    }

    /// Uses another gpt-image model (`gpt-image-1`, `gpt-image-1-mini`).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sends `OpenAI-Organization: org`.
    pub fn with_organization(mut self, org: impl Into<String>) -> Self {
        self.organization = Some(org.into());
        self
    }

    /// Sends `OpenAI-Project: project`.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// What OpenAI offers (see the crate docs).
    pub fn default_capabilities() -> Capabilities {
        Capabilities {
            aspects: vec![Aspect::Square, Aspect::Portrait, Aspect::Landscape],
            qualities: vec![Quality::Low, Quality::Medium, Quality::High, Quality::Auto],
            default_quality: Some(Quality::Auto),
            max_prompt_chars: 32_000,
            max_reference_images: 16,
            reference_input: ReferenceInput::Uploads,
            input_fidelity: true,
            webhooks: false,
            mode: Mode::Sync,
            max_images_per_request: 10,
            poll_interval: Duration::from_secs(1),
            rate_limit: None,
            request_timeout: Duration::from_secs(600),
        }
    }

    /// The base URL in use, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.base_url()
    }

    /// The model in use.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = self.base.authorize(request);
        if let Some(org) = &self.organization {
            request = request.header("OpenAI-Organization", org);
        }
        if let Some(project) = &self.project {
            request = request.header("OpenAI-Project", project);
        }
        request
    }
}

/// The most bytes a local reference file may hold: OpenAI's limit per input
/// image for gpt-image models (50 MB).
const MAX_REFERENCE_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// `request` with its [`ReferenceImage::File`] references read into
/// [`ReferenceImage::Inline`] ones, or `None` when it has none. A fallback:
/// the core's client has normally done this already.
async fn read_local_references(request: &ImageRequest) -> Result<Option<ImageRequest>, Error> {
    if !request
        .references
        .iter()
        .any(|r| matches!(r, ReferenceImage::File(_)))
    {
        return Ok(None);
    }
    let mut loaded = request.clone();
    for reference in &mut loaded.references {
        let ReferenceImage::File(path) = reference else {
            continue;
        };
        let shown = path.display().to_string();
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("could not read reference image {shown}: {e}"),
            )
            .with_provider(NAME)
            .with_retryable(false)
            .with_source(e)
        };
        let len = tokio::fs::metadata(&*path).await.map_err(io)?.len();
        if len > MAX_REFERENCE_FILE_BYTES {
            return Err(Error::invalid_request(format!(
                "reference image {shown} is {len} bytes; OpenAI takes at most {MAX_REFERENCE_FILE_BYTES}"
            ))
            .with_provider(NAME));
        }
        let data = tokio::fs::read(&*path).await.map_err(io)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "reference.png".to_owned());
        *reference = ReferenceImage::Inline {
            file_name,
            data: data.into(),
        };
    }
    Ok(Some(loaded))
}

fn finish(response: HttpResponse) -> Result<TaskStatus, Error> {
    if response.is_success() {
        response::parse_images_response(&response.body)
    } else {
        Err(error::from_response(&response))
    }
}

#[async_trait]
impl ImageProvider for OpenAi {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> &Capabilities {
        self.base.capabilities()
    }

    fn account_id(&self) -> String {
        self.base.account_id().to_owned()
    }

    /// One generation (or, with reference images, one edit): the answer is
    /// the finished task with its images.
    ///
    /// Reference images should arrive as [`ReferenceImage::Inline`] (the
    /// [`Client`](imagegen_core::Client) reads files and downloads URLs for
    /// upload providers). A [`ReferenceImage::File`] is still read here, as a
    /// fallback for callers using the provider directly; a
    /// [`ReferenceImage::Url`] is an `InvalidRequest` error, since fetching it
    /// would be a second HTTP request.
    async fn submit(&self, request: &ImageRequest) -> Result<TaskStatus, Error> {
        let http = self.base.client();
        let base_url = self.base.base_url();
        let builder = if request.references.is_empty() {
            let body = request::generation_body(request, &self.model)?;
            http.post(format!("{base_url}/images/generations"))
                .json(&body)
        } else {
            let loaded = read_local_references(request).await?;
            let request = loaded.as_ref().unwrap_or(request);
            let form = request::to_multipart(request::edit_form(request, &self.model)?)?;
            http.post(format!("{base_url}/images/edits"))
                .multipart(form)
        };
        let response = self.base.send_authorized(self.authorized(builder)).await?;
        finish(response)
    }

    /// OpenAI's Images API is synchronous: there is no task to ask about.
    /// The client never polls a [`Mode::Sync`] provider.
    async fn status(&self, task_id: &str) -> Result<TaskStatus, Error> {
        Err(Error::new(
            ErrorKind::NotImplemented,
            "OpenAI's Images API is synchronous: images come back with the create, there is no task to poll",
        )
        .with_provider(Self::NAME)
        .with_task_id(task_id))
    }
}
