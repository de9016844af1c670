//! Image downloads for the sellers that answer URLs (runbase, gptimage15,
//! fal, Replicate, WaveSpeed): `GET /files/{provider}/{task}/{index}.{ext}`.
//!
//! Like a CDN, no key is needed. The URL names the task: its image (prompt,
//! size, quality, references, format, transparency) is drawn from the task
//! as stored (`Task::image_spec`), so a file is there once its task has
//! succeeded (not for a failed or cancelled one) and until the task is
//! forgotten (`task_ttl` after it ends, or `POST /_sim/reset`). The
//! extension is the task's format (`png`, or `jpeg` / `webp` where the
//! seller offers them); another extension, or an index past the task's
//! image count, is a 404.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::images::parse_file_name;
use crate::state::AppState;
use crate::tasks::Outcome;

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": { "message": "File not found." } })),
    )
        .into_response()
}

/// `GET /files/...`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path((provider, task_id, name)): Path<(String, String, String)>,
) -> Response {
    let Some((index, format)) = parse_file_name(&name) else {
        return not_found();
    };
    let now = Instant::now();
    let spec = state.tasks.with_id(&task_id, |t| {
        (t.provider.name() == provider
            && index < t.images() as usize
            && format == t.format()
            && t.outcome_at(now) == Outcome::Succeeded)
            .then(|| t.image_spec(index))
    });
    let Some(spec) = spec.flatten() else {
        return not_found();
    };
    let img = state.images.get(spec).await;
    (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        img.bytes.clone(),
    )
        .into_response()
}
