//! Workspace automation for imagegen, run as `cargo xtask <command>`.
//!
//! - [`codegen`]: typed Rust from the provider JSON Schemas in `schemas/`.
//! - [`new_provider`]: scaffold a new provider (schemas, crate, registration).

pub mod codegen;
pub mod new_provider;

#[cfg(test)]
mod test_support;
