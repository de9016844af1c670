//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-replicate` then read the `.snap` diffs before committing.

use imagegen_replicate::generated::*;
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

const PREDICTION_REQUEST: &str = include_str!("../../../schemas/replicate/prediction-request.json");
const PREDICTION: &str = include_str!("../../../schemas/replicate/prediction.json");
const ERROR: &str = include_str!("../../../schemas/replicate/error.json");
const WEBHOOK_SECRET: &str = include_str!("../../../schemas/replicate/webhook-secret.json");

/// Round-trips every example of `schema` as a `T`, snapshotted as `{name}_{i}`.
fn round_trips<T>(schema: &str, name: &str)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    for (i, example) in examples(schema).iter().enumerate() {
        let snap = round_trip::<T>(example);
        insta::assert_json_snapshot!(format!("{name}_{i}"), snap);
    }
}

#[test]
fn examples_round_trip() {
    round_trips::<ReplicatePredictionRequest>(PREDICTION_REQUEST, "prediction_request");
    round_trips::<ReplicatePrediction>(PREDICTION, "prediction");
    round_trips::<ReplicateErrorBody>(ERROR, "error");
    round_trips::<ReplicateWebhookSecret>(WEBHOOK_SECRET, "webhook_secret");
}

#[test]
fn request_rejects_undocumented_values() {
    let input = |extra: serde_json::Value| {
        let mut input = json!({"prompt": "p"});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "input": input })
    };
    let ok = input(
        json!({"aspect_ratio": "2:3", "quality": "auto", "number_of_images": 10,
                          "output_compression": 0, "moderation": "low", "input_fidelity": "high"}),
    );
    serde_json::from_value::<ReplicatePredictionRequest>(ok).expect("documented values parse");

    let cases = [
        input(json!({"aspect_ratio": "16:9"})),
        input(json!({"quality": "ultra"})),
        input(json!({"number_of_images": 11})),
        input(json!({"number_of_images": 0})),
        input(json!({"output_compression": 101})),
        input(json!({"output_format": "gif"})),
        input(json!({"moderation": "high"})),
        input(json!({"input_fidelity": "medium"})),
        // Not this model's names.
        input(json!({"size": "1024x1024"})),
        input(json!({"n": 2})),
        input(json!({"mask": "https://a/m.png"})),
        json!({"input": {"prompt": ""}}),
        json!({"input": {"prompt": "p"}, "webhook_events_filter": ["done"]}),
        json!({"input": {"prompt": "p"}, "version": "openai/gpt-image-1.5"}),
        json!({"prompt": "p"}),
    ];
    let errors: Vec<String> = cases
        .into_iter()
        .map(rejects::<ReplicatePredictionRequest>)
        .collect();
    insta::assert_debug_snapshot!(errors);
}

#[test]
fn predictions_are_open() {
    let prediction: ReplicatePrediction = serde_json::from_value(json!({
        "id": "p1", "status": "queued", "progress": 0.4,
        "error": {"message": "boom", "code": "E1"},
        "urls": {"get": "https://api.replicate.com/v1/predictions/p1", "events": "x"}
    }))
    .expect("lenient");
    assert_eq!(prediction.status, "queued");
    assert!(prediction.error.is_some());
}
