#![doc = include_str!("../README.md")]

pub mod generated;

use generated::*;
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Setting, Settings, Target};
use imagegen_core::codec::{build, count, wire};
use imagegen_core::signature::{self, DEFAULT_TOLERANCE, header};
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{OutputFormat, Quality, TaskLinks, TaskRef, TaskState, TaskStatus, webhook};

/// fal through the core's HTTP client: `Fal::from_env()`.
pub type Fal = imagegen_core::HttpProvider<FalCodec>;

/// fal's queue API (see the crate docs) and its webhooks' public keys.
#[derive(Debug, Clone, Default)]
pub struct FalCodec(Vec<String>);

impl Codec for FalCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "fal",
        about: "submit to a queue, poll it, fetch the result",
        api_key_var: "FAL_KEY",
        base_url_var: "FAL_BASE_URL",
        default_base_url: "https://queue.fal.run",
        sim_path: "/fal",
        auth: Auth::Scheme("Key"),
        credits_per_image: 1.0,
        settings: &[Setting {
            name: "webhook_public_keys",
            var: "FAL_WEBHOOK_PUBLIC_KEYS",
            default: None,
            about: "ED25519 keys (hex, comma-separated) fal signs webhooks with",
        }],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            default_quality: Some(Quality::High),
            max_prompt_chars: 32_000,
            max_reference_images: 16,
            input_fidelity: true,
            webhooks: true,
            max_images_per_request: 4,
            output_formats: vec![OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp],
            ..Capabilities::default()
        }
    }

    fn new(settings: &Settings) -> Result<Self, Error> {
        let keys = signature::ed25519_keys(settings.get("webhook_public_keys").unwrap_or(""));
        let hint = |e: Error| e.with_hint("check FAL_WEBHOOK_PUBLIC_KEYS");
        Ok(FalCodec(keys.map_err(hint)?))
    }

    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let size = request.aspect.map(|a| a.size().to_string());
        let http = if request.references.is_empty() {
            let body: FalGenerateRequest = build(
                FalGenerateRequest::builder()
                    .prompt(request.prompt.as_str())
                    .image_size(wire(size.as_deref())?)
                    .quality(wire(request.quality.map(|q| q.as_str()))?)
                    .num_images(count(request)?),
            )?;
            HttpRequest::post(to.url(&EDIT[..2])).json(&body, (request, "fal", &[]))?
        } else {
            let body: FalEditRequest = build(
                FalEditRequest::builder()
                    .prompt(request.prompt.as_str())
                    .image_urls(request.reference_urls())
                    .image_size(wire(size.as_deref())?)
                    .quality(wire(request.quality.map(|q| q.as_str()))?)
                    .num_images(count(request)?)
                    .input_fidelity(wire(request.input_fidelity.map(|f| f.as_str()))?),
            )?;
            HttpRequest::post(to.url(&EDIT)).json(&body, (request, "fal", &[]))?
        };
        let hook = request.callback_url.iter();
        Ok(hook.fold(http, |http, url| http.query("fal_webhook", url)))
    }
    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let sent: FalSubmitResponse = answer.json_or("the fal submit answer", error)?;
        let links = TaskLinks::new(sent.status_url, sent.response_url, sent.cancel_url);
        Ok(TaskStatus::new(sent.request_id, TaskState::Queued).with_links(links))
    }

    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        to.task_request(&task.links.status, &path(task, "status"), HttpRequest::get)
    }
    fn read_status(&self, task: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let status: FalQueueStatus = answer.json_or("the fal queue status", error)?;
        let state = match status.status.as_str() {
            "IN_QUEUE" => TaskState::Queued,
            "IN_PROGRESS" => TaskState::Running,
            "COMPLETED" | "FAILED" | "CANCELED" | "CANCELLED" => TaskState::ResultReady,
            other => TaskState::Unknown { raw: other.into() },
        };
        Ok(TaskStatus::new(task.id.clone(), state).with_raw_status(status.status))
    }
    fn result(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        to.task_request(&task.links.result, &path(task, "")[..4], HttpRequest::get)
    }
    fn read_result(&self, task: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let done = |state| TaskStatus::new(task.id.clone(), state);
        if answer.is_success() {
            let images = answer.json::<FalResult>("the fal result")?.images;
            return done(TaskState::Succeeded).with_urls(images.into_iter().map(|i| i.url));
        }
        let err = error(answer);
        let failed = TaskState::failed(err.message(), err.code().map(Into::into));
        match (answer.status, err.code()) {
            (_, Some("request_cancelled")) => Ok(done(TaskState::Cancelled)),
            (422, _) | (500.., Some(_)) => Ok(done(failed)),
            _ => Err(err),
        }
    }
    fn cancel(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        to.task_request(&task.links.cancel, &path(task, "cancel"), HttpRequest::put)
    }
    fn webhook(&self, call: &webhook::WebhookCall) -> Result<String, Error> {
        let h = |name: &str| header(call, &format!("x-fal-webhook-{name}"));
        let (id, user, time) = (h("request-id")?, h("user-id")?, h("timestamp")?);
        signature::fresh(time, call.received_at, DEFAULT_TOLERANCE)?;
        let digest = signature::sha256_hex(&call.body);
        let message = format!("{id}\n{user}\n{time}\n{digest}");
        signature::ed25519(&self.0, message.as_bytes(), h("signature")?)?;
        let hook: Option<FalWebhook> = call.json();
        webhook::task_id(&hook.map(|h| h.request_id).unwrap_or_default())
    }
}

/// The edit endpoint; without `edit`, the app: text-to-image, and requests.
const EDIT: [&str; 3] = ["fal-ai", "gpt-image-1.5", "edit"];
fn path<'a>(task: &'a TaskRef, tail: &'a str) -> [&'a str; 5] {
    [EDIT[0], EDIT[1], "requests", &task.id, tail]
}

fn error(answer: &HttpResponse) -> Error {
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let code = ["/error_type", "/detail/0/type"].map(|at| body.pointer(at)?.as_str());
    let (code, message) = (code[0].or(code[1]).map(str::to_owned), answer.message());
    let (kind, hint) = match (answer.status, code.as_deref()) {
        (_, Some("content_policy_violation")) => (ErrorKind::GenerationFailed, "rephrase it"),
        (403, _) if message.contains("balance") => (ErrorKind::InsufficientCredits, ""),
        (status, _) => (ErrorKind::from_http_status(status), ""),
    };
    let err = Error::new(kind, message).with_hint(hint).with_code_if(code);
    err.refused_if(matches!(answer.status, 400..=404 | 422 | 429))
}
