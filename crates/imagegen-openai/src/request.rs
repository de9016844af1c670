//! Mapping the common request onto OpenAI's Images API.
//!
//! * No reference images: `POST /images/generations` with a JSON body built
//!   through [`OpenAiImageGenerationRequest`].
//! * Reference images: `POST /images/edits`, `multipart/form-data`, one
//!   `image[]` file part per reference plus the text fields of
//!   [`OpenAiImageEditFields`].
//!
//! Aspect → `size` (`1024x1024`, `1024x1536`, `1536x1024`; nothing sent when
//! unset, so OpenAI's `auto` applies); quality → `quality`; count → `n`.
//! `response_format` is never sent (gpt-image models reject it).
//!
//! **Escape hatch (decision):** the keys of `request.options_for("openai")`
//! (`background`, `output_format`, `output_compression`, `moderation`,
//! `user`, ...) are merged into the body as they are, replacing a mapped
//! field of the same name. They are not validated here: OpenAI answers an
//! unknown one with a 400 that names it.

use bytes::Bytes;
use imagegen_core::{Aspect, Error, Fidelity, ImageRequest, Quality, ReferenceImage};
use serde_json::{Map, Value};

use crate::generated::{
    OpenAiImageCount, OpenAiImageEditFields, OpenAiImageGenerationRequest, OpenAiImageModel,
    OpenAiImageQuality, OpenAiImageSize, OpenAiInputFidelity,
};

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(crate::NAME)
}

/// The `model` value for a model name (`gpt-image-1.5`, `gpt-image-1`,
/// `gpt-image-1-mini`).
pub fn model(name: &str) -> Result<OpenAiImageModel, Error> {
    name.parse().map_err(|_| {
        invalid(format!(
            "unknown model `{name}`; allowed: gpt-image-1.5, gpt-image-1, gpt-image-1-mini"
        ))
    })
}

fn size(request: &ImageRequest) -> Result<Option<OpenAiImageSize>, Error> {
    let aspect = request
        .resolved_aspect()
        .map_err(|e| e.with_provider(crate::NAME))?;
    Ok(aspect.map(|aspect| match aspect {
        Aspect::Square => OpenAiImageSize::X1024x1024,
        Aspect::Portrait => OpenAiImageSize::X1024x1536,
        Aspect::Landscape => OpenAiImageSize::X1536x1024,
    }))
}

fn quality(request: &ImageRequest) -> Option<OpenAiImageQuality> {
    request.quality.map(|q| match q {
        Quality::Low => OpenAiImageQuality::Low,
        Quality::Medium => OpenAiImageQuality::Medium,
        Quality::High => OpenAiImageQuality::High,
        Quality::Auto => OpenAiImageQuality::Auto,
    })
}

fn count(request: &ImageRequest) -> Result<Option<OpenAiImageCount>, Error> {
    if request.count == 1 {
        return Ok(None);
    }
    std::num::NonZeroU64::new(u64::from(request.count))
        .and_then(|n| OpenAiImageCount::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| invalid(format!("n must be 1 to 10, got {}", request.count)))
}

/// The typed body of `POST /images/generations` for `request`.
pub fn build_generation_request(
    request: &ImageRequest,
    model_name: &str,
) -> Result<OpenAiImageGenerationRequest, Error> {
    Ok(OpenAiImageGenerationRequest {
        background: None,
        model: model(model_name)?,
        moderation: None,
        n: count(request)?,
        output_compression: None,
        output_format: None,
        partial_images: None,
        prompt: request
            .prompt
            .parse()
            .map_err(|e| invalid(format!("prompt: {e}")))?,
        quality: quality(request),
        size: size(request)?,
        stream: None,
        user: None,
    })
}

/// The typed text fields of `POST /images/edits` for `request`.
pub fn build_edit_fields(
    request: &ImageRequest,
    model_name: &str,
) -> Result<OpenAiImageEditFields, Error> {
    Ok(OpenAiImageEditFields {
        background: None,
        input_fidelity: request.input_fidelity.map(|f| match f {
            Fidelity::Low => OpenAiInputFidelity::Low,
            Fidelity::High => OpenAiInputFidelity::High,
        }),
        model: model(model_name)?,
        moderation: None,
        n: count(request)?,
        output_compression: None,
        output_format: None,
        prompt: request
            .prompt
            .parse()
            .map_err(|e| invalid(format!("prompt: {e}")))?,
        quality: quality(request),
        size: size(request)?,
        user: None,
    })
}

/// A typed body as a JSON object with `provider_options["openai"]` merged in.
fn with_options(
    typed: impl serde::Serialize,
    request: &ImageRequest,
) -> Result<Map<String, Value>, Error> {
    let mut body = match serde_json::to_value(typed) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(invalid(
                "the request did not serialize to a JSON object".into(),
            ));
        }
    };
    request.merge_options_into(crate::NAME, &mut body);
    Ok(body)
}

/// The JSON body of `POST /images/generations`, options merged.
pub fn generation_body(request: &ImageRequest, model_name: &str) -> Result<Value, Error> {
    with_options(build_generation_request(request, model_name)?, request).map(Value::Object)
}

/// One file part of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePart {
    /// The file name sent with the part.
    pub file_name: String,
    /// `image/png`, `image/jpeg` or `image/webp`, from the bytes.
    pub media_type: &'static str,
    /// The image bytes.
    pub data: Bytes,
}

/// Everything an edit sends: text fields (in a stable order) and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditForm {
    /// `(name, value)` text fields.
    pub fields: Vec<(String, String)>,
    /// The `image[]` parts.
    pub images: Vec<ImagePart>,
}

/// The multipart content of `POST /images/edits`. References must already be
/// in memory ([`ReferenceImage::Inline`]): the core's client reads local files
/// and downloads URLs before calling the provider.
pub fn edit_form(request: &ImageRequest, model_name: &str) -> Result<EditForm, Error> {
    let body = with_options(build_edit_fields(request, model_name)?, request)?;
    let fields = body
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    let images = request
        .references
        .iter()
        .map(|reference| match reference {
            ReferenceImage::Inline { file_name, data } => {
                let media_type = imagegen_core::download::sniff_image(data).ok_or_else(|| {
                    invalid(format!(
                        "reference image `{file_name}` is not a PNG, JPEG or WebP image"
                    ))
                })?;
                Ok(ImagePart { file_name: file_name.clone(), media_type, data: data.clone() })
            }
            other => Err(invalid(format!(
                "reference image {} was not loaded; OpenAI takes uploads, and the imagegen Client reads files and downloads URLs before submitting (call the provider through Client)",
                other.describe()
            ))),
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(EditForm { fields, images })
}

/// The reqwest multipart form for `form`.
pub(crate) fn to_multipart(form: EditForm) -> Result<reqwest::multipart::Form, Error> {
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in form.fields {
        multipart = multipart.text(name, value);
    }
    for image in form.images {
        let part = reqwest::multipart::Part::stream(image.data)
            .file_name(image.file_name)
            .mime_str(image.media_type)
            .map_err(|e| invalid(format!("bad media type: {e}")))?;
        multipart = multipart.part("image[]", part);
    }
    Ok(multipart)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagegen_core::ImageSize;

    fn body(request: &ImageRequest) -> Value {
        generation_body(request, "gpt-image-1.5").unwrap()
    }

    #[test]
    fn generation_bodies_for_representative_requests() {
        let cases = [
            ("prompt only", ImageRequest::new("A ceramic lamp")),
            (
                "square",
                ImageRequest::new("A ceramic lamp").aspect(Aspect::Square),
            ),
            (
                "portrait",
                ImageRequest::new("A ceramic lamp").aspect(Aspect::Portrait),
            ),
            (
                "landscape high",
                ImageRequest::new("A ceramic lamp")
                    .aspect(Aspect::Landscape)
                    .quality(Quality::High),
            ),
            (
                "low",
                ImageRequest::new("A ceramic lamp").quality(Quality::Low),
            ),
            (
                "medium",
                ImageRequest::new("A ceramic lamp").quality(Quality::Medium),
            ),
            (
                "auto",
                ImageRequest::new("A ceramic lamp").quality(Quality::Auto),
            ),
            (
                "explicit size",
                ImageRequest::new("A ceramic lamp").size(ImageSize::new(1024, 1536)),
            ),
            ("three images", ImageRequest::new("A ceramic lamp").count(3)),
            (
                "options",
                ImageRequest::new("A ceramic lamp")
                    .provider_option("openai", "output_format", serde_json::json!("webp"))
                    .provider_option("openai", "background", serde_json::json!("transparent")),
            ),
            (
                "every option",
                ImageRequest::new("A ceramic lamp")
                    .count(2)
                    .provider_option("openai", "output_format", serde_json::json!("jpeg"))
                    .provider_option("openai", "output_compression", serde_json::json!(80))
                    .provider_option("openai", "moderation", serde_json::json!("low"))
                    .provider_option("openai", "user", serde_json::json!("user-42")),
            ),
            (
                "an option replaces a mapped field",
                ImageRequest::new("A ceramic lamp")
                    .quality(Quality::Low)
                    .provider_option("openai", "quality", serde_json::json!("high")),
            ),
            (
                "other providers' options are ignored",
                ImageRequest::new("A ceramic lamp").provider_option(
                    "runbase",
                    "seed",
                    serde_json::json!(7),
                ),
            ),
        ];
        let table: Vec<_> = cases
            .iter()
            .map(|(name, request)| serde_json::json!({ "case": name, "body": body(request) }))
            .collect();
        insta::assert_json_snapshot!("generation_bodies", table);
    }

    #[test]
    fn undocumented_values_are_refused_before_sending() {
        let err = generation_body(&ImageRequest::new("x").count(11), "gpt-image-1.5").unwrap_err();
        assert!(err.to_string().contains("1 to 10"), "{err}");
        let err = generation_body(&ImageRequest::new("x"), "dall-e-2").unwrap_err();
        assert!(err.to_string().contains("gpt-image-1.5"), "{err}");
        let err =
            generation_body(&ImageRequest::new("x".repeat(32_001)), "gpt-image-1.5").unwrap_err();
        assert_eq!(err.kind(), imagegen_core::ErrorKind::InvalidRequest);
    }

    fn inline(file_name: &str, data: &'static [u8]) -> ReferenceImage {
        ReferenceImage::Inline {
            file_name: file_name.into(),
            data: Bytes::from_static(data),
        }
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF";
    const WEBP: &[u8] = b"RIFF\x10\0\0\0WEBPVP8 ";

    #[test]
    fn edit_form_fields_and_parts() {
        let cases = [
            (
                "two pngs, landscape, high fidelity",
                ImageRequest::new("Add a rainbow")
                    .aspect(Aspect::Landscape)
                    .input_fidelity(Fidelity::High)
                    .reference(inline("a.png", PNG))
                    .reference(inline("b.png", PNG)),
            ),
            (
                "jpeg and webp, n=2, quality, options",
                ImageRequest::new("Put the lamp on the table")
                    .aspect(Aspect::Portrait)
                    .quality(Quality::Medium)
                    .input_fidelity(Fidelity::Low)
                    .count(2)
                    .provider_option("openai", "output_format", serde_json::json!("webp"))
                    .provider_option("openai", "output_compression", serde_json::json!(80))
                    .provider_option("openai", "background", serde_json::json!("transparent"))
                    .reference(inline("lamp.jpg", JPEG))
                    .reference(inline("table.webp", WEBP)),
            ),
            (
                "prompt and one image only",
                ImageRequest::new("Make it blue").reference(inline("x.png", PNG)),
            ),
        ];
        let table: Vec<_> = cases
            .iter()
            .map(|(case, request)| {
                let form = edit_form(request, "gpt-image-1.5").unwrap();
                let files: Vec<_> = form
                    .images
                    .iter()
                    .map(|p| {
                        format!(
                            "image[] filename={} content-type={} {} bytes",
                            p.file_name,
                            p.media_type,
                            p.data.len()
                        )
                    })
                    .collect();
                serde_json::json!({ "case": case, "fields": form.fields, "files": files })
            })
            .collect();
        insta::assert_json_snapshot!("edit_form", table);
    }

    #[test]
    fn response_format_is_never_mapped() {
        let request = ImageRequest::new("x")
            .aspect(Aspect::Square)
            .quality(Quality::High)
            .count(4);
        let body = body(&request);
        assert!(body.get("response_format").is_none(), "{body}");
        let form = edit_form(&request.reference(inline("a.png", PNG)), "gpt-image-1.5").unwrap();
        assert!(
            form.fields
                .iter()
                .all(|(name, _)| name != "response_format")
        );
    }

    #[test]
    fn unloaded_references_are_refused() {
        let request = ImageRequest::new("x")
            .reference(ReferenceImage::Url("https://example.com/a.png".into()));
        let err = edit_form(&request, "gpt-image-1.5").unwrap_err();
        assert!(err.to_string().contains("takes uploads"), "{err}");
        let request = ImageRequest::new("x").reference(ReferenceImage::Inline {
            file_name: "a.html".into(),
            data: Bytes::from_static(b"<html>"),
        });
        assert!(edit_form(&request, "gpt-image-1.5").is_err());
    }
}
