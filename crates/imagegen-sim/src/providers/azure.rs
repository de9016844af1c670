//! Azure OpenAI's Images API for GPT-image-1.5 under `/azure` (standing for
//! `https://{resource}.openai.azure.com`), read from `azure-openai.md`.
//!
//! | route | body |
//! |---|---|
//! | `POST /azure/openai/deployments/{deployment}/images/generations?api-version=V` | JSON, as OpenAI's (`model` ignored: the URL's deployment decides) |
//! | `POST /azure/openai/deployments/{deployment}/images/edits?api-version=V` | multipart (`image[]` or `image`, `mask`, fields), or JSON with base64 `image` (the 04/2025 reference) |
//! | `POST /azure/openai/v1/images/generations` and `.../v1/images/edits` | the same; `model` names the deployment; `api-version` (query) or `api_version` (header) optional |
//!
//! Synchronous like OpenAI: the answer comes after the generation time,
//! `{"created", "data": [{"b64_json"}], "usage"}` (no `url`, no webp); each
//! image is drawn for the request like OpenAI's and shows `azure` and the
//! request id of the `apim-request-id` / `x-request-id` headers. The
//! parameters are OpenAI's (see [`super::openai_params`], shared) except
//! that `output_format: webp` is a 400 (`Supported values are: 'png' and
//! 'jpeg'`), as Azure's how-to says.
//!
//! Auth: `api-key: <key>` (header names are case-insensitive, so `Api-Key`
//! too), or `Authorization: Bearer <token>` as an Entra token, accepted when
//! the token is any accepted key; `api-key` wins when both are sent. Errors
//! are Azure's gateway shape `{"error": {"code", "message"}}` (validation
//! errors keep OpenAI's `{"error": {"message", "type", "param", "code"}}`):
//!
//! | case | answer |
//! |---|---|
//! | no key | 401 `code: "401"`, `Access denied due to missing subscription key...` |
//! | wrong `api-key` | 401 `code: "401"`, `Access denied due to invalid subscription key or wrong API endpoint...` |
//! | wrong Bearer token | 401 `code: "401"`, `Unauthorized. Access token is missing, invalid, audience is incorrect...` |
//! | `sim-key-ip-not-allowed` | 403 `code: "403"`, `Access denied due to Virtual Network/Firewall rules.` |
//! | `sim-key-no-credits` (or credits spent) | 403 `code: "403"`, `Out of call volume quota...` (decision: Azure bills a subscription, not credits) |
//! | no `api-version` | 404 `code: "404"`, `Resource not found` (decision, as Azure answers a URL it does not route) |
//! | a dated version older than `2025-04-01-preview` | 400 `BadRequest`, `Model {modelName} is enabled only for api versions 2025-04-01-preview and later` (Azure's words, placeholder included) |
//! | any other version string | 400 `BadRequest`, `API version not supported` |
//! | unknown deployment | 404 `DeploymentNotFound` |
//! | over the quota | 429 `code: "429"`, `Requests to the Images_Generations Operation under Azure OpenAI API version V have exceeded call rate limit...`, `Retry-After` (whole seconds), `retry-after-ms`, `x-ratelimit-remaining-requests: 0` |
//! | content filter | 400 `{"created", "error": {"code": "contentFilter", "message": "Your task failed as a result of our safety system.", "param": "prompt", "type": null, "inner_error": {"code": "ResponsibleAIPolicyViolation", "content_filter_results": {...}, "revised_prompt": null}}}` |
//!
//! Decisions:
//! - Supported `api-version`s: `YYYY-MM-DD-preview` dated `2025-04-01` or
//!   later (the docs use `2025-04-01-preview`, "or later"); no GA version
//!   is documented for gpt-image. On the v1 routes only `preview` and
//!   `latest` are accepted, and none is required.
//! - The quota is per key and deployment: 9 requests per minute
//!   (GPT-image-1.5's default), fixed window, every request to the
//!   deployment counted (see [`crate::SimConfig::azure_rate_limit`]).
//! - The content filter (magic prompt `sim:content-policy`, fault
//!   `generation_failure`) answers at once and charges nothing; the
//!   categories are `sexual` filtered with severity `high`, `hate`,
//!   `self_harm` and `violence` not filtered (`safe`), `jailbreak` and
//!   `profanity` not detected. The magic prompt `sim:server-error` answers
//!   500 `InternalServerError` after the generation time, not charged.
//! - 1 credit per image, like OpenAI. `apim-request-id` and `x-request-id`
//!   headers on every answer from the deployment.
//! - `moderation` (not mentioned by Azure) is accepted as OpenAI does.
//! - Faults: `burst_429` the quota 429 with `Retry-After: 1`; `create_500`
//!   500 `InternalServerError`; drops, slow and malformed answers as OpenAI.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

use super::openai::{check_edit_images, read_edit_form};
use super::openai_params::{Endpoint, Params, invalid, output_tokens, parse};
use crate::Provider;
use crate::faults::{Fault, drop_connection};
use crate::images::{ImageFormat, ImageSpec};
use crate::ledger::Charge;
use crate::magic::{self, PromptFailure};
use crate::ratelimit::{Verdict, retry_after_secs};
use crate::state::{Answering, AppState, Auth, Ctx, Reply, bearer, body_hash};

/// The oldest dated API version that serves GPT-image models.
pub const MIN_API_VERSION: &str = "2025-04-01-preview";

/// Input image tokens per edit image (as the OpenAI simulation).
const IMAGE_INPUT_TOKENS: u64 = 323;

/// `{"error": {"code", "message"}}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
    Reply::new(
        status,
        json!({ "error": { "code": code, "message": message.into() } }),
    )
}

/// Where the key came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    ApiKey,
    Entra,
}

fn azure_key(headers: &HeaderMap) -> Option<(String, Via)> {
    if let Some(k) = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Some((k.to_string(), Via::ApiKey));
    }
    bearer(headers).map(|k| (k, Via::Entra))
}

/// Checks `api-version`; `v1` routes accept only `preview` / `latest`, and none.
fn check_version(version: Option<&str>, v1: bool) -> Result<(), Reply> {
    let unsupported = || {
        error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "API version not supported",
        )
    };
    let Some(v) = version else {
        return if v1 {
            Ok(())
        } else {
            Err(error(StatusCode::NOT_FOUND, "404", "Resource not found"))
        };
    };
    if v1 {
        return if v == "preview" || v == "latest" {
            Ok(())
        } else {
            Err(unsupported())
        };
    }
    let (date, preview) = match v.strip_suffix("-preview") {
        Some(d) => (d, true),
        None => (v, false),
    };
    let b = date.as_bytes();
    let number = |r: std::ops::Range<usize>| date.get(r).and_then(|n| n.parse::<u32>().ok());
    let dated = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && number(5..7).is_some_and(|m| (1..=12).contains(&m))
        && number(8..10).is_some_and(|d| (1..=31).contains(&d));
    if !dated {
        return Err(unsupported());
    }
    let oldest = MIN_API_VERSION.trim_end_matches("-preview");
    if date < oldest {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "Model {{modelName}} is enabled only for api versions {MIN_API_VERSION} and later"
            ),
        ));
    }
    if preview { Ok(()) } else { Err(unsupported()) }
}

/// Auth and magic keys.
// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn authenticate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let found = azure_key(headers);
    let via = found.as_ref().map(|(_, v)| *v);
    let ctx = match state.begin_key(Provider::Azure, found.map(|(k, _)| k)) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
            )
            .into_response(false));
        }
        Err(Auth::Invalid(_)) if via == Some(Via::Entra) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.",
            )
            .into_response(false));
        }
        Err(Auth::Invalid(_)) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
            .into_response(false));
        }
    };
    if ctx.key == magic::IP_NOT_ALLOWED {
        return Err(ctx.send(error(
            StatusCode::FORBIDDEN,
            "403",
            "Access denied due to Virtual Network/Firewall rules.",
        )));
    }
    Ok(ctx)
}

fn quota_exceeded(operation: &str, version: &str, secs: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "429",
        format!(
            "Requests to the {operation} Operation under Azure OpenAI API version {version} have exceeded call rate limit of your current AIServices S0 pricing tier. Please retry after {secs} second{}. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
            if secs == 1 { "" } else { "s" }
        ),
    )
    .header("retry-after", secs)
    .header("retry-after-ms", secs * 1000)
    .header("x-ratelimit-remaining-requests", 0)
}

fn internal_error() -> Reply {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "The server had an error while processing your request. Sorry about that!",
    )
}

/// Deployment, quota, bursts, `create_500` and `drop_before_accept`.
// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn admit(
    state: &Arc<AppState>,
    ctx: &Ctx,
    deployment: &str,
    operation: &str,
    version: &str,
) -> Result<(), Response> {
    if !state
        .sellers
        .azure_deployments
        .iter()
        .any(|d| d == deployment)
    {
        return Err(ctx.send(error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        )));
    }
    let bucket = format!("{}\u{0}{deployment}", ctx.key);
    if let Verdict::Limited(left) = state.sellers.azure_limiter.check(&bucket, None) {
        return Err(ctx.send(quota_exceeded(operation, version, retry_after_secs(left))));
    }
    if ctx.in_burst() {
        return Err(ctx.send(quota_exceeded(operation, version, 1)));
    }
    if ctx.dice.roll(Fault::Create500) {
        return Err(ctx.send(internal_error()));
    }
    if ctx.dice.roll(Fault::DropBeforeAccept) {
        drop_connection();
    }
    Ok(())
}

/// Azure refuses webp.
fn no_webp(params: &Params) -> Result<(), Reply> {
    if params.format == ImageFormat::Webp {
        return Err(invalid(
            "Invalid value: 'webp'. Supported values are: 'png' and 'jpeg'. WEBP images aren't supported in Azure OpenAI.",
            Some("output_format"),
            Some("invalid_value"),
        ));
    }
    Ok(())
}

fn version_of(query: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    query.get("api-version").cloned().or_else(|| {
        headers
            .get("api_version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    })
}

fn parse_json(body: &[u8]) -> Result<Value, Reply> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        invalid(
            "We could not parse the JSON body of your request. The API expects a JSON payload.",
            None,
            None,
        )
    })?;
    if !v.is_object() {
        return Err(invalid("Invalid body: expected a JSON object.", None, None));
    }
    Ok(v)
}

/// `model` of a v1 body (the deployment); `model` is ignored on deployment routes.
fn take_model(map: &mut Map<String, Value>, v1: bool) -> Result<Option<String>, Reply> {
    let model = map.remove("model");
    if !v1 {
        return Ok(None);
    }
    match model {
        Some(Value::String(m)) if !m.is_empty() => Ok(Some(m)),
        _ => Err(invalid(
            "Missing required parameter: 'model'.",
            Some("model"),
            Some("missing_required_parameter"),
        )),
    }
}

/// `POST /openai/deployments/{deployment}/images/generations`.
pub(crate) async fn generations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    generations_inner(state, headers, Some(deployment), query, body).await
}

/// `POST /openai/v1/images/generations`.
pub(crate) async fn v1_generations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    generations_inner(state, headers, None, query, body).await
}

async fn generations_inner(
    state: Arc<AppState>,
    headers: HeaderMap,
    deployment: Option<String>,
    query: HashMap<String, String>,
    body: Bytes,
) -> Response {
    const OPERATION: &str = "Images_Generations";
    let ctx = match authenticate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v1 = deployment.is_none();
    let version = version_of(&query, &headers);
    if let Err(r) = check_version(version.as_deref(), v1) {
        return ctx.send(r);
    }
    let version = version.unwrap_or_else(|| "v1".to_string());
    if let Some(d) = &deployment
        && let Err(r) = admit(&state, &ctx, d, OPERATION, &version)
    {
        return r;
    }
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return ctx.send(r),
    };
    let mut map = v.as_object().cloned().unwrap_or_default();
    let deployment = match take_model(&mut map, v1) {
        Ok(Some(m)) => {
            if let Err(r) = admit(&state, &ctx, &m, OPERATION, &version) {
                return r;
            }
            m
        }
        Ok(None) => deployment.unwrap_or_default(),
        Err(r) => return ctx.send(r),
    };
    let params = match parse(&map, false, Endpoint::Generations).and_then(|p| {
        no_webp(&p)?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(r) => return ctx.send(r),
    };
    let hash = body_hash(&json!({ "deployment": deployment, "body": map }));
    generate(ctx, params, hash, 0).await
}

/// `POST /openai/deployments/{deployment}/images/edits`.
pub(crate) async fn edits(
    State(state): State<Arc<AppState>>,
    Path(deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    edits_inner(state, Some(deployment), query, request).await
}

/// `POST /openai/v1/images/edits`.
pub(crate) async fn v1_edits(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    edits_inner(state, None, query, request).await
}

/// An edit's fields, images and mask, from multipart or JSON.
struct Edit {
    fields: Map<String, Value>,
    images: Vec<Bytes>,
    mask: Option<Bytes>,
    hash: u64,
    form: bool,
}

fn decode_image(v: &Value) -> Option<Bytes> {
    let s = v.as_str()?;
    let b64 = s.split_once("base64,").map_or(s, |(_, b)| b);
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .map(Bytes::from)
}

/// A JSON edit (the 04/2025 reference): `image` a base64 string (or data
/// URL) or an array of them, `mask` likewise.
fn json_edit(body: &[u8]) -> Result<Edit, Reply> {
    let v = parse_json(body)?;
    let mut fields = v.as_object().cloned().unwrap_or_default();
    let bad = |param: &str| {
        invalid(
            format!("Invalid '{param}': expected a base64-encoded image."),
            Some(param),
            Some("invalid_image_file"),
        )
    };
    let images = match fields.get("image").cloned() {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(decode_image)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("image"))?,
        Some(one) => vec![decode_image(&one).ok_or_else(|| bad("image"))?],
    };
    let mask = match fields.get("mask").cloned() {
        None | Some(Value::Null) => None,
        Some(m) => Some(decode_image(&m).ok_or_else(|| bad("mask"))?),
    };
    let hash = body_hash(&v);
    for name in ["image", "mask"] {
        if fields.contains_key(name) {
            fields.insert(name.to_string(), Value::Null);
        }
    }
    Ok(Edit {
        fields,
        images,
        mask,
        hash,
        form: false,
    })
}

async fn edits_inner(
    state: Arc<AppState>,
    deployment: Option<String>,
    query: HashMap<String, String>,
    request: Request,
) -> Response {
    const OPERATION: &str = "Images_Edits";
    let headers = request.headers().clone();
    let ctx = match authenticate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v1 = deployment.is_none();
    let version = version_of(&query, &headers);
    if let Err(r) = check_version(version.as_deref(), v1) {
        return ctx.send(r);
    }
    let version = version.unwrap_or_else(|| "v1".to_string());
    if let Some(d) = &deployment
        && let Err(r) = admit(&state, &ctx, d, OPERATION, &version)
    {
        return r;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let mut edit = if is_json {
        let body = match Bytes::from_request(request, &()).await {
            Ok(b) => b,
            Err(_) => return ctx.send(invalid("Could not read the request body.", None, None)),
        };
        match json_edit(&body) {
            Ok(e) => e,
            Err(r) => return ctx.send(r),
        }
    } else {
        match read_edit_form(&ctx, request).await {
            Ok(f) => Edit {
                fields: f.fields,
                images: f.images,
                mask: f.mask,
                hash: f.hash,
                form: true,
            },
            Err(r) => return r,
        }
    };
    let deployment = match take_model(&mut edit.fields, v1) {
        Ok(Some(m)) => {
            if let Err(r) = admit(&state, &ctx, &m, OPERATION, &version) {
                return r;
            }
            m
        }
        Ok(None) => deployment.unwrap_or_default(),
        Err(r) => return ctx.send(r),
    };
    let params = match parse(&edit.fields, edit.form, Endpoint::Edits).and_then(|p| {
        no_webp(&p)?;
        check_edit_images(&edit.images, edit.mask.as_ref())?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(r) => return ctx.send(r),
    };
    let hash = body_hash(&json!({ "deployment": deployment, "hash": edit.hash }));
    generate(ctx, params, hash, edit.images.len() as u64).await
}

fn content_filtered() -> Reply {
    let not = json!({ "filtered": false, "severity": "safe" });
    Reply::new(
        StatusCode::BAD_REQUEST,
        json!({
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "error": {
                "code": "contentFilter",
                "message": "Your task failed as a result of our safety system.",
                "param": "prompt",
                "type": null,
                "inner_error": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_results": {
                        "hate": not,
                        "jailbreak": { "detected": false, "filtered": false },
                        "profanity": { "detected": false, "filtered": false },
                        "self_harm": not,
                        "sexual": { "filtered": true, "severity": "high" },
                        "violence": not,
                    },
                    "revised_prompt": null,
                },
            },
        }),
    )
}

/// Image `index` of a generation of `input_images` references, as base64:
/// rendered anew like OpenAI's (the request id is the task id it shows).
/// The one place this module gets images.
async fn image(
    state: &AppState,
    params: &Params,
    request_id: &str,
    index: usize,
    input_images: u64,
) -> Value {
    let n = params.n as usize;
    let spec = ImageSpec::new(
        Provider::Azure.name(),
        request_id,
        &params.prompt,
        params.size,
    )
    .quality(params.quality_label)
    .index(index, n)
    .references(input_images as usize)
    .format(params.format)
    .transparent(params.transparent);
    let img = state.images.render(spec).await;
    json!({ "b64_json": &*img.b64() })
}

/// Charges, waits the generation time, and answers the images.
async fn generate(ctx: Ctx, params: Params, hash: u64, input_images: u64) -> Response {
    let state = ctx.state.clone();
    let cost = u64::from(params.n);
    let failure = if ctx.dice.roll(Fault::GenerationFailure) {
        Some(PromptFailure::ContentPolicy)
    } else {
        magic::prompt_failure(&params.prompt)
    };
    let request_id = state.next_id(Provider::Azure);
    let out_of_quota = || {
        error(
            StatusCode::FORBIDDEN,
            "403",
            "Out of call volume quota for AIServices S0 pricing tier. Please retry after 30 days. To increase your call volume switch to a paid tier.",
        )
        .header("apim-request-id", &request_id)
    };
    // A refusal is not charged, but a key that cannot pay is refused first.
    if state.ledger.credits_left(Provider::Azure, &ctx.key) < cost {
        return ctx.send(out_of_quota());
    }
    if let Charge::Insufficient { .. } =
        state
            .ledger
            .accept_create(Provider::Azure, &ctx.key, hash, cost, failure.is_none())
    {
        return ctx.send(out_of_quota());
    }
    if failure == Some(PromptFailure::ContentPolicy) {
        return ctx.send(content_filtered().header("apim-request-id", &request_id));
    }
    let (queue, gen_time) = ctx.durations(params.quality);
    let wait = queue + gen_time;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if failure == Some(PromptFailure::ServerError) {
        return ctx.send(internal_error().header("apim-request-id", &request_id));
    }
    let data = futures::future::join_all(
        (0..params.n as usize).map(|i| image(&state, &params, &request_id, i, input_images)),
    )
    .await;
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    let text_tokens = (params.prompt.chars().count() as u64).div_ceil(4);
    let image_tokens = input_images * IMAGE_INPUT_TOKENS;
    let out_tokens = output_tokens(params.quality, params.size) * cost;
    let body = json!({
        "created": time::OffsetDateTime::now_utc().unix_timestamp(),
        "data": data,
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": { "image_tokens": image_tokens, "text_tokens": text_tokens },
            "output_tokens": out_tokens,
            "total_tokens": text_tokens + image_tokens + out_tokens,
        },
    });
    ctx.send_success(
        Answering::Create,
        Reply::ok(body)
            .header("apim-request-id", &request_id)
            .header("x-request-id", &request_id),
    )
    .await
}

/// A 404 / 405 under `/azure`.
pub(crate) fn no_route(status: StatusCode) -> Reply {
    if status == StatusCode::METHOD_NOT_ALLOWED {
        error(status, "405", "Method not allowed")
    } else {
        error(status, "404", "Resource not found")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        let ok = |v: Option<&str>, v1| check_version(v, v1).is_ok();
        let code = |v: Option<&str>| check_version(v, false).err().map(|r| r.status.as_u16());
        assert!(ok(Some("2025-04-01-preview"), false));
        assert!(ok(Some("2026-01-15-preview"), false));
        assert_eq!(code(None), Some(404));
        assert_eq!(code(Some("2024-10-21")), Some(400));
        assert_eq!(code(Some("2024-12-01-preview")), Some(400));
        assert_eq!(code(Some("2025-06-01")), Some(400));
        assert_eq!(code(Some("banana")), Some(400));
        assert_eq!(code(Some("2025-13-01-preview")), Some(400));
        assert!(ok(None, true));
        assert!(ok(Some("preview"), true));
        assert!(!ok(Some("2025-04-01-preview"), true));
    }
}
