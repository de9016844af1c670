//! Image downloads for the resellers: `GET /files/{provider}/{task}/{index}.png`.
//!
//! Like a CDN, no key is needed. The URL names the task: its image (prompt,
//! size, quality, references) is drawn from the task as stored, so a file is
//! there once its task has succeeded and until the task is forgotten
//! (`task_ttl` after it ends, or `POST /_sim/reset`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::QualityLevel;
use crate::images::{ImageSpec, parse_file_name};
use crate::state::AppState;
use crate::tasks::Phase;

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": { "message": "File not found." } })),
    )
        .into_response()
}

fn quality_label(q: QualityLevel) -> &'static str {
    match q {
        QualityLevel::Low => "low",
        QualityLevel::Medium => "medium",
        QualityLevel::High => "high",
    }
}

/// `GET /files/...`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path((provider, task_id, name)): Path<(String, String, String)>,
) -> Response {
    let Some(index) = parse_file_name(&name) else {
        return not_found();
    };
    let now = Instant::now();
    // Every task of the resellers makes one image.
    let spec = state.tasks.with_id(&task_id, |t| {
        (t.provider.name() == provider && index == 0 && t.phase_at(now) == Phase::Succeeded).then(
            || {
                ImageSpec::new(provider.as_str(), &t.id, &t.prompt, t.size)
                    .quality(quality_label(t.quality))
                    .references(t.references)
            },
        )
    });
    let Some(spec) = spec.flatten() else {
        return not_found();
    };
    let img = state.images.get(spec).await;
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        img.bytes.clone(),
    )
        .into_response()
}
