//! Shared helpers for the imagegen benchmarks.
