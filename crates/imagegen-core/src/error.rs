//! The one error type of imagegen.
//!
//! Every failure, whichever provider it comes from, is an [`Error`] with an
//! [`ErrorKind`] that says what went wrong in provider-neutral terms, plus what
//! the provider said (HTTP status, its own error code and message), whether a
//! retry could help, how long the provider asked us to wait, and — for a create
//! request — whether it may have reached the server (and so may be paid for).
//!
//! `Display` prints one line meant for a person and never repeats the source
//! error; walk [`std::error::Error::source`] for the cause chain.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of failure an [`Error`] is, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was rejected as malformed or asked for something the
    /// provider does not offer. Fix the request; retrying cannot help.
    InvalidRequest,
    /// The API key is missing or was refused.
    Unauthorized,
    /// The account has no credits left for this request.
    InsufficientCredits,
    /// The key is not allowed to do this (IP allow-list, spend limit).
    Forbidden,
    /// The task or resource does not exist (for this key).
    NotFound,
    /// The provider asked us to slow down. Retryable after `retry_after`.
    RateLimited,
    /// The quota is used up; retrying is useless until it is raised.
    QuotaExhausted,
    /// The provider failed (HTTP 5xx).
    Server,
    /// A request or the overall deadline ran out.
    Timeout,
    /// The provider accepted the task but the generation failed
    /// (content policy, model error).
    GenerationFailed,
    /// The connection could not be made or broke.
    Transport,
    /// The provider answered something we could not understand.
    Decode,
    /// The caller cancelled the operation.
    Cancelled,
    /// Reading or writing a local file failed (downloads, reference images).
    Io,
    /// The provider or the operation is not implemented (yet).
    NotImplemented,
}

impl ErrorKind {
    /// Whether errors of this kind are worth retrying by default.
    ///
    /// A provider may override this for a single error (for example a 429
    /// that means "quota gone" rather than "slow down").
    pub fn retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Transport
        )
    }

    /// The kind an HTTP status means when the body says nothing more precise.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            400 | 405 | 409 | 413 | 415 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::InsufficientCredits,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Decode,
        }
    }

    /// A short, stable, lower-case name (`rate_limited`), as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::GenerationFailed => "generation_failed",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Io => "io",
            ErrorKind::NotImplemented => "not_implemented",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An imagegen error: what went wrong, where, and what can be done about it.
///
/// Build one with [`Error::new`] and the `with_*` methods:
///
/// ```
/// use imagegen_core::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::RateLimited, "too many requests")
///     .with_provider("runbase")
///     .with_http_status(429)
///     .with_code("RATE_LIMITED")
///     .with_retry_after(std::time::Duration::from_secs(2));
/// assert!(err.is_retryable());
/// assert_eq!(err.to_string(), "runbase: too many requests (HTTP 429, code RATE_LIMITED)");
/// ```
#[derive(thiserror::Error)]
#[error(transparent)]
#[non_exhaustive]
pub struct Error(Box<ErrorInner>);

// Boxed so `Result<T, Error>` stays one pointer wide on the happy path.
#[derive(thiserror::Error)]
struct ErrorInner {
    kind: ErrorKind,
    provider: Option<String>,
    http_status: Option<u16>,
    code: Option<String>,
    message: String,
    hint: Option<String>,
    retryable: bool,
    retry_after: Option<Duration>,
    /// `None` until someone decides: an HTTP provider's answer settles it.
    may_have_reached_server: Option<bool>,
    task_id: Option<String>,
    best_effort: Option<String>,
    #[source]
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind` with a human-readable `message`; retryability
    /// defaults to [`ErrorKind::retryable_by_default`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorInner {
            kind,
            provider: None,
            http_status: None,
            code: None,
            message: message.into(),
            hint: None,
            retryable: kind.retryable_by_default(),
            retry_after: None,
            may_have_reached_server: None,
            task_id: None,
            best_effort: None,
            source: None,
        }))
    }

    /// An invalid-request error, raised before anything is sent.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    /// A "not implemented" error, for provider skeletons and optional operations.
    pub fn not_implemented(provider: &str, operation: &str) -> Self {
        Error::new(
            ErrorKind::NotImplemented,
            format!("{operation} is not implemented for provider `{provider}`"),
        )
        .with_provider(provider)
    }

    /// A response body that could not be understood; keeps a bounded excerpt
    /// of the raw body for debugging.
    pub fn decode(what: &str, body: &[u8], source: impl Into<Source>) -> Self {
        const EXCERPT: usize = 300;
        let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT)]);
        let ellipsis = if body.len() > EXCERPT { "…" } else { "" };
        Error::new(
            ErrorKind::Decode,
            format!("could not parse {what}: body was `{text}{ellipsis}`"),
        )
        .with_source(source)
    }

    /// Which provider the error came from.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.0.provider = Some(provider.into());
        self
    }
    /// The HTTP status the provider answered with.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }
    /// The provider's own error code (`RATE_LIMITED`, `insufficient_quota`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = Some(code.into());
        self
    }
    /// The provider's code, when it sent one.
    pub fn with_code_if(self, code: Option<impl Into<String>>) -> Self {
        match code {
            Some(code) => self.with_code(code),
            None => self,
        }
    }
    /// What the user can do about it ("set ACME_API_KEY", "allowed: ...");
    /// an empty hint clears it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.0.hint = (!hint.is_empty()).then_some(hint);
        self
    }
    /// Overrides whether a retry could help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = retryable;
        self
    }
    /// How long the provider asked us to wait before trying again.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.0.retry_after = Some(retry_after);
        self
    }
    /// Marks that the request may have reached the server: for a create, it
    /// may have been accepted and paid for even though we saw a failure.
    pub fn with_may_have_reached_server(mut self, reached: bool) -> Self {
        self.0.may_have_reached_server = Some(reached);
        self
    }
    /// Marks that the answer proves the server refused the request before
    /// accepting any work (a documented refusal: a 4xx the provider's docs
    /// list, an error envelope with such a code). A codec says this; the
    /// core still treats every 5xx answer as possibly accepted.
    pub fn refused(self) -> Self {
        self.with_may_have_reached_server(false)
    }
    /// [`refused`](Self::refused) when `refused` holds, else unchanged.
    pub fn refused_if(self, refused: bool) -> Self {
        if refused { self.refused() } else { self }
    }
    /// What best-effort mode would do instead of refusing this request
    /// (`use medium instead`), for a capability refusal.
    pub fn with_best_effort(mut self, instead: impl Into<String>) -> Self {
        self.0.best_effort = Some(instead.into());
        self
    }
    /// The provider task this error is about, so a caller can resume it.
    pub fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        self.0.task_id = Some(task_id.into());
        self
    }
    /// The underlying cause.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.0.source = Some(source.into());
        self
    }
    /// Replaces the message, keeping everything else.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// The provider the error came from, if any.
    pub fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }
    /// The HTTP status, when the provider answered.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }
    /// The provider's own error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }
    /// The message, without provider, status or hint.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// What the user can do about it, when known.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }
    /// Whether trying again could help.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }
    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }
    /// Whether the request may have been accepted by the server. For a create
    /// this means it may have been charged: resending could pay twice. A
    /// refusal the server answered (4xx) or a failure to connect is `false`;
    /// a timeout after sending, a connection lost mid-exchange or a 5xx is
    /// `true`.
    pub fn may_have_reached_server(&self) -> bool {
        self.0.may_have_reached_server.unwrap_or(false)
    }
    /// Whether anyone decided [`may_have_reached_server`](Self::may_have_reached_server)
    /// (`None`: not yet, which reads as `false`).
    pub(crate) fn reached_decided(&self) -> Option<bool> {
        self.0.may_have_reached_server
    }
    /// For a capability refusal: what best-effort mode would do instead
    /// (`use medium instead`, `send the request without it`). A program can
    /// offer that choice without parsing the message.
    pub fn best_effort(&self) -> Option<&str> {
        self.0.best_effort.as_deref()
    }
    /// The task this error is about, if one was created.
    pub fn task_id(&self) -> Option<&str> {
        self.0.task_id.as_deref()
    }
}

impl fmt::Display for ErrorInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(provider) = &self.provider {
            write!(f, "{provider}: ")?;
        }
        f.write_str(&self.message)?;
        match (self.http_status, &self.code) {
            (Some(status), Some(code)) => write!(f, " (HTTP {status}, code {code})")?,
            (Some(status), None) => write!(f, " (HTTP {status})")?,
            (None, Some(code)) => write!(f, " (code {code})")?,
            (None, None) => {}
        }
        if let Some(task_id) = &self.task_id {
            write!(f, " [task {task_id}]")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Debug for ErrorInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(p) = &self.provider {
            d.field("provider", p);
        }
        if let Some(s) = &self.http_status {
            d.field("http_status", s);
        }
        if let Some(c) = &self.code {
            d.field("code", c);
        }
        d.field("message", &self.message);
        if let Some(h) = &self.hint {
            d.field("hint", h);
        }
        d.field("retryable", &self.retryable);
        if let Some(r) = &self.retry_after {
            d.field("retry_after", r);
        }
        if self.may_have_reached_server == Some(true) {
            d.field("may_have_reached_server", &true);
        }
        if let Some(t) = &self.task_id {
            d.field("task_id", t);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string()).with_source(err)
    }
}

/// `Result` with imagegen's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_provider_status_code_task_and_hint_but_not_source() {
        let io = std::io::Error::other("socket closed");
        let err = Error::new(ErrorKind::Unauthorized, "the API key was refused")
            .with_provider("runbase")
            .with_http_status(401)
            .with_code("invalid_api_key")
            .with_task_id("r1")
            .with_hint("set RUNBASE_API_KEY to a valid key")
            .with_source(io);
        assert_eq!(
            err.to_string(),
            "runbase: the API key was refused (HTTP 401, code invalid_api_key) [task r1]; set RUNBASE_API_KEY to a valid key"
        );
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "socket closed"
        );
    }

    #[test]
    fn retryability_follows_kind_unless_overridden() {
        assert!(Error::new(ErrorKind::Server, "boom").is_retryable());
        assert!(!Error::new(ErrorKind::InvalidRequest, "bad").is_retryable());
        assert!(
            !Error::new(ErrorKind::RateLimited, "quota gone")
                .with_retryable(false)
                .is_retryable()
        );
    }

    #[test]
    fn http_status_maps_to_kind() {
        assert_eq!(
            ErrorKind::from_http_status(402),
            ErrorKind::InsufficientCredits
        );
        assert_eq!(ErrorKind::from_http_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_http_status(503), ErrorKind::Server);
        assert_eq!(ErrorKind::from_http_status(404), ErrorKind::NotFound);
    }
}
