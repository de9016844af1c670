#![doc = include_str!("../README.md")]

pub mod generated;

use generated::{AzureErrorBody, AzureImageEditForm, AzureImageGenerationRequest};
use imagegen_core::codec::{Auth, Codec, ProviderSpec, Setting, Settings, Target};
use imagegen_core::{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest};
use imagegen_core::{OutputFormat, RateLimit, TaskStatus};
use imagegen_openai::{DEFAULT_MODEL, OpenAiCodec};

/// Azure OpenAI through the core's HTTP client: `Azure::from_env()`.
pub type Azure = imagegen_core::HttpProvider<AzureCodec>;

/// Azure's wire format (see the crate docs): deployment and API version.
#[derive(Debug, Clone)]
pub struct AzureCodec(String, String);

impl Codec for AzureCodec {
    const SPEC: ProviderSpec = ProviderSpec {
        name: "azure",
        about: "one synchronous call to your deployment",
        api_key_var: "AZURE_OPENAI_API_KEY",
        base_url_var: "AZURE_OPENAI_ENDPOINT",
        default_base_url: "https://<resource>.openai.azure.com",
        sim_path: "/azure",
        auth: Auth::Header("api-key"),
        credits_per_image: 1.0,
        settings: &[
            Setting {
                name: "deployment",
                var: "AZURE_OPENAI_DEPLOYMENT",
                default: Some("gpt-image-1.5"),
                about: "the deployment of gpt-image-1.5 on the resource",
            },
            Setting {
                name: "api_version",
                var: "OPENAI_API_VERSION",
                default: Some("2025-04-01-preview"),
                about: "sent as ?api-version= (2025-04-01-preview or later)",
            },
        ],
    };

    fn capabilities() -> Capabilities {
        Capabilities {
            rate_limit: Some(RateLimit::new(9, std::time::Duration::from_secs(60))),
            output_formats: vec![OutputFormat::Png, OutputFormat::Jpeg],
            moderation: false,
            ..OpenAiCodec::capabilities()
        }
    }

    fn new(settings: &Settings) -> Result<Self, Error> {
        let setting = |name| settings.get(name).unwrap_or_default().trim().to_owned();
        Ok(AzureCodec(setting("deployment"), setting("api_version")))
    }

    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {
        let AzureCodec(deployment, api_version) = self;
        let base = to.url(&["openai", "deployments", deployment.as_str(), ""]);
        let url = |path: &str| base.join(path).unwrap_or_else(|_| base.clone());
        let openai = OpenAiCodec::with_model(DEFAULT_MODEL).options_of("azure");
        let http = openai.images_request(request, url)?;
        http.check_body::<AzureImageGenerationRequest, AzureImageEditForm>()?;
        Ok(http.query("api-version", api_version))
    }

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let mut status = imagegen_openai::read_images(answer).map_err(|e| error(answer, e))?;
        status.task_id = status.task_id.replacen("openai", "azure", 1);
        Ok(status)
    }
}

const FILTERED: &str = "contentFilter content_policy_violation ResponsibleAIPolicyViolation";

/// OpenAI's reading `err` of a failed answer, with Azure's content filter (any code of `FILTERED`).
fn error(answer: &HttpResponse, err: Error) -> Error {
    let body: AzureErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let body = body.error.unwrap_or_default();
    let inner = body.inner_error.unwrap_or_default();
    let code = err.code().or(inner.code.as_deref()).map(str::to_owned);
    let hint = match (inner.code.as_deref().or(code.as_deref()), answer.status) {
        (Some(c), _) if FILTERED.split(' ').any(|f| f == c) => "rephrase the prompt",
        (Some("DeploymentNotFound"), _) => return err.with_hint("check AZURE_OPENAI_DEPLOYMENT"),
        (_, 403) => return err.with_hint("check the resource's network rules and quota"),
        _ => return err,
    };
    let mut names: Vec<String> = (inner.content_filter_results.into_iter())
        .filter_map(|(name, result)| (result.filtered == Some(true)).then_some(name))
        .collect();
    names.sort();
    let message = match body.message {
        Some(text) if !names.is_empty() => format!("{text} (content filter: {})", names.join(", ")),
        _ => err.message().to_owned(),
    };
    let err = Error::new(ErrorKind::GenerationFailed, message).with_code_if(code);
    let err = err.with_hint(hint).with_retryable(false);
    err.refused_if(answer.status < 500)
}
