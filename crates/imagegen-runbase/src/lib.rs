#![doc = include_str!("../README.md")]

pub mod generated;

use std::time::Duration;

use generated::{RunbaseCreateRunRequest, RunbaseErrorBody, RunbaseErrorField, RunbaseRun};
use generated::{RunbaseRunError, RunbaseRunInput};
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Settings, Target, build, wire};
use imagegen_core::http::json_text;
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{RateLimit, TaskRef, TaskState, TaskStatus};

/// Runbase through the core's HTTP client: `Runbase::from_env()`.
pub type Runbase = imagegen_core::HttpProvider<RunbaseCodec>;

/// Runbase's wire format (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunbaseCodec;

impl Codec for RunbaseCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "runbase",
        about: "submit a run, poll it",
        api_key_var: "RUNBASE_API_KEY",
        base_url_var: "RUNBASE_BASE_URL",
        default_base_url: "https://runbase.net/api/v1",
        sim_path: "/runbase/api/v1",
        auth: Auth::Bearer,
        credits_per_image: 1.0,
        settings: &[],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            qualities: vec![imagegen_core::Quality::Medium, imagegen_core::Quality::High],
            max_reference_images: 16,
            rate_limit: Some(RateLimit::new(20, Duration::from_secs(10))),
            // "Polling every 1-2 s": 2 s (the default) in general, 1 s near the finish.
            fastest_poll_interval: Some(Duration::from_secs(1)),
            ..Capabilities::default()
        }
    }

    fn new(_: &Settings) -> Result<Self, Error> {
        Ok(RunbaseCodec)
    }

    /// `POST {base}/runs`; `provider_options["runbase"]` go into `input`.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let input = RunbaseRunInput::builder()
            .prompt(request.prompt.clone())
            .aspect_ratio(wire(request.aspect.map(|a| a.as_ratio()))?)
            .quality(wire(request.quality.map(|q| q.as_str()))?)
            .image_urls(request.reference_urls());
        let body: RunbaseCreateRunRequest = build(
            RunbaseCreateRunRequest::builder()
                .model("openai/gpt-image-1.5")
                .input(input),
        )?;
        HttpRequest::post(to.url(&["runs"])).json(&body, (request, "runbase", &["input"]))
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_run(answer)
    }

    /// `GET {base}/runs/{id}`, the id percent-encoded as one segment.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        Ok(HttpRequest::get(to.url(&["runs", &task.id])))
    }

    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_run(answer)
    }
}

/// A run object (both answers), or the error an answer stands for.
fn read_run(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    if !answer.is_success() {
        return Err(error(answer));
    }
    let run: RunbaseRun = answer.json("the Runbase run object")?;
    let state = match run.status.as_str() {
        "queued" => TaskState::Queued,
        "starting" | "processing" | "running" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => failure(run.error.as_ref()),
        "canceled" | "cancelled" => TaskState::Cancelled,
        other => TaskState::Unknown { raw: other.into() },
    };
    let urls = match state {
        TaskState::Succeeded => run.output.map(|o| o.urls).unwrap_or_default(),
        _ => Vec::new(),
    };
    TaskStatus::new(run.id, state)
        .with_raw_status(run.status)
        .with_reported_times(run.created_at, run.completed_at)
        .with_urls(urls)
}

/// A failed run's `error`: a message string, or an object with `message`
/// (or `detail`) and `code`.
fn failure(error: Option<&RunbaseRunError>) -> TaskState {
    let value = serde_json::to_value(error).unwrap_or_default();
    let code = value
        .get("code")
        .map(|c| json_text(c).unwrap_or(c.to_string()));
    let message = json_text(&value).or_else(|| {
        let object = value.as_object().filter(|o| !o.is_empty());
        object.map(|_| value.to_string())
    });
    let message = message.unwrap_or_else(|| "the run failed (Runbase gave no reason)".into());
    TaskState::failed(message, code)
}

/// The error for a non-2xx answer: the documented code decides the kind,
/// else the HTTP status; every documented status is a refusal.
fn error(answer: &HttpResponse) -> Error {
    use ErrorKind::*;
    let body: RunbaseErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let code = match body.error {
        Some(RunbaseErrorField::RunbaseErrorObject(object)) => object.code,
        _ => None,
    };
    let (kind, hint) = match code
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "invalid_json" | "missing_model" | "missing_input" | "invalid_input"
        | "model_not_found" => (InvalidRequest, ""),
        "missing_api_key" | "invalid_api_key" => (Unauthorized, ""),
        "insufficient_balance" => (InsufficientCredits, ""),
        "usage_exceeded" => (QuotaExhausted, ""),
        "api_key_spend_limit_exceeded" => (QuotaExhausted, "raise the key's spend limit"),
        "ip_not_allowed" => (Forbidden, "allow this machine's IP address for the key"),
        "run_not_found" => (NotFound, "no such run for this key"),
        "rate_limited" => (RateLimited, ""),
        _ => (ErrorKind::from_http_status(answer.status), ""),
    };
    let err = Error::new(kind, answer.message()).with_hint(hint);
    let err = err.with_code_if(code);
    err.refused_if(matches!(answer.status, 400..=404 | 429))
}
