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

pub mod capabilities;
pub mod config;
pub mod error;
pub mod provider;
pub mod request;
pub mod secret;
mod serde_helpers;
pub mod transport;

pub(crate) use serde_helpers::{serde_b64, serde_duration_ms};

pub use capabilities::{Capabilities, Mode, RateLimit, ReferenceInput, Strictness, Warning};
pub use config::{ProviderConfig, ResolvedConfig};
pub use error::{Error, ErrorKind, Result};
pub use provider::{ImageOutput, ImageProvider, TaskState, TaskStatus, TokenUsage};
pub use request::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};
pub use secret::ApiKey;
pub use transport::{HttpResponse, HttpTransport};

/// Re-exported so provider crates and users name the same `async_trait`.
pub use async_trait::async_trait;
