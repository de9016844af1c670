//! Mapping the common [`ImageRequest`] onto gptimage15.ai's `POST /generate` body.
//!
//! | common | gptimage15.ai |
//! |---|---|
//! | prompt (at most 2000 characters) | `prompt` |
//! | aspect 1:1 / 2:3 / 3:2 (or the matching explicit size) | `size: "1024*1024"` / `"1024*1536"` / `"1536*1024"` |
//! | quality low / medium / high | `quality: "low"` / `"medium"` / `"high"` |
//! | reference image URLs | `images` |
//! | input fidelity low / high | `input_fidelity: "low"` / `"high"` |
//! | webhook URL | `callback_url` |
//! | `provider_options["gptimage15"]` | merged into the body, key by key |
//!
//! Decisions applied here (see `PROVIDERS.md`):
//! - `auto` quality is not offered, and one task makes one image: such a
//!   request is refused with [`ErrorKind::InvalidRequest`](imagegen_core::ErrorKind)
//!   before anything is sent (nothing is silently dropped). A prompt longer
//!   than 2000 characters is refused the same way.
//! - An explicit size must be one GPT Image 1.5 renders and agree with the
//!   aspect, if both are given; otherwise the request is refused.
//! - Reference images must be public `http(s)` URLs; local files or inline
//!   bytes are refused.
//! - Unset size, quality or fidelity are left out, so the provider's
//!   documented defaults apply (`1024*1024`, `medium`, `high`).
//! - `input_fidelity` is sent as asked; the page says it only matters with
//!   `images` (the client's capability check refuses or drops it without
//!   references before a request gets here).
//! - `provider_options["gptimage15"]` is an escape hatch: each of its keys is
//!   written into the body as is, *replacing* a mapped field of the same
//!   name. Nothing checks those values; gptimage15.ai judges them.

use imagegen_core::{Aspect, Error, Fidelity, ImageRequest, Quality, ReferenceImage};
use serde_json::Value;

use crate::NAME;
use crate::generated::{
    Gptimage15GenerateRequest, Gptimage15GenerateRequestPrompt, Gptimage15InputFidelity,
    Gptimage15Quality, Gptimage15Size,
};

/// Maps `request` onto the typed `POST /generate` body (without
/// `provider_options`, which the strict generated type cannot hold; see
/// [`create_body`]).
pub fn build_create_request(request: &ImageRequest) -> Result<Gptimage15GenerateRequest, Error> {
    if request.count != 1 {
        return Err(invalid(format!(
            "gptimage15 makes one image per task, {} were asked for in one request; the client fans a count out over several tasks",
            request.count
        )));
    }
    let prompt =
        Gptimage15GenerateRequestPrompt::try_from(request.prompt.as_str()).map_err(|_| {
            invalid(format!(
                "the prompt is {} characters long; gptimage15 accepts at most 2000",
                request.prompt.chars().count()
            ))
        })?;
    let size = request
        .resolved_aspect()
        .map_err(|e| e.with_provider(NAME))?
        .map(size);
    let quality = match request.quality {
        None => None,
        Some(Quality::Low) => Some(Gptimage15Quality::Low),
        Some(Quality::Medium) => Some(Gptimage15Quality::Medium),
        Some(Quality::High) => Some(Gptimage15Quality::High),
        Some(Quality::Auto) => {
            return Err(invalid(
                "gptimage15 does not offer quality auto; allowed: low, medium, high".to_owned(),
            ));
        }
    };
    let images = request
        .references
        .iter()
        .map(|reference| match reference {
            ReferenceImage::Url(url) => Ok(url.clone()),
            other => Err(invalid(format!(
                "gptimage15 takes reference images as public http(s) URLs, not local files ({})",
                other.describe()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let input_fidelity = request.input_fidelity.map(|f| match f {
        Fidelity::Low => Gptimage15InputFidelity::Low,
        Fidelity::High => Gptimage15InputFidelity::High,
    });
    Ok(Gptimage15GenerateRequest {
        prompt,
        size,
        quality,
        images,
        input_fidelity,
        callback_url: request.callback_url.clone(),
    })
}

/// The complete `POST /generate` body as JSON bytes: [`build_create_request`]
/// plus `provider_options["gptimage15"]` merged in.
pub fn create_body(request: &ImageRequest) -> Result<Vec<u8>, Error> {
    let typed = build_create_request(request)?;
    match request.options_for(NAME) {
        None => serde_json::to_vec(&typed).map_err(serialize_error),
        Some(_) => serde_json::to_vec(&merged(request, &typed)?).map_err(serialize_error),
    }
}

/// The complete `POST /generate` body as a JSON value (what [`create_body`]
/// sends), for tests and inspection.
pub fn create_body_json(request: &ImageRequest) -> Result<Value, Error> {
    let typed = build_create_request(request)?;
    merged(request, &typed)
}

fn merged(request: &ImageRequest, typed: &Gptimage15GenerateRequest) -> Result<Value, Error> {
    let mut body = serde_json::to_value(typed).map_err(serialize_error)?;
    if let Some(object) = body.as_object_mut() {
        request.merge_options_into(NAME, object);
    }
    Ok(body)
}

/// The wire spelling of an aspect's size.
pub fn size(aspect: Aspect) -> Gptimage15Size {
    match aspect {
        Aspect::Square => Gptimage15Size::X10241024,
        Aspect::Portrait => Gptimage15Size::X10241536,
        Aspect::Landscape => Gptimage15Size::X15361024,
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
