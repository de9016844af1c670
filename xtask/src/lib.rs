//! Workspace automation for imagegen, run as `cargo xtask <command>`.
//!
//! - [`codegen`]: typed Rust from the provider JSON Schemas in `schemas/`.
//! - [`new_provider`]: scaffold a new provider (schemas, crate, registration).
//! - [`lines`]: each provider crate's hand-written size, against its limit.
//! - [`evolution`]: adding optional properties to schemas, as the test that
//!   proves it never breaks the build does.
//! - [`services`]: PostgreSQL and Chromium for `cargo xtask test`.
//! - [`untagged`]: the visitor-based `Deserialize` codegen gives `oneOf` unions.

pub mod codegen;
pub mod evolution;
pub mod lines;
pub mod new_provider;
pub mod services;
pub mod untagged;

#[cfg(test)]
mod architecture;
#[cfg(test)]
mod test_support;
