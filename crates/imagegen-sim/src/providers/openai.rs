//! OpenAI Images API: `POST /images/generations` (JSON) and
//! `POST /images/edits` (multipart) under `/openai/v1`.
//!
//! Synchronous, like the real API: the answer comes after the task's queue
//! and generation time, with `n` images as `b64_json` in the asked format.
//!
//! Decisions: each image costs 1 credit, taken when the request is accepted
//! (before the wait); out of credits answers 429 `insufficient_quota`. A
//! `generation_failure` fault answers 400 `moderation_blocked` (type
//! `image_generation_user_error`) at once and charges nothing. Edits answer
//! at the requested size (`auto` → 1024x1024) whatever the input images are;
//! each input image adds 323 input image tokens to `usage`; text tokens are
//! the prompt's characters / 4, rounded up. Input images must be PNG, JPEG
//! or WebP (checked by magic bytes), the mask PNG.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::openai_params::{Endpoint, Params, invalid, output_tokens, parse};
use crate::Provider;
use crate::faults::{Fault, drop_connection};
use crate::images::{ImageFormat, ImageSpec};
use crate::ledger::Charge;
use crate::state::{Answering, AppState, Auth, Ctx, Reply, body_hash};

/// Most input images of an edit.
pub const MAX_EDIT_IMAGES: usize = 16;

/// Input image tokens per edit image (decision).
const IMAGE_INPUT_TOKENS: u64 = 323;

fn api_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Reply {
    Reply::new(
        status,
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
    )
}

fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

// The rejection is built once per request; boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn gate(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = match state.begin(Provider::Openai, headers) {
        Ok(c) => c,
        Err(Auth::Missing) => {
            return Err(api_error(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
            )
            .into_response(false));
        }
        Err(Auth::Invalid(key)) => {
            return Err(api_error(
                StatusCode::UNAUTHORIZED,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    mask_key(&key)
                ),
                "invalid_request_error",
                Some("invalid_api_key"),
            )
            .into_response(false));
        }
    };
    if ctx.in_burst() {
        return Err(ctx.send(
            api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for gpt-image-1.5 in organization org-sim on images per minute (IPM): Limit 5, Used 5, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                Some("rate_limit_exceeded"),
            )
            .header("retry-after", 1)
            .header("retry-after-ms", 1000)
            .header("x-ratelimit-limit-requests", 5)
            .header("x-ratelimit-remaining-requests", 0)
            .header("x-ratelimit-reset-requests", "1s"),
        ));
    }
    if ctx.dice.roll(Fault::Create500) {
        return Err(ctx.send(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )));
    }
    if ctx.dice.roll(Fault::DropBeforeAccept) {
        drop_connection();
    }
    Ok(ctx)
}

/// `POST /images/generations`.
pub(crate) async fn generations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return ctx.send(invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
                None,
                None,
            ));
        }
    };
    let Some(map) = v.as_object() else {
        return ctx.send(invalid("Invalid body: expected a JSON object.", None, None));
    };
    let params = match parse(map, false, Endpoint::Generations) {
        Ok(p) => p,
        Err(r) => return ctx.send(r),
    };
    generate(ctx, params, body_hash(&v), 0).await
}

pub(crate) fn image_kind_ok(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
}

/// The parts of an edit's multipart form.
pub(crate) struct EditForm {
    /// Text fields as strings; `image`, `image[]` and `mask` as `null`.
    pub fields: Map<String, Value>,
    pub images: Vec<Bytes>,
    pub mask: Option<Bytes>,
    /// Hash of every part, for duplicate detection.
    pub hash: u64,
}

/// Reads an edit's multipart form (400 `invalid_request_error` when it is not one).
pub(crate) async fn read_edit_form(ctx: &Ctx, request: Request) -> Result<EditForm, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut multipart = match Multipart::from_request(request, &()).await {
        Ok(m) => m,
        Err(_) => {
            return Err(ctx.send(invalid(
                format!(
                    "Invalid Content-Type header ({content_type}), expected multipart/form-data."
                ),
                None,
                None,
            )));
        }
    };
    let mut fields = Map::new();
    let mut images: Vec<Bytes> = Vec::new();
    let mut mask: Option<Bytes> = None;
    let mut parts: Vec<(String, Bytes)> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(ctx.send(invalid(
                    format!("Could not parse multipart form: {e}"),
                    None,
                    None,
                )));
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let data = match field.bytes().await {
            Ok(d) => d,
            Err(e) => {
                return Err(ctx.send(invalid(
                    format!("Could not parse multipart form: {e}"),
                    None,
                    None,
                )));
            }
        };
        parts.push((name.clone(), data.clone()));
        match name.as_str() {
            "image" | "image[]" => {
                images.push(data);
                fields.insert(name, Value::Null);
            }
            "mask" => {
                mask = Some(data);
                fields.insert(name, Value::Null);
            }
            _ => {
                let text = String::from_utf8_lossy(&data).into_owned();
                fields.insert(name, Value::String(text));
            }
        }
    }
    parts.sort();
    let hash = {
        use std::hash::{Hash, Hasher};
        let mut h = crate::state::StableHasher::default();
        parts.hash(&mut h);
        h.finish()
    };
    Ok(EditForm {
        fields,
        images,
        mask,
        hash,
    })
}

/// Checks an edit's input images and mask (count, kinds).
pub(crate) fn check_edit_images(images: &[Bytes], mask: Option<&Bytes>) -> Result<(), Reply> {
    if images.is_empty() {
        return Err(invalid(
            "Missing required parameter: 'image'.",
            Some("image"),
            Some("missing_required_parameter"),
        ));
    }
    if images.len() > MAX_EDIT_IMAGES {
        return Err(invalid(
            format!(
                "Invalid 'image': array too long. Expected an array with maximum length {MAX_EDIT_IMAGES}, but got an array with length {} instead.",
                images.len()
            ),
            Some("image"),
            Some("array_above_max_length"),
        ));
    }
    if let Some(i) = images.iter().position(|b| !image_kind_ok(b)) {
        return Err(invalid(
            format!(
                "Invalid image file or mode for image {}, please check your image file.",
                i + 1
            ),
            Some("image"),
            Some("invalid_image_file"),
        ));
    }
    if let Some(m) = mask
        && !m.starts_with(b"\x89PNG\r\n\x1a\n")
    {
        return Err(invalid(
            "Invalid mask image: expected a PNG file with an alpha channel.",
            Some("mask"),
            Some("invalid_image_file"),
        ));
    }
    Ok(())
}

/// `POST /images/edits`.
pub(crate) async fn edits(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let ctx = match gate(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = match read_edit_form(&ctx, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let params = match parse(&form.fields, true, Endpoint::Edits) {
        Ok(p) => p,
        Err(r) => return ctx.send(r),
    };
    if let Err(r) = check_edit_images(&form.images, form.mask.as_ref()) {
        return ctx.send(r);
    }
    generate(ctx, params, form.hash, form.images.len() as u64).await
}

/// Charges, waits the generation time, and answers the images.
async fn generate(ctx: Ctx, params: Params, hash: u64, input_images: u64) -> Response {
    let state = ctx.state.clone();
    let cost = u64::from(params.n);
    let blocked = ctx.dice.roll(Fault::GenerationFailure) || crate::magic::blocked(&params.prompt);
    let charge = !blocked;
    if state.ledger.credits_left(Provider::Openai, &ctx.key) < cost {
        return ctx.send(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ));
    }
    if let Charge::Insufficient { .. } =
        state
            .ledger
            .accept_create(Provider::Openai, &ctx.key, hash, cost, charge)
    {
        return ctx.send(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ));
    }
    let request_id = state.next_id(Provider::Openai);
    if blocked {
        return ctx.send(api_error(
            StatusCode::BAD_REQUEST,
            &format!("Your request was rejected as a result of our safety system. Your request may contain content that is not allowed by our safety system. Request ID: {request_id}."),
            "image_generation_user_error",
            Some("moderation_blocked"),
        ));
    }
    let (queue, gen_time) = ctx.durations(params.quality);
    let wait = queue + gen_time;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let n = params.n as usize;
    let images = futures::future::join_all((0..n).map(|i| {
        state.images.render(
            ImageSpec::new("openai", &request_id, &params.prompt, params.size)
                .quality(params.quality_label)
                .index(i, n)
                .references(input_images as usize)
                .format(params.format)
                .transparent(params.transparent),
        )
    }))
    .await;
    let data: Vec<Value> = images
        .iter()
        .map(|img| json!({ "b64_json": &*img.b64() }))
        .collect();
    if ctx.dice.roll(Fault::DropAfterAccept) {
        drop_connection();
    }
    let text_tokens = (params.prompt.chars().count() as u64).div_ceil(4);
    let image_tokens = input_images * IMAGE_INPUT_TOKENS;
    let out_tokens = output_tokens(params.quality, params.size) * cost;
    let transparent_ok = params.transparent && params.format != ImageFormat::Jpeg;
    let body = json!({
        "created": time::OffsetDateTime::now_utc().unix_timestamp(),
        "data": data,
        "background": if transparent_ok { "transparent" } else { "opaque" },
        "output_format": params.format_label,
        "quality": params.quality_label,
        "size": params.size.wxh(),
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": { "image_tokens": image_tokens, "text_tokens": text_tokens },
            "output_tokens": out_tokens,
            "total_tokens": text_tokens + image_tokens + out_tokens,
        },
    });
    ctx.send_success(
        Answering::Create,
        Reply::ok(body).header("x-request-id", &request_id),
    )
    .await
}
