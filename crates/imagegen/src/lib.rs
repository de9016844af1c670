//! Generate images with OpenAI's GPT Image 1.5 through Runbase, gptimage15.ai
//! or OpenAI, with one request type and one client.
//!
//! This crate re-exports [`imagegen_core`] (the request model, the
//! [`ImageProvider`] trait, errors and the client runtime) and each provider
//! crate behind a cargo feature of the provider's name (all on by default).
//!
//! See `examples/quickstart.rs` for a complete program.

pub use imagegen_core::*;

mod registry;
pub use registry::{provider, providers, registration};

#[cfg(feature = "fal")]
pub use imagegen_fal as fal;
#[cfg(feature = "gptimage15")]
pub use imagegen_gptimage15 as gptimage15;
#[cfg(feature = "openai")]
pub use imagegen_openai as openai;
#[cfg(feature = "replicate")]
pub use imagegen_replicate as replicate;
#[cfg(feature = "runbase")]
pub use imagegen_runbase as runbase;
