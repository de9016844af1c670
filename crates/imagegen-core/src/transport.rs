//! One HTTP attempt, with failures classified the same way for every provider.
//!
//! Providers build a `reqwest` request and hand it to
//! [`HttpTransport::send`], which sends it once, reads the body (bounded), and
//! turns transport failures into [`Error`]s that say whether the request may
//! have reached the server. That flag is what keeps a retried create from
//! paying twice, so it is decided here, once, conservatively: only a failure
//! to connect proves the server never saw the request.
//!
//! Inside the client's retry loop, the request's timeout is also cut to the
//! operation's deadline, so one timer bounds the attempt (see the
//! [`retry`](crate::retry) module docs).

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::budgets::DEFAULT_MAX_IN_FLIGHT;
use crate::error::{Error, ErrorKind};
use crate::retry::{attempt_deadline, covering_deadline, deadline_cut};

/// The most a response body may hold: OpenAI returns up to ten base64 images
/// in one JSON body.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A shared HTTP client. Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::new()
    }
}

impl HttpTransport {
    /// A transport with imagegen's defaults: rustls, a 10 s connect timeout,
    /// at most [`DEFAULT_MAX_IN_FLIGHT`] idle connections kept per host, and
    /// a `user-agent` naming imagegen.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("imagegen/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            // As many as an account may have in flight: enough to reuse
            // every connection a burst opened, never one per job.
            .pool_max_idle_per_host(DEFAULT_MAX_IN_FLIGHT)
            // Redirects would forward the Authorization header to wherever the
            // provider points; API calls are never redirected, so refuse.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the default reqwest client configuration is valid");
        HttpTransport { client }
    }

    /// A transport over a caller-configured client (proxies, custom roots).
    pub fn with_client(client: reqwest::Client) -> Self {
        HttpTransport { client }
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` once with `timeout` for the whole exchange and reads
    /// the body. Any HTTP status is a successful send; only transport failures
    /// are errors here (the provider turns error statuses into errors).
    ///
    /// Called within a [`Client`](crate::Client)'s retry loop, the timeout is
    /// also cut to the operation's deadline; a request cut there fails as the
    /// loop reports a deadline ([`ErrorKind::Timeout`], not retryable, may
    /// have reached the server).
    pub async fn send(
        &self,
        provider: &str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        let Some(deadline) = attempt_deadline() else {
            return exchange(provider, request, timeout, false).await;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_cut(provider));
        }
        let cut = left <= timeout;
        exchange(provider, request, timeout.min(left), cut).await
    }
}

/// One exchange with `timeout` for all of it; `cut`: that timeout is the
/// retry loop's deadline, so running out of it is a deadline error. Every
/// step is awaited through [`covering_deadline`]: inside a retry loop its
/// timer ends by the deadline, so the loop needs none (outside one the claim
/// is never read).
async fn exchange(
    provider: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
    cut: bool,
) -> Result<HttpResponse, Error> {
    let mut response = covering_deadline(request.timeout(timeout).send())
        .await
        .map_err(|err| failure(provider, err, timeout, cut, None))?;
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let body = read_body(provider, response, |err| {
        failure(provider, err, timeout, cut, Some(status))
    })
    .await?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A failed exchange as an [`Error`]: the retry loop's deadline error if
/// `timeout` was that deadline (`cut`) and ran out, else [`classify`]'s, with
/// the `status` if the response head had arrived.
fn failure(
    provider: &str,
    err: reqwest::Error,
    timeout: Duration,
    cut: bool,
    status: Option<u16>,
) -> Error {
    // A connect timeout is the connector's own (10 s), not the deadline.
    if cut && err.is_timeout() && !err.is_connect() {
        return deadline_cut(provider);
    }
    let err = classify(provider, err, timeout);
    match status {
        Some(status) => err.with_http_status(status),
        None => err,
    }
}

/// Reads the whole body (capped), failing with `fail` on a transport error.
/// A body that arrives in one chunk is returned as that chunk, uncopied.
async fn read_body(
    provider: &str,
    mut response: reqwest::Response,
    fail: impl Fn(reqwest::Error) -> Error,
) -> Result<Bytes, Error> {
    let length = response.content_length();
    if let Some(len) = length
        && len as usize > MAX_RESPONSE_BYTES
    {
        return Err(too_large(provider, status_of(&response)));
    }
    let status = status_of(&response);
    let Some(first) = covering_deadline(response.chunk()).await.map_err(&fail)? else {
        return Ok(Bytes::new());
    };
    if first.len() > MAX_RESPONSE_BYTES {
        return Err(too_large(provider, status));
    }
    let Some(second) = covering_deadline(response.chunk()).await.map_err(&fail)? else {
        return Ok(first);
    };
    let so_far = first.len() + second.len();
    if so_far > MAX_RESPONSE_BYTES {
        return Err(too_large(provider, status));
    }
    // The announced length is only a hint (capped above), but usually right:
    // one allocation instead of a doubling series.
    let capacity = length.map_or(so_far, |len| (len as usize).max(so_far));
    let mut body = BytesMut::with_capacity(capacity);
    body.extend_from_slice(&first);
    body.extend_from_slice(&second);
    while let Some(chunk) = covering_deadline(response.chunk()).await.map_err(&fail)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large(provider, status));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn status_of(response: &reqwest::Response) -> u16 {
    response.status().as_u16()
}

fn too_large(provider: &str, status: u16) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("response body larger than {MAX_RESPONSE_BYTES} bytes"),
    )
    .with_provider(provider)
    .with_http_status(status)
    .with_retryable(false)
    .with_may_have_reached_server(true)
}

/// Turns a reqwest failure into an [`Error`], deciding whether the request
/// may have reached the server.
fn classify(provider: &str, err: reqwest::Error, timeout: Duration) -> Error {
    let (kind, message, reached) = if err.is_builder() {
        (
            ErrorKind::InvalidRequest,
            "the request could not be built (is the base URL valid?)".to_owned(),
            false,
        )
    } else if err.is_connect() {
        // Includes connect timeouts: the TCP/TLS handshake never completed,
        // so no byte of the request was sent.
        let host = err
            .url()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        (
            ErrorKind::Transport,
            format!("could not connect to {host}"),
            false,
        )
    } else if err.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("no complete answer within {timeout:?}"),
            true,
        )
    } else {
        (
            ErrorKind::Transport,
            "the connection failed during the exchange".to_owned(),
            true,
        )
    };
    let retryable = kind != ErrorKind::InvalidRequest;
    Error::new(kind, message)
        .with_provider(provider)
        .with_retryable(retryable)
        .with_may_have_reached_server(reached)
        .with_source(err.without_url())
}

/// A complete HTTP answer: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// How long the server asked us to wait, from `retry-after-ms`,
    /// `retry-after` (seconds or an HTTP date).
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(&self.headers, SystemTime::now())
    }

    /// Parses the body as JSON into `T`; a failure is an
    /// [`ErrorKind::Decode`] error naming `what` and quoting the body.
    pub fn json<T: DeserializeOwned>(&self, provider: &str, what: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::decode(what, &self.body, e)
                .with_provider(provider)
                .with_http_status(self.status)
        })
    }

    /// An error for this response when the body says nothing more precise
    /// than the status: kind from the status, `retry-after` attached, and a
    /// 5xx marked as possibly accepted (the server got the request and may
    /// have acted on it before failing; a 4xx is a refusal).
    pub fn status_error(&self, provider: &str, message: impl Into<String>) -> Error {
        let kind = ErrorKind::from_http_status(self.status);
        let mut error = Error::new(kind, message)
            .with_provider(provider)
            .with_http_status(self.status)
            .with_may_have_reached_server(self.status >= 500);
        if let Some(wait) = self.retry_after() {
            error = error.with_retry_after(wait);
        }
        error
    }

    /// The body as text, lossily, cut to `max` bytes; for error messages.
    pub fn text_excerpt(&self, max: usize) -> String {
        let cut = &self.body[..self.body.len().min(max)];
        String::from_utf8_lossy(cut).trim().to_owned()
    }
}

/// Reads `retry-after-ms` (OpenAI), then `retry-after` as whole seconds or
/// an HTTP date relative to `now`. A date in the past means "now" (zero).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = value("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let raw = value("retry-after")?;
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[path = "tests/transport_tests.rs"]
pub(crate) mod loopback_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_ms_and_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "3"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", &later)]), now),
            Some(Duration::from_secs(7))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", &earlier)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "-1")]), now),
            None
        );
    }

    #[tokio::test]
    async fn refused_connection_did_not_reach_the_server() {
        // Bind then drop a listener so the port is (almost surely) closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let transport = HttpTransport::new();
        let request = transport.client().post(format!("http://{addr}/runs"));
        let err = transport
            .send("runbase", request, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport);
        assert!(!err.may_have_reached_server());
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_timeout_after_sending_may_have_reached_the_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and read, never answer.
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let transport = HttpTransport::new();
        let request = transport
            .client()
            .post(format!("http://{addr}/runs"))
            .body("{}");
        let err = transport
            .send("runbase", request, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.may_have_reached_server());
        server.abort();
    }
}
