//! The provider under test, built with the shared helpers of
//! `imagegen-test-support`, and what the tests send it.

use imagegen_wavespeed::{Wavespeed, WavespeedCodec};

/// WaveSpeed on `base_url` with `key`, over a loopback-only transport.
pub fn provider(base_url: &str, key: &str) -> Wavespeed {
    imagegen_test_support::provider::<WavespeedCodec>(base_url, key)
}

/// WaveSpeed on `base_url` with `key` and the webhook secret `secret`.
pub fn provider_with_secret(base_url: &str, key: &str, secret: &str) -> Wavespeed {
    let config =
        imagegen_test_support::loopback_config(base_url, key).setting("webhook_secret", secret);
    imagegen_test_support::provider_from::<WavespeedCodec>(config)
}
