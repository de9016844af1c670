//! Replicate's predictions API for `openai/gpt-image-1.5` under
//! `/replicate/v1` (standing for `https://api.replicate.com/v1`), read from
//! `replicate.md`.
//!
//! | route | answer |
//! |---|---|
//! | `POST /models/openai/gpt-image-1.5/predictions` | 201, the prediction (`{"input": {...}, "webhook"?, "webhook_events_filter"?}`) |
//! | `POST /predictions` | the same, with `"version": "openai/gpt-image-1.5"` (or `openai/gpt-image-1.5:<version id>`) |
//! | `GET /predictions/{id}` | 200, the prediction |
//! | `POST /predictions/{id}/cancel` | 200, the prediction (canceled, or unchanged when already finished) |
//! | `GET /webhooks/default/secret` | `{"key": "whsec_..."}` |
//!
//! Auth: `Authorization: Bearer <key>` (also `Token <key>`, Replicate's
//! older scheme). Errors are problem details `{"title", "detail", "status"}`
//! (content type `application/json`): no key 401 `You did not pass an
//! authentication token`, wrong key 401 `You did not pass a valid
//! authentication token` (Replicate's own words), out of credits
//! (`sim-key-no-credits`) 402 `Insufficient credit`, unknown prediction 404,
//! input validation 422 `{"title": "Input validation failed", "detail": "-
//! input.quality: ...\n", "status": 422, "invalid_fields": [{"type",
//! "field", "description"}]}`, an unknown `version` 422 `Invalid version`,
//! a bad `Prefer` or `Cancel-After` header 400. The 429 is the docs' exact
//! body `{"detail": "Request was throttled. Your rate limit resets in
//! ~Ns."}`; decision: N is the whole seconds left in the window, and the
//! same N goes in a `Retry-After` header (the docs do not mention one; both
//! official clients honour it).
//!
//! The prediction: `{"id", "model", "version": "hidden", "input", "logs",
//! "output", "data_removed", "error", "status", "created_at",
//! "started_at"?, "completed_at"?, "urls": {"get", "cancel", "web"},
//! "metrics"?}`. `output` is an array of image URLs (`number_of_images` of
//! them, in `output_format`, `webp` by default) once `succeeded`:
//! `/files/replicate/{id}/{index}.{ext}`, each image showing the prompt,
//! `replicate`, the prediction id, size, quality (`auto` drawn as
//! `medium`), `image i of n` and the `input_images` count. Statuses:
//! `starting` (queued), `processing`, then `succeeded`, `failed` (HTTP 200
//! with an `error` string: a model failure is not an HTTP error),
//! `canceled` (by a cancel, or a `Cancel-After` deadline passing after the
//! start) or `aborted` (the deadline passed before the start).
//!
//! `Prefer: wait` holds the create up to 60 s, `Prefer: wait=N` up to N s
//! (1-60), both capped by [`crate::SimConfig::replicate_max_wait`] (1 s in
//! the fast profile): if the prediction ends within it, the answer is the
//! finished prediction; else it is `starting` or `processing`, to be polled
//! at `urls.get`, also given in a `Location` header (on every create).
//! `Cancel-After` takes Go-style durations (`90s`, `1m`, `1h30m`, `500ms`;
//! a bare number is seconds), up to a year (decision; more is a 400).
//!
//! Decisions where the docs are silent:
//! - 1 credit per image, taken at create. `failed` and `aborted` are
//!   refunded; `canceled` is charged (the docs: for public models only
//!   `canceled`, not `aborted`, is charged).
//! - Limits per key: 600 creates and 3000 other requests per minute, fixed
//!   windows (see [`crate::config`]).
//! - Unknown `input` fields are ignored (as Replicate does); `openai_api_key`
//!   is accepted and changes nothing. A transparent background with `jpeg`
//!   is not refused at create: the prediction fails, like the model would.
//! - A content-policy refusal (magic prompt `sim:content-policy`, fault
//!   `generation_failure`) fails with `The input or output was flagged as
//!   sensitive. Please try again with different inputs. (E005)`; the magic
//!   prompt `sim:server-error` fails with `Prediction interrupted; please
//!   retry (code: PA)`.
//! - An hour after it ends a prediction's `input` and `output` are removed
//!   (`data_removed: true`), as the docs say of API predictions.
//! - Webhooks (http or https URL): the prediction object, signed
//!   Standard-Webhooks style (see [`super::webhook`]). `start` is sent when
//!   generation starts; one POST is sent at the end when the filter has
//!   `completed`, or `output` and the prediction succeeded; the default
//!   filter is `output` + `completed`; `logs` never fires (no logs).
//!   Cancelled and aborted predictions send `completed` at once.
//! - Faults: `burst_429` the throttled body with `Retry-After: 1`;
//!   `create_500` / `status_500` 500 `{"title": "Internal Server Error",
//!   "detail": "...", "status": 500}`; `unknown_status` shows `queued` at the
//!   first poll; `malformed_status_json` cuts `GET /predictions/{id}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::webhook::{self, Hook};
use crate::Provider;
use crate::config::QualityLevel;
use crate::faults::{Fault, drop_connection, mix};
use crate::images::{ImageFormat, ImageSize, file_path};
use crate::ledger::Charge;
use crate::magic::{self, PromptFailure};
use crate::ratelimit::{RateLimiter, Verdict, retry_after_secs};
use crate::state::{Answering, AppState, Auth, Ctx, Reply, body_hash, public_base, rfc3339_millis};
use crate::tasks::{Outcome, Phase, Task, TaskMore};

/// The model, as `owner/name`.
pub const MODEL: &str = "openai/gpt-image-1.5";

/// Credits per image.
pub const IMAGE_COST: u64 = 1;

/// Longest `Prefer: wait`, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

const SENSITIVE: &str =
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)";
const INTERRUPTED: &str = "Prediction interrupted; please retry (code: PA)";
const RETENTION: Duration = Duration::from_secs(3600);
/// Longest `Cancel-After` accepted (decision: a year; longer is refused).
const MAX_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

const EVENT_START: u8 = 1;
const EVENT_OUTPUT: u8 = 2;
const EVENT_LOGS: u8 = 4;
const EVENT_COMPLETED: u8 = 8;

fn problem(status: StatusCode, title: &str, detail: impl Into<String>) -> Reply {
    Reply::new(
        status,
        json!({ "title": title, "detail": detail.into(), "status": status.as_u16() }),
    )
}

fn throttled(secs: u64) -> Reply {
    Reply::new(
        StatusCode::TOO_MANY_REQUESTS,
        json!({ "detail": format!("Request was throttled. Your rate limit resets in ~{secs}s.") }),
    )
    .header("retry-after", secs)
}

/// The key of `Authorization: Bearer <key>` or `Token <key>`.
fn replicate_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = v.split_once(' ')?;
    let key = key.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !key.is_empty()).then(|| key.to_string())
}

/// Auth, the rate limit of `limiter`, and 429 bursts.
// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap, creates: bool) -> Result<Ctx, Response> {
    let ctx = match state.begin_key(Provider::Replicate, replicate_key(headers)) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(problem(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "You did not pass an authentication token",
            )
            .into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(problem(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "You did not pass a valid authentication token",
            )
            .into_response(false));
        }
    };
    let limiter: &RateLimiter = if creates {
        &state.sellers.replicate_creates
    } else {
        &state.sellers.replicate_others
    };
    if let Verdict::Limited(left) = limiter.check(&ctx.key, None) {
        return Err(ctx.send(throttled(retry_after_secs(left))));
    }
    if ctx.in_burst() {
        return Err(ctx.send(throttled(1)));
    }
    Ok(ctx)
}

fn internal_error() -> Reply {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "An unexpected error occurred. Please try again.",
    )
}

/// A 422 listing `(field, type, description)`.
fn invalid(fields: Vec<(String, &str, String)>) -> Reply {
    let detail: String = fields
        .iter()
        .map(|(f, _, d)| format!("- {f}: {d}\n"))
        .collect();
    let invalid_fields: Vec<Value> = fields
        .iter()
        .map(|(f, t, d)| json!({ "type": t, "field": f, "description": d }))
        .collect();
    Reply::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "title": "Input validation failed",
            "detail": detail,
            "status": 422,
            "invalid_fields": invalid_fields,
        }),
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Valid {
    input: Value,
    prompt: String,
    size: ImageSize,
    quality: QualityLevel,
    images: u32,
    format: ImageFormat,
    transparent: bool,
    references: usize,
    webhook: Option<String>,
    events: u8,
}

struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<(String, &'static str, String)>,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(&mut self, name: &str, expected: &str, got: &Value) {
        self.errors.push((
            format!("input.{name}"),
            "invalid_type",
            format!(
                "Invalid type. Expected: {expected}, given: {}",
                json_type(got)
            ),
        ));
    }

    fn choice(&mut self, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let v = self.get(name)?.clone();
        if let Value::String(s) = &v
            && let Some(a) = allowed.iter().find(|a| **a == s)
        {
            return Some(a);
        }
        if !v.is_string() {
            self.wrong_type(name, "string", &v);
            return None;
        }
        let list: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        self.errors.push((
            format!("input.{name}"),
            "enum",
            format!("{name} must be one of the following: {}", list.join(", ")),
        ));
        None
    }

    fn integer(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(name)?.clone();
        let Some(n) = v.as_i64() else {
            self.wrong_type(name, "integer", &v);
            return None;
        };
        if n < min {
            self.errors.push((
                format!("input.{name}"),
                "number_gte",
                format!("Must be greater than or equal to {min}"),
            ));
            return None;
        }
        if n > max {
            self.errors.push((
                format!("input.{name}"),
                "number_lte",
                format!("Must be less than or equal to {max}"),
            ));
            return None;
        }
        Some(n)
    }

    fn string(&mut self, name: &str) -> Option<String> {
        let v = self.get(name)?.clone();
        match v {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(name, "string", &other);
                None
            }
        }
    }
}

/// Checks a create body; `version` says whether `version` is required.
fn validate(body: &[u8], version: bool) -> Result<Valid, Reply> {
    let not_json = || {
        problem(
            StatusCode::BAD_REQUEST,
            "Invalid JSON",
            "The request body must be a JSON object.",
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| not_json())?;
    let Some(obj) = v.as_object() else {
        return Err(not_json());
    };
    if version {
        match obj.get("version") {
            Some(Value::String(s))
                if s == MODEL
                    || s.strip_prefix(MODEL)
                        .and_then(|r| r.strip_prefix(':'))
                        .is_some_and(|id| !id.is_empty()) => {}
            None | Some(Value::Null) => {
                return Err(invalid(vec![(
                    "version".into(),
                    "required",
                    "version is required".into(),
                )]));
            }
            Some(_) => {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid version",
                    "Invalid version or not permitted",
                ));
            }
        }
    }
    let input = match obj.get("input") {
        Some(Value::Object(i)) => i,
        None | Some(Value::Null) => {
            return Err(invalid(vec![(
                "input".into(),
                "required",
                "input is required".into(),
            )]));
        }
        Some(other) => {
            return Err(invalid(vec![(
                "input".into(),
                "invalid_type",
                format!(
                    "Invalid type. Expected: object, given: {}",
                    json_type(other)
                ),
            )]));
        }
    };
    let mut f = Fields {
        obj: input,
        errors: Vec::new(),
    };
    let prompt = match f.get("prompt").cloned() {
        None => {
            f.errors.push((
                "input.prompt".into(),
                "required",
                "prompt is required".into(),
            ));
            None
        }
        Some(Value::String(p)) if p.is_empty() => {
            f.errors.push((
                "input.prompt".into(),
                "string_gte",
                "String length must be greater than or equal to 1".into(),
            ));
            None
        }
        Some(Value::String(p)) => Some(p),
        Some(other) => {
            f.wrong_type("prompt", "string", &other);
            None
        }
    };
    let size = match f.choice("aspect_ratio", &["1:1", "3:2", "2:3"]) {
        Some("3:2") => ImageSize::Landscape,
        Some("2:3") => ImageSize::Portrait,
        _ => ImageSize::Square,
    };
    let quality = match f.choice("quality", &["low", "medium", "high", "auto"]) {
        Some("low") => QualityLevel::Low,
        Some("high") => QualityLevel::High,
        _ => QualityLevel::Medium,
    };
    let background = f.choice("background", &["auto", "transparent", "opaque"]);
    f.choice("moderation", &["auto", "low"]);
    let format = match f.choice("output_format", &["png", "jpeg", "webp"]) {
        Some("png") => ImageFormat::Png,
        Some("jpeg") => ImageFormat::Jpeg,
        _ => ImageFormat::Webp,
    };
    f.integer("output_compression", 0, 100);
    let mut references = 0;
    match f.get("input_images").cloned() {
        None => {}
        Some(Value::Array(a)) => {
            references = a.len();
            for (i, u) in a.iter().enumerate() {
                if !u.is_string() {
                    f.errors.push((
                        format!("input.input_images.{i}"),
                        "invalid_type",
                        format!("Invalid type. Expected: string, given: {}", json_type(u)),
                    ));
                }
            }
        }
        Some(other) => f.wrong_type("input_images", "array", &other),
    }
    let images = f.integer("number_of_images", 1, 10).unwrap_or(1) as u32;
    f.choice("input_fidelity", &["low", "high"]);
    f.string("user_id");
    f.string("openai_api_key");
    let mut errors = f.errors;
    let webhook = match obj.get("webhook") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.clone())
        }
        Some(_) => {
            errors.push((
                "webhook".into(),
                "format",
                "Does not match format 'uri'".into(),
            ));
            None
        }
    };
    let mut events = 0u8;
    match obj.get("webhook_events_filter") {
        None | Some(Value::Null) => events = EVENT_OUTPUT | EVENT_COMPLETED,
        Some(Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                match e.as_str() {
                    Some("start") => events |= EVENT_START,
                    Some("output") => events |= EVENT_OUTPUT,
                    Some("logs") => events |= EVENT_LOGS,
                    Some("completed") => events |= EVENT_COMPLETED,
                    _ => errors.push((
                        format!("webhook_events_filter.{i}"),
                        "enum",
                        "webhook_events_filter.{i} must be one of the following: \"start\", \"output\", \"logs\", \"completed\"".replace("{i}", &i.to_string()),
                    )),
                }
            }
        }
        Some(other) => errors.push((
            "webhook_events_filter".into(),
            "invalid_type",
            format!("Invalid type. Expected: array, given: {}", json_type(other)),
        )),
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(Valid {
        input: Value::Object(input.clone()),
        prompt: prompt.unwrap_or_default(),
        size,
        quality,
        images,
        format,
        transparent: background == Some("transparent"),
        references,
        webhook,
        events,
    })
}

/// How long `Prefer` asks to hold the create, if at all.
fn prefer_wait(headers: &HeaderMap) -> Result<Option<Duration>, Reply> {
    let Some(v) = headers.get("prefer") else {
        return Ok(None);
    };
    let bad = || {
        problem(
            StatusCode::BAD_REQUEST,
            "Invalid Prefer header",
            format!("Prefer: wait=N takes a whole number of seconds from 1 to {MAX_WAIT_SECS}."),
        )
    };
    let v = v.to_str().map_err(|_| bad())?;
    for token in v.split([',', ';']).map(str::trim) {
        if token.eq_ignore_ascii_case("wait") {
            return Ok(Some(Duration::from_secs(MAX_WAIT_SECS)));
        }
        if let Some(n) = token
            .split_once('=')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("wait"))
            .map(|(_, n)| n.trim())
        {
            return match n.parse::<u64>() {
                Ok(n) if (1..=MAX_WAIT_SECS).contains(&n) => Ok(Some(Duration::from_secs(n))),
                _ => Err(bad()),
            };
        }
    }
    Ok(None)
}

/// Parses a Go-style duration: `90s`, `1m`, `1h30m`, `500ms`, `1.5h`; a bare
/// number is seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d <= MAX_DEADLINE);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| *d <= MAX_DEADLINE)
}

fn cancel_after(headers: &HeaderMap) -> Result<Option<Duration>, Reply> {
    let Some(v) = headers.get("cancel-after") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(parse_duration)
        .map(Some)
        .ok_or_else(|| {
            problem(
                StatusCode::BAD_REQUEST,
                "Invalid Cancel-After header",
                "Cancel-After takes a duration such as 30s, 5m or 1h30m.",
            )
        })
}

/// `POST /models/openai/gpt-image-1.5/predictions`.
pub(crate) async fn create_for_model(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_inner(state, headers, body, false).await
}

/// `POST /predictions`.
pub(crate) async fn create(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_inner(state, headers, body, true).await
}

async fn create_inner(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
    version: bool,
) -> Response {
    let ctx = match gate(&state, &headers, true) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if ctx.dice.roll(Fault::Create500) {
        return ctx.send(internal_error());
    }
    if ctx.dice.roll(Fault::DropBeforeAccept) {
        drop_connection();
    }
    let wait = match prefer_wait(&headers) {
        Ok(w) => w,
        Err(r) => return ctx.send(r),
    };
    let deadline = match cancel_after(&headers) {
        Ok(d) => d,
        Err(r) => return ctx.send(r),
    };
    let valid = match validate(&body, version) {
        Ok(v) => v,
        Err(r) => return ctx.send(r),
    };
    let hash = body_hash(&json!({ "input": valid.input, "webhook": valid.webhook }));
    let cost = u64::from(valid.images) * IMAGE_COST;
    if let Charge::Insufficient { .. } =
        state
            .ledger
            .accept_create(Provider::Replicate, &ctx.key, hash, cost, true)
    {
        return ctx.send(problem(
            StatusCode::PAYMENT_REQUIRED,
            "Insufficient credit",
            "You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing to purchase credit. Once you purchase credit, please wait a few minutes before trying again.",
        ));
    }
    let failure = if ctx.dice.roll(Fault::GenerationFailure) {
        Some((SENSITIVE, false))
    } else if valid.transparent && valid.format == ImageFormat::Jpeg {
        Some((
            "Invalid request: a transparent background is not supported for the 'jpeg' output format.",
            false,
        ))
    } else {
        match magic::prompt_failure(&valid.prompt) {
            Some(PromptFailure::ContentPolicy) => Some((SENSITIVE, false)),
            Some(PromptFailure::ServerError) => Some((INTERRUPTED, true)),
            None => None,
        }
    };
    let now = Instant::now();
    let (queue, generate) = ctx.durations(valid.quality);
    let task = Task {
        provider: Provider::Replicate,
        id: state.next_id(Provider::Replicate),
        api_key: ctx.key.clone(),
        created: now,
        created_wall: OffsetDateTime::now_utc(),
        queue,
        generate,
        failure: failure.map(|(m, _)| m.to_string()),
        request: valid.input,
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
            server_error: failure.is_some_and(|(_, server)| server),
            deadline: deadline.map(|d| now + d),
            webhook: valid.webhook.clone(),
            events: valid.events,
            ..TaskMore::default()
        },
    };
    let id = task.id.clone();
    let base = public_base(&state, &headers);
    if valid.webhook.is_some() {
        if valid.events & EVENT_START != 0 && task.stop().is_none_or(|(t, _)| t > task.start_at()) {
            let (id2, base2) = (id.clone(), base.clone());
            webhook::spawn_at(state.clone(), task.start_at(), move |s| async move {
                hook(&s, &id2, &base2, "start")
            });
        }
        let (id2, base2) = (id.clone(), base.clone());
        webhook::spawn_at(state.clone(), task.end_at(), move |s| async move {
            hook(&s, &id2, &base2, "completed")
        });
    }
    state.tasks.insert(task);
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    if let Some(wait) = wait {
        let hold_until = now + wait.min(state.sellers.replicate_max_wait);
        // Re-read the end at each step: a cancel can bring it forward.
        while let Some(end) = state.tasks.with(Provider::Replicate, &id, |t| t.end_at()) {
            let now = Instant::now();
            if now >= end || now >= hold_until {
                break;
            }
            let next = end.min(hold_until).min(now + Duration::from_millis(50));
            tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
        }
    }
    let Some(task) = state.tasks.with(Provider::Replicate, &id, |t| t.clone()) else {
        return ctx.send(internal_error());
    };
    state.settle_task(Provider::Replicate, &id);
    let body = prediction(&base, &task, Instant::now(), false);
    let location = body["urls"]["get"].as_str().unwrap_or_default().to_string();
    ctx.send_success(
        Answering::Create,
        Reply::new(StatusCode::CREATED, body).header("location", location),
    )
    .await
}

/// Schedules the webhooks a restored prediction is still due (see
/// [`super::rearm`]): `start` if it has not started yet, and the last one.
pub(crate) fn rearm(state: &Arc<AppState>, task: &Task) {
    if task.more.webhook.is_none() || task.more.notified {
        return;
    }
    let base = state.base_url.clone();
    let start = task.start_at();
    if task.more.events & EVENT_START != 0
        && start > Instant::now()
        && task.stop().is_none_or(|(t, _)| t > start)
    {
        let (id, base) = (task.id.clone(), base.clone());
        webhook::spawn_at(state.clone(), start, move |s| async move {
            hook(&s, &id, &base, "start")
        });
    }
    let id = task.id.clone();
    webhook::spawn_at(state.clone(), task.end_at(), move |s| async move {
        hook(&s, &id, &base, "completed")
    });
}

/// The webhook of `event` for prediction `id`, unless not due.
fn hook(state: &AppState, id: &str, base: &str, event: &str) -> Option<Hook> {
    let now = Instant::now();
    let task = state.tasks.with(Provider::Replicate, id, |t| {
        let outcome = t.outcome_at(now.max(t.end_at()));
        if event == "start" {
            return (!matches!(outcome, Outcome::Canceled { started: false, .. })
                && t.start_at() <= now)
                .then(|| t.clone());
        }
        let wanted = t.more.events & EVENT_COMPLETED != 0
            || (t.more.events & EVENT_OUTPUT != 0 && outcome == Outcome::Succeeded);
        if t.more.notified || !wanted {
            return None;
        }
        t.more.notified = true;
        Some(t.clone())
    })??;
    let at = if event == "start" {
        now
    } else {
        now.max(task.end_at())
    };
    let body = prediction(base, &task, at, false);
    let h = task
        .id
        .bytes()
        .chain(event.bytes())
        .fold(0u64, |h, b| mix(h ^ u64::from(b)));
    Some(Hook {
        provider: Provider::Replicate,
        key: task.api_key.clone(),
        url: task.more.webhook.clone()?,
        id: format!("msg_{h:016x}"),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Image `index` of `task`: its download URL, where the file route draws it
/// from the task (see [`Task::image_spec`]). The one place this module gets
/// images.
fn image(base: &str, task: &Task, index: usize) -> Value {
    let path = file_path(task.provider.name(), &task.id, index, task.format());
    json!(format!("{base}{path}"))
}

/// The prediction object of `task` at `now`; `unknown` shows the
/// undocumented status.
fn prediction(base: &str, task: &Task, now: Instant, unknown: bool) -> Value {
    let outcome = task.outcome_at(now);
    let status = match outcome {
        _ if unknown => "queued",
        Outcome::Pending(Phase::Queued) => "starting",
        Outcome::Pending(_) => "processing",
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::Canceled {
            started: false,
            by_deadline: true,
        } => "aborted",
        Outcome::Canceled { .. } => "canceled",
    };
    let get = format!("{base}{}/predictions/{}", super::REPLICATE_PREFIX, task.id);
    let terminal = outcome.is_terminal() && !unknown;
    let removed = terminal && now.saturating_duration_since(task.end_at()) >= RETENTION;
    let output = if outcome == Outcome::Succeeded && !unknown && !removed {
        Value::Array(
            (0..task.images() as usize)
                .map(|i| image(base, task, i))
                .collect(),
        )
    } else {
        Value::Null
    };
    let error = match (outcome, &task.failure) {
        (Outcome::Failed, Some(m)) if !unknown => json!(m),
        _ => Value::Null,
    };
    let mut p = json!({
        "id": task.id,
        "model": MODEL,
        "version": "hidden",
        "input": if removed { json!({}) } else { task.request.clone() },
        "logs": "",
        "output": output,
        "data_removed": removed,
        "error": error,
        "status": status,
        "created_at": rfc3339_millis(task.created_wall),
        "urls": {
            "cancel": format!("{get}/cancel"),
            "get": get,
            "web": format!("https://replicate.com/p/{}", task.id),
        },
    });
    let started =
        task.start_at() <= now && !matches!(outcome, Outcome::Canceled { started: false, .. });
    if started && !unknown {
        p["started_at"] = json!(rfc3339_millis(task.created_wall + task.queue));
    }
    if terminal {
        p["completed_at"] = json!(rfc3339_millis(task.end_wall()));
        let total = task.end_at().saturating_duration_since(task.created);
        let mut metrics = json!({
            "predict_time": task.inference_ms() as f64 / 1000.0,
            "total_time": total.as_secs_f64(),
        });
        if outcome == Outcome::Succeeded {
            metrics["image_count"] = json!(task.images());
        }
        p["metrics"] = metrics;
    }
    p
}

fn not_found() -> Reply {
    problem(StatusCode::NOT_FOUND, "Not found", "Prediction not found.")
}

/// `GET /predictions/{id}`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match gate(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    state.ledger.record_poll(Provider::Replicate, &ctx.key);
    if ctx.dice.roll(Fault::Status500) {
        return ctx.send(internal_error());
    }
    let Some(task) = state.look(Provider::Replicate, &id, &ctx.key) else {
        return ctx.send(not_found());
    };
    let unknown = task.unknown_status && task.polls == 1;
    let body = prediction(
        &public_base(&state, &headers),
        &task,
        Instant::now(),
        unknown,
    );
    ctx.send_success(Answering::Status, Reply::ok(body)).await
}

/// `POST /predictions/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match gate(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let now = Instant::now();
    let found = state.tasks.with(Provider::Replicate, &id, |t| {
        if t.api_key != ctx.key {
            return None;
        }
        let stopped = !t.outcome_at(now).is_terminal();
        if stopped {
            t.more.canceled_at = Some(now);
        }
        Some(stopped)
    });
    let Some(Some(stopped)) = found else {
        return ctx.send(not_found());
    };
    let base = public_base(&state, &headers);
    if stopped {
        state.settle_task(Provider::Replicate, &id);
        let (id2, base2) = (id.clone(), base.clone());
        webhook::spawn_at(state.clone(), now, move |s| async move {
            hook(&s, &id2, &base2, "completed")
        });
    }
    let Some(task) = state.tasks.with(Provider::Replicate, &id, |t| t.clone()) else {
        return ctx.send(not_found());
    };
    ctx.send(Reply::ok(prediction(&base, &task, Instant::now(), false)))
}

/// `GET /webhooks/default/secret`.
pub(crate) async fn secret(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let ctx = match gate(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    ctx.send(Reply::ok(json!({ "key": state.sellers.replicate_secret })))
}

/// A 404 / 405 under `/replicate/v1`.
pub(crate) fn no_route(status: StatusCode) -> Reply {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        problem(status, "Method Not Allowed", "Method not allowed.")
    } else {
        problem(status, "Not found", "Not found.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let d = |s| parse_duration(s).map(|d| d.as_millis());
        assert_eq!(d("1m"), Some(60_000));
        assert_eq!(d("90s"), Some(90_000));
        assert_eq!(d("1h30m"), Some(5_400_000));
        assert_eq!(d("500ms"), Some(500));
        assert_eq!(d("1.5s"), Some(1_500));
        assert_eq!(d("2"), Some(2_000));
        assert_eq!(d("soon"), None);
        assert_eq!(d("5d"), None);
        assert_eq!(d("1e30"), None);
        assert_eq!(d("99999999h"), None);
        assert_eq!(d("-1"), None);
        assert_eq!(d(""), None);
    }
}
