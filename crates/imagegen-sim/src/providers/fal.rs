//! fal.ai's queue for GPT Image 1.5 under `/fal` (standing for
//! `https://queue.fal.run`), read from `fal.md`.
//!
//! | route | answer |
//! |---|---|
//! | `POST /fal/fal-ai/gpt-image-1.5[?fal_webhook=URL]` | submit text-to-image: 200 `{"status": "IN_QUEUE", "request_id", "response_url", "status_url", "cancel_url", "queue_position"}` (+ `gateway_request_id` with a webhook) |
//! | `POST /fal/fal-ai/gpt-image-1.5/edit[?fal_webhook=URL]` | submit an edit, same answer |
//! | `GET /fal/fal-ai/gpt-image-1.5/requests/{id}/status[?logs=1]` | 202 `IN_QUEUE` (+ `queue_position`) / `IN_PROGRESS`, 200 `COMPLETED` (+ `metrics.inference_time`) |
//! | `GET /fal/fal-ai/gpt-image-1.5/requests/{id}` | the result: the model's answer, success or error |
//! | `PUT /fal/fal-ai/gpt-image-1.5/requests/{id}/cancel` | 202 `{"status": "CANCELLATION_REQUESTED"}`, 400 `ALREADY_COMPLETED`, 404 `NOT_FOUND` |
//! | `GET /fal-rest/.well-known/jwks.json` | the webhook public key as a JWKS (`https://rest.fal.ai/.well-known/jwks.json`) |
//!
//! The three URLs in a submit answer are absolute, on the sim, and name only
//! `fal-ai/gpt-image-1.5` (the subpath rule): an edit is polled without
//! `/edit`, and `.../gpt-image-1.5/edit/requests/{id}/status` answers 404.
//!
//! Auth is `Authorization: Key <key>` (the whole `<key>`, `id:secret` or
//! not, must be an accepted key). No key (or another scheme): 401
//! `{"detail": "Authentication is required to access this application."}`
//! (decision); a wrong key: 401 `{"detail": "No user found for Key ID and
//! Secret"}`; out of credits (`sim-key-no-credits`): 403 `{"detail": "User is
//! locked. Reason: Exhausted balance. Top up your balance at
//! fal.ai/dashboard/billing."}` (the shape fal answers, as its users report).
//!
//! Validation is strict, in pydantic's shape, at 422 `{"detail": [{"loc":
//! ["body", field], "msg", "type", "input", "ctx"?}]}`, every error of the
//! body at once: `missing`, `string_type`, `string_too_short` (empty
//! prompt), `literal_error` (`ctx.expected`), `int_type`,
//! `greater_than_equal` / `less_than_equal` (`num_images` 1-4, edit too),
//! `bool_type`, `list_type`, `too_short` (empty `image_urls`),
//! `extra_forbidden` (a field the model does not have, e.g. OpenAI's `size`
//! or `n`), `value_error` (transparent background with `jpeg`);
//! `json_invalid` and `model_attributes_type` for a body that is not a JSON
//! object. Decisions: JSON `null` counts as absent; numbers and booleans
//! must have their JSON type (no `"2"`); the edit's `auto` size answers
//! 1024x1024 (the sim never downloads `image_urls`).
//!
//! Decisions where fal's pages are silent:
//! - 1 credit per image (`num_images`), taken at submit. Refunded when the
//!   run ends in a 5xx ("5xx are not billed") or when the request is
//!   cancelled while still `IN_QUEUE` (it never ran); a cancel while
//!   `IN_PROGRESS`, and a 422 content-policy refusal, stay charged.
//! - Limit: per key, at most [`crate::SimConfig::fal_concurrency`] requests
//!   (2, a new account's limit) are `IN_PROGRESS`; the others wait `IN_QUEUE`
//!   first come first served, with `queue_position` = the key's requests
//!   ahead still waiting; none is rejected (see `concurrency.rs`).
//! - `COMPLETED` does not mean success: a failed run's status also carries
//!   `error` and `error_type` (as fal's Python client reads them), and its
//!   result is the model's error: 422 `content_policy_violation` (magic
//!   prompt `sim:content-policy` or the `generation_failure` fault), or 500
//!   `{"detail": "Internal Server Error", "error_type":
//!   "internal_server_error"}` with `X-Fal-Error-Type` (magic prompt
//!   `sim:server-error`). A result asked for before the end: 400 `{"detail":
//!   "Request is still in progress"}`. A cancelled request is `COMPLETED`
//!   and its result is 400 `{"detail": "Request was cancelled", "error_type":
//!   "request_cancelled"}`. The cancel answer `OK` is never used.
//! - A successful result: `{"images": [{"url", "content_type", "file_name",
//!   "file_size", "width", "height"}]}` with header `x-fal-request-id`;
//!   `url` is the sim's file URL `/files/fal/{request_id}/{index}.{ext}`
//!   (`file_name` is `{index}.{ext}`), or, when `sync_mode` is true, a
//!   `data:` URI of the same bytes. The image shows the prompt, `fal`, the
//!   request id, size, quality, `image i of n` and the `image_urls` count
//!   (see [`crate::images`]).
//! - Webhook (`?fal_webhook=URL`, http or https): when the request ends
//!   (or is cancelled), `{"request_id", "gateway_request_id" (= request_id:
//!   the sim makes one attempt), "status": "OK", "payload": <result>}` or
//!   `{"status": "ERROR", "error": "Invalid status code: 422", "payload":
//!   <error body>}`, signed with ED25519 (see [`super::webhook`]).
//! - Unknown request id, or another key's: 404 `{"detail": "Request not
//!   found"}`; an unknown route under `/fal`: 404 `{"detail": "Not Found"}`.
//! - Faults: `burst_429` 429 `{"detail": "Too Many Requests", "error_type":
//!   "rate_limited"}` with `Retry-After: 1`; `create_500` / `status_500`
//!   (status and result polls) 500 `{"detail": "Internal Server Error"}`;
//!   `unknown_status` shows `STARTING` (HTTP 202) at the first status poll;
//!   `malformed_status_json` cuts status and result answers.
//! - Not simulated: `X-Fal-Request-Timeout`, `fal_max_queue_length`,
//!   priorities, `status/stream`, the direct `fal.run` host.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::webhook::{self, Hook};
use crate::Provider;
use crate::config::QualityLevel;
use crate::faults::{Fault, drop_connection};
use crate::images::{ImageFormat, ImageSize};
use crate::ledger::Charge;
use crate::magic::{self, PromptFailure};
use crate::state::{Answering, AppState, Auth, Ctx, Reply, body_hash, public_base};
use crate::tasks::{Outcome, Phase, Task, TaskMore};

/// The model id (submit path, and the only one in status/result URLs).
pub const MODEL: &str = "fal-ai/gpt-image-1.5";

/// Credits per image.
pub const IMAGE_COST: u64 = 1;

/// Most images per request.
pub const MAX_IMAGES: i64 = 4;

pub(crate) const EDIT: &str = "fal-ai/gpt-image-1.5/edit";

const CONTENT_POLICY_MESSAGE: &str = "The content could not be processed because it contained material flagged by a content checker.";

fn detail(status: StatusCode, message: &str) -> Reply {
    Reply::new(status, json!({ "detail": message }))
}

/// The key of `Authorization: Key <key>`.
fn fal_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = v.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("key") && !key.is_empty()).then(|| key.to_string())
}

// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = match state.begin_key(Provider::Fal, fal_key(headers)) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(detail(
                StatusCode::UNAUTHORIZED,
                "Authentication is required to access this application.",
            )
            .into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(detail(
                StatusCode::UNAUTHORIZED,
                "No user found for Key ID and Secret",
            )
            .into_response(false));
        }
    };
    if ctx.in_burst() {
        return Err(ctx.send(
            Reply::new(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "detail": "Too Many Requests", "error_type": "rate_limited" }),
            )
            .header("retry-after", 1)
            .header("x-fal-error-type", "rate_limited"),
        ));
    }
    Ok(ctx)
}

fn internal_error() -> Reply {
    detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn locked() -> Reply {
    detail(
        StatusCode::FORBIDDEN,
        "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
    )
}

/// One pydantic-style error item.
fn item(field: &[Value], msg: impl Into<String>, kind: &str, input: &Value) -> Value {
    let mut loc = vec![json!("body")];
    loc.extend_from_slice(field);
    json!({ "loc": loc, "msg": msg.into(), "type": kind, "input": input })
}

fn with_ctx(mut v: Value, ctx: Value) -> Value {
    v["ctx"] = ctx;
    v
}

fn quoted_choices(values: &[&str]) -> String {
    let q: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
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
    images: u32,
    format: ImageFormat,
    transparent: bool,
    sync: bool,
    references: usize,
}

const T2I_FIELDS: [&str; 7] = [
    "prompt",
    "image_size",
    "quality",
    "background",
    "num_images",
    "output_format",
    "sync_mode",
];
const EDIT_FIELDS: [&str; 3] = ["image_urls", "input_fidelity", "mask_image_url"];

struct Checker<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<Value>,
}

impl Checker<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn choice(&mut self, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let v = self.get(name)?.clone();
        match &v {
            Value::String(s) => {
                if let Some(a) = allowed.iter().find(|a| **a == s) {
                    return Some(a);
                }
                let expected = quoted_choices(allowed);
                self.errors.push(with_ctx(
                    item(
                        &[json!(name)],
                        format!("Input should be {expected}"),
                        "literal_error",
                        &v,
                    ),
                    json!({ "expected": expected }),
                ));
            }
            _ => self.errors.push(item(
                &[json!(name)],
                "Input should be a valid string",
                "string_type",
                &v,
            )),
        }
        None
    }

    fn string(&mut self, name: &str) -> Option<String> {
        let v = self.get(name)?.clone();
        match v {
            Value::String(s) => Some(s),
            other => {
                self.errors.push(item(
                    &[json!(name)],
                    "Input should be a valid string",
                    "string_type",
                    &other,
                ));
                None
            }
        }
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        let v = self.get(name)?.clone();
        match v {
            Value::Bool(b) => Some(b),
            other => {
                self.errors.push(item(
                    &[json!(name)],
                    "Input should be a valid boolean",
                    "bool_type",
                    &other,
                ));
                None
            }
        }
    }

    fn integer(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(name)?.clone();
        let Some(n) = v.as_i64() else {
            self.errors.push(item(
                &[json!(name)],
                "Input should be a valid integer",
                "int_type",
                &v,
            ));
            return None;
        };
        if n < min {
            self.errors.push(with_ctx(
                item(
                    &[json!(name)],
                    format!("Input should be greater than or equal to {min}"),
                    "greater_than_equal",
                    &v,
                ),
                json!({ "ge": min }),
            ));
            return None;
        }
        if n > max {
            self.errors.push(with_ctx(
                item(
                    &[json!(name)],
                    format!("Input should be less than or equal to {max}"),
                    "less_than_equal",
                    &v,
                ),
                json!({ "le": max }),
            ));
            return None;
        }
        Some(n)
    }
}

fn validation(errors: Vec<Value>) -> Reply {
    Reply::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "detail": errors }),
    )
}

fn validate(body: &[u8], endpoint: Endpoint) -> Result<Valid, Reply> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        validation(vec![with_ctx(
            json!({ "loc": ["body", e.column()], "msg": "JSON decode error", "type": "json_invalid", "input": {} }),
            json!({ "error": e.to_string() }),
        )])
    })?;
    let Some(obj) = v.as_object() else {
        return Err(validation(vec![json!({
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "type": "model_attributes_type",
            "input": v,
        })]));
    };
    let mut c = Checker {
        obj,
        errors: Vec::new(),
    };
    let prompt = match c.get("prompt").cloned() {
        None => {
            c.errors
                .push(item(&[json!("prompt")], "Field required", "missing", &v));
            None
        }
        Some(Value::String(p)) if p.is_empty() => {
            c.errors.push(with_ctx(
                item(
                    &[json!("prompt")],
                    "String should have at least 1 character",
                    "string_too_short",
                    &json!(p),
                ),
                json!({ "min_length": 1 }),
            ));
            None
        }
        Some(Value::String(p)) => Some(p),
        Some(other) => {
            c.errors.push(item(
                &[json!("prompt")],
                "Input should be a valid string",
                "string_type",
                &other,
            ));
            None
        }
    };
    let sizes: &[&'static str] = match endpoint {
        Endpoint::TextToImage => &["1024x1024", "1536x1024", "1024x1536"],
        Endpoint::Edit => &["auto", "1024x1024", "1536x1024", "1024x1536"],
    };
    let size = c
        .choice("image_size", sizes)
        .and_then(ImageSize::from_wxh)
        .unwrap_or(ImageSize::Square);
    let quality = match c.choice("quality", &["low", "medium", "high"]) {
        Some("low") => QualityLevel::Low,
        Some("medium") => QualityLevel::Medium,
        _ => QualityLevel::High,
    };
    let background = c.choice("background", &["auto", "transparent", "opaque"]);
    let images = c.integer("num_images", 1, MAX_IMAGES).unwrap_or(1) as u32;
    let format = match c.choice("output_format", &["jpeg", "png", "webp"]) {
        Some("jpeg") => ImageFormat::Jpeg,
        Some("webp") => ImageFormat::Webp,
        _ => ImageFormat::Png,
    };
    let transparent = background == Some("transparent");
    if transparent && format == ImageFormat::Jpeg {
        c.errors.push(with_ctx(
            item(
                &[json!("background")],
                "Value error, a transparent background needs output_format 'png' or 'webp'",
                "value_error",
                &json!("transparent"),
            ),
            json!({ "error": {} }),
        ));
    }
    let sync = c.boolean("sync_mode").unwrap_or(false);
    let mut references = 0;
    if endpoint == Endpoint::Edit {
        match c.get("image_urls").cloned() {
            None => c.errors.push(item(
                &[json!("image_urls")],
                "Field required",
                "missing",
                &v,
            )),
            Some(Value::Array(a)) if a.is_empty() => c.errors.push(with_ctx(
                item(
                    &[json!("image_urls")],
                    "List should have at least 1 item after validation, not 0",
                    "too_short",
                    &json!([]),
                ),
                json!({ "field_type": "List", "min_length": 1, "actual_length": 0 }),
            )),
            Some(Value::Array(a)) => {
                references = a.len();
                for (i, u) in a.iter().enumerate() {
                    if !u.is_string() {
                        c.errors.push(item(
                            &[json!("image_urls"), json!(i)],
                            "Input should be a valid string",
                            "string_type",
                            u,
                        ));
                    }
                }
            }
            Some(other) => c.errors.push(item(
                &[json!("image_urls")],
                "Input should be a valid list",
                "list_type",
                &other,
            )),
        }
        c.choice("input_fidelity", &["low", "high"]);
        c.string("mask_image_url");
    }
    // Like pydantic, extra fields are reported after the model's own.
    for (name, value) in obj {
        let known = T2I_FIELDS.contains(&name.as_str())
            || (endpoint == Endpoint::Edit && EDIT_FIELDS.contains(&name.as_str()));
        if !known {
            c.errors.push(item(
                &[json!(name)],
                "Extra inputs are not permitted",
                "extra_forbidden",
                value,
            ));
        }
    }
    if !c.errors.is_empty() {
        return Err(validation(c.errors));
    }
    Ok(Valid {
        prompt: prompt.unwrap_or_default(),
        size,
        quality,
        images,
        format,
        transparent,
        sync,
        references,
    })
}

/// `POST /fal/fal-ai/gpt-image-1.5`.
pub(crate) async fn submit_text(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    submit(state, headers, query, body, Endpoint::TextToImage).await
}

/// `POST /fal/fal-ai/gpt-image-1.5/edit`.
pub(crate) async fn submit_edit(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    submit(state, headers, query, body, Endpoint::Edit).await
}

fn urls(base: &str, id: &str) -> (String, String, String) {
    let response = format!("{base}{}/{MODEL}/requests/{id}", super::FAL_PREFIX);
    (
        response.clone(),
        format!("{response}/status"),
        format!("{response}/cancel"),
    )
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
    let webhook_url = match query.get("fal_webhook") {
        None => None,
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.clone()),
        Some(u) => {
            return ctx.send(validation(vec![item(
                &[],
                "fal_webhook must be an http(s) URL",
                "value_error",
                &json!(u),
            )]));
        }
    };
    let valid = match validate(&body, endpoint) {
        Ok(v) => v,
        Err(r) => return ctx.send(r),
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let hash = body_hash(&json!({ "endpoint": endpoint == Endpoint::Edit, "input": parsed }));
    let cost = u64::from(valid.images) * IMAGE_COST;
    if let Charge::Insufficient { .. } =
        state
            .ledger
            .accept_create(Provider::Fal, &ctx.key, hash, cost, true)
    {
        return ctx.send(locked());
    }
    let failure = if ctx.dice.roll(Fault::GenerationFailure) {
        Some(PromptFailure::ContentPolicy)
    } else {
        magic::prompt_failure(&valid.prompt)
    };
    let now = Instant::now();
    let (queue, generate) = ctx.durations(valid.quality);
    let booking = state.sellers.slots.book(
        Provider::Fal,
        &ctx.key,
        state.sellers.fal_concurrency,
        now,
        now + queue,
        generate,
    );
    let task = Task {
        provider: Provider::Fal,
        id: state.next_id(Provider::Fal),
        api_key: ctx.key.clone(),
        created: now,
        created_wall: OffsetDateTime::now_utc(),
        queue: booking.start.saturating_duration_since(now),
        generate,
        failure: failure.map(|f| match f {
            PromptFailure::ContentPolicy => CONTENT_POLICY_MESSAGE.to_string(),
            PromptFailure::ServerError => "Internal Server Error".to_string(),
        }),
        request: parsed,
        prompt: valid.prompt,
        size: valid.size,
        quality: valid.quality,
        references: valid.references,
        unknown_status: ctx.dice.roll(Fault::UnknownStatus),
        polls: 0,
        cost,
        refunded: false,
        more: TaskMore {
            images: valid.images,
            format: Some(valid.format),
            transparent: valid.transparent,
            server_error: failure == Some(PromptFailure::ServerError),
            webhook: webhook_url.clone(),
            inline_images: valid.sync,
            endpoint: if endpoint == Endpoint::Edit {
                EDIT
            } else {
                MODEL
            },
            seq: booking.seq,
            ..TaskMore::default()
        },
    };
    let id = task.id.clone();
    let base = public_base(&state, &headers);
    if webhook_url.is_some() {
        let (id2, base2) = (id.clone(), base.clone());
        webhook::spawn_at(state.clone(), task.done_at(), move |s| async move {
            end_hook(&s, &id2, &base2).await
        });
    }
    state.tasks.insert(task);
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    let (response_url, status_url, cancel_url) = urls(&base, &id);
    let mut answer = json!({
        "status": "IN_QUEUE",
        "request_id": id,
        "response_url": response_url,
        "status_url": status_url,
        "cancel_url": cancel_url,
        "queue_position": booking.ahead,
    });
    if webhook_url.is_some() {
        answer["gateway_request_id"] = json!(id);
    }
    ctx.send_success(Answering::Create, Reply::ok(answer)).await
}

/// Schedules the webhook a restored request is still due (see
/// [`super::rearm`]).
pub(crate) fn rearm(state: &Arc<AppState>, task: &Task) {
    if task.more.webhook.is_none() || task.more.notified {
        return;
    }
    let (id, base) = (task.id.clone(), state.base_url.clone());
    webhook::spawn_at(state.clone(), task.end_at(), move |s| async move {
        end_hook(&s, &id, &base).await
    });
}

/// The webhook of request `id` at its end, unless already sent.
async fn end_hook(state: &Arc<AppState>, id: &str, base: &str) -> Option<Hook> {
    let task = state.tasks.with(Provider::Fal, id, |t| {
        if t.more.notified {
            return None;
        }
        t.more.notified = true;
        Some(t.clone())
    })??;
    let url = task.more.webhook.clone()?;
    let outcome = task.outcome_at(Instant::now().max(task.end_at()));
    let result = result_reply(state, base, &task, outcome).await;
    let ok = result.status.is_success();
    let mut body = json!({
        "request_id": task.id,
        "gateway_request_id": task.id,
        "status": if ok { "OK" } else { "ERROR" },
        "payload": result.body,
    });
    if !ok {
        body["error"] = json!(format!("Invalid status code: {}", result.status.as_u16()));
    }
    Some(Hook {
        provider: Provider::Fal,
        key: task.api_key.clone(),
        url,
        id: task.id.clone(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Image `index` of `task` (drawn as [`Task::image_spec`] says): its file
/// URL ([`ImageSpec::file_path`]), or a `data:` URI in sync mode. The one
/// place this module gets images.
///
/// [`ImageSpec::file_path`]: crate::images::ImageSpec::file_path
async fn image(state: &AppState, base: &str, task: &Task, index: usize) -> Value {
    let spec = task.image_spec(index);
    let path = spec.file_path();
    let format = spec.format;
    // Cached: the size given here is the size of the file downloaded later.
    let img = state.images.get(spec).await;
    let url = if task.more.inline_images {
        format!("data:{};base64,{}", format.content_type(), img.b64())
    } else {
        format!("{base}{path}")
    };
    let (w, h) = task.size.dims();
    json!({
        "url": url,
        "content_type": format.content_type(),
        "file_name": path.rsplit('/').next().unwrap_or_default(),
        "file_size": img.bytes.len(),
        "width": w,
        "height": h,
    })
}

/// The result of a finished request (or the "still in progress" error).
async fn result_reply(state: &AppState, base: &str, task: &Task, outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Pending(_) => detail(StatusCode::BAD_REQUEST, "Request is still in progress"),
        Outcome::Succeeded => {
            let images = futures::future::join_all(
                (0..task.images() as usize).map(|i| image(state, base, task, i)),
            )
            .await;
            Reply::ok(json!({ "images": images }))
        }
        Outcome::Failed if task.more.server_error => Reply::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "detail": "Internal Server Error", "error_type": "internal_server_error" }),
        )
        .header("x-fal-error-type", "internal_server_error"),
        Outcome::Failed => Reply::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": [{
                "loc": ["body", "prompt"],
                "msg": CONTENT_POLICY_MESSAGE,
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
                "ctx": { "extra_info": { "categories": ["sexual"] } },
                "input": task.prompt,
            }] }),
        ),
        Outcome::Canceled { .. } => Reply::new(
            StatusCode::BAD_REQUEST,
            json!({ "detail": "Request was cancelled", "error_type": "request_cancelled" }),
        )
        .header("x-fal-error-type", "request_cancelled"),
    }
}

fn not_found() -> Reply {
    detail(StatusCode::NOT_FOUND, "Request not found")
}

/// Auth, poll count, `status_500`, and the task.
// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn poll(state: &Arc<AppState>, headers: &HeaderMap, id: &str) -> Result<(Ctx, Task), Response> {
    let ctx = gate(state, headers)?;
    state.ledger.record_poll(Provider::Fal, &ctx.key);
    if ctx.dice.roll(Fault::Status500) {
        return Err(ctx.send(internal_error()));
    }
    match state.look(Provider::Fal, id, &ctx.key) {
        Some(task) => Ok((ctx, task)),
        None => Err(ctx.send(not_found())),
    }
}

/// `GET .../requests/{id}/status`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (ctx, task) = match poll(&state, &headers, &id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = Instant::now();
    let outcome = task.outcome_at(now);
    let base = public_base(&state, &headers);
    let (response_url, status_url, cancel_url) = urls(&base, &task.id);
    let logs = if query.get("logs").is_some_and(|l| l == "1" || l == "true") {
        json!([])
    } else {
        Value::Null
    };
    let unknown = task.unknown_status && task.polls == 1;
    let status = match outcome {
        _ if unknown => "STARTING",
        Outcome::Pending(Phase::Queued) => "IN_QUEUE",
        Outcome::Pending(_) => "IN_PROGRESS",
        _ => "COMPLETED",
    };
    let mut body = json!({
        "status": status,
        "request_id": task.id,
        "response_url": response_url,
        "status_url": status_url,
        "cancel_url": cancel_url,
    });
    let mut code = StatusCode::ACCEPTED;
    match (status, outcome) {
        ("IN_QUEUE", _) => {
            body["queue_position"] = json!(state.sellers.slots.position(
                Provider::Fal,
                &task.api_key,
                task.more.seq,
                now
            ));
        }
        ("IN_PROGRESS" | "STARTING", _) => body["logs"] = logs,
        (_, outcome) => {
            code = StatusCode::OK;
            body["logs"] = logs;
            body["metrics"] = json!({ "inference_time": task.inference_ms() as f64 / 1000.0 });
            let error = match outcome {
                Outcome::Failed if task.more.server_error => {
                    Some(("Internal Server Error", "internal_server_error"))
                }
                Outcome::Failed => Some((CONTENT_POLICY_MESSAGE, "content_policy_violation")),
                Outcome::Canceled { .. } => Some(("Request was cancelled", "request_cancelled")),
                _ => None,
            };
            if let Some((message, kind)) = error {
                body["error"] = json!(message);
                body["error_type"] = json!(kind);
            }
        }
    }
    ctx.send_success(Answering::Status, Reply::new(code, body))
        .await
}

/// `GET .../requests/{id}`.
pub(crate) async fn result(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (ctx, task) = match poll(&state, &headers, &id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let base = public_base(&state, &headers);
    let reply = result_reply(&state, &base, &task, task.outcome_at(Instant::now()))
        .await
        .header("x-fal-request-id", &task.id);
    if reply.status.is_success() {
        ctx.send_success(Answering::Status, reply).await
    } else {
        ctx.send(reply)
    }
}

/// `PUT .../requests/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let now = Instant::now();
    let done = state.tasks.with(Provider::Fal, &id, |t| {
        if t.api_key != ctx.key {
            return None;
        }
        if t.outcome_at(now).is_terminal() {
            return Some(None);
        }
        let end = t.end_at();
        t.more.canceled_at = Some(now);
        Some(Some((end, t.more.seq, t.more.webhook.is_some())))
    });
    let Some(Some(found)) = done else {
        return ctx.send(Reply::new(
            StatusCode::NOT_FOUND,
            json!({ "status": "NOT_FOUND" }),
        ));
    };
    let Some((end, seq, hook)) = found else {
        return ctx.send(Reply::new(
            StatusCode::BAD_REQUEST,
            json!({ "status": "ALREADY_COMPLETED" }),
        ));
    };
    state
        .sellers
        .slots
        .release(Provider::Fal, &ctx.key, seq, end, now);
    // A request cancelled in the queue is refunded now.
    state.settle_task(Provider::Fal, &id);
    if hook {
        let base = public_base(&state, &headers);
        let id2 = id.clone();
        webhook::spawn_at(state.clone(), now, move |s| async move {
            end_hook(&s, &id2, &base).await
        });
    }
    ctx.send(Reply::new(
        StatusCode::ACCEPTED,
        json!({ "status": "CANCELLATION_REQUESTED" }),
    ))
}

/// `GET /fal-rest/.well-known/jwks.json`: the webhook key as a JWKS.
pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let key = state.sellers.fal_signing.verifying_key();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());
    Reply::ok(json!({ "keys": [{
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": "imagegen-sim",
        "x": x,
    }] }))
    .into_response(false)
}

/// A 404 under `/fal`.
pub(crate) fn no_route(status: StatusCode) -> Reply {
    let msg = if status == StatusCode::METHOD_NOT_ALLOWED {
        "Method Not Allowed"
    } else {
        "Not Found"
    };
    detail(status, msg)
}
