//! The provider and codec under test, built with the shared helpers of
//! `imagegen-test-support`, and what the client makes of a result answer.

use imagegen_core::http_provider::settle;
use imagegen_core::{Codec, Error, HttpResponse, TaskRef, TaskStatus};
use imagegen_fal::{Fal, FalCodec};
use imagegen_test_support::codec_with;

/// The request every parsing test reads answers for.
pub const REQUEST_ID: &str = "764cabcf-b745-4b3e-ae38-1200304cf45b";

/// Fal on `base_url` with `key`, over a loopback-only transport.
pub fn provider(base_url: &str, key: &str) -> Fal {
    imagegen_test_support::provider::<FalCodec>(base_url, key)
}

/// Fal on `base_url` with `key`, trusting webhooks signed by `public_keys`.
pub fn provider_with_keys(base_url: &str, key: &str, public_keys: &str) -> Fal {
    let config = imagegen_test_support::loopback_config(base_url, key)
        .setting("webhook_public_keys", public_keys);
    imagegen_test_support::provider_from::<FalCodec>(config)
}

/// The codec trusting webhooks signed by `public_keys`.
pub fn codec_with_keys(public_keys: &str) -> FalCodec {
    codec_with::<FalCodec>(&[("webhook_public_keys", public_keys)])
}

/// What the client makes of `answer` to the result request of `task`: the
/// codec reads it, the core settles it.
pub fn read_result(task: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
    let read = codec_with::<FalCodec>(&[]).read_result(task, answer);
    settle(&FalCodec::SPEC, &[], answer, read, Some(task))
}
