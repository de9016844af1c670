//! Tests of the gptimage15.ai provider: the pure mapping and parsing functions
//! (with insta snapshots in `tests/snapshots/`), and the provider's trait
//! methods over real HTTP against `imagegen-sim` on loopback.
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
