//! The introspection API under `/_sim/` (no key needed):
//!
//! - `GET /_sim/ledger`: the [`crate::Ledger`] as JSON (failed gptimage15
//!   tasks are refunded first, so the figures are settled).
//! - `GET /_sim/config`: `{faults, latency, seed, ids ("unique" or
//!   "seeded"), state_dir (null without one), api_keys, magic_keys,
//!   magic_prompts, credits, runbase_rate_limit: {requests, window_ms},
//!   runbase_usage_quota, fal: {concurrency, webhook_public_key (hex)},
//!   replicate: {rate_limit, other_rate_limit, max_wait_ms, webhook_secret},
//!   azure: {rate_limit, deployments, min_api_version}, wavespeed:
//!   {rate_limit, concurrency, sync_timeout_ms, webhook_secret}}` (rate
//!   limits as `{requests, window_ms}`).
//! - `PUT /_sim/config`: `{"faults"?: FaultConfig, "latency"?: LatencyProfile}`;
//!   each field given replaces the one in force (a `faults` object replaces
//!   all fault settings; missing probabilities are 0). Answers like GET.
//! - `POST /_sim/reset`: forgets tasks, ledger, rate-limit windows and bursts
//!   (with a state dir, the journal forgets them too; id counters go on).
//! - `GET /_sim/health`: `{"status": "ok", "tasks": N}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::LatencyProfile;
use crate::faults::FaultConfig;
use crate::state::AppState;

/// Body of `PUT /_sim/config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigUpdate {
    faults: Option<FaultConfig>,
    latency: Option<LatencyProfile>,
}

fn config_json(state: &AppState) -> Value {
    let rt = state.runtime();
    let sellers = &state.sellers;
    let mut keys: Vec<&String> = state.api_keys.iter().collect();
    keys.sort();
    json!({
        "faults": rt.faults,
        "latency": rt.latency,
        "seed": state.seed,
        "ids": state.id_mode,
        "state_dir": state.state_dir(),
        "api_keys": keys,
        "magic_keys": crate::magic::ALL,
        "credits": state.credits,
        "runbase_rate_limit": state.rate_limit(),
        "runbase_usage_quota": state.usage_quota,
        "magic_prompts": [crate::magic::CONTENT_POLICY_PROMPT, crate::magic::SERVER_ERROR_PROMPT],
        "fal": {
            "concurrency": sellers.fal_concurrency,
            "webhook_public_key": hex::encode(sellers.fal_signing.verifying_key().as_bytes()),
        },
        "replicate": {
            "rate_limit": sellers.replicate_creates.limit(),
            "other_rate_limit": sellers.replicate_others.limit(),
            "max_wait_ms": sellers.replicate_max_wait.as_millis() as u64,
            "webhook_secret": sellers.replicate_secret,
        },
        "azure": {
            "rate_limit": sellers.azure_limiter.limit(),
            "deployments": sellers.azure_deployments,
            "min_api_version": super::azure::MIN_API_VERSION,
        },
        "wavespeed": {
            "rate_limit": sellers.wavespeed_images.limit(),
            "concurrency": sellers.wavespeed_concurrency,
            "sync_timeout_ms": sellers.wavespeed_sync_timeout.as_millis() as u64,
            "webhook_secret": sellers.wavespeed_secret,
        },
    })
}

/// Checks every probability is within 0..=1.
pub(crate) fn check_faults(f: &FaultConfig) -> Result<(), String> {
    let probs = [
        ("create_500", f.create_500),
        ("status_500", f.status_500),
        ("burst_429", f.burst_429),
        ("drop_before_accept", f.drop_before_accept),
        ("drop_after_accept", f.drop_after_accept),
        ("slow_response", f.slow_response),
        ("malformed_json", f.malformed_json),
        ("malformed_status_json", f.malformed_status_json),
        ("generation_failure", f.generation_failure),
        ("gptimage15_numeric_status", f.gptimage15_numeric_status),
        ("gptimage15_string_encoded", f.gptimage15_string_encoded),
        ("unknown_status", f.unknown_status),
    ];
    for (name, p) in probs {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("faults.{name} must be between 0 and 1, got {p}"));
        }
    }
    Ok(())
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "message": message } })),
    )
        .into_response()
}

pub(crate) async fn ledger(State(state): State<Arc<AppState>>) -> Response {
    Json(state.ledger()).into_response()
}

pub(crate) async fn get_config(State(state): State<Arc<AppState>>) -> Response {
    Json(config_json(&state)).into_response()
}

pub(crate) async fn put_config(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let update: ConfigUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return bad_request(format!("invalid config: {e}")),
    };
    if let Some(f) = &update.faults
        && let Err(e) = check_faults(f)
    {
        return bad_request(e);
    }
    state.set_runtime(|rt| {
        if let Some(f) = update.faults {
            rt.faults = f;
        }
        if let Some(l) = update.latency {
            rt.latency = l;
        }
    });
    Json(config_json(&state)).into_response()
}

pub(crate) async fn reset(State(state): State<Arc<AppState>>) -> Response {
    state.reset();
    Json(json!({ "status": "reset" })).into_response()
}

pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({ "status": "ok", "tasks": state.tasks.len() })).into_response()
}
