//! Images of the newer URL-handing sellers (fal, Replicate, WaveSpeed):
//! `GET /files/{fal|replicate|wavespeed}/{task}/{WxH}-{variant}[-t].{png|jpeg|webp}`.
//!
//! Like the runbase and gptimage15 files, no key is needed and the name says
//! everything needed to rebuild the image (size, variant, `-t` for a
//! transparent background, format by extension), so files outlive their
//! task. Each seller module asks for its images through one small function
//! that calls `url` / `bytes` here.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::images::{Encoded, ImageFormat, ImageSize, VARIANTS, variant_for};
use crate::state::AppState;
use crate::tasks::Task;

/// File extension of `format`.
pub(crate) fn ext(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Webp => "webp",
    }
}

/// MIME type of `format`.
pub(crate) fn content_type(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Webp => "image/webp",
    }
}

fn format_of(task: &Task) -> ImageFormat {
    task.more.format.unwrap_or(ImageFormat::Png)
}

fn transparent(task: &Task) -> bool {
    task.more.transparent && format_of(task) != ImageFormat::Jpeg
}

/// The file name of image `index` of `task`: `1024x1024-7.png`, `1024x1024-7-t.webp`.
pub(crate) fn file_name(task: &Task, index: usize) -> String {
    let variant = variant_for(&task.prompt, &task.id, index);
    let t = if transparent(task) { "-t" } else { "" };
    format!("{}-{variant}{t}.{}", task.size.wxh(), ext(format_of(task)))
}

/// The download URL of image `index` of `task`.
pub(crate) fn url(base: &str, task: &Task, index: usize) -> String {
    format!(
        "{base}/files/{}/{}/{}",
        task.provider.name(),
        task.id,
        file_name(task, index)
    )
}

/// The bytes of image `index` of `task`.
pub(crate) async fn bytes(state: &AppState, task: &Task, index: usize) -> Arc<Encoded> {
    let variant = variant_for(&task.prompt, &task.id, index);
    state
        .images
        .get(task.size, variant, format_of(task), transparent(task))
        .await
}

/// Image `index` of `task` as a `data:` URI.
pub(crate) async fn data_uri(state: &AppState, task: &Task, index: usize) -> String {
    let img = bytes(state, task, index).await;
    format!(
        "data:{};base64,{}",
        content_type(format_of(task)),
        img.b64()
    )
}

/// Image `index` of `task` as bare standard base64.
pub(crate) async fn base64(state: &AppState, task: &Task, index: usize) -> String {
    let img = bytes(state, task, index).await;
    base64::engine::general_purpose::STANDARD.encode(&img.bytes)
}

/// Parses `1024x1536-7.png`, `1024x1024-3-t.webp`.
fn parse_name(name: &str) -> Option<(ImageSize, u32, ImageFormat, bool)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let format = match ext {
        "png" => ImageFormat::Png,
        "jpeg" | "jpg" => ImageFormat::Jpeg,
        "webp" => ImageFormat::Webp,
        _ => return None,
    };
    let (stem, transparent) = match stem.strip_suffix("-t") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (wxh, variant) = stem.split_once('-')?;
    let size = ImageSize::from_wxh(wxh)?;
    let variant: u32 = variant.parse().ok()?;
    (variant < VARIANTS && !(transparent && format == ImageFormat::Jpeg)).then_some((
        size,
        variant,
        format,
        transparent,
    ))
}

/// `GET /files/{fal|replicate|wavespeed}/{task}/{name}`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path((_task, name)): Path<(String, String)>,
) -> Response {
    let Some((size, variant, format, transparent)) = parse_name(&name) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": { "message": "File not found." } })),
        )
            .into_response();
    };
    let img = state.images.get(size, variant, format, transparent).await;
    (
        [
            (header::CONTENT_TYPE, content_type(format)),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        img.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_name("1024x1536-7.png"),
            Some((ImageSize::Portrait, 7, ImageFormat::Png, false))
        );
        assert_eq!(
            parse_name("1536x1024-3-t.webp"),
            Some((ImageSize::Landscape, 3, ImageFormat::Webp, true))
        );
        assert_eq!(parse_name("1024x1024-3-t.jpeg"), None);
        assert_eq!(parse_name("1024x1024-16.png"), None);
        assert_eq!(parse_name("800x600-1.png"), None);
        assert_eq!(parse_name("1024x1024-1.gif"), None);
    }
}
