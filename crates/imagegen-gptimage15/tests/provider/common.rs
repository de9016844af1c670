//! The provider under test, built with the shared helpers of
//! `imagegen-test-support`.

use imagegen_gptimage15::{Gptimage15, Gptimage15Codec};

/// Gptimage15 on `base_url` with `key`, over a loopback-only transport.
pub fn provider(base_url: &str, key: &str) -> Gptimage15 {
    imagegen_test_support::provider::<Gptimage15Codec>(base_url, key)
}
