//! One HTTP attempt, with failures classified the same way for every provider.
//!
//! The core's [`HttpProvider`](crate::HttpProvider) hands an
//! [`HttpRequest`] (what a codec described) to [`HttpTransport::send`], which
//! sends it once, reads the body (bounded), and turns transport failures
//! into [`Error`]s that say whether the request may have reached the server.
//! That flag is what keeps a retried create from paying twice, so it is
//! decided here, once, conservatively: only a failure to connect proves the
//! server never saw the request. The overall deadline is not this module's
//! business: the retry loop bounds each attempt with it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};

use crate::budgets::DEFAULT_MAX_IN_FLIGHT;
use crate::error::{Error, ErrorKind};
use crate::http::{Body, HttpRequest, HttpResponse, PartContent};

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
            // Redirects would forward the credentials to wherever the
            // provider points; API calls are never redirected, so refuse.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpTransport { client }
    }

    /// A transport over a caller-configured client (proxies, custom roots).
    /// It should not follow redirects: the key goes with every request.
    pub fn with_client(client: reqwest::Client) -> Self {
        HttpTransport { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` once, with the `auth` header (kept out of logs as
    /// sensitive), `timeout` for the whole exchange, and reads the body.
    /// Any HTTP status is a successful send; only transport failures are
    /// errors here (the codec reads error statuses).
    pub async fn send(
        &self,
        provider: &str,
        request: HttpRequest,
        auth: Option<(&HeaderName, &HeaderValue)>,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        let fail = |err: reqwest::Error, status: Option<u16>| {
            let err = classify(provider, err, timeout);
            match status {
                Some(status) => err.with_http_status(status),
                None => err,
            }
        };
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .timeout(timeout);
        if let Some((name, value)) = auth {
            builder = builder.header(name, value);
        }
        builder = match request.body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Body::Multipart(parts) => builder.multipart(multipart(provider, parts)?),
        };
        let mut response = builder.send().await.map_err(|err| fail(err, None))?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let body = read_body(provider, response, |err| fail(err, Some(status))).await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The reqwest form for multipart `parts`.
fn multipart(
    provider: &str,
    parts: Vec<crate::http::Part>,
) -> Result<reqwest::multipart::Form, Error> {
    let mut form = reqwest::multipart::Form::new();
    for part in parts {
        form = match part.content {
            PartContent::Text(text) => form.text(part.name, text),
            PartContent::File {
                file_name,
                media_type,
                data,
            } => {
                let file = reqwest::multipart::Part::stream(data)
                    .file_name(file_name)
                    .mime_str(&media_type)
                    .map_err(|e| {
                        Error::invalid_request(format!("bad media type `{media_type}`: {e}"))
                            .with_provider(provider)
                    })?;
                form.part(part.name, file)
            }
        };
    }
    Ok(form)
}

/// Reads the whole body (capped), failing with `fail` on a transport error.
/// A body that arrives in one chunk is returned as that chunk, uncopied.
async fn read_body(
    provider: &str,
    mut response: reqwest::Response,
    fail: impl Fn(reqwest::Error) -> Error,
) -> Result<Bytes, Error> {
    let length = response.content_length();
    let status = response.status().as_u16();
    if let Some(len) = length
        && len > MAX_RESPONSE_BYTES as u64
    {
        return Err(too_large(provider, status));
    }
    let Some(first) = response.chunk().await.map_err(&fail)? else {
        return Ok(Bytes::new());
    };
    if first.len() > MAX_RESPONSE_BYTES {
        return Err(too_large(provider, status));
    }
    let Some(second) = response.chunk().await.map_err(&fail)? else {
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
    while let Some(chunk) = response.chunk().await.map_err(&fail)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large(provider, status));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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

#[cfg(test)]
#[path = "tests/transport_tests.rs"]
pub(crate) mod loopback_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: String) -> HttpRequest {
        HttpRequest::post(url::Url::parse(&url).unwrap())
    }

    #[tokio::test]
    async fn refused_connection_did_not_reach_the_server() {
        // Bind then drop a listener so the port is (almost surely) closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let transport = HttpTransport::new();
        let err = transport
            .send(
                "acme",
                post(format!("http://{addr}/runs")),
                None,
                Duration::from_secs(5),
            )
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
        let err = transport
            .send(
                "acme",
                post(format!("http://{addr}/runs")),
                None,
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.may_have_reached_server());
        server.abort();
    }
}
