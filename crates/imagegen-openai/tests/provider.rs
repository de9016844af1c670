//! Tests of the OpenAI codec: the requests it describes (JSON generations,
//! multipart edits) and how the client sees the answers it reads (codec
//! plus the core's settling), with insta snapshots in `tests/snapshots/`;
//! and the provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback, and against a one-shot loopback listener for
//! the exact bytes on the wire.
//!
//! One test binary, one module per concern. No test reaches a non-loopback
//! address.

mod provider {
    pub mod common;

    mod errors;
    mod mapping;
    mod parsing;
    mod sim;
    mod wire_bytes;
}
