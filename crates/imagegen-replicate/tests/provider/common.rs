//! The provider and codec under test, built with the shared helpers of
//! `imagegen-test-support`.

use imagegen_replicate::{Replicate, ReplicateCodec};
use imagegen_test_support::codec_with;

/// The prediction every parsing test reads answers for.
pub const PREDICTION_ID: &str = "z3jpsevkdhrm80cv56maz0tehw";

/// The webhook secret of the tests: `whsec_` and the base64 of the key.
pub const SECRET: &str = "whsec_aW1hZ2VnZW4gcmVwbGljYXRlIHRlc3Qgc2VjcmV0IQ==";

/// Replicate on `base_url` with `key`, over a loopback-only transport.
pub fn provider(base_url: &str, key: &str) -> Replicate {
    imagegen_test_support::provider::<ReplicateCodec>(base_url, key)
}

/// Replicate on `base_url` with `key`, verifying webhooks with `secret`.
pub fn provider_with_secret(base_url: &str, key: &str, secret: &str) -> Replicate {
    let config =
        imagegen_test_support::loopback_config(base_url, key).setting("webhook_secret", secret);
    imagegen_test_support::provider_from::<ReplicateCodec>(config)
}

/// The codec verifying webhooks with `secret`.
pub fn codec_with_secret(secret: &str) -> ReplicateCodec {
    codec_with::<ReplicateCodec>(&[("webhook_secret", secret)])
}
