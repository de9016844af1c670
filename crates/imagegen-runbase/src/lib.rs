//! imagegen-runbase: the Runbase (`runbase.net`) provider for imagegen.
//!
//! [`generated`] holds the wire types, generated from `schemas/runbase/*.json`.

pub mod generated;
