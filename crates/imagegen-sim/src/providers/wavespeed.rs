//! WaveSpeed AI's GPT Image 1.5 under `/wavespeed` (standing for
//! `https://api.wavespeed.ai`), read from `wavespeed.md`.
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/v3/openai/gpt-image-1.5/text-to-image[?webhook=URL]` | the envelope with the task, `status: "created"` (sync mode: the finished task) |
//! | `POST /api/v3/openai/gpt-image-1.5/edit[?webhook=URL]` | the same, for an edit (`images` required) |
//! | `GET /api/v3/predictions/{id}/result` and `GET /api/v3/predictions/{id}` | the envelope with the task (both documented; both served) |
//! | `GET /api/v3/webhook/secret` | `{"code": 200, "message": "success", "data": {"secret": "whsec_..."}}` |
//!
//! Every JSON answer is the envelope `{"code", "message", "data"}`; the task
//! is `{"id", "model", "outputs", "urls": {"get"}, "has_nsfw_contents",
//! "status", "created_at", "error", "timings": {"inference"}}` with statuses
//! `created` (queued), `processing`, `completed`, `failed`. A failed task is
//! not an HTTP error: `code: 200`, `message: "success"`, `status: "failed"`,
//! `error: "..."` (as the docs show). Auth: `Authorization: Bearer <key>`.
//!
//! Body: `prompt` (required), `size` (`auto`, `1024*1024`, `1024*1536`,
//! `1536*1024`; the `x` spelling of the sibling model's page is accepted
//! too), `quality` (`low`, `medium` default, `high`), `background` (`auto`,
//! `transparent`, `opaque`), `enable_sync_mode`, `enable_base64_output`;
//! the edit adds `images` (URLs, at least one) and accepts
//! `input_fidelity` (`low`, `high`).
//!
//! Decisions where the docs are silent:
//! - Errors are the envelope too, with the HTTP status as `code` and
//!   `"data": null`: 400 validation (`Invalid request: ...`), 401 no or wrong
//!   key, 402 out of credits (`sim-key-no-credits`: `Insufficient balance`),
//!   404 unknown task (or another key's), 429 over the images-per-minute
//!   limit, 500. Unknown body fields are ignored.
//! - Limits (the Bronze level, a new account's): 2 images per minute per
//!   key, fixed window, counted at create once the body is valid; over it,
//!   HTTP 429 envelope `code: 429` with `Retry-After` (whole seconds).
//!   At most 2 tasks of a key run at once; more wait in `created` (the docs:
//!   a task "will wait until one finishes"), never refused.
//! - 1 credit per task, taken at create; a `failed` task is refunded.
//! - `outputs` are file URLs, `/files/wavespeed/{id}/0.png` (one PNG per
//!   task, showing the prompt, `wavespeed`, the task id, size, quality and
//!   the edit's `images` count); with `enable_base64_output`, bare standard
//!   base64 strings (no `data:` prefix) of the same PNG.
//! - Sync mode holds the request until the task ends; if that takes longer
//!   than [`crate::SimConfig::wavespeed_sync_timeout`] (60 s; 1 s in the fast
//!   profile) the gateway answers 504 with an HTML body and no task id,
//!   while the task goes on, is charged and completes (as the docs warn).
//! - Webhooks (`?webhook=URL`, http or https): when the task completes or
//!   fails, the task object, not wrapped in the envelope, with `input` added
//!   and `outputs` only when completed; `webhook-id` is the task id; signed
//!   `v3,<hex>` (see [`super::webhook`]).
//! - Magic prompts: `sim:content-policy` fails with `Content policy
//!   violation: the request was flagged by the safety system.`,
//!   `sim:server-error` with `Internal server error: the model run failed.`,
//!   both refunded.
//! - Faults: `burst_429` envelope 429 with `Retry-After: 1`; `create_500`,
//!   `status_500` envelope 500; `unknown_status` shows `pending` at the first
//!   poll; `malformed_status_json` cuts result answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::webhook::{self, Hook};
use crate::Provider;
use crate::config::QualityLevel;
use crate::faults::{Fault, drop_connection};
use crate::images::ImageSize;
use crate::ledger::Charge;
use crate::magic::{self, PromptFailure};
use crate::ratelimit::{Verdict, retry_after_secs};
use crate::state::{Answering, AppState, Auth, Ctx, Reply, body_hash, public_base, rfc3339_millis};
use crate::tasks::{Outcome, Phase, Task, TaskMore};

/// The model's path.
pub const MODEL: &str = "openai/gpt-image-1.5";

/// Credits per task.
pub const TASK_COST: u64 = 1;

pub(crate) const TEXT_TO_IMAGE: &str = "openai/gpt-image-1.5/text-to-image";
pub(crate) const EDIT: &str = "openai/gpt-image-1.5/edit";
const CONTENT_POLICY: &str =
    "Content policy violation: the request was flagged by the safety system.";
const SERVER_ERROR: &str = "Internal server error: the model run failed.";

const GATEWAY_TIMEOUT_PAGE: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n";

/// An error envelope; the HTTP status is `code`.
fn error(code: u16, message: impl Into<String>) -> Reply {
    Reply::new(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({ "code": code, "message": message.into(), "data": null }),
    )
}

fn success(data: Value) -> Reply {
    Reply::ok(json!({ "code": 200, "message": "success", "data": data }))
}

// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = match state.begin(Provider::Wavespeed, headers) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(error(401, "Unauthorized: missing API key").into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(error(401, "Unauthorized: invalid API key").into_response(false));
        }
    };
    if ctx.in_burst() {
        return Err(
            ctx.send(error(429, "Too many requests, please retry later.").header("retry-after", 1))
        );
    }
    Ok(ctx)
}

fn internal_error() -> Reply {
    error(500, "Internal server error, please retry later.")
}

/// Which endpoint a submit came to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    TextToImage,
    Edit,
}

struct Valid {
    prompt: String,
    size: ImageSize,
    quality: QualityLevel,
    transparent: bool,
    sync: bool,
    base64: bool,
    references: usize,
}

fn choice<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, Reply> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            Err(error(
                400,
                format!(
                    "Invalid request: '{name}' must be one of {}, got '{shown}'.",
                    allowed.join(", ")
                ),
            ))
        }
    }
}

fn flag(obj: &serde_json::Map<String, Value>, name: &str) -> Result<bool, Reply> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(error(
            400,
            format!("Invalid request: '{name}' must be a boolean."),
        )),
    }
}

fn validate(body: &[u8], endpoint: Endpoint) -> Result<(Value, Valid), Reply> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| error(400, "Invalid request: the body must be valid JSON."))?;
    let Some(obj) = v.as_object() else {
        return Err(error(
            400,
            "Invalid request: the body must be a JSON object.",
        ));
    };
    let prompt = match obj.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        _ => return Err(error(400, "Invalid request: 'prompt' is required.")),
    };
    // `*` as the 1.5 page says; `x` too, as the sibling model's page spells it.
    let size = match obj.get("size") {
        None | Some(Value::Null) => ImageSize::Square,
        Some(Value::String(s)) if s == "auto" => ImageSize::Square,
        Some(Value::String(s)) if ImageSize::from_wxh(&s.replace('*', "x")).is_some() => {
            ImageSize::from_wxh(&s.replace('*', "x")).unwrap_or(ImageSize::Square)
        }
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            return Err(error(
                400,
                format!(
                    "Invalid request: 'size' must be one of auto, 1024*1024, 1024*1536, 1536*1024, got '{shown}'."
                ),
            ));
        }
    };
    let quality = match choice(obj, "quality", &["low", "medium", "high"])? {
        Some("low") => QualityLevel::Low,
        Some("high") => QualityLevel::High,
        _ => QualityLevel::Medium,
    };
    let background = choice(obj, "background", &["auto", "transparent", "opaque"])?;
    let sync = flag(obj, "enable_sync_mode")?;
    let base64 = flag(obj, "enable_base64_output")?;
    let mut references = 0;
    if endpoint == Endpoint::Edit {
        match obj.get("images") {
            Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
                references = a.len();
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(error(
                    400,
                    "Invalid request: 'images' needs at least one image.",
                ));
            }
            None | Some(Value::Null) => {
                return Err(error(400, "Invalid request: 'images' is required."));
            }
            Some(_) => {
                return Err(error(
                    400,
                    "Invalid request: 'images' must be an array of image URLs.",
                ));
            }
        }
        choice(obj, "input_fidelity", &["low", "high"])?;
    }
    Ok((
        v.clone(),
        Valid {
            prompt,
            size,
            quality,
            transparent: background == Some("transparent"),
            sync,
            base64,
            references,
        },
    ))
}

/// `POST /api/v3/openai/gpt-image-1.5/text-to-image`.
pub(crate) async fn text_to_image(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    submit(state, headers, query, body, Endpoint::TextToImage).await
}

/// `POST /api/v3/openai/gpt-image-1.5/edit`.
pub(crate) async fn edit(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    submit(state, headers, query, body, Endpoint::Edit).await
}

async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
    endpoint: Endpoint,
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
    let webhook_url = match query.get("webhook") {
        None => None,
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.clone()),
        Some(_) => {
            return ctx.send(error(
                400,
                "Invalid request: 'webhook' must be an http(s) URL.",
            ));
        }
    };
    let (request, valid) = match validate(&body, endpoint) {
        Ok(v) => v,
        Err(r) => return ctx.send(r),
    };
    let insufficient = || {
        error(
            402,
            "Insufficient balance: please top up your account to continue.",
        )
    };
    if state.ledger.credits_left(Provider::Wavespeed, &ctx.key) < TASK_COST {
        return ctx.send(insufficient());
    }
    if let Verdict::Limited(left) = state.sellers.wavespeed_images.check(&ctx.key, None) {
        let secs = retry_after_secs(left);
        let limit = state.sellers.wavespeed_images.limit();
        return ctx.send(
            error(
                429,
                format!(
                    "Rate limit exceeded: your account level allows {} images per {} s. Please retry after {secs} s.",
                    limit.requests,
                    limit.window.as_secs_f64()
                ),
            )
            .header("retry-after", secs),
        );
    }
    let model = if endpoint == Endpoint::Edit {
        EDIT
    } else {
        TEXT_TO_IMAGE
    };
    let hash = body_hash(&json!({ "model": model, "body": request }));
    if let Charge::Insufficient { .. } =
        state
            .ledger
            .accept_create(Provider::Wavespeed, &ctx.key, hash, TASK_COST, true)
    {
        return ctx.send(insufficient());
    }
    let failure = if ctx.dice.roll(Fault::GenerationFailure) {
        Some(PromptFailure::ContentPolicy)
    } else {
        magic::prompt_failure(&valid.prompt)
    };
    let now = Instant::now();
    let (queue, generate) = ctx.durations(valid.quality);
    let booking = state.sellers.slots.book(
        Provider::Wavespeed,
        &ctx.key,
        state.sellers.wavespeed_concurrency,
        now,
        now + queue,
        generate,
    );
    let task = Task {
        provider: Provider::Wavespeed,
        id: state.next_id(Provider::Wavespeed),
        api_key: ctx.key.clone(),
        created: now,
        created_wall: OffsetDateTime::now_utc(),
        queue: booking.start.saturating_duration_since(now),
        generate,
        failure: failure.map(|f| match f {
            PromptFailure::ContentPolicy => CONTENT_POLICY.to_string(),
            PromptFailure::ServerError => SERVER_ERROR.to_string(),
        }),
        request,
        prompt: valid.prompt,
        size: valid.size,
        quality: valid.quality,
        references: valid.references,
        unknown_status: ctx.dice.roll(Fault::UnknownStatus),
        polls: 0,
        cost: TASK_COST,
        refunded: false,
        more: TaskMore {
            images: 1,
            transparent: valid.transparent,
            server_error: failure == Some(PromptFailure::ServerError),
            webhook: webhook_url.clone(),
            inline_images: valid.base64,
            endpoint: model,
            seq: booking.seq,
            ..TaskMore::default()
        },
    };
    let id = task.id.clone();
    let end = task.end_at();
    let base = public_base(&state, &headers);
    if webhook_url.is_some() {
        let (id2, base2) = (id.clone(), base.clone());
        webhook::spawn_at(state.clone(), end, move |s| async move {
            hook(&s, &id2, &base2).await
        });
    }
    let answer = if valid.sync {
        None
    } else {
        Some(task_data(&state, &base, &task, now, false).await)
    };
    state.tasks.insert(task);
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    if let Some(data) = answer {
        return ctx.send_success(Answering::Create, success(data)).await;
    }
    // Sync mode: wait for the end, or for the gateway to give up.
    let limit = now + state.sellers.wavespeed_sync_timeout;
    if end > limit {
        tokio::time::sleep_until(tokio::time::Instant::from_std(limit)).await;
        state
            .ledger
            .record_status(Provider::Wavespeed, &ctx.key, 504);
        return (
            StatusCode::GATEWAY_TIMEOUT,
            [(header::CONTENT_TYPE, "text/html")],
            GATEWAY_TIMEOUT_PAGE,
        )
            .into_response();
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    state.settle_task(Provider::Wavespeed, &id);
    let Some(task) = state.tasks.with(Provider::Wavespeed, &id, |t| t.clone()) else {
        return ctx.send(internal_error());
    };
    let data = task_data(&state, &base, &task, Instant::now().max(end), false).await;
    ctx.send_success(Answering::Create, success(data)).await
}

/// Image `index` of `task` (drawn as [`Task::image_spec`] says): its file
/// URL, or bare base64 with `enable_base64_output`. The one place this
/// module gets images.
async fn image(state: &AppState, base: &str, task: &Task, index: usize) -> Value {
    let spec = task.image_spec(index);
    if task.more.inline_images {
        json!(&*state.images.get(spec).await.b64())
    } else {
        json!(format!("{base}{}", spec.file_path()))
    }
}

/// The task object at `now`.
async fn task_data(
    state: &AppState,
    base: &str,
    task: &Task,
    now: Instant,
    unknown: bool,
) -> Value {
    let outcome = task.outcome_at(now);
    let status = match outcome {
        _ if unknown => "pending",
        Outcome::Pending(Phase::Queued) => "created",
        Outcome::Pending(_) => "processing",
        Outcome::Succeeded => "completed",
        Outcome::Failed | Outcome::Canceled { .. } => "failed",
    };
    let mut outputs = Vec::new();
    if outcome == Outcome::Succeeded && !unknown {
        for i in 0..task.images() as usize {
            outputs.push(image(state, base, task, i).await);
        }
    }
    let error = match (outcome, &task.failure) {
        (Outcome::Failed, Some(m)) if !unknown => m.clone(),
        _ => String::new(),
    };
    let inference = if outcome.is_terminal() && !unknown {
        task.inference_ms()
    } else {
        0
    };
    json!({
        "id": task.id,
        "model": task.more.endpoint,
        "outputs": outputs,
        "urls": { "get": format!("{base}{}/api/v3/predictions/{}/result", super::WAVESPEED_PREFIX, task.id) },
        "has_nsfw_contents": vec![false; outputs.len()],
        "status": status,
        "created_at": rfc3339_millis(task.created_wall),
        "error": error,
        "timings": { "inference": inference },
    })
}

/// Schedules the webhook a restored task is still due (see
/// [`super::rearm`]).
pub(crate) fn rearm(state: &Arc<AppState>, task: &Task) {
    if task.more.webhook.is_none() || task.more.notified {
        return;
    }
    let (id, base) = (task.id.clone(), state.base_url.clone());
    webhook::spawn_at(state.clone(), task.end_at(), move |s| async move {
        hook(&s, &id, &base).await
    });
}

/// The webhook of task `id` at its end.
async fn hook(state: &Arc<AppState>, id: &str, base: &str) -> Option<Hook> {
    let task = state.tasks.with(Provider::Wavespeed, id, |t| {
        if t.more.notified {
            return None;
        }
        t.more.notified = true;
        Some(t.clone())
    })??;
    state.settle_task(Provider::Wavespeed, id);
    let at = Instant::now().max(task.end_at());
    let mut body = task_data(state, base, &task, at, false).await;
    body["input"] = task.request.clone();
    if task.outcome_at(at) != Outcome::Succeeded
        && let Some(o) = body.as_object_mut()
    {
        o.remove("outputs");
    }
    Some(Hook {
        provider: Provider::Wavespeed,
        key: task.api_key.clone(),
        url: task.more.webhook.clone()?,
        id: task.id.clone(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// `GET /api/v3/predictions/{id}/result` and `GET /api/v3/predictions/{id}`.
pub(crate) async fn result(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    state.ledger.record_poll(Provider::Wavespeed, &ctx.key);
    if ctx.dice.roll(Fault::Status500) {
        return ctx.send(internal_error());
    }
    let Some(task) = state.look(Provider::Wavespeed, &id, &ctx.key) else {
        return ctx.send(error(404, format!("Task '{id}' not found.")));
    };
    let unknown = task.unknown_status && task.polls == 1;
    let base = public_base(&state, &headers);
    let data = task_data(&state, &base, &task, Instant::now(), unknown).await;
    ctx.send_success(Answering::Status, success(data)).await
}

/// `GET /api/v3/webhook/secret`.
pub(crate) async fn secret(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    ctx.send(success(json!({ "secret": state.sellers.wavespeed_secret })))
}

/// A 404 / 405 under `/wavespeed`.
pub(crate) fn no_route(status: StatusCode) -> Reply {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        error(405, "Method not allowed")
    } else {
        error(404, "Not found")
    }
}
