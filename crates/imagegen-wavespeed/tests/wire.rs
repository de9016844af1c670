//! The generated wire types against the schemas' `examples`, so the
//! schemas and the types cannot disagree. TEMPLATE: snapshot what
//! `round_trip` returns with `insta`, as the other providers do.

use imagegen_test_support::wire::{examples, rejects, round_trip};
use imagegen_wavespeed::generated::{WavespeedErrorBody, WavespeedGenerateRequest, WavespeedTask};
use serde_json::json;

const GENERATE_REQUEST: &str = include_str!("../../../schemas/wavespeed/generate-request.json");
const TASK: &str = include_str!("../../../schemas/wavespeed/task.json");
const ERROR: &str = include_str!("../../../schemas/wavespeed/error.json");

#[test]
fn schema_examples_round_trip() {
    for example in examples(GENERATE_REQUEST) {
        round_trip::<WavespeedGenerateRequest>(&example);
    }
    for example in examples(TASK) {
        round_trip::<WavespeedTask>(&example);
    }
    for example in examples(ERROR) {
        round_trip::<WavespeedErrorBody>(&example);
    }
}

#[test]
fn request_rejects_undocumented_fields() {
    rejects::<WavespeedGenerateRequest>(json!({"prompt": "p", "undocumented": true}));
}
