//! The provider-neutral core of imagegen.
//!
//! imagegen calls the image APIs that sell OpenAI's GPT Image 1.5 (Runbase,
//! gptimage15.ai, OpenAI itself, and whatever provider is added next) through
//! one trait, [`ImageProvider`]. This crate holds everything that is the same
//! for all of them: the request model ([`ImageRequest`]), what a provider
//! offers ([`Capabilities`]) and the check of a request against it, the one
//! error type ([`Error`]), a single-attempt HTTP transport that classifies
//! failures, and the client runtime (retries, rate budgets, polling,
//! downloads).
//!
//! This crate knows no provider's wire format. A provider crate is a
//! [`Codec`](codec::Codec): a pure mapping between the common request and
//! the provider's HTTP messages. The core's [`HttpProvider`] is the only
//! client: it sends what codecs describe, and decides whether a failed
//! create may have been charged.
//!
//! The runtime, module by module:
//!
//! * [`client`] / [`generate`]: [`Client`] and [`ClientBuilder`]: capability
//!   check, fan-out of `count` over tasks, fallback across providers (only
//!   when nothing can have been charged), submit/wait with serializable
//!   [`TaskHandle`]s, partial results that keep every paid-for image.
//! * [`retry`]: [`RetryPolicy`] (full-jitter backoff, `Retry-After`, one
//!   deadline) and the per-account [`RetryBudget`]; a create that may have
//!   been accepted is never resent unless the caller opts in.
//! * [`rate`] / [`budgets`]: the per-account sliding-window [`RateBudget`]
//!   shared by submits and polls of every client on a key; [`shared_rate`]:
//!   the hook ([`SharedRate`]) through which processes share one budget
//!   per key (a database implements it).
//! * [`waiter`]: polling with [`PollPolicy`], aimed at each task's likely
//!   finish by the client's [`latency`] estimates, deadlines, cancellation
//!   and webhook wake-ups ([`webhook`]).
//! * [`download`]: [`Downloader`]: streamed, capped, magic-checked, atomic
//!   saves with a JSON [`Sidecar`], never sending an API key.
//! * [`codec`] / [`http_provider`]: the codec contract and the adapter that
//!   makes a codec an [`ImageProvider`]; [`http`]: the messages as data.
//! * [`testing`]: a scripted in-process provider for tests.
//!
//! All timing uses `tokio::time`, so tests run under paused time.

pub mod budgets;
pub mod capabilities;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
pub mod download;
pub mod error;
pub mod generate;
pub mod generation;
pub mod http;
pub mod http_provider;
mod jitter;
pub mod latency;
mod magic;
pub mod provider;
pub mod rate;
mod references;
pub mod request;
pub mod retry;
mod retry_budget;
pub mod schedule;
pub mod scrub;
pub mod secret;
mod serde_helpers;
pub mod shared_rate;
mod sidecar;
pub mod signature;
pub mod testing;
pub mod transport;
pub mod waiter;
pub mod webhook;

pub(crate) use serde_helpers::{serde_b64, serde_duration_ms};

pub use budgets::{AccountBudget, AccountLimits, Budgets};
pub use capabilities::{
    Capabilities, Mode, OutputFormat, RateLimit, ReferenceInput, Strictness, Warning,
};
pub use client::{CallbackEvent, Client, ClientBuilder, WebhookOutcome};
pub use codec::{Auth, BaseUrl, Codec, ProviderSpec, Setting, Settings, Target};
pub use config::{ProviderConfig, ResolvedConfig};
pub use download::{Downloader, SavedImage, Sidecar, SidecarSettings};
pub use error::{Error, ErrorKind, Result};
pub use generate::CreateLog;
pub use generation::{
    GeneratedImage, Generation, Submission, TaskFailure, TaskHandle, TaskSummary, Timings,
};
pub use http::{Body, HttpRequest, HttpResponse, Part};
pub use http_provider::{HttpProvider, Registration};
pub use latency::{LatencyEntry, LatencyEstimate, LatencyEstimates, LatencyKey};
pub use provider::{
    ImageOutput, ImageProvider, SubmitOptions, TaskLinks, TaskRef, TaskState, TaskStatus,
    TokenUsage,
};
pub use rate::{Priority, RateBudget};
pub use request::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};
pub use retry::{ClientObserver, Jitter, RetryBudget, RetryBudgetConfig, RetryPolicy, Wait};
pub use secret::ApiKey;
pub use shared_rate::{Grant, SharedRate, SharedRateError};
pub use sidecar::{remove_partial_downloads, slug};
pub use transport::HttpTransport;
pub use waiter::{PollPolicy, PollSchedule, WaitOptions};
pub use webhook::WebhookCall;

/// Re-exported so provider crates and users name the same `async_trait`.
pub use async_trait::async_trait;
