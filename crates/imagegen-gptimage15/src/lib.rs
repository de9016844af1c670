//! imagegen-gptimage15: the gptimage15.ai provider for imagegen.
//!
//! [`generated`] holds the wire types, generated from `schemas/gptimage15/*.json`.

pub mod generated;
