//! imagegen-openai: the OpenAI Images API provider for imagegen.
//!
//! [`generated`] holds the wire types, generated from `schemas/openai/*.json`.

pub mod generated;
