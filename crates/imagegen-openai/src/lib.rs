#![doc = include_str!("../README.md")]

pub mod generated;

use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU64;
use std::time::Duration;

use generated::{OpenAiErrorBody, OpenAiImageCount, OpenAiImageEditFields};
use generated::{OpenAiImageGenerationRequest, OpenAiImagesResponse, OpenAiImagesUsage};
use imagegen_core::ReferenceInput;
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Setting, Settings, Target, Url};
use imagegen_core::codec::{build, wire};
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageOutput};
use imagegen_core::{ImageRequest, Mode, OutputFormat, Part, Quality, ReferenceImage};
use imagegen_core::{TaskState, TaskStatus, TokenUsage};

/// OpenAI's Images API through the core's HTTP client: `OpenAi::from_env()`.
pub type OpenAi = imagegen_core::HttpProvider<OpenAiCodec>;

/// The model used unless the `model` setting says otherwise.
pub const DEFAULT_MODEL: &str = "gpt-image-1.5";

/// OpenAI's Images API wire format (see the crate docs). Other APIs that
/// speak it (gateways, Azure) reuse it with [`OpenAiCodec::with_model`] and
/// their own URLs and headers.
#[derive(Debug, Clone)]
pub struct OpenAiCodec {
    model: String,
    organization: Option<String>,
    project: Option<String>,
    options: &'static str,
}

impl OpenAiCodec {
    /// The codec for `model` (`gpt-image-1.5`, `gpt-image-1`,
    /// `gpt-image-1-mini`), with no organization or project header.
    pub fn with_model(model: impl Into<String>) -> Self {
        OpenAiCodec {
            model: model.into(),
            organization: None,
            project: None,
            options: "openai",
        }
    }

    /// The same codec merging `provider_options[provider]` into its bodies,
    /// for another API that speaks this format (`openai`'s by default).
    pub fn options_of(mut self, provider: &'static str) -> Self {
        self.options = provider;
        self
    }

    /// The model in use.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The generation (JSON) or, with reference images, the edit
    /// (multipart) for `request`, to the URL `url(path)` gives for
    /// `images/generations` or `images/edits`, with the request's
    /// `provider_options` (see [`OpenAiCodec::options_of`]) merged in.
    pub fn images_request(
        &self,
        request: &ImageRequest,
        url: impl Fn(&str) -> Url,
    ) -> Result<HttpRequest, Error> {
        let n = match request.count {
            1 => None,
            n => NonZeroU64::new(n.into()).and_then(|n| OpenAiImageCount::try_from(n).ok()),
        };
        let size = request.aspect.map(|a| a.size().to_string());
        let quality = request.quality.map(|q| q.as_str());
        if request.references.is_empty() {
            let body: OpenAiImageGenerationRequest = build(
                OpenAiImageGenerationRequest::builder()
                    .model(self.model.as_str())
                    .prompt(request.prompt.as_str())
                    .n(n)
                    .quality(wire(quality)?)
                    .size(wire(size.as_deref())?),
            )?;
            return self.headers(
                HttpRequest::post(url("images/generations"))
                    .json(&body, (request, self.options, &[]))?,
            );
        }
        let fields: OpenAiImageEditFields = build(
            OpenAiImageEditFields::builder()
                .model(self.model.as_str())
                .prompt(request.prompt.as_str())
                .n(n)
                .quality(wire(quality)?)
                .size(wire(size.as_deref())?)
                .input_fidelity(wire(request.input_fidelity.map(|f| f.as_str()))?),
        )?;
        let form =
            HttpRequest::post(url("images/edits")).json(&fields, (request, self.options, &[]))?;
        let mut parts = Part::fields_of(&form.json_body());
        for reference in &request.references {
            let ReferenceImage::Inline { file_name, data } = reference else {
                return Err(Error::invalid_request(format!(
                    "reference image {} was not loaded; the client uploads files and URLs",
                    reference.describe()
                )));
            };
            let media_type = imagegen_core::download::sniff_image(data).ok_or_else(|| {
                Error::invalid_request(format!("reference image `{file_name}` is not an image"))
            })?;
            parts.push(Part::file("image[]", file_name, media_type, data.clone()));
        }
        self.headers(HttpRequest::post(form.url).multipart(parts))
    }

    fn headers(&self, mut http: HttpRequest) -> Result<HttpRequest, Error> {
        if let Some(org) = &self.organization {
            http = http.header("openai-organization", org)?;
        }
        if let Some(project) = &self.project {
            http = http.header("openai-project", project)?;
        }
        Ok(http)
    }
}

impl Codec for OpenAiCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "openai",
        about: "one synchronous call",
        api_key_var: "OPENAI_API_KEY",
        base_url_var: "OPENAI_BASE_URL",
        default_base_url: "https://api.openai.com/v1",
        sim_path: "/openai/v1",
        auth: Auth::Bearer,
        credits_per_image: 1.0,
        settings: &[
            Setting {
                name: "model",
                var: "OPENAI_IMAGE_MODEL",
                default: Some(DEFAULT_MODEL),
                about: "the gpt-image model",
            },
            Setting {
                name: "organization",
                var: "OPENAI_ORG_ID",
                default: None,
                about: "sent as OpenAI-Organization",
            },
            Setting {
                name: "project",
                var: "OPENAI_PROJECT_ID",
                default: None,
                about: "sent as OpenAI-Project",
            },
        ],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            qualities: vec![Quality::Low, Quality::Medium, Quality::High, Quality::Auto],
            default_quality: Some(Quality::Auto),
            max_prompt_chars: 32_000,
            max_reference_images: 16,
            reference_input: ReferenceInput::Uploads,
            input_fidelity: true,
            mode: Mode::Sync,
            max_images_per_request: 10,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(600),
            output_formats: vec![OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp],
            moderation: true,
            ..Capabilities::default()
        }
    }

    fn new(settings: &Settings) -> Result<Self, Error> {
        let model = settings.get("model").unwrap_or(DEFAULT_MODEL);
        wire::<generated::OpenAiImageModel>(Some(model)).map_err(|_| {
            Error::invalid_request(format!(
                "unknown model `{model}`; allowed: gpt-image-1.5, gpt-image-1, gpt-image-1-mini"
            ))
        })?;
        let mut codec = OpenAiCodec::with_model(model);
        codec.organization = settings.get("organization").map(str::to_owned);
        codec.project = settings.get("project").map(str::to_owned);
        Ok(codec)
    }

    /// `POST {base}/images/generations`, or `{base}/images/edits` with
    /// reference images; `provider_options["openai"]` merged into the body.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        self.images_request(request, |path| to.url(&path.split('/').collect::<Vec<_>>()))
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        read_images(answer)
    }
}

/// The images of a synchronous answer as a finished task, or the error the
/// answer stands for. There is no task on OpenAI's side: the id is
/// synthesized as `openai-<created>-<16 hex digits>`.
pub fn read_images(answer: &HttpResponse) -> Result<TaskStatus, Error> {
    if !answer.is_success() {
        return Err(error(answer));
    }
    let response: OpenAiImagesResponse = answer.json("the images response")?;
    let media_type = match response.output_format.as_deref() {
        Some("jpeg" | "jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => "image/png",
    };
    let mut outputs = Vec::with_capacity(response.data.len());
    for image in response.data {
        outputs.push(match (image.b64_json, image.url) {
            (Some(data), _) => {
                let data = data.into_bytes();
                let sniffed = imagegen_core::download::sniff_image(&data);
                ImageOutput::Inline {
                    media_type: sniffed.unwrap_or(media_type).to_owned(),
                    data,
                    revised_prompt: image.revised_prompt,
                }
            }
            (None, Some(url)) => ImageOutput::from_url(url)?,
            (None, None) => {
                return Err(answer.status_error("an image has neither b64_json nor url"));
            }
        });
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(outputs.len());
    let created = response.created.unwrap_or_default();
    let task_id = format!("openai-{created}-{:016x}", hasher.finish());
    let usage = response.usage.and_then(token_usage);
    Ok(TaskStatus::new(task_id, TaskState::Succeeded)
        .with_outputs(outputs)
        .with_usage(usage)
        .with_raw_status("completed"))
}

/// Usage when both the input and output counts are there; the total
/// defaults to their sum.
fn token_usage(usage: OpenAiImagesUsage) -> Option<TokenUsage> {
    let count = |n: i64| n.max(0) as u64;
    let (input_tokens, output_tokens) = (count(usage.input_tokens?), count(usage.output_tokens?));
    Some(TokenUsage {
        input_tokens,
        output_tokens,
        total_tokens: usage
            .total_tokens
            .map_or(input_tokens + output_tokens, count),
    })
}

/// The error for a non-2xx answer, `{"error":{"message","type","param","code"}}`
/// or any other body (see the crate docs for the table).
pub fn error(answer: &HttpResponse) -> Error {
    let Ok(OpenAiErrorBody { error: body }) = serde_json::from_slice(&answer.body) else {
        return refusal(answer, answer.status_error(answer.message()));
    };
    let is = |wanted: &str| {
        [&body.code, &body.type_]
            .iter()
            .any(|v| v.as_deref() == Some(wanted))
    };
    let mut message = Some(body.message.trim().to_owned()).filter(|m| !m.is_empty());
    let mut message = message.take().unwrap_or_else(|| answer.message());
    if let Some(param) = body.param.as_deref().filter(|p| !message.contains(*p)) {
        message = format!("{message} (parameter `{param}`)");
    }
    let (kind, hint) = match answer.status {
        429 if is("insufficient_quota") => (
            ErrorKind::QuotaExhausted,
            "the account's quota is used up: check billing at platform.openai.com",
        ),
        400 if is("moderation_blocked") => (
            ErrorKind::GenerationFailed,
            "OpenAI's safety system refused the prompt or reference images; rephrase",
        ),
        403 => (
            ErrorKind::Forbidden,
            "the key's organization or project may lack access to this model (gpt-image models may require a verified organization)",
        ),
        status => (ErrorKind::from_http_status(status), ""),
    };
    let quota = is("insufficient_quota").then(|| "insufficient_quota".to_owned());
    let mut err = Error::new(kind, message).with_hint(hint);
    if let Some(code) = body.code.or(quota) {
        err = err.with_code(code);
    }
    if matches!(
        kind,
        ErrorKind::QuotaExhausted | ErrorKind::GenerationFailed
    ) {
        err = err.with_retryable(false);
    }
    refusal(answer, err)
}

/// Every status OpenAI documents short of a 5xx is a refusal, and so are
/// the validation refusals of gateways that speak its API.
fn refusal(answer: &HttpResponse, err: Error) -> Error {
    err.refused_if(matches!(
        answer.status,
        400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429
    ))
}
