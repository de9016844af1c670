#![doc = include_str!("../README.md")]

pub mod generated;

use generated::{WavespeedEditRequest, WavespeedTaskResponse, WavespeedTextToImageRequest};
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Setting, Settings, Target, build, wire};
use imagegen_core::signature::{DEFAULT_TOLERANCE, Encoding, standard_webhook};
use imagegen_core::{ApiKey, Capabilities, Error, ErrorKind, HttpRequest, HttpResponse};
use imagegen_core::{ImageOutput, ImageRequest, Quality, TaskLinks, TaskRef, TaskState};
use imagegen_core::{TaskStatus, WebhookCall, webhook};

/// WaveSpeed AI through the core's HTTP client: `Wavespeed::from_env()`.
pub type Wavespeed = imagegen_core::HttpProvider<WavespeedCodec>;

/// WaveSpeed's wire format (see the crate docs) and webhook key (never shown).
#[derive(Debug, Clone, Default)]
pub struct WavespeedCodec {
    webhook_key: Option<ApiKey>,
}

impl Codec for WavespeedCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "wavespeed",
        about: "submit a task, poll it or get a signed webhook",
        api_key_var: "WAVESPEED_API_KEY",
        base_url_var: "WAVESPEED_BASE_URL",
        default_base_url: "https://api.wavespeed.ai",
        sim_path: "/wavespeed",
        auth: Auth::Bearer,
        credits_per_image: 0.1,
        settings: &[Setting {
            name: "webhook_secret",
            var: "WAVESPEED_WEBHOOK_SECRET",
            default: None,
            about: "verifies webhook calls (the `whsec_...` secret)",
        }],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            default_quality: Some(Quality::Medium),
            max_prompt_chars: 32_000,
            max_reference_images: 16,
            webhooks: true,
            ..Capabilities::default()
        }
    }

    fn new(settings: &Settings) -> Result<Self, Error> {
        let secret = settings.get("webhook_secret").map(str::trim);
        let key = secret.map(|s| ApiKey::new(s.strip_prefix("whsec_").unwrap_or(s)));
        Ok(WavespeedCodec { webhook_key: key })
    }

    /// `POST {base}/api/v3/openai/gpt-image-1.5/text-to-image`, or `.../edit` with references.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let size = request.aspect.map(|a| a.size().joined('*'));
        let (size, quality) = (size.as_deref(), request.quality.map(|q| q.as_str()));
        let url = |leaf: &str| to.url(&["api", "v3", "openai", "gpt-image-1.5", leaf]);
        let http = if request.references.is_empty() {
            let body: WavespeedTextToImageRequest = build(
                WavespeedTextToImageRequest::builder()
                    .prompt(request.prompt.as_str())
                    .size(wire(size)?)
                    .quality(wire(quality)?),
            )?;
            HttpRequest::post(url("text-to-image")).json(&body, (request, "wavespeed", &[]))?
        } else {
            let body: WavespeedEditRequest = build(
                WavespeedEditRequest::builder()
                    .prompt(request.prompt.as_str())
                    .images(request.reference_urls())
                    .size(wire(size)?)
                    .quality(wire(quality)?),
            )?;
            HttpRequest::post(url("edit")).json(&body, (request, "wavespeed", &[]))?
        };
        let webhook = request.callback_url.iter();
        Ok(webhook.fold(http, |http, url| http.query("webhook", url)))
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_task(answer)
    }

    /// `GET` the submit's `urls.get` (if on this host), else `.../predictions/{id}/result`.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let path = ["api", "v3", "predictions", task.id.as_str(), "result"];
        let link = to.link_or(task.links.status.as_deref(), &path);
        Ok(HttpRequest::get(link.unwrap_or_else(|_| to.url(&path))))
    }

    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_task(answer)
    }

    /// The task id of a call whose `v3` signature matches the secret.
    fn webhook(&self, call: &WebhookCall) -> Result<String, Error> {
        let Some(key) = &self.webhook_key else {
            let err = Error::new(ErrorKind::Unauthorized, "no webhook secret is set");
            return Err(err.with_hint("set WAVESPEED_WEBHOOK_SECRET to verify webhook calls"));
        };
        let key = key.expose().as_bytes();
        standard_webhook(call, key, "v3", Encoding::Hex, DEFAULT_TOLERANCE)?;
        let hook: Option<generated::WavespeedWebhook> = call.json();
        webhook::task_id(&hook.map(|h| h.id).unwrap_or_default())
    }
}

/// The task of an envelope (submit and result answers), or the error it stands for.
fn read_task(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    let (code, message, task) = match answer.json::<WavespeedTaskResponse>("the WaveSpeed answer") {
        Ok(envelope) => (envelope.code, envelope.message, envelope.data),
        Err(_) if !answer.is_success() => (answer.status.into(), Some(answer.message()), None),
        Err(decode) => return Err(decode),
    };
    // A task is read whatever the code: a sync-mode timeout (5004) holds a running one.
    let Some(task) = task.filter(|_| answer.is_success()) else {
        return Err(code_error(answer, code, message));
    };
    let state = match task.status.as_str() {
        "created" => TaskState::Queued,
        "processing" => TaskState::Running,
        "completed" => TaskState::Succeeded,
        "failed" | "timeout" => TaskState::failed_because(task.error.as_deref(), None),
        "cancelled" | "canceled" => TaskState::Cancelled,
        other => TaskState::Unknown { raw: other.into() },
    };
    let outputs = (task.outputs.iter()).filter(|o| !o.trim().is_empty());
    let outputs = outputs.map(|o| ImageOutput::from_text(o, "image/png"));
    let outputs = outputs.collect::<Result<_, _>>()?;
    let links = TaskLinks::default().status(task.urls.and_then(|urls| urls.get));
    let status = TaskStatus::new(task.id, state).with_raw_status(task.status);
    Ok(status.with_outputs(outputs).with_links(links))
}

/// The error of an answer without a task: by its `code` if an HTTP error status, else its HTTP status.
fn code_error(answer: &HttpResponse, code: i64, message: Option<String>) -> Error {
    let status = u16::try_from(code).ok().filter(|c| (400..600).contains(c));
    let status = status.unwrap_or(answer.status);
    let message = message.filter(|m| !m.trim().is_empty() && code != 200);
    let message = message.unwrap_or_else(|| answer.text_excerpt(300));
    let err = Error::new(ErrorKind::from_http_status(status), message.trim());
    let err = err.with_code_if((code != i64::from(answer.status)).then(|| code.to_string()));
    let retryable = err.is_retryable() || code == 200;
    err.with_retryable(retryable)
        .refused_if((400..500).contains(&status))
}
