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
//! This crate knows no provider's wire format: the provider crates map and
//! parse, and never sleep, retry or poll.
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
//!   shared by submits and polls of every client on a key.
//! * [`waiter`]: polling with [`PollPolicy`], deadlines, cancellation and
//!   webhook wake-ups ([`webhook`]).
//! * [`download`]: [`Downloader`]: streamed, capped, magic-checked, atomic
//!   saves with a JSON [`Sidecar`], never sending an API key.
//! * [`testing`]: a scripted in-process provider for tests.
//!
//! All timing uses `tokio::time`, so tests run under paused time.

pub mod budgets;
pub mod capabilities;
pub mod client;
pub mod config;
pub mod download;
pub mod error;
pub mod generate;
pub mod generation;
mod jitter;
mod magic;
pub mod provider;
pub mod provider_base;
pub mod rate;
mod references;
pub mod request;
pub mod retry;
mod retry_budget;
pub mod secret;
mod serde_helpers;
mod sidecar;
pub mod testing;
pub mod transport;
pub mod waiter;
pub mod webhook;

pub(crate) use serde_helpers::{serde_b64, serde_duration_ms};

pub use budgets::{AccountBudget, AccountLimits, Budgets};
pub use capabilities::{Capabilities, Mode, RateLimit, ReferenceInput, Strictness, Warning};
pub use client::{CallbackEvent, Client, ClientBuilder};
pub use config::{ProviderConfig, ResolvedConfig};
pub use download::{Downloader, SavedImage, Sidecar, SidecarSettings};
pub use error::{Error, ErrorKind, Result};
pub use generation::{
    GeneratedImage, Generation, Submission, TaskFailure, TaskHandle, TaskSummary, Timings,
};
pub use provider::{ImageOutput, ImageProvider, TaskState, TaskStatus, TokenUsage};
pub use provider_base::{BaseUrl, ProviderBase, ProviderSpec};
pub use rate::RateBudget;
pub use request::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};
pub use retry::{Jitter, RetryBudget, RetryBudgetConfig, RetryPolicy};
pub use secret::ApiKey;
pub use transport::{HttpResponse, HttpTransport};
pub use waiter::{PollPolicy, WaitOptions};

/// Re-exported so provider crates and users name the same `async_trait`.
pub use async_trait::async_trait;
