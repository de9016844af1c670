//! gptimage15.ai: `POST /generate`, `GET /status`, `GET /v2/status` under
//! `/gptimage15/api`.
//!
//! Decisions where the page is silent:
//! - Every answer, errors included, is the envelope `{"code", "message"?,
//!   "data"}` and the HTTP status equals `code` (200, 400, 401, 402, 404,
//!   429, 500). Errors carry `"data": null`.
//! - A task costs 10 credits, taken at create; a task that ends `FAILED` is
//!   refunded and shows `consumed_credits: 0`. Out of credits: HTTP 402,
//!   envelope code 402.
//! - Status answers always carry `task_id`, `status`, `consumed_credits` and
//!   `created_at`; `SUCCESS` adds `response: [url]`; `FAILED` adds
//!   `error_message`, `request` (the create body as received) and
//!   `response: null`, and the envelope `"message": "success"`, as on the page.
//! - `/v2/status` answers the same with numeric statuses: 0 (PENDING or
//!   IN_PROGRESS), 1 (SUCCESS), -1 (FAILED).
//! - `input_fidelity` without `images` is accepted and ignored.
//! - `callback_url` must be an `http://` or `https://` URL. When the task
//!   ends the sim POSTs `{"task_id": "...", "status": "SUCCESS"|"FAILED"}`
//!   (JSON, `user-agent: imagegen-sim`) to it; a non-2xx answer or a
//!   transport error is retried 3 more times after 100 ms, 400 ms and 1.6 s.
//! - A task is visible only to the key that created it (404 otherwise).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::Provider;
use crate::config::QualityLevel;
use crate::faults::{Fault, drop_connection};
use crate::images::{ImageFormat, ImageSize, file_path};
use crate::ledger::Charge;
use crate::state::{
    Answering, AppState, Auth, Ctx, Reply, body_hash, plain_datetime, public_base, rfc3339_secs,
};
use crate::tasks::{Phase, Task, TaskMore};

/// Credits per task.
pub const TASK_COST: u64 = 10;

/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 2000;

const FAILURE_MESSAGE: &str = "Content policy violation detected";

/// An error envelope; the HTTP status is `code`.
pub(crate) fn error(code: u16, message: impl Into<String>) -> Reply {
    Reply::new(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({ "code": code, "message": message.into(), "data": null }),
    )
}

// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = match state.begin(Provider::Gptimage15, headers) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(error(401, "Unauthorized: missing API key.").into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(error(401, "Unauthorized: invalid API key.").into_response(false));
        }
    };
    if ctx.in_burst() {
        return Err(ctx.send(
            error(429, "Too Many Requests: rate limit exceeded, retry later.")
                .header("retry-after", 1),
        ));
    }
    Ok(ctx)
}

fn internal_error() -> Reply {
    error(
        500,
        "Internal Server Error: please retry or contact support.",
    )
}

struct Valid {
    request: Value,
    prompt: String,
    size: ImageSize,
    quality: QualityLevel,
    callback: Option<String>,
}

fn one_of<'a>(v: Option<&'a Value>, allowed: &[&str], default: &'a str) -> Result<&'a str, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s),
        Some(other) => Err(match other {
            Value::String(s) => s.clone(),
            x => x.to_string(),
        }),
    }
}

fn validate(body: &[u8]) -> Result<Valid, Reply> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| error(400, "Bad Request: invalid JSON body."))?;
    let Some(obj) = v.as_object() else {
        return Err(error(400, "Bad Request: the body must be a JSON object."));
    };
    let prompt = match obj.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        _ => return Err(error(400, "Bad Request: 'prompt' is required.")),
    };
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(error(
            400,
            format!("Bad Request: 'prompt' must be at most {MAX_PROMPT_CHARS} characters."),
        ));
    }
    let size = match one_of(
        obj.get("size"),
        &["1024*1024", "1024*1536", "1536*1024"],
        "1024*1024",
    ) {
        Ok("1024*1536") => ImageSize::Portrait,
        Ok("1536*1024") => ImageSize::Landscape,
        Ok(_) => ImageSize::Square,
        Err(bad) => {
            return Err(error(
                400,
                format!(
                    "Bad Request: invalid size '{bad}'. Allowed values: 1024*1024, 1024*1536, 1536*1024."
                ),
            ));
        }
    };
    let quality = match one_of(obj.get("quality"), &["low", "medium", "high"], "medium") {
        Ok("low") => QualityLevel::Low,
        Ok("high") => QualityLevel::High,
        Ok(_) => QualityLevel::Medium,
        Err(bad) => {
            return Err(error(
                400,
                format!("Bad Request: invalid quality '{bad}'. Allowed values: low, medium, high."),
            ));
        }
    };
    match obj.get("images") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(error(
                400,
                "Bad Request: 'images' must be an array of image URLs.",
            ));
        }
    }
    if let Err(bad) = one_of(obj.get("input_fidelity"), &["low", "high"], "high") {
        return Err(error(
            400,
            format!("Bad Request: invalid input_fidelity '{bad}'. Allowed values: low, high."),
        ));
    }
    let callback = match obj.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.clone())
        }
        Some(_) => {
            return Err(error(
                400,
                "Bad Request: 'callback_url' must be an http(s) URL.",
            ));
        }
    };
    Ok(Valid {
        request: v.clone(),
        prompt,
        size,
        quality,
        callback,
    })
}

/// `POST /generate`.
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
    let valid = match validate(&body) {
        Ok(v) => v,
        Err(r) => return ctx.send(r),
    };
    if let Charge::Insufficient { left } = state.ledger.accept_create(
        Provider::Gptimage15,
        &ctx.key,
        body_hash(&valid.request),
        TASK_COST,
        true,
    ) {
        return ctx.send(error(
            402,
            format!(
                "Payment Required: insufficient credits (a task costs {TASK_COST} credits, {left} left)."
            ),
        ));
    }
    let (queue, generate) = ctx.durations(valid.quality);
    let references = valid
        .request
        .get("images")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let task = Task {
        provider: Provider::Gptimage15,
        id: state.next_id(Provider::Gptimage15),
        api_key: ctx.key.clone(),
        created: Instant::now(),
        created_wall: OffsetDateTime::now_utc(),
        queue,
        generate,
        failure: (ctx.dice.roll(Fault::GenerationFailure) || crate::magic::blocked(&valid.prompt))
            .then(|| FAILURE_MESSAGE.to_string()),
        request: valid.request,
        prompt: valid.prompt,
        size: valid.size,
        quality: valid.quality,
        references,
        unknown_status: ctx.dice.roll(Fault::UnknownStatus),
        polls: 0,
        cost: TASK_COST,
        refunded: false,
        more: TaskMore::default(),
    };
    let id = task.id.clone();
    if let Some(url) = valid.callback {
        super::callback::spawn(state.clone(), &task, url);
    }
    state.tasks.insert(task);
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    ctx.send_success(
        Answering::Create,
        Reply::ok(json!({ "code": 200, "data": { "task_id": id, "status": "IN_PROGRESS" } })),
    )
    .await
}

/// `GET /status?task_id=`.
pub(crate) async fn status_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    status(state, headers, q, false).await
}

/// `GET /v2/status?task_id=` (numeric statuses).
pub(crate) async fn status_v2(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    status(state, headers, q, true).await
}

/// Marks a failed task refunded; returns the credits to give back.
pub(crate) fn take_refund(t: &mut Task, now: Instant) -> Option<u64> {
    (t.phase_at(now) == Phase::Failed && !t.refunded).then(|| {
        t.refunded = true;
        t.cost
    })
}

async fn status(
    state: Arc<AppState>,
    headers: HeaderMap,
    q: HashMap<String, String>,
    v2: bool,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    state.ledger.record_poll(Provider::Gptimage15, &ctx.key);
    if ctx.dice.roll(Fault::Status500) {
        return ctx.send(internal_error());
    }
    let Some(id) = q.get("task_id").filter(|s| !s.is_empty()) else {
        return ctx.send(error(400, "Bad Request: 'task_id' is required."));
    };
    let now = Instant::now();
    let found = state.tasks.with(Provider::Gptimage15, id, |t| {
        if t.api_key != ctx.key {
            return None;
        }
        t.polls += 1;
        Some((t.clone(), take_refund(t, now)))
    });
    let Some((task, refund)) = found.flatten() else {
        return ctx.send(error(
            404,
            format!("Not Found: task '{id}' does not exist."),
        ));
    };
    if let Some(credits) = refund {
        state
            .ledger
            .refund(Provider::Gptimage15, &ctx.key, &task.id, credits);
    }
    let numeric = v2 || ctx.dice.roll(Fault::NumericStatus);
    let encoded = ctx.dice.roll(Fault::StringEncoded);
    let phase = task.phase_at(now);
    let unknown = task.unknown_status && task.polls == 1;
    let status = match (unknown, phase, numeric) {
        (true, _, false) => json!("RUNNING_SLOWLY"),
        (true, _, true) => json!(2),
        (_, Phase::Queued, false) => json!("PENDING"),
        (_, Phase::Running { .. }, false) => json!("IN_PROGRESS"),
        (_, Phase::Succeeded, false) => json!("SUCCESS"),
        (_, Phase::Failed, false) => json!("FAILED"),
        (_, Phase::Queued | Phase::Running { .. }, true) => json!(0),
        (_, Phase::Succeeded, true) => json!(1),
        (_, Phase::Failed, true) => json!(-1),
    };
    let failed = !unknown && phase == Phase::Failed;
    let succeeded = !unknown && phase == Phase::Succeeded;
    let credits_key = if encoded {
        "consumed_credit"
    } else {
        "consumed_credits"
    };
    let created_at = if encoded {
        plain_datetime(task.created_wall)
    } else {
        rfc3339_secs(task.created_wall)
    };
    let mut data = json!({
        "task_id": task.id,
        "status": status,
    });
    data[credits_key] = json!(if failed { 0 } else { task.cost });
    data["created_at"] = json!(created_at);
    let maybe_string = |v: Value| if encoded { json!(v.to_string()) } else { v };
    if succeeded {
        let url = format!(
            "{}{}",
            public_base(&state, &headers),
            file_path("gptimage15", &task.id, 0, ImageFormat::Png)
        );
        data["response"] = maybe_string(json!([url]));
    }
    let mut envelope = json!({ "code": 200, "data": Value::Null });
    if failed {
        data["error_message"] = json!(task.failure.clone().unwrap_or_default());
        data["request"] = maybe_string(task.request.clone());
        data["response"] = Value::Null;
        envelope["message"] = json!("success");
    }
    envelope["data"] = data;
    ctx.send_success(Answering::Status, Reply::ok(envelope))
        .await
}
