//! Image downloads for the resellers: `GET /files/{provider}/{task}/{WxH}-{variant}.png`.
//!
//! Like a CDN, no key is needed. The URL names everything needed to rebuild
//! the image, so files stay available after their task is forgotten.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::images::{ImageFormat, ImageSize, VARIANTS};
use crate::state::AppState;

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": { "message": "File not found." } })),
    )
        .into_response()
}

/// Parses `1024x1536-7.png`.
pub(crate) fn parse_name(name: &str) -> Option<(ImageSize, u32)> {
    let stem = name.strip_suffix(".png")?;
    let (wxh, variant) = stem.split_once('-')?;
    let size = ImageSize::from_wxh(wxh)?;
    let variant: u32 = variant.parse().ok()?;
    (variant < VARIANTS).then_some((size, variant))
}

/// `GET /files/...`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path((provider, _task, name)): Path<(String, String, String)>,
) -> Response {
    if provider != "runbase" && provider != "gptimage15" {
        return not_found();
    }
    let Some((size, variant)) = parse_name(&name) else {
        return not_found();
    };
    let img = state
        .images
        .get(size, variant, ImageFormat::Png, false)
        .await;
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        img.bytes.clone(),
    )
        .into_response()
}
