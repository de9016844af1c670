#![doc = include_str!("../README.md")]

pub mod generated;

use generated::{WavespeedErrorBody, WavespeedGenerateRequest, WavespeedTask};
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Settings, Target, build, wire};
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{Quality, TaskRef, TaskState, TaskStatus};

/// wavespeed through the core's HTTP client: `Wavespeed::from_env()`.
pub type Wavespeed = imagegen_core::HttpProvider<WavespeedCodec>;

/// wavespeed's wire format (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct WavespeedCodec;

impl Codec for WavespeedCodec {
    // TEMPLATE: every value from the provider's docs.
    const SPEC: ProviderSpec = ProviderSpec {
        name: "wavespeed",
        about: "submit a task, poll it",
        api_key_var: "WAVESPEED_API_KEY",
        base_url_var: "WAVESPEED_BASE_URL",
        default_base_url: "https://api.wavespeed.example/v1",
        sim_path: "/wavespeed",
        auth: Auth::Bearer,
        credits_per_image: 1.0,
        settings: &[],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            qualities: vec![Quality::Medium, Quality::High],
            ..Capabilities::default()
        }
    }

    fn new(_: &Settings) -> Result<Self, Error> {
        Ok(WavespeedCodec)
    }

    /// `POST {base}/generate`; `provider_options["wavespeed"]` merged in.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let body: WavespeedGenerateRequest = build(
            WavespeedGenerateRequest::builder()
                .prompt(request.prompt.as_str())
                .quality(wire(request.quality.map(|q| q.as_str()))?),
        )?;
        HttpRequest::post(to.url(&["generate"])).json(&body, (request, "wavespeed", &[]))
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_task(answer)
    }

    /// `GET {base}/tasks/{id}`.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        Ok(HttpRequest::get(to.url(&["tasks", &task.id])))
    }

    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_task(answer)
    }
}

/// A task (both answers), or the error an answer stands for.
fn read_task(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    if !answer.is_success() {
        let body: WavespeedErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
        let message = body.message.unwrap_or_else(|| answer.message());
        let mut err = Error::new(ErrorKind::from_http_status(answer.status), message);
        if let Some(code) = body.code {
            err = err.with_code(code);
        }
        // TEMPLATE: mark only the refusals the provider documents.
        return Err(match answer.status {
            400..=499 => err.refused(),
            _ => err,
        });
    }
    let task: WavespeedTask = answer.json("the wavespeed task")?;
    let state = match task.status.as_str() {
        "queued" => TaskState::Queued,
        "running" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::failed_because(task.error.as_deref(), None),
        other => TaskState::Unknown { raw: other.into() },
    };
    TaskStatus::new(task.id, state)
        .with_raw_status(task.status)
        .with_urls(task.urls)
}
