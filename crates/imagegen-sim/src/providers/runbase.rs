//! Runbase: `POST /runs`, `GET /runs/{id}` under `/runbase/api/v1`.
//!
//! Decisions where Runbase's pages are silent:
//! - Each accepted run costs 1 credit, taken at create; a failed run is not
//!   refunded. Out of credits: 402 `insufficient_balance`.
//! - The create answer is HTTP 200 with the run object, status `queued`.
//! - The run object is `{id, model, status, input, output, error,
//!   created_at, completed_at}`; `output` is `{"urls": [...]}` once
//!   `succeeded` (null before), `error` a string once `failed` (null before),
//!   dates RFC 3339 with milliseconds, `completed_at` null until done.
//! - Statuses: `queued`, then `starting` (first third of generation), then
//!   `processing`, then `succeeded` or `failed`.
//! - `quality` defaults to `medium`, `aspect_ratio` to `1:1` (1024x1024;
//!   `2:3` is 1024x1536, `3:2` 1536x1024). Unknown `input` fields are ignored.
//! - A run is visible only to the key that created it (404 otherwise).
//! - Validation order: JSON, `model` (missing → `missing_model`, not a string
//!   → `invalid_input`, other → `model_not_found`), `input` (missing →
//!   `missing_input`), then prompt, aspect ratio, quality, image URLs
//!   (`invalid_input`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::Provider;
use crate::config::QualityLevel;
use crate::faults::{Fault, drop_connection};
use crate::images::{ImageFormat, ImageSize, file_path};
use crate::ledger::Charge;
use crate::magic;
use crate::ratelimit::{Verdict, retry_after_secs};
use crate::state::{Answering, AppState, Auth, Ctx, Reply, body_hash, public_base, rfc3339_millis};
use crate::tasks::{Phase, Task, TaskMore};

/// The one model Runbase serves here.
pub const MODEL: &str = "openai/gpt-image-1.5";

/// Credits per run.
pub const RUN_COST: u64 = 1;

const FAILURE_MESSAGE: &str =
    "Content policy violation: the request was rejected by the safety system.";

/// `{"error": {"message", "code"}}` (no code for 500).
pub(crate) fn error(status: StatusCode, message: impl Into<String>, code: Option<&str>) -> Reply {
    let mut err = json!({ "message": message.into() });
    if let Some(code) = code {
        err["code"] = json!(code);
    }
    Reply::new(status, json!({ "error": err }))
}

fn rate_limited(retry: std::time::Duration, window_ms: Option<u128>) -> Reply {
    let secs = retry_after_secs(retry);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "Rate limit exceeded. Retry after {secs} second{}.",
            if secs == 1 { "" } else { "s" }
        ),
        Some("RATE_LIMITED"),
    )
    .header("retry-after", secs);
    if window_ms.is_some() {
        r = r.header("retry-after-ms", retry.as_millis().max(1));
    }
    r
}

/// Auth, magic keys, the rate limit and 429 bursts.
// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = match state.begin(Provider::Runbase, headers) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Missing API key. Pass it as 'Authorization: Bearer <key>'.",
                Some("missing_api_key"),
            )
            .into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Invalid API key.",
                Some("invalid_api_key"),
            )
            .into_response(false));
        }
    };
    let forbidden = match ctx.key.as_str() {
        magic::SPEND_LIMIT => Some(error(
            StatusCode::FORBIDDEN,
            "API key spend limit exceeded.",
            Some("api_key_spend_limit_exceeded"),
        )),
        magic::IP_NOT_ALLOWED => Some(error(
            StatusCode::FORBIDDEN,
            "Your IP address is not allowed for this API key.",
            Some("ip_not_allowed"),
        )),
        magic::USAGE_EXCEEDED => Some(usage_exceeded()),
        _ => None,
    };
    if let Some(r) = forbidden {
        return Err(ctx.send(r));
    }
    let limit = state.rate_limit();
    match state.limiter.check(&ctx.key, state.usage_quota) {
        Verdict::Pass => {}
        Verdict::Limited(retry) => {
            let sub_second = (limit.window.as_millis() < 1000).then_some(limit.window.as_millis());
            return Err(ctx.send(rate_limited(retry, sub_second)));
        }
        Verdict::QuotaExceeded => return Err(ctx.send(usage_exceeded())),
    }
    if ctx.in_burst() {
        return Err(ctx.send(rate_limited(std::time::Duration::from_secs(1), None)));
    }
    Ok(ctx)
}

fn usage_exceeded() -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "Usage limit exceeded for this API key.",
        Some("USAGE_EXCEEDED"),
    )
}

fn internal_error() -> Reply {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
        None,
    )
}

fn invalid(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, message, Some("invalid_input"))
}

/// Checks a create body; returns (input, prompt, size, quality).
fn validate(body: &[u8]) -> Result<(Value, String, ImageSize, QualityLevel), Reply> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "Request body is not valid JSON.",
            Some("invalid_json"),
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Request body must be a JSON object.",
            Some("invalid_json"),
        ));
    };
    match obj.get("model") {
        None | Some(Value::Null) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "'model' is required.",
                Some("missing_model"),
            ));
        }
        Some(Value::String(m)) if m == MODEL => {}
        Some(Value::String(m)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("Model '{m}' not found."),
                Some("model_not_found"),
            ));
        }
        Some(_) => return Err(invalid("'model' must be a string.")),
    }
    let input = match obj.get("input") {
        None | Some(Value::Null) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "'input' is required.",
                Some("missing_input"),
            ));
        }
        Some(Value::Object(i)) => i,
        Some(_) => return Err(invalid("'input' must be an object.")),
    };
    let prompt = match input.get("prompt") {
        None | Some(Value::Null) => return Err(invalid("input.prompt is required.")),
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(_) => return Err(invalid("input.prompt must be a non-empty string.")),
    };
    let size = match input.get("aspect_ratio") {
        None | Some(Value::Null) => ImageSize::Square,
        Some(Value::String(a)) if a == "1:1" => ImageSize::Square,
        Some(Value::String(a)) if a == "2:3" => ImageSize::Portrait,
        Some(Value::String(a)) if a == "3:2" => ImageSize::Landscape,
        Some(_) => return Err(invalid("input.aspect_ratio must be one of: 1:1, 3:2, 2:3.")),
    };
    let quality = match input.get("quality") {
        None | Some(Value::Null) => QualityLevel::Medium,
        Some(Value::String(q)) if q == "medium" => QualityLevel::Medium,
        Some(Value::String(q)) if q == "high" => QualityLevel::High,
        Some(_) => return Err(invalid("input.quality must be one of: medium, high.")),
    };
    match input.get("image_urls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err(invalid("input.image_urls must be an array of strings.")),
    }
    Ok((Value::Object(input.clone()), prompt, size, quality))
}

/// `POST /runs`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if ctx.dice.roll(Fault::Create500) {
        return ctx.send(internal_error());
    }
    if ctx.dice.roll(Fault::DropBeforeAccept) {
        drop_connection();
    }
    let (input, prompt, size, quality) = match validate(&body) {
        Ok(x) => x,
        Err(r) => return ctx.send(r),
    };
    let hash = body_hash(&serde_json::from_slice(&body).unwrap_or(Value::Null));
    if let Charge::Insufficient { left } =
        state
            .ledger
            .accept_create(Provider::Runbase, &ctx.key, hash, RUN_COST, true)
    {
        return ctx.send(error(
            StatusCode::PAYMENT_REQUIRED,
            format!("Insufficient balance: a run costs {RUN_COST} credit, {left} left."),
            Some("insufficient_balance"),
        ));
    }
    let (queue, generate) = ctx.durations(quality);
    let references = input
        .get("image_urls")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let task = Task {
        provider: Provider::Runbase,
        id: state.next_id(Provider::Runbase),
        api_key: ctx.key.clone(),
        created: Instant::now(),
        created_wall: OffsetDateTime::now_utc(),
        queue,
        generate,
        failure: (ctx.dice.roll(Fault::GenerationFailure) || magic::blocked(&prompt))
            .then(|| FAILURE_MESSAGE.to_string()),
        request: input,
        prompt,
        size,
        quality,
        references,
        unknown_status: ctx.dice.roll(Fault::UnknownStatus),
        polls: 0,
        cost: RUN_COST,
        refunded: false,
        more: TaskMore::default(),
    };
    let body = run_object(&task, "queued", None, &public_base(&state, &headers));
    state.tasks.insert(task);
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    ctx.send_success(Answering::Create, Reply::ok(body)).await
}

/// `GET /runs/{id}`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    state.ledger.record_poll(Provider::Runbase, &ctx.key);
    if ctx.dice.roll(Fault::Status500) {
        return ctx.send(internal_error());
    }
    let found = state.tasks.with(Provider::Runbase, &id, |t| {
        if t.api_key != ctx.key {
            return None;
        }
        t.polls += 1;
        Some(t.clone())
    });
    let Some(task) = found.flatten() else {
        return ctx.send(error(
            StatusCode::NOT_FOUND,
            format!("Run '{id}' not found."),
            Some("run_not_found"),
        ));
    };
    let phase = task.phase_at(Instant::now());
    let status = if task.unknown_status && task.polls == 1 {
        "warming_up"
    } else {
        match phase {
            Phase::Queued => "queued",
            Phase::Running { early: true } => "starting",
            Phase::Running { early: false } => "processing",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
        }
    };
    let body = run_object(&task, status, Some(phase), &public_base(&state, &headers));
    ctx.send_success(Answering::Status, Reply::ok(body)).await
}

/// The run object; `phase` None means "just created".
fn run_object(task: &Task, status: &str, phase: Option<Phase>, base: &str) -> Value {
    let done = phase.is_some_and(Phase::is_terminal) && status != "warming_up";
    let output = if done && task.failure.is_none() {
        json!({ "urls": [format!("{base}{}", file_path("runbase", &task.id, 0, ImageFormat::Png))] })
    } else {
        Value::Null
    };
    let error = match (&task.failure, done) {
        (Some(m), true) => json!(m),
        _ => Value::Null,
    };
    let completed_at = if done {
        json!(rfc3339_millis(task.completed_wall()))
    } else {
        Value::Null
    };
    json!({
        "id": task.id,
        "model": MODEL,
        "status": status,
        "input": task.request,
        "output": output,
        "error": error,
        "created_at": rfc3339_millis(task.created_wall),
        "completed_at": completed_at,
    })
}
