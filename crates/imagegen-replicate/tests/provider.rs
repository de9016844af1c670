//! Tests of the Replicate codec: the requests it describes (held open with
//! `Prefer: wait` when the caller waits), how the client sees the answers it
//! reads (codec plus the core's settling, with insta snapshots in
//! `tests/snapshots/`), the webhook calls it verifies, and the provider
//! (`HttpProvider` over the codec) over real HTTP against `imagegen-sim` on
//! loopback.
//!
//! One test binary, one module per concern. No test reaches a non-loopback
//! address.

mod provider {
    pub mod common;

    mod errors;
    mod mapping;
    mod parsing;
    mod sim;
    mod webhooks;
}
