#![doc = include_str!("../README.md")]

pub mod generated;

use std::time::Duration;

use generated::Gptimage15GenerateEnvelope as Created;
use generated::Gptimage15StatusEnvelope as Polled;
use generated::{Gptimage15ErrorBody, Gptimage15GenerateRequest, Gptimage15TaskResponse};
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Settings, Target, build, wire};
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{Quality, TaskRef, TaskState, TaskStatus, WebhookCall, webhook};
use serde::de::DeserializeOwned;

/// gptimage15.ai through the core's HTTP client: `Gptimage15::from_env()`.
pub type Gptimage15 = imagegen_core::HttpProvider<Gptimage15Codec>;

/// gptimage15.ai's wire format (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gptimage15Codec;

impl Codec for Gptimage15Codec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "gptimage15",
        about: "submit a task, poll it or get a callback",
        api_key_var: "GPTIMAGE15_API_KEY",
        base_url_var: "GPTIMAGE15_BASE_URL",
        default_base_url: "https://gptimage15.ai/api",
        sim_path: "/gptimage15/api",
        auth: Auth::Bearer,
        credits_per_image: 10.0,
        settings: &[],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            default_quality: Some(Quality::Medium),
            max_prompt_chars: 2000,
            max_reference_images: 16,
            input_fidelity: true,
            webhooks: true,
            poll_interval: Duration::from_secs(5),
            ..Capabilities::default()
        }
    }

    fn new(_: &Settings) -> Result<Self, Error> {
        Ok(Gptimage15Codec)
    }

    /// `POST {base}/generate`; `provider_options["gptimage15"]` merged in.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let size = request.aspect.map(|a| a.size().joined('*'));
        let body: Gptimage15GenerateRequest = build(
            Gptimage15GenerateRequest::builder()
                .prompt(request.prompt.as_str())
                .size(wire(size.as_deref())?)
                .quality(wire(request.quality.map(|q| q.as_str()))?)
                .images(request.reference_urls())
                .input_fidelity(wire(request.input_fidelity.map(|f| f.as_str()))?)
                .callback_url(request.callback_url.clone()),
        )?;
        HttpRequest::post(to.url(&["generate"])).json(&body, (request, "gptimage15", &[]))
    }

    /// Only an acknowledgement: queued for `PENDING`, running otherwise.
    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let data = open(answer, |e: Created| (e.code, e.message, e.data))?;
        let raw = data.status.to_string();
        let state = match raw.trim().eq_ignore_ascii_case("PENDING") {
            true => TaskState::Queued,
            false => TaskState::Running,
        };
        Ok(TaskStatus::new(data.task_id, state).with_raw_status(raw))
    }

    /// `GET {base}/status?task_id=...`.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        Ok(HttpRequest::get(to.url(&["status"])).query("task_id", &task.id))
    }

    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let task = open(answer, |e: Polled| (e.code, e.message, e.data))?;
        let raw = task.status.to_string();
        let state = match raw.trim().to_ascii_uppercase().as_str() {
            "PENDING" => TaskState::Queued,
            "IN_PROGRESS" | "0" => TaskState::Running,
            "SUCCESS" | "1" => TaskState::Succeeded,
            "FAILED" | "-1" => TaskState::failed_because(task.error_message.as_deref(), None),
            _ => TaskState::Unknown { raw: raw.clone() },
        };
        let urls = match (&state, task.response) {
            (TaskState::Succeeded, Some(Gptimage15TaskResponse::Array(urls))) => urls,
            (TaskState::Succeeded, Some(Gptimage15TaskResponse::String(text))) => match text.trim()
            {
                "" => Vec::new(),
                url if url.starts_with("http") => vec![url.to_owned()],
                t => serde_json::from_str(t)
                    .map_err(|e| Error::decode("`response`", t.as_bytes(), e))?,
            },
            _ => Vec::new(),
        };
        TaskStatus::new(task.task_id, state)
            .with_credits(task.consumed_credits.or(task.consumed_credit))
            .with_raw_status(raw)
            .with_urls(urls)
    }

    /// `task_id` at the top of a JSON body or under `data`, else in the query.
    fn webhook(&self, call: &WebhookCall) -> Result<String, Error> {
        let id = call.field(&[&["task_id"], &["data", "task_id"]], "task_id");
        webhook::task_id(&id.unwrap_or_default())
    }
}

type Parts<D> = (i64, Option<String>, Option<D>);

/// Envelope `E`'s `data` if its code is 200 and HTTP 2xx, else the error it stands for.
fn open<E: DeserializeOwned, D>(
    answer: &HttpResponse,
    parts: fn(E) -> Parts<D>,
) -> Result<D, Error> {
    let (code, message, data) = match answer.json::<E>("the gptimage15.ai envelope") {
        Ok(envelope) => parts(envelope),
        Err(decode) => match serde_json::from_slice::<Gptimage15ErrorBody>(&answer.body) {
            Ok(e) => (e.code, e.message, None),
            Err(_) if !answer.is_success() => {
                let err = answer.status_error(answer.message());
                return Err(err.refused_if(answer.status < 500));
            }
            Err(_) => return Err(decode),
        },
    };
    if code != 200 || !answer.is_success() {
        return Err(code_error(answer, code, message));
    }
    let missing = "the gptimage15.ai envelope (code 200 without data)";
    data.ok_or_else(|| Error::decode(missing, &answer.body, "no data").with_retryable(true))
}

/// The error for an envelope `code`: the kind an HTTP status of that number
/// means (else the real HTTP status's); a 4xx code is a refusal.
fn code_error(answer: &HttpResponse, code: i64, message: Option<String>) -> Error {
    let status = u16::try_from(code).ok().filter(|c| (400..600).contains(c));
    let kind = ErrorKind::from_http_status(status.unwrap_or(answer.status));
    let message = message.filter(|m| !m.trim().is_empty());
    let message = message.unwrap_or_else(|| format!("code {code} with no message"));
    let err = Error::new(kind, message.trim()).refused_if(matches!(status, Some(400..=499)));
    err.with_code_if((code != 200).then(|| code.to_string()))
}
