//! Workspace automation for imagegen, run as `cargo xtask <command>`.
//!
//! - [`codegen`]: typed Rust from the provider JSON Schemas in `schemas/`.
//! - [`new_provider`]: scaffold a new provider (schemas, crate, registration).
//! - [`untagged`]: the visitor-based `Deserialize` codegen gives `oneOf` unions.

pub mod codegen;
pub mod new_provider;
pub mod untagged;

#[cfg(test)]
mod test_support;
