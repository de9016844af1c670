//! Mapping the common [`ImageRequest`] onto Runbase's `POST /runs` body.
//!
//! | common | Runbase `input` |
//! |---|---|
//! | prompt | `prompt` |
//! | aspect 1:1 / 2:3 / 3:2 (or the matching explicit size) | `aspect_ratio: "1:1"` / `"2:3"` / `"3:2"` |
//! | quality medium / high | `quality: "medium"` / `"high"` |
//! | reference image URLs | `image_urls` |
//! | `provider_options["runbase"]` | merged into `input`, key by key |
//!
//! The body is always `{"model": "openai/gpt-image-1.5", "input": {...}}`.
//!
//! Decisions applied here (see `PROVIDERS.md`):
//! - Runbase offers no `low` (nor `auto`) quality, no input fidelity and no
//!   webhook, and makes one image per run. A request asking for any of them
//!   is refused with [`ErrorKind::InvalidRequest`](imagegen_core::ErrorKind)
//!   before anything is sent: nothing is silently dropped. (The client's
//!   capability check normally catches these first, or drops them with a
//!   warning under best-effort.)
//! - An explicit size must be one GPT Image 1.5 renders and agree with the
//!   aspect, if both are given; otherwise the request is refused.
//! - Reference images must be public `http(s)` URLs; local files or inline
//!   bytes are refused (Runbase cannot fetch them).
//! - Unset aspect or quality are left out, so Runbase's own defaults apply
//!   (not documented).
//! - `provider_options["runbase"]` is an escape hatch: each of its keys is
//!   written into `input` as is, *replacing* a mapped field of the same name.
//!   Nothing checks those values; Runbase judges them.

use imagegen_core::{Aspect, Error, ImageRequest, Quality, ReferenceImage};
use serde_json::Value;

use crate::NAME;
use crate::generated::{
    RunbaseAspectRatio, RunbaseCreateRunRequest, RunbaseModel, RunbaseQuality, RunbaseRunInput,
};

/// Maps `request` onto the typed `POST /runs` body (without
/// `provider_options`, which the strict generated type cannot hold; see
/// [`create_body`]).
///
/// Fails with [`ErrorKind::InvalidRequest`](imagegen_core::ErrorKind) for
/// anything Runbase does not offer (see the module docs).
pub fn build_create_request(request: &ImageRequest) -> Result<RunbaseCreateRunRequest, Error> {
    if request.count != 1 {
        return Err(invalid(format!(
            "runbase makes one image per run, {} were asked for in one request; the client fans a count out over several runs",
            request.count
        )));
    }
    let aspect_ratio = request
        .resolved_aspect()
        .map_err(|e| e.with_provider(NAME))?
        .map(aspect_ratio);
    let quality = match request.quality {
        None => None,
        Some(Quality::Medium) => Some(RunbaseQuality::Medium),
        Some(Quality::High) => Some(RunbaseQuality::High),
        Some(other @ (Quality::Low | Quality::Auto)) => {
            return Err(invalid(format!(
                "runbase does not offer quality {other}; allowed: medium, high"
            )));
        }
    };
    if request.input_fidelity.is_some() {
        return Err(invalid("runbase does not offer input fidelity".to_owned()));
    }
    if request.callback_url.is_some() {
        return Err(invalid(
            "runbase does not offer webhooks (callback_url)".to_owned(),
        ));
    }
    let image_urls = request
        .references
        .iter()
        .map(|reference| match reference {
            ReferenceImage::Url(url) => Ok(url.clone()),
            other => Err(invalid(format!(
                "runbase takes reference images as public http(s) URLs, not local files ({})",
                other.describe()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunbaseCreateRunRequest {
        model: RunbaseModel::OpenaiGptImage15,
        input: RunbaseRunInput {
            prompt: request.prompt.clone(),
            aspect_ratio,
            quality,
            image_urls,
        },
    })
}

/// The complete `POST /runs` body as JSON bytes: [`build_create_request`]
/// plus `provider_options["runbase"]` merged into `input`.
pub fn create_body(request: &ImageRequest) -> Result<Vec<u8>, Error> {
    let typed = build_create_request(request)?;
    match request.options_for(NAME) {
        None => serde_json::to_vec(&typed).map_err(serialize_error),
        Some(_) => serde_json::to_vec(&merged(request, &typed)?).map_err(serialize_error),
    }
}

/// The complete `POST /runs` body as a JSON value (what [`create_body`]
/// sends), for tests and inspection.
pub fn create_body_json(request: &ImageRequest) -> Result<Value, Error> {
    let typed = build_create_request(request)?;
    merged(request, &typed)
}

fn merged(request: &ImageRequest, typed: &RunbaseCreateRunRequest) -> Result<Value, Error> {
    let mut body = serde_json::to_value(typed).map_err(serialize_error)?;
    // Runbase's model parameters live under `input`, so its options go there.
    if let Some(input) = body.get_mut("input").and_then(Value::as_object_mut) {
        request.merge_options_into(NAME, input);
    }
    Ok(body)
}

/// The wire spelling of an aspect.
pub fn aspect_ratio(aspect: Aspect) -> RunbaseAspectRatio {
    match aspect {
        Aspect::Square => RunbaseAspectRatio::X11,
        Aspect::Portrait => RunbaseAspectRatio::X23,
        Aspect::Landscape => RunbaseAspectRatio::X32,
    }
}

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

fn serialize_error(err: serde_json::Error) -> Error {
    Error::invalid_request(format!("the request could not be serialized: {err}"))
        .with_provider(NAME)
        .with_source(err)
}
