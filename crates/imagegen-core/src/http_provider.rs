//! [`HttpProvider`]: a [`Codec`] made into an [`ImageProvider`] by the
//! core, which alone sends HTTP.
//!
//! The provider holds what a codec must not: the key, the parsed base URL,
//! the transport and the account id. For each call it asks the codec for the
//! request, sends it with the key in the header the spec names, hands the
//! answer back to the codec, and settles what the codec said into the
//! client's terms:
//!
//! * **May a failed create have been accepted?** Decided here, for every
//!   provider alike, from where the failure happened. A failed connect: no.
//!   A timeout or broken connection after sending: yes. A 5xx answer: yes,
//!   *whatever its body says*. A 429: no. Any other answer: no only when the
//!   codec recognised it as a refusal ([`Error::refused`]), yes otherwise
//!   (including a 2xx that could not be read, which may be an acceptance).
//! * Provider name, HTTP status and `Retry-After` are attached; the key and
//!   any `Bearer` token are scrubbed from the server's text; status errors
//!   carry the task id.
//! * A "succeeded" task without a single output is an error (paid for,
//!   nothing to download), the same for every provider.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};

use crate::capabilities::{Capabilities, Strictness};
use crate::codec::{Auth, BaseUrl, Codec, ProviderSpec, Target};
use crate::config::ProviderConfig;
use crate::error::{Error, ErrorKind};
use crate::http::{HttpRequest, HttpResponse};
use crate::provider::{ImageProvider, SubmitOptions, TaskRef, TaskState, TaskStatus};
use crate::request::ImageRequest;
use crate::scrub::scrub;
use crate::secret::{self, ApiKey};
use crate::transport::HttpTransport;
use crate::webhook::WebhookCall;

/// A provider whose wire format is the codec `C`; every built-in provider
/// is one (`imagegen_runbase::Runbase` is `HttpProvider<RunbaseCodec>`).
///
/// `Debug` shows the name, base URL and a fingerprint of the key, never the
/// key.
#[derive(Clone)]
pub struct HttpProvider<C: Codec> {
    codec: Arc<C>,
    key: ApiKey,
    auth: (HeaderName, HeaderValue),
    base: BaseUrl,
    transport: HttpTransport,
    capabilities: Capabilities,
    account_id: String,
}

impl<C: Codec> fmt::Debug for HttpProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("name", &C::SPEC.name)
            .field("base_url", &self.base.as_str())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<C: Codec> HttpProvider<C> {
    /// Everything from the environment: the key from the spec's key
    /// variable, the base URL from its base-URL variable or the default,
    /// settings from theirs.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_config(ProviderConfig::new())
    }

    /// From `config`, with unset fields read from the environment. A missing
    /// key is an `Unauthorized` error naming the key variable; an unusable
    /// base URL or setting is an `InvalidRequest` error naming what to fix.
    pub fn from_config(config: ProviderConfig) -> Result<Self, Error> {
        let spec = &C::SPEC;
        let resolved = config.resolve(spec)?;
        let base = BaseUrl::parse(&resolved.base_url).map_err(|e| {
            e.with_provider(spec.name)
                .with_hint(format!("check {} or --base-url", spec.base_url_var))
        })?;
        let codec = C::new(&resolved.settings).map_err(|e| e.with_provider(spec.name))?;
        let auth = auth_header(spec, &resolved.api_key)?;
        Ok(HttpProvider {
            account_id: secret::account_id(spec.name, base.as_str(), &resolved.api_key),
            codec: Arc::new(codec),
            key: resolved.api_key,
            auth,
            base,
            transport: resolved.transport,
            capabilities: C::capabilities(),
        })
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The base URL in use, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The provider's facts.
    pub fn spec(&self) -> &'static ProviderSpec {
        &C::SPEC
    }

    async fn exchange(
        &self,
        task: Option<&TaskRef>,
        request: Result<HttpRequest, Error>,
        timeout: Duration,
        read: impl FnOnce(&HttpResponse) -> Result<TaskStatus, Error>,
    ) -> Result<TaskStatus, Error> {
        // A request the codec could not build was never sent.
        let request = request.map_err(|e| {
            let e = e.with_provider(C::SPEC.name);
            if e.reached_decided().is_none() {
                e.refused()
            } else {
                e
            }
        })?;
        let auth = Some((&self.auth.0, &self.auth.1));
        let timeout = request.timeout.unwrap_or(timeout);
        let answer = self
            .transport
            .send(C::SPEC.name, request, auth, timeout)
            .await?;
        let read = read(&answer);
        self.settle(&answer, read, task)
    }

    fn settle(
        &self,
        answer: &HttpResponse,
        read: Result<TaskStatus, Error>,
        task: Option<&TaskRef>,
    ) -> Result<TaskStatus, Error> {
        settle(&C::SPEC, &[self.key.expose()], answer, read, task)
    }

    fn target(&self) -> Target<'_> {
        Target::new(&self.base)
    }

    /// The codec's request about `task`, or a refusal of a blank task id
    /// (which would name no task, or another endpoint).
    fn task_request(
        &self,
        task: &TaskRef,
        describe: impl FnOnce(&TaskRef, &Target) -> Result<HttpRequest, Error>,
    ) -> Result<HttpRequest, Error> {
        if task.id.trim().is_empty() {
            return Err(Error::invalid_request("the task id is empty"));
        }
        describe(task, &self.target())
    }

    fn with_task<T>(result: Result<T, Error>, task: &TaskRef) -> Result<T, Error> {
        result.map_err(|e| match e.task_id() {
            Some(_) => e,
            None => e.with_task_id(&task.id),
        })
    }
}

/// Puts what a codec read from `answer` into the client's terms (see the
/// [module docs](self)): the provider, HTTP status, `Retry-After` and a
/// default hint attached, `secrets` scrubbed from the server's text, a
/// success without outputs refused, and, for a failure, whether the request
/// may have reached the server decided, and the `task` a status or result
/// answer was about named. Pure: tests and benchmarks use it to see an
/// answer as the client does.
pub fn settle(
    spec: &ProviderSpec,
    secrets: &[&str],
    answer: &HttpResponse,
    read: Result<TaskStatus, Error>,
    task: Option<&TaskRef>,
) -> Result<TaskStatus, Error> {
    let err = match read {
        Ok(mut status) => {
            if let TaskState::Failed { message, .. } = &mut status.state {
                *message = scrub(message, secrets).into_owned();
            }
            if status.state != TaskState::Succeeded || !status.outputs.is_empty() {
                return Ok(status);
            }
            Error::new(
                ErrorKind::Decode,
                "the task succeeded but its answer holds no image, so there is nothing to download",
            )
            .with_task_id(status.task_id)
            .with_retryable(false)
            .with_may_have_reached_server(true)
        }
        Err(err) => err,
    };
    let reached = match answer.status {
        500.. => true,
        429 => false,
        _ => err.reached_decided().unwrap_or(true),
    };
    let mut err = err
        .with_provider(spec.name)
        .with_may_have_reached_server(reached);
    if err.http_status().is_none() {
        err = err.with_http_status(answer.status);
    }
    if err.retry_after().is_none()
        && let Some(wait) = answer.retry_after()
    {
        err = err.with_retry_after(wait);
    }
    if err.hint().is_none() {
        let hint = default_hint(spec, err.kind());
        err = err.with_hint(hint);
    }
    if let Some(task) = task
        && err.task_id().is_none()
    {
        err = err.with_task_id(&task.id);
    }
    if let std::borrow::Cow::Owned(clean) = scrub(err.message(), secrets) {
        err = err.with_message(clean);
    }
    Err(err)
}

/// What to do about an error of `kind` when the codec said nothing more
/// precise (empty: nothing to add).
fn default_hint(spec: &ProviderSpec, kind: ErrorKind) -> String {
    let name = spec.name;
    match kind {
        ErrorKind::Unauthorized => format!("set {} to a valid {name} API key", spec.api_key_var),
        ErrorKind::InsufficientCredits => format!("top up your {name} balance, then submit again"),
        ErrorKind::QuotaExhausted => {
            "the key's quota is used up; retrying will not help until it is raised".to_owned()
        }
        ErrorKind::NotFound => format!(
            "check the base URL ({}) and, for a task, the task id and the key it was created with",
            spec.base_url_var
        ),
        _ => String::new(),
    }
}

/// The header that carries `key` the way `spec` says.
fn auth_header(spec: &ProviderSpec, key: &ApiKey) -> Result<(HeaderName, HeaderValue), Error> {
    let (name, value) = match spec.auth {
        Auth::Bearer => (
            http::header::AUTHORIZATION,
            format!("Bearer {}", key.expose()),
        ),
        Auth::Scheme(scheme) => (
            http::header::AUTHORIZATION,
            format!("{scheme} {}", key.expose()),
        ),
        Auth::Header(name) => (HeaderName::from_static(name), key.expose().to_owned()),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        Error::new(
            ErrorKind::Unauthorized,
            "the API key holds characters that cannot be sent in a header",
        )
        .with_provider(spec.name)
        .with_hint(format!("check {}", spec.api_key_var))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[async_trait]
impl<C: Codec> ImageProvider for HttpProvider<C> {
    fn name(&self) -> &str {
        C::SPEC.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn account_id(&self) -> String {
        self.account_id.clone()
    }

    async fn submit(
        &self,
        request: &ImageRequest,
        options: &SubmitOptions,
    ) -> Result<TaskStatus, Error> {
        // The client checked already; a caller of the provider itself gets
        // the same strict check (the same function), so nothing it asked for
        // is silently dropped by a codec that trusts its input.
        let name = C::SPEC.name;
        let (checked, _) = self.capabilities.check(name, request, Strictness::Strict)?;
        if checked.count > self.capabilities.max_images_per_request {
            return Err(Error::invalid_request(format!(
                "{name} makes at most {} images per request, {} were asked for; the client's generate fans a count out over several requests",
                self.capabilities.max_images_per_request, checked.count
            ))
            .with_provider(name));
        }
        let target = self.target().with(options.hold, options.deadline);
        let timeout = self.capabilities.request_timeout;
        let http = self.codec.create(&checked, &target);
        self.exchange(None, http, timeout, |answer| self.codec.read_create(answer))
            .await
    }

    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let http = self.task_request(task, |task, to| self.codec.status(task, to));
        let timeout = self.capabilities.request_timeout;
        let read = |answer: &HttpResponse| self.codec.read_status(task, answer);
        Self::with_task(self.exchange(Some(task), http, timeout, read).await, task)
    }

    async fn result(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let http = self.task_request(task, |task, to| self.codec.result(task, to));
        let timeout = self.capabilities.request_timeout;
        let read = |answer: &HttpResponse| self.codec.read_result(task, answer);
        Self::with_task(self.exchange(Some(task), http, timeout, read).await, task)
    }

    async fn cancel(&self, task: &TaskRef) -> Result<(), Error> {
        let http = self.task_request(task, |task, to| self.codec.cancel(task, to));
        let timeout = self.capabilities.request_timeout;
        let read = |answer: &HttpResponse| {
            if answer.is_success() {
                Ok(TaskStatus::new(task.id.clone(), TaskState::Cancelled).with_outputs(Vec::new()))
            } else {
                Err(answer.status_error(answer.text_excerpt(300)))
            }
        };
        let done = self.exchange(Some(task), http, timeout, read).await;
        Self::with_task(done.map(|_| ()), task)
    }

    fn webhook_task(&self, call: &WebhookCall) -> Result<String, Error> {
        self.codec
            .webhook(call)
            .map_err(|e| e.with_provider(C::SPEC.name))
    }
}

/// A provider as the facade's registry lists it: its facts, and how to
/// build it from a [`ProviderConfig`].
#[derive(Clone, Copy)]
pub struct Registration {
    /// The provider's facts.
    pub spec: ProviderSpec,
    capabilities: fn() -> Capabilities,
    build: fn(ProviderConfig) -> Result<Arc<dyn ImageProvider>, Error>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// The registration of codec `C`'s provider.
    pub fn of<C: Codec>() -> Registration {
        Registration {
            spec: C::SPEC,
            capabilities: C::capabilities,
            build: |config| Ok(Arc::new(HttpProvider::<C>::from_config(config)?)),
        }
    }

    /// What the provider offers.
    pub fn capabilities(&self) -> Capabilities {
        (self.capabilities)()
    }

    /// Builds the provider from `config` (unset fields from its variables).
    pub fn build(&self, config: ProviderConfig) -> Result<Arc<dyn ImageProvider>, Error> {
        (self.build)(config)
    }
}
