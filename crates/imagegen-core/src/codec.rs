//! Providers as sans-I/O codecs.
//!
//! A provider crate is its JSON Schemas (turned into wire types by
//! `cargo xtask codegen`) plus one [`Codec`]: a pure mapping from the common
//! [`ImageRequest`] to [`HttpRequest`] descriptions, and from
//! [`HttpResponse`]s back to a [`TaskStatus`] or an [`Error`]. A codec holds
//! no transport, no clock and no key; it never sleeps, retries, polls or
//! reads files. The core's [`HttpProvider`](crate::HttpProvider) sends what
//! it describes, authenticates with the key the [`ProviderSpec`] names,
//! decides whether a failed create may have been accepted, and adapts the
//! codec to the [`ImageProvider`](crate::ImageProvider) trait the client
//! drives. This is the split of smithy-rs's serializers and deserializers
//! under its orchestrator, and of rustls and quinn-proto.
//!
//! The flows a codec can express:
//!
//! * create, then poll a status (`status`/`read_status`);
//! * a status that says "finished" while the outcome comes from a separate
//!   result request ([`TaskState::ResultReady`](crate::TaskState::ResultReady),
//!   then `result`/`read_result`);
//! * status and result URLs handed out by the create answer
//!   ([`TaskLinks`](crate::TaskLinks), used through [`Target::link_or`],
//!   which refuses a link to another host so the key never leaves it);
//! * a create that may already answer finished or still running (a
//!   synchronous API, or one that holds the create open for
//!   [`Target::hold`]);
//! * failure reported inside a 2xx answer (the codec returns an error);
//! * base64 or `data:` outputs beside URLs
//!   ([`ImageOutput::from_url`](crate::ImageOutput::from_url));
//! * a webhook call turned into a task id, verified where the provider
//!   signs its webhooks (`webhook`).
//!
//! What a codec reports about a failed answer: its kind, the provider's
//! code and message, a hint, retryability, and, with [`Error::refused`],
//! that the answer proves the server refused before accepting any work.
//! Nothing else: the core decides whether a create may have been charged
//! (a 5xx answer always may, whatever its body says).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

pub use url::Url;

use crate::capabilities::Capabilities;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::provider::{TaskRef, TaskStatus};
use crate::request::ImageRequest;
use crate::webhook::WebhookCall;

/// How a provider takes its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: <scheme> <key>` (fal's `Key`).
    Scheme(&'static str),
    /// The key as the value of its own header (Azure's `api-key`).
    Header(&'static str),
}

/// A provider setting beyond key and base URL (a model, an API version, a
/// webhook secret): its name, the environment variable it is read from, and
/// its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The name codecs and [`ProviderConfig::setting`](crate::ProviderConfig::setting) use.
    pub name: &'static str,
    /// The environment variable it is read from when not set in code.
    pub var: &'static str,
    /// The value when neither is set; `None`: unset.
    pub default: Option<&'static str>,
    /// What it is, for `--help` and `imagegen providers`.
    pub about: &'static str,
}

/// Everything about a provider that is known before it has a key: the one
/// declaration the registry, the CLI, the simulator wiring and the docs read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderSpec {
    /// The name in errors, logs, task handles and `--provider` (`runbase`).
    pub name: &'static str,
    /// The API's style in a few words (`submit a run, poll it`).
    pub about: &'static str,
    /// The environment variable holding the API key.
    pub api_key_var: &'static str,
    /// The environment variable that overrides the base URL.
    pub base_url_var: &'static str,
    /// The real API's base URL.
    pub default_base_url: &'static str,
    /// Where `imagegen-sim` serves this API, appended to the simulator's
    /// address (`/runbase/api/v1`).
    pub sim_path: &'static str,
    /// How the key is sent.
    pub auth: Auth,
    /// What one image is expected to cost, in the provider's credits (an
    /// estimate for budgets before the provider reports any).
    pub credits_per_image: f64,
    /// Further settings, read from their environment variables.
    pub settings: &'static [Setting],
}

/// The resolved values of a provider's [`Setting`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(BTreeMap<String, String>);

impl Settings {
    /// The value of setting `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// Sets `name` to `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
}

/// A provider's wire format: see the [module docs](self).
///
/// Only `SPEC`, `capabilities`, `new`, `create` and `read_create` are
/// required: a synchronous API needs nothing else. An asynchronous one adds
/// `status`/`read_status`, and `result`/`read_result` if its status does not
/// carry the outcome.
pub trait Codec: fmt::Debug + Send + Sync + Sized + 'static {
    /// The provider's facts.
    const SPEC: ProviderSpec;

    /// What the provider offers.
    fn capabilities() -> Capabilities;

    /// The codec for these resolved settings (every one of
    /// [`ProviderSpec::settings`], from code, environment or default).
    fn new(settings: &Settings) -> Result<Self, Error>;

    /// The create request for `request`, already checked against the
    /// capabilities (references in the form the provider takes, `count` at
    /// most `max_images_per_request`).
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error>;

    /// The answer to a create: the new (or finished) task, or an error.
    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error>;

    /// The status request for `task`.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let _ = (task, to);
        Err(Error::not_implemented(Self::SPEC.name, "status"))
    }

    /// The answer to a status request.
    fn read_status(&self, task: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let _ = (task, answer);
        Err(Error::not_implemented(Self::SPEC.name, "status"))
    }

    /// The result request for a task whose status was
    /// [`ResultReady`](crate::TaskState::ResultReady).
    fn result(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let _ = (task, to);
        Err(Error::not_implemented(Self::SPEC.name, "result"))
    }

    /// The answer to a result request: a finished task, or an error.
    fn read_result(&self, task: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {
        let _ = (task, answer);
        Err(Error::not_implemented(Self::SPEC.name, "result"))
    }

    /// The cancel request for `task` (a 2xx answer means it was accepted).
    fn cancel(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {
        let _ = (task, to);
        Err(Error::not_implemented(Self::SPEC.name, "cancel"))
    }

    /// The task a webhook call is about, after verifying its signature
    /// where the provider signs webhooks. Only a task id is taken from the
    /// call; the client confirms with an authenticated status request.
    fn webhook(&self, call: &WebhookCall) -> Result<String, Error> {
        let _ = call;
        Err(Error::not_implemented(Self::SPEC.name, "webhooks"))
    }
}

/// `value` as wire type `T` (a generated enum, parsed from the spelling the
/// schema documents); `None` stays `None`. A value the type does not allow
/// is an `InvalidRequest` error naming it: the capability check normally
/// refuses such a request first.
pub fn wire<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<T>, Error> {
    value
        .map(|v| {
            v.parse().map_err(|_| {
                Error::invalid_request(format!("`{v}` is not a value this provider accepts"))
            })
        })
        .transpose()
}

/// The value a generated builder builds, or an `InvalidRequest` error
/// saying which field was missing or refused.
pub fn build<T, B>(builder: B) -> Result<T, Error>
where
    B: TryInto<T>,
    B::Error: fmt::Display,
{
    builder
        .try_into()
        .map_err(|e| Error::invalid_request(format!("the request cannot be sent: {e}")))
}

/// The number of images `request` asks for as wire type `T` (a generated
/// count, which checks its documented range), or `None` for one image, the
/// default everywhere, so that it is left out of the body.
///
/// ```
/// use imagegen_core::{ImageRequest, codec::count};
/// use std::num::NonZeroU64;
/// assert_eq!(count::<NonZeroU64>(&ImageRequest::new("x")).unwrap(), None);
/// assert_eq!(count::<NonZeroU64>(&ImageRequest::new("x").count(3)).unwrap().unwrap().get(), 3);
/// ```
pub fn count<T>(request: &ImageRequest) -> Result<Option<T>, Error>
where
    std::num::NonZeroU64: TryInto<T>,
    <std::num::NonZeroU64 as TryInto<T>>::Error: fmt::Display,
{
    match std::num::NonZeroU64::new(request.count.into()) {
        Some(n) if n.get() > 1 => build(n).map(Some),
        _ => Ok(None),
    }
}

/// Bytes that travel as base64 text in JSON (an image in an answer). They
/// are decoded while the answer is parsed, straight from the answer's text,
/// so a response of several megabytes is never copied as a `String` first.
/// A schema names this type for a property with
/// `"x-rust-type": {"crate": "imagegen-core", "version": "0.1.0", "path": "imagegen_core::codec::Base64Data"}`.
///
/// ```
/// use imagegen_core::codec::Base64Data;
/// let data: Base64Data = serde_json::from_str(r#""aGk=""#).unwrap();
/// assert_eq!(data.as_bytes(), b"hi");
/// assert_eq!(serde_json::to_string(&data).unwrap(), r#""aGk=""#);
/// assert!(serde_json::from_str::<Base64Data>(r#""%%%""#).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Data(bytes::Bytes);

impl Base64Data {
    /// The decoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The decoded bytes, owned.
    pub fn into_bytes(self) -> bytes::Bytes {
        self.0
    }
}

impl fmt::Debug for Base64Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Data({} bytes)", self.0.len())
    }
}

impl serde::Serialize for Base64Data {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Base64Data {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Base64Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 text")
            }
            // Borrowed text (the usual case) arrives here too: no copy.
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Base64Data, E> {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim().as_bytes())
                    .map(|bytes| Base64Data(bytes.into()))
                    .map_err(|e| E::custom(format!("not valid base64: {e}")))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// A provider's base URL, parsed once, that endpoint paths are appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// Parses `url`; it must be an absolute `http(s)` URL.
    pub fn parse(url: &str) -> Result<BaseUrl, Error> {
        match Url::parse(url.trim().trim_end_matches('/')) {
            Ok(url) if !url.cannot_be_a_base() && matches!(url.scheme(), "http" | "https") => {
                Ok(BaseUrl(url))
            }
            _ => Err(Error::invalid_request(format!(
                "base URL `{url}` is not a valid http(s) URL"
            ))),
        }
    }

    /// The base URL with `segments` appended, each percent-encoded as one
    /// path segment (so an id holding `/`, `?` or `#` stays one segment).
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The base URL itself, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// Whether `url` is on the same scheme, host and port.
    pub fn same_origin(&self, url: &Url) -> bool {
        self.0.origin() == url.origin()
    }
}

/// Where and how a request goes: the base URL, plus what the caller allows
/// a create to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Target<'a> {
    base: &'a BaseUrl,
    /// How long a create may be held open until the task is done (see
    /// [`SubmitOptions::hold`](crate::SubmitOptions::hold)); `None` for other
    /// requests and when the caller only submits.
    pub hold: Option<Duration>,
    /// How long the caller will wait for the task in all, if it said.
    pub deadline: Option<Duration>,
    /// When the request is made, for codecs that put a time in it.
    pub now: SystemTime,
}

impl<'a> Target<'a> {
    /// A target on `base`, with no hold and no deadline.
    pub fn new(base: &'a BaseUrl) -> Self {
        Target {
            base,
            hold: None,
            deadline: None,
            now: SystemTime::now(),
        }
    }

    /// Sets the hold and deadline.
    pub fn with(mut self, hold: Option<Duration>, deadline: Option<Duration>) -> Self {
        self.hold = hold;
        self.deadline = deadline;
        self
    }

    /// The base URL.
    pub fn base(&self) -> &BaseUrl {
        self.base
    }

    /// The base URL with `segments` appended (see [`BaseUrl::endpoint`]).
    pub fn url(&self, segments: &[&str]) -> Url {
        self.base.endpoint(segments)
    }

    /// `link` (a URL the provider handed out for a task) when given, else
    /// the base URL with `segments`. A link to another scheme, host or port
    /// than the base URL is refused: the API key is sent with the request,
    /// and must never go where the configured host did not.
    pub fn link_or(&self, link: Option<&str>, segments: &[&str]) -> Result<Url, Error> {
        let Some(link) = link else {
            return Ok(self.url(segments));
        };
        match Url::parse(link) {
            Ok(url) if self.base.same_origin(&url) => Ok(url),
            _ => Err(Error::new(
                crate::ErrorKind::Decode,
                format!(
                    "the provider handed out the link `{link}`, which is not on the configured host {}; refusing to send the API key there",
                    self.base.as_str()
                ),
            )
            .with_retryable(false)),
        }
    }

    /// The request `make` (`HttpRequest::get`, `put`, `post`) builds for a
    /// task's `link` when its create answer handed one out, else for the
    /// base URL with `segments` (see [`link_or`](Self::link_or)).
    pub fn task_request(
        &self,
        link: &Option<String>,
        segments: &[&str],
        make: fn(Url) -> HttpRequest,
    ) -> Result<HttpRequest, Error> {
        Ok(make(self.link_or(link.as_deref(), segments)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_percent_encoded_segments() {
        let base = BaseUrl::parse("http://127.0.0.1:9/v1/").unwrap();
        assert_eq!(base.as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(base.endpoint(&[]).as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(
            base.endpoint(&["runs", "a/b c?d"]).as_str(),
            "http://127.0.0.1:9/v1/runs/a%2Fb%20c%3Fd"
        );
        let bare = BaseUrl::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(
            bare.endpoint(&["status"]).as_str(),
            "http://127.0.0.1:9/status"
        );
        for bad in ["http://exa mple.com/v1", "ftp://h/x", "runbase.net", ""] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_must_stay_on_the_configured_host() {
        let base = BaseUrl::parse("https://queue.example/v1").unwrap();
        let target = Target::new(&base);
        assert_eq!(
            target
                .link_or(Some("https://queue.example/app/requests/1/status"), &[])
                .unwrap()
                .as_str(),
            "https://queue.example/app/requests/1/status"
        );
        assert_eq!(
            target.link_or(None, &["x"]).unwrap().as_str(),
            "https://queue.example/v1/x"
        );
        let link = Some("https://queue.example/app/requests/1".to_owned());
        let put = target
            .task_request(&link, &["x"], HttpRequest::put)
            .unwrap();
        assert_eq!(
            (put.method.as_str(), put.url.as_str()),
            ("PUT", "https://queue.example/app/requests/1")
        );
        let get = target
            .task_request(&None, &["x"], HttpRequest::get)
            .unwrap();
        assert_eq!(get.url.as_str(), "https://queue.example/v1/x");
        for elsewhere in [
            "https://evil.example/steal",
            "http://queue.example/v1/x",
            "https://queue.example:444/x",
            "not a url",
        ] {
            let err = target.link_or(Some(elsewhere), &[]).unwrap_err();
            assert!(err.to_string().contains("refusing"), "{elsewhere}: {err}");
        }
    }
}
