//! The HTTP surface: every provider's routes, the files, `/_sim/`, and the
//! per-prefix 404 / 405 answers.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use crate::Provider;
use crate::state::AppState;
use crate::tasks::Task;

pub mod admin;
pub mod azure;
pub mod callback;
pub mod fal;
pub mod files;
pub mod gptimage15;
pub mod openai;
pub mod openai_params;
pub mod replicate;
pub mod runbase;
pub mod wavespeed;
pub mod webhook;

/// Path prefix standing for `https://runbase.net/api/v1`.
pub const RUNBASE_PREFIX: &str = "/runbase/api/v1";
/// Path prefix standing for `https://gptimage15.ai/api`.
pub const GPTIMAGE15_PREFIX: &str = "/gptimage15/api";
/// Path prefix standing for `https://api.openai.com/v1`.
pub const OPENAI_PREFIX: &str = "/openai/v1";
/// Path prefix standing for `https://queue.fal.run`.
pub const FAL_PREFIX: &str = "/fal";
/// Path prefix standing for `https://rest.fal.ai` (the webhook JWKS).
pub const FAL_REST_PREFIX: &str = "/fal-rest";
/// Path prefix standing for `https://api.replicate.com/v1`.
pub const REPLICATE_PREFIX: &str = "/replicate/v1";
/// Path prefix standing for `https://{resource}.openai.azure.com`.
pub const AZURE_PREFIX: &str = "/azure";
/// Path prefix standing for `https://api.wavespeed.ai`.
pub const WAVESPEED_PREFIX: &str = "/wavespeed";

/// Largest request body (edits with 16 images).
const BODY_LIMIT: usize = 128 * 1024 * 1024;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route(&format!("{RUNBASE_PREFIX}/runs"), post(runbase::create))
        .route(
            &format!("{RUNBASE_PREFIX}/runs/{{id}}"),
            get(runbase::status),
        )
        .route(
            &format!("{GPTIMAGE15_PREFIX}/generate"),
            post(gptimage15::create),
        )
        .route(
            &format!("{GPTIMAGE15_PREFIX}/status"),
            get(gptimage15::status_v1),
        )
        .route(
            &format!("{GPTIMAGE15_PREFIX}/v2/status"),
            get(gptimage15::status_v2),
        )
        .route(
            &format!("{OPENAI_PREFIX}/images/generations"),
            post(openai::generations),
        )
        .route(
            &format!("{OPENAI_PREFIX}/images/edits"),
            post(openai::edits),
        )
        .route(
            &format!("{FAL_PREFIX}/{}", fal::MODEL),
            post(fal::submit_text),
        )
        .route(
            &format!("{FAL_PREFIX}/{}/edit", fal::MODEL),
            post(fal::submit_edit),
        )
        .route(
            &format!("{FAL_PREFIX}/{}/requests/{{id}}", fal::MODEL),
            get(fal::result),
        )
        .route(
            &format!("{FAL_PREFIX}/{}/requests/{{id}}/status", fal::MODEL),
            get(fal::status),
        )
        .route(
            &format!("{FAL_PREFIX}/{}/requests/{{id}}/cancel", fal::MODEL),
            put(fal::cancel),
        )
        .route(
            &format!("{FAL_REST_PREFIX}/.well-known/jwks.json"),
            get(fal::jwks),
        )
        .route(
            &format!("{REPLICATE_PREFIX}/models/{}/predictions", replicate::MODEL),
            post(replicate::create_for_model),
        )
        .route(
            &format!("{REPLICATE_PREFIX}/predictions"),
            post(replicate::create),
        )
        .route(
            &format!("{REPLICATE_PREFIX}/predictions/{{id}}"),
            get(replicate::get),
        )
        .route(
            &format!("{REPLICATE_PREFIX}/predictions/{{id}}/cancel"),
            post(replicate::cancel),
        )
        .route(
            &format!("{REPLICATE_PREFIX}/webhooks/default/secret"),
            get(replicate::secret),
        )
        .route(
            &format!("{AZURE_PREFIX}/openai/deployments/{{deployment}}/images/generations"),
            post(azure::generations),
        )
        .route(
            &format!("{AZURE_PREFIX}/openai/deployments/{{deployment}}/images/edits"),
            post(azure::edits),
        )
        .route(
            &format!("{AZURE_PREFIX}/openai/v1/images/generations"),
            post(azure::v1_generations),
        )
        .route(
            &format!("{AZURE_PREFIX}/openai/v1/images/edits"),
            post(azure::v1_edits),
        )
        .route(
            &format!(
                "{WAVESPEED_PREFIX}/api/v3/{}/text-to-image",
                wavespeed::MODEL
            ),
            post(wavespeed::text_to_image),
        )
        .route(
            &format!("{WAVESPEED_PREFIX}/api/v3/{}/edit", wavespeed::MODEL),
            post(wavespeed::edit),
        )
        .route(
            &format!("{WAVESPEED_PREFIX}/api/v3/predictions/{{id}}/result"),
            get(wavespeed::result),
        )
        .route(
            &format!("{WAVESPEED_PREFIX}/api/v3/predictions/{{id}}"),
            get(wavespeed::result),
        )
        .route(
            &format!("{WAVESPEED_PREFIX}/api/v3/webhook/secret"),
            get(wavespeed::secret),
        )
        .route("/files/{provider}/{task}/{name}", get(files::get))
        .route("/_sim/ledger", get(admin::ledger))
        .route(
            "/_sim/config",
            get(admin::get_config).put(admin::put_config),
        )
        .route("/_sim/reset", post(admin::reset))
        .route("/_sim/health", get(admin::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn index(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    let base = &state.base_url;
    axum::Json(json!({
        "name": "imagegen-sim",
        "runbase": format!("{base}{RUNBASE_PREFIX}"),
        "gptimage15": format!("{base}{GPTIMAGE15_PREFIX}"),
        "openai": format!("{base}{OPENAI_PREFIX}"),
        "fal": format!("{base}{FAL_PREFIX}"),
        "replicate": format!("{base}{REPLICATE_PREFIX}"),
        "azure": format!("{base}{AZURE_PREFIX}"),
        "wavespeed": format!("{base}{WAVESPEED_PREFIX}"),
        "ledger": format!("{base}/_sim/ledger"),
        "config": format!("{base}/_sim/config"),
    }))
    .into_response()
}

/// Schedules, in a simulator restarted on a state dir, the webhook or
/// gptimage15 callback a restored `task` is still due (at its end, or now
/// if it ended while no simulator ran). Its file URLs name this simulator.
pub(crate) fn rearm(state: &Arc<AppState>, task: &Task) {
    match task.provider {
        Provider::Gptimage15 => {
            if let Some(url) = task
                .request
                .get("callback_url")
                .and_then(serde_json::Value::as_str)
            {
                callback::spawn(state.clone(), task, url.to_string());
            }
        }
        Provider::Fal => fal::rearm(state, task),
        Provider::Replicate => replicate::rearm(state, task),
        Provider::Wavespeed => wavespeed::rearm(state, task),
        Provider::Runbase | Provider::Openai | Provider::Azure => {}
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// 404 in the shape of the provider whose prefix the path is under.
fn no_route(method: &Method, uri: &Uri, status: StatusCode) -> Response {
    let path = uri.path();
    let not_allowed = status == StatusCode::METHOD_NOT_ALLOWED;
    if under(path, RUNBASE_PREFIX) {
        let (msg, code) = if not_allowed {
            (
                format!("Method {method} not allowed on {path}."),
                "method_not_allowed",
            )
        } else {
            (format!("No route for {method} {path}."), "not_found")
        };
        return runbase::error(status, msg, Some(code)).into_response(false);
    }
    if under(path, GPTIMAGE15_PREFIX) {
        let msg = if not_allowed {
            "Method Not Allowed"
        } else {
            "Not Found"
        };
        return gptimage15::error(status.as_u16(), msg).into_response(false);
    }
    if under(path, OPENAI_PREFIX) {
        let v1 = path.strip_prefix("/openai").unwrap_or(path);
        return openai_params::invalid(format!("Invalid URL ({method} {v1})"), None, None)
            .with_status(StatusCode::NOT_FOUND)
            .into_response(false);
    }
    if under(path, FAL_PREFIX) || under(path, FAL_REST_PREFIX) {
        return fal::no_route(status).into_response(false);
    }
    if under(path, REPLICATE_PREFIX) {
        return replicate::no_route(status).into_response(false);
    }
    if under(path, AZURE_PREFIX) {
        return azure::no_route(status).into_response(false);
    }
    if under(path, WAVESPEED_PREFIX) {
        return wavespeed::no_route(status).into_response(false);
    }
    (
        status,
        axum::Json(json!({ "error": { "message": format!("No route for {method} {path}.") } })),
    )
        .into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    no_route(&method, &uri, StatusCode::NOT_FOUND)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    no_route(&method, &uri, StatusCode::METHOD_NOT_ALLOWED)
}
