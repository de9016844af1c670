#![doc = include_str!("../README.md")]

pub mod generated;

use std::time::Duration;

use generated::ReplicateWebhookEvent::Completed;
use generated::*;
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Setting, Settings, Target};
use imagegen_core::codec::{build, count, wire};
use imagegen_core::signature::{self, DEFAULT_TOLERANCE, Encoding};
use imagegen_core::{ApiKey, Capabilities, Error, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{OutputFormat, Quality, RateLimit, TaskLinks, TaskRef, TaskState, TaskStatus};
use imagegen_core::{http::json_text, webhook};

/// Replicate through the core's HTTP client: `Replicate::from_env()`.
pub type Replicate = imagegen_core::HttpProvider<ReplicateCodec>;

/// Replicate's predictions API (see the crate docs) and its webhook secret.
#[derive(Debug, Clone, Default)]
pub struct ReplicateCodec(Option<ApiKey>);

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Codec for ReplicateCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "replicate",
        about: "create a prediction, held open until done or polled",
        api_key_var: "REPLICATE_API_TOKEN",
        base_url_var: "REPLICATE_BASE_URL",
        default_base_url: "https://api.replicate.com/v1",
        sim_path: "/replicate/v1",
        auth: Auth::Bearer,
        credits_per_image: 1.0,
        settings: &[Setting {
            name: "webhook_secret",
            var: "REPLICATE_WEBHOOK_SECRET",
            default: None,
            about: "the secret (whsec_...) Replicate signs webhooks with",
        }],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            qualities: Quality::ALL.to_vec(),
            default_quality: Some(Quality::Auto),
            max_prompt_chars: 32_000,
            max_reference_images: 16,
            input_fidelity: true,
            webhooks: true,
            max_images_per_request: 10,
            poll_interval: Duration::from_secs(1),
            rate_limit: Some(RateLimit::new(600, Duration::from_secs(60))),
            output_formats: vec![OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp],
            moderation: true,
            ..Capabilities::default()
        }
    }

    fn new(settings: &Settings) -> Result<Self, Error> {
        let secret = settings.get("webhook_secret").map(ApiKey::new);
        secret.as_ref().map(key).transpose()?;
        Ok(ReplicateCodec(secret))
    }

    /// Held open with `Prefer: wait` while the caller waits (see the docs).
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let input = ReplicateInput::builder()
            .prompt(request.prompt.as_str())
            .aspect_ratio(wire(request.aspect.map(|a| a.as_ratio()))?)
            .quality(wire(request.quality.map(|q| q.as_str()))?)
            .input_images(request.reference_urls())
            .input_fidelity(wire(request.input_fidelity.map(|f| f.as_str()))?)
            .number_of_images(count(request)?)
            .output_format(ReplicateOutputFormat::Png);
        let events: Vec<_> = request.callback_url.iter().map(|_| Completed).collect();
        let body: ReplicatePredictionRequest = build(
            ReplicatePredictionRequest::builder()
                .input(input)
                .webhook(request.callback_url.clone())
                .webhook_events_filter(events),
        )?;
        let url = to.url(&["models", "openai", "gpt-image-1.5", "predictions"]);
        let http = HttpRequest::post(url).json(&body, (request, "replicate", &["input"]))?;
        let Some(wait) = to.hold.map(|h| h.as_secs().min(60)).filter(|s| *s > 0) else {
            return Ok(http);
        };
        let http = http.header("prefer", &format!("wait={wait}"))?;
        let http = http.timeout(Duration::from_secs(wait) + REQUEST_TIMEOUT);
        match to.deadline.map(|d| d.as_secs().max(1)) {
            Some(secs) => http.header("cancel-after", &format!("{secs}s")),
            None => Ok(http),
        }
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read(answer)
    }
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let path = ["predictions", &task.id];
        to.task_request(&task.links.status, &path, HttpRequest::get)
    }
    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read(answer)
    }
    fn cancel(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let path = ["predictions", &task.id, "cancel"];
        to.task_request(&task.links.cancel, &path, HttpRequest::post)
    }

    fn webhook(&self, call: &webhook::WebhookCall) -> Result<String, Error> {
        let unset = || signature::unverifiable("REPLICATE_WEBHOOK_SECRET");
        let key = key(self.0.as_ref().ok_or_else(unset)?)?;
        signature::standard_webhook(call, &key, "v1", Encoding::Base64, DEFAULT_TOLERANCE)?;
        let prediction: Option<ReplicatePrediction> = call.json();
        webhook::task_id(&prediction.map(|p| p.id).unwrap_or_default())
    }
}

fn key(secret: &ApiKey) -> Result<Vec<u8>, Error> {
    let hint = |e: Error| e.with_hint("check REPLICATE_WEBHOOK_SECRET");
    signature::standard_secret(secret.expose()).map_err(hint)
}

fn read(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    let prediction: ReplicatePrediction = answer.json_or("the Replicate prediction", error)?;
    let failure = prediction.error.as_ref().and_then(json_text);
    let state = match prediction.status.as_str() {
        "starting" => TaskState::Queued,
        "processing" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::failed_because(failure.as_deref(), None),
        "canceled" | "cancelled" | "aborted" => TaskState::Cancelled,
        other => TaskState::Unknown { raw: other.into() },
    };
    let urls = prediction.output.filter(|_| state == TaskState::Succeeded);
    let links = prediction.urls.unwrap_or_default();
    let get = links.get.or(answer.header("location").map(Into::into));
    let task = TaskStatus::new(prediction.id, state).with_raw_status(prediction.status);
    task.with_links(TaskLinks::new(get, None, links.cancel))
        .with_reported_times(prediction.created_at, prediction.completed_at)
        .with_urls(urls.unwrap_or_default())
}

fn error(answer: &HttpResponse) -> Error {
    let body: ReplicateErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let code = body.type_.or(body.title);
    let err = answer.status_error(answer.message()).with_code_if(code);
    err.refused_if(matches!(answer.status, 400..=404 | 409 | 422 | 429))
}
