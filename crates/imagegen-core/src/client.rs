//! The [`Client`]: one front door for every provider, owning time.
//!
//! Providers send one HTTP request per call and never sleep; the client
//! decides when requests go out (the account's [`RateBudget`](crate::RateBudget)),
//! whether a failure is sent again ([`RetryPolicy`]), how tasks are waited
//! for ([`PollPolicy`]), how a request is split over tasks and which provider
//! takes it. This file holds the builder and the single-request calls;
//! `generate.rs` holds generation, fan-out and fallback.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budgets::{AccountBudget, AccountLimits, Budgets};
use crate::capabilities::{RateLimit, Strictness, Warning};
use crate::download::Downloader;
use crate::error::{Error, ErrorKind};
use crate::latency::{LatencyBook, LatencyEstimates};
use crate::provider::{ImageProvider, SubmitOptions, TaskRef, TaskState, TaskStatus};
use crate::rate::{Priority, with_priority};
use crate::request::ImageRequest;
use crate::retry::{CallKind, ClientObserver, Jitter, Retrier, RetryPolicy};
use crate::shared_rate::SharedRate;
use crate::waiter::{PollPolicy, Wakers};
use crate::webhook::WebhookCall;

/// A task status fetched because a webhook said the task changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallbackEvent {
    /// The provider's name.
    pub provider: String,
    /// The status, fetched with the API key (never taken from the webhook).
    pub status: TaskStatus,
}

/// The imagegen client. Cheap to clone (an `Arc` inside); share one.
///
/// ```no_run
/// # async fn run(provider: impl imagegen_core::ImageProvider + 'static) -> Result<(), imagegen_core::Error> {
/// use imagegen_core::{Client, ImageRequest, Quality};
/// let client = Client::builder().provider(provider).build()?;
/// let generation = client
///     .generate(ImageRequest::new("a ceramic lamp").quality(Quality::High).count(2))
///     .await?;
/// let saved = client.download(&generation, "out").await?;
/// println!("{} images, {:?} credits", saved.len(), generation.credits);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// One provider with its account's budgets, resolved once at build time.
#[derive(Debug)]
pub(crate) struct Entry {
    pub provider: Arc<dyn ImageProvider>,
    pub account: Arc<AccountBudget>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub providers: Vec<Entry>,
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
    pub strictness: Strictness,
    pub retry_ambiguous: bool,
    pub budgets: Arc<Budgets>,
    pub jitter: Jitter,
    pub downloader: Downloader,
    pub wakers: Wakers,
    pub events: broadcast::Sender<CallbackEvent>,
    pub observer: Option<Arc<dyn ClientObserver>>,
    pub latency: LatencyBook,
}

/// Builds a [`Client`].
///
/// Providers are tried in the order they are added (fallback order).
#[derive(Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    providers: Vec<Arc<dyn ImageProvider>>,
    retry: Option<RetryPolicy>,
    poll: Option<PollPolicy>,
    strictness: Strictness,
    retry_ambiguous: bool,
    rate_limits: Vec<(String, RateLimit)>,
    max_in_flight: Vec<(String, usize)>,
    budgets: Option<Arc<Budgets>>,
    shared_rate: Option<Arc<dyn SharedRate>>,
    jitter_seed: Option<u64>,
    downloader: Option<Downloader>,
    observer: Option<Arc<dyn ClientObserver>>,
    latency: Option<LatencyEstimates>,
}

impl ClientBuilder {
    /// Adds a provider (tried after those added before it).
    pub fn provider(self, provider: impl ImageProvider + 'static) -> Self {
        self.provider_arc(Arc::new(provider))
    }
    /// Adds a shared provider.
    pub fn provider_arc(mut self, provider: Arc<dyn ImageProvider>) -> Self {
        self.providers.push(provider);
        self
    }
    /// Sets the retry policy (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
    /// Sets the poll policy (default: [`PollPolicy::default`]).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = Some(policy);
        self
    }
    /// What to do with settings a provider lacks (default: strict).
    pub fn strictness(mut self, strictness: Strictness) -> Self {
        self.strictness = strictness;
        self
    }
    /// Allows sending a create again after a failure that may have been
    /// accepted (and charged). Off by default: a retry could pay twice.
    pub fn retry_ambiguous_creates(mut self, retry: bool) -> Self {
        self.retry_ambiguous = retry;
        self
    }
    /// Overrides the published rate limit of the provider named `provider`
    /// (a gateway with other limits, a simulator with a short window).
    /// Applies when this builder is the first to register the account.
    pub fn rate_limit(mut self, provider: impl Into<String>, limit: RateLimit) -> Self {
        self.rate_limits.push((provider.into(), limit));
        self
    }
    /// Caps how many HTTP requests of the provider named `provider` are in
    /// flight at once on its account (default
    /// [`DEFAULT_MAX_IN_FLIGHT`](crate::budgets::DEFAULT_MAX_IN_FLIGHT);
    /// at least 1). Requests beyond it wait for one to finish, so open
    /// connections and memory stay bounded however many jobs run and however
    /// slowly the server answers. A permit is held for one HTTP attempt only,
    /// never during backoff or between polls. Applies when this builder is
    /// the first to register the account.
    pub fn max_in_flight(mut self, provider: impl Into<String>, max: usize) -> Self {
        self.max_in_flight.push((provider.into(), max.max(1)));
        self
    }
    /// Shares per-account budgets with other clients.
    pub fn budgets(mut self, budgets: Arc<Budgets>) -> Self {
        self.budgets = Some(budgets);
        self
    }
    /// Shares each account's rate budget with every process that points at
    /// the same backend (e.g. `imagegen_jobs::PgRate` on one PostgreSQL
    /// database): each request first takes a start from it, at the cost of
    /// one short round trip. Without it, the budget is this process's alone.
    ///
    /// To share in-process budgets too, build them with
    /// [`Budgets::with_shared_rate`] and pass them to
    /// [`budgets`](Self::budgets) instead; giving both is refused at
    /// [`build`](Self::build) unless they name the same backend.
    pub fn shared_rate(mut self, shared: Arc<dyn SharedRate>) -> Self {
        self.shared_rate = Some(shared);
        self
    }
    /// Seeds the jitter generator (reproducible backoff and poll intervals).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }
    /// Sets the downloader used for images and reference URLs.
    pub fn downloader(mut self, downloader: Downloader) -> Self {
        self.downloader = Some(downloader);
        self
    }
    /// Tells `observer` whenever a request waits (rate budget, `Retry-After`,
    /// backoff), for a progress display.
    pub fn observer(mut self, observer: Arc<dyn ClientObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Starts the client's latency estimates from `snapshot` (one taken
    /// earlier with [`Client::latency_estimates`], e.g. stored beside a
    /// batch journal), so its first waits are aimed as well as its last
    /// ones were. Keys the snapshot lacks start from each provider's
    /// [`typical_duration`](crate::Capabilities::typical_duration).
    pub fn latency_estimates(mut self, snapshot: LatencyEstimates) -> Self {
        self.latency = Some(snapshot);
        self
    }

    /// Builds the client. Fails without providers, or with two providers of
    /// the same name (task handles name their provider).
    pub fn build(self) -> Result<Client, Error> {
        if self.providers.is_empty() {
            return Err(Error::invalid_request(
                "a client needs at least one provider",
            ));
        }
        let retry = self.retry.unwrap_or_default();
        let budgets = match (self.budgets, self.shared_rate) {
            (Some(budgets), None) => budgets,
            (None, None) => Arc::default(),
            (None, Some(shared)) => Arc::new(Budgets::with_shared_rate(shared)),
            (Some(budgets), Some(shared)) => {
                let same = budgets.shared_rate().is_some_and(|theirs| {
                    std::ptr::addr_eq(Arc::as_ptr(theirs), Arc::as_ptr(&shared))
                });
                if !same {
                    return Err(Error::invalid_request(
                        "the client was given budgets and a shared rate backend they do not use; build the budgets with Budgets::with_shared_rate instead",
                    ));
                }
                budgets
            }
        };
        let mut providers: Vec<Entry> = Vec::with_capacity(self.providers.len());
        for provider in self.providers {
            let name = provider.name().to_owned();
            if providers.iter().any(|e| e.provider.name() == name) {
                return Err(Error::invalid_request(format!(
                    "two providers are named `{name}`; names must be unique in a client"
                )));
            }
            let limit = self
                .rate_limits
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| *l)
                .or(provider.capabilities().rate_limit);
            let mut limits = AccountLimits::default()
                .with_rate(limit)
                .with_retry(retry.budget);
            if let Some((_, max)) = self.max_in_flight.iter().rev().find(|(n, _)| *n == name) {
                limits = limits.with_max_in_flight(*max);
            }
            let account = budgets.account_with(&provider.account_id(), limits);
            providers.push(Entry { provider, account });
        }
        let jitter = match self.jitter_seed {
            Some(seed) => Jitter::seeded(seed),
            None => Jitter::from_entropy(),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                providers,
                retry,
                poll: self.poll.unwrap_or_default(),
                strictness: self.strictness,
                retry_ambiguous: self.retry_ambiguous,
                budgets,
                jitter,
                downloader: self.downloader.unwrap_or_default(),
                wakers: Wakers::default(),
                events: broadcast::channel(256).0,
                observer: self.observer,
                latency: self.latency.map(LatencyBook::restored).unwrap_or_default(),
            }),
        })
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The provider named `name`, if the client has one.
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn ImageProvider>> {
        self.inner.entry(name).ok().map(|e| &e.provider)
    }

    /// The providers' names, in fallback order.
    pub fn provider_names(&self) -> Vec<&str> {
        self.inner
            .providers
            .iter()
            .map(|e| e.provider.name())
            .collect()
    }

    /// The per-account budgets this client draws from.
    pub fn budgets(&self) -> &Arc<Budgets> {
        &self.inner.budgets
    }

    /// What this client has learned about how long tasks take, per
    /// provider, quality and aspect: a serializable snapshot to store and
    /// give to [`ClientBuilder::latency_estimates`] in a later run. Only
    /// keys with a wait behind them are listed.
    ///
    /// ```
    /// # fn run(client: &imagegen_core::Client) -> serde_json::Result<()> {
    /// let json = serde_json::to_string(&client.latency_estimates())?;
    /// let restored = imagegen_core::Client::builder()
    ///     .latency_estimates(serde_json::from_str(&json)?);
    /// # Ok(()) }
    /// ```
    pub fn latency_estimates(&self) -> LatencyEstimates {
        self.inner.latency.snapshot()
    }

    /// The downloader.
    pub fn downloader(&self) -> &Downloader {
        &self.inner.downloader
    }

    /// Checks `request` against `provider`'s capabilities under the
    /// client's strictness, exactly as [`submit`](Self::submit) does before
    /// sending anything: the request as it would be sent and the warnings
    /// for what best-effort mode adjusted, or the refusal (with
    /// [`Error::best_effort`] saying what best-effort mode would do).
    pub fn check(
        &self,
        provider: &str,
        request: &ImageRequest,
    ) -> Result<(ImageRequest, Vec<Warning>), Error> {
        let entry = self.inner.entry(provider)?;
        entry
            .provider
            .capabilities()
            .check(provider, request, self.inner.strictness)
    }

    /// The status of `task` at `provider`, through the account's rate budget
    /// and the retry policy. A task whose provider says it finished with a
    /// separate result ([`TaskState::ResultReady`]) has its result fetched
    /// too, so the status returned carries the outcome.
    pub async fn status(
        &self,
        provider: &str,
        task: impl Into<TaskRef>,
    ) -> Result<TaskStatus, Error> {
        let task = task.into();
        let entry = self.inner.entry(provider)?;
        let deadline = crate::clock::after(self.inner.retry.deadline);
        let span = tracing::info_span!("imagegen.status", provider, task_id = task.id.as_str());
        let fetch = async {
            let (status, _) = self.inner.status_call(entry, &task, deadline).await;
            match status {
                Ok(status) if status.state == TaskState::ResultReady => {
                    self.inner.result_call(entry, &task, deadline).await.0
                }
                other => other,
            }
        };
        fetch
            .instrument(span)
            .await
            .map_err(|e| with_task_id(e, &task.id))
    }

    /// Asks `provider` to cancel `task` (most providers cannot: the error
    /// is then [`ErrorKind::NotImplemented`]).
    pub async fn cancel(&self, provider: &str, task: impl Into<TaskRef>) -> Result<(), Error> {
        let task = task.into();
        let entry = self.inner.entry(provider)?;
        let deadline = crate::clock::after(self.inner.retry.deadline);
        let retrier = self.inner.retrier(entry, CallKind::Status, deadline);
        let (result, _) = retrier
            .run_limited(Some(entry.account.in_flight()), || {
                entry.provider.cancel(&task)
            })
            .await;
        result.map_err(|e| with_task_id(e, &task.id))
    }

    /// Handles a webhook call for `provider`: the provider reads (and,
    /// where it signs webhooks, verifies) which task it is about. If this
    /// client is waiting on that task, its status is fetched with the API key
    /// (nothing in the call is trusted), handed to the waiters and published
    /// to [`subscribe_callbacks`](Self::subscribe_callbacks). A call about
    /// any other task costs no request at all.
    pub async fn on_webhook(
        &self,
        provider: &str,
        call: &WebhookCall,
    ) -> Result<WebhookOutcome, Error> {
        let entry = self.inner.entry(provider)?;
        let task_id = entry.provider.webhook_task(call)?;
        match self.on_callback(provider, &task_id).await? {
            Some(status) => Ok(WebhookOutcome::Woken(Box::new(status))),
            None => Ok(WebhookOutcome::NotWaitedOn(task_id)),
        }
    }

    /// Handles a hint that `task_id` at `provider` changed. If this client
    /// is waiting on it, fetches its status with the API key at once, hands
    /// it to the waiters (which return at once if it is final, or poll
    /// again) and publishes it to [`subscribe_callbacks`](Self::subscribe_callbacks).
    /// Otherwise sends nothing and returns `None`: a hint about a task nobody
    /// waits on must not cost an API request.
    pub async fn on_callback(
        &self,
        provider: &str,
        task_id: &str,
    ) -> Result<Option<TaskStatus>, Error> {
        let entry = self.inner.entry(provider)?;
        if !self.inner.wakers.is_waiting(provider, task_id) {
            return Ok(None);
        }
        let deadline = crate::clock::after(self.inner.retry.deadline);
        let span = tracing::info_span!("imagegen.callback", provider, task_id);
        let task = TaskRef::new(task_id);
        // A webhook says the task changed: probably finished, so its fetch
        // goes ahead of waiting creates.
        let fetch = self.inner.status_call(entry, &task, deadline);
        let (result, _) = with_priority(
            Priority::Poll {
                due: Instant::now(),
            },
            fetch,
        )
        .instrument(span)
        .await;
        match result {
            Ok(status) => {
                self.inner.wakers.wake(provider, task_id, Some(&status));
                let _ = self.inner.events.send(CallbackEvent {
                    provider: provider.to_owned(),
                    status: status.clone(),
                });
                Ok(Some(status))
            }
            Err(err) => {
                // Still a hint: let the waiters look for themselves.
                self.inner.wakers.wake(provider, task_id, None);
                Err(err.with_task_id(task_id))
            }
        }
    }

    /// Statuses fetched by [`on_callback`](Self::on_callback), for an
    /// application that reacts to webhooks rather than waiting.
    pub fn subscribe_callbacks(&self) -> broadcast::Receiver<CallbackEvent> {
        self.inner.events.subscribe()
    }
}

/// What [`Client::on_webhook`] did with a call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// The client waits on the task: its status was fetched and handed over.
    Woken(Box<TaskStatus>),
    /// Nobody here waits on this task: nothing was sent.
    NotWaitedOn(String),
}

fn with_task_id(err: Error, task_id: &str) -> Error {
    match err.task_id() {
        Some(_) => err,
        None => err.with_task_id(task_id),
    }
}

impl Inner {
    pub(crate) fn entry(&self, name: &str) -> Result<&Entry, Error> {
        self.providers
            .iter()
            .find(|e| e.provider.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.providers.iter().map(|e| e.provider.name()).collect();
                Error::invalid_request(format!(
                    "this client has no provider named `{name}`; it has: {}",
                    names.join(", ")
                ))
            })
    }

    pub(crate) fn retrier<'a>(
        &'a self,
        entry: &'a Entry,
        kind: CallKind,
        deadline: Instant,
    ) -> Retrier<'a> {
        Retrier {
            policy: &self.retry,
            budget: entry.account.retry(),
            rate: entry.account.rate(),
            jitter: &self.jitter,
            kind,
            provider: entry.provider.name(),
            deadline,
            observer: self.observer.as_deref(),
        }
    }

    /// One status request with retries; returns the requests sent.
    pub(crate) async fn status_call(
        &self,
        entry: &Entry,
        task: &TaskRef,
        deadline: Instant,
    ) -> (Result<TaskStatus, Error>, u32) {
        self.retrier(entry, CallKind::Status, deadline)
            .run_limited(Some(entry.account.in_flight()), || {
                entry.provider.status(task)
            })
            .await
    }

    /// One result request with retries (a result read is free and safe to
    /// repeat, like a status poll); returns the requests sent.
    pub(crate) async fn result_call(
        &self,
        entry: &Entry,
        task: &TaskRef,
        deadline: Instant,
    ) -> (Result<TaskStatus, Error>, u32) {
        self.retrier(entry, CallKind::Status, deadline)
            .run_limited(Some(entry.account.in_flight()), || {
                entry.provider.result(task)
            })
            .await
    }

    /// One create with retries (never resent after an ambiguous failure
    /// unless opted in).
    pub(crate) async fn create_call(
        &self,
        entry: &Entry,
        request: &ImageRequest,
        options: &SubmitOptions,
    ) -> Result<TaskStatus, Error> {
        let deadline = crate::clock::after(self.retry.deadline + options.hold.unwrap_or_default());
        let kind = CallKind::Create {
            retry_ambiguous: self.retry_ambiguous,
        };
        let (result, attempts) = self
            .retrier(entry, kind, deadline)
            .run_limited(Some(entry.account.in_flight()), || {
                entry.provider.submit(request, options)
            })
            .await;
        if attempts > 1 {
            tracing::debug!(attempts, "create needed retries");
        }
        result
    }
}

#[cfg(test)]
impl Inner {
    pub(crate) fn wakers_is_empty(&self) -> bool {
        self.wakers.is_empty()
    }
}

/// The error for a wait that had nothing to wait for.
pub(crate) fn no_images(provider: &str) -> Error {
    Error::new(
        ErrorKind::Decode,
        "the provider reported success but returned no images",
    )
    .with_provider(provider)
    .with_retryable(false)
}

#[cfg(test)]
#[path = "tests/in_flight_tests.rs"]
mod in_flight_tests;

#[cfg(test)]
#[path = "tests/latency_tests.rs"]
mod latency_tests;
