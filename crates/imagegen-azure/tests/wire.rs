//! The generated wire types against the schemas' `examples`, so the
//! schemas and the types cannot disagree. TEMPLATE: snapshot what
//! `round_trip` returns with `insta`, as the other providers do.

use imagegen_azure::generated::{AzureErrorBody, AzureGenerateRequest, AzureTask};
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde_json::json;

const GENERATE_REQUEST: &str = include_str!("../../../schemas/azure/generate-request.json");
const TASK: &str = include_str!("../../../schemas/azure/task.json");
const ERROR: &str = include_str!("../../../schemas/azure/error.json");

#[test]
fn schema_examples_round_trip() {
    for example in examples(GENERATE_REQUEST) {
        round_trip::<AzureGenerateRequest>(&example);
    }
    for example in examples(TASK) {
        round_trip::<AzureTask>(&example);
    }
    for example in examples(ERROR) {
        round_trip::<AzureErrorBody>(&example);
    }
}

#[test]
fn request_rejects_undocumented_fields() {
    rejects::<AzureGenerateRequest>(json!({"prompt": "p", "undocumented": true}));
}
