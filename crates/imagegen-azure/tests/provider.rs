//! Tests of the Azure OpenAI codec: the requests it describes (OpenAI's
//! JSON generations and multipart edits, sent to a deployment with an API
//! version and checked against Azure's schemas), how the client sees the
//! answers it reads (codec plus the core's settling, with insta snapshots in
//! `tests/snapshots/`), and the provider (`HttpProvider` over the codec)
//! over real HTTP against `imagegen-sim` on loopback.
//!
//! One test binary, one module per concern. No test reaches a non-loopback
//! address.

mod provider {
    pub mod common;

    mod errors;
    mod mapping;
    mod parsing;
    mod sim;
}
