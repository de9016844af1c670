//! The provider under test, built with the shared helpers of
//! `imagegen-test-support`.

use imagegen_runbase::{Runbase, RunbaseCodec};

/// Runbase on `base_url` with `key`, over a loopback-only transport.
pub fn provider(base_url: &str, key: &str) -> Runbase {
    imagegen_test_support::provider::<RunbaseCodec>(base_url, key)
}
