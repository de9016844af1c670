//! HTTP messages as plain data: what a [`Codec`](crate::codec::Codec)
//! asks the core to send ([`HttpRequest`]) and what came back
//! ([`HttpResponse`]). No I/O happens here; the core's
//! [`HttpTransport`](crate::HttpTransport) sends them.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::request::ImageRequest;

/// One HTTP request a codec describes: method, absolute URL, headers (the
/// core adds the API key and `user-agent`), body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL, query included.
    pub url: Url,
    /// Headers besides authentication.
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
    /// How long this exchange may take, when the codec knows better than
    /// the provider's request timeout (a create held open until the task
    /// is done). `None`: the capabilities' `request_timeout`.
    pub timeout: Option<std::time::Duration>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// JSON bytes, sent as `application/json`.
    Json(Bytes),
    /// `multipart/form-data` parts, in order.
    Multipart(Vec<Part>),
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Part {
    /// The form field name (`image[]`).
    pub name: String,
    /// What it holds.
    pub content: PartContent,
}

/// The content of a multipart part.
#[derive(Clone, PartialEq)]
pub enum PartContent {
    /// A text field.
    Text(String),
    /// A file upload.
    File {
        /// The file name sent with it.
        file_name: String,
        /// Its media type (`image/png`).
        media_type: String,
        /// Its bytes.
        data: Bytes,
    },
}

impl std::fmt::Debug for PartContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartContent::Text(text) => f.debug_tuple("Text").field(text).finish(),
            PartContent::File {
                file_name,
                media_type,
                data,
            } => f
                .debug_struct("File")
                .field("file_name", file_name)
                .field("media_type", media_type)
                .field("bytes", &data.len())
                .finish(),
        }
    }
}

impl Part {
    /// A text field.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Part {
        Part {
            name: name.into(),
            content: PartContent::Text(value.into()),
        }
    }
    /// A file upload.
    pub fn file(
        name: impl Into<String>,
        file_name: impl Into<String>,
        media_type: impl Into<String>,
        data: Bytes,
    ) -> Part {
        Part {
            name: name.into(),
            content: PartContent::File {
                file_name: file_name.into(),
                media_type: media_type.into(),
                data,
            },
        }
    }
}

impl Part {
    /// The members of JSON `object` as text fields, in order: strings as
    /// they are, other values as JSON text, `null`s left out (how a typed
    /// body becomes the text fields of a multipart form).
    pub fn fields_of(object: &serde_json::Value) -> Vec<Part> {
        let Some(object) = object.as_object() else {
            return Vec::new();
        };
        object
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => Part::text(name, text),
                other => Part::text(name, other.to_string()),
            })
            .collect()
    }
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        HttpRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            timeout: None,
        }
    }
    /// A `GET`.
    pub fn get(url: Url) -> Self {
        HttpRequest::new(Method::GET, url)
    }
    /// A `POST` (add a body).
    pub fn post(url: Url) -> Self {
        HttpRequest::new(Method::POST, url)
    }
    /// A `PUT`.
    pub fn put(url: Url) -> Self {
        HttpRequest::new(Method::PUT, url)
    }

    /// Adds a header; a value that is not a valid header value is an
    /// `InvalidRequest` error naming the header.
    pub fn header(mut self, name: &'static str, value: &str) -> Result<Self, Error> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_request(format!("`{value}` cannot be sent as header {name}"))
        })?;
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(self)
    }

    /// Lets this exchange take `timeout` (see [`HttpRequest::timeout`]).
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Appends `key=value` to the query string.
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.url.query_pairs_mut().append_pair(key, value);
        self
    }

    /// Sets a JSON body: `body` serialized, with the request's
    /// `provider_options` for `provider` merged into the object at `at`
    /// (`&[]` for the top level, `&["input"]` for a nested input object), each
    /// key replacing a mapped field of the same name.
    pub fn json(
        mut self,
        body: &impl Serialize,
        options: (&ImageRequest, &str, &[&str]),
    ) -> Result<Self, Error> {
        let (request, provider, at) = options;
        let bytes = match request.options_for(provider) {
            None => serde_json::to_vec(body),
            Some(_) => serde_json::to_value(body).and_then(|mut value| {
                let mut object = Some(&mut value);
                for key in at {
                    object = object.and_then(|o| o.get_mut(*key));
                }
                if let Some(serde_json::Value::Object(object)) = object {
                    request.merge_options_into(provider, object);
                }
                serde_json::to_vec(&value)
            }),
        }
        .map_err(|e| {
            Error::invalid_request(format!("the request could not be serialized: {e}"))
                .with_source(e)
        })?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    /// Sets a multipart body.
    pub fn multipart(mut self, parts: Vec<Part>) -> Self {
        self.body = Body::Multipart(parts);
        self
    }

    /// The JSON body, parsed, for tests and snapshots (`Null` when the
    /// body is not JSON).
    pub fn json_body(&self) -> serde_json::Value {
        match &self.body {
            Body::Json(bytes) => serde_json::from_slice(bytes).unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }
}

/// A complete HTTP answer: status, headers and the whole body.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// An answer with `status` and `body` and no headers (tests, benches).
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// The same answer with a header added (tests).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), value);
        }
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// How long the server asked us to wait, from `retry-after-ms`,
    /// `retry-after` (seconds or an HTTP date); see [`parse_retry_after`].
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(&self.headers, SystemTime::now())
    }

    /// Parses the body as JSON into `T`; a failure is an
    /// [`ErrorKind::Decode`] error naming `what` and quoting the body. It is
    /// retryable: an answer that could not be read may read next time (a
    /// create is still never resent once it may have been accepted).
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::decode(what, &self.body, e).with_retryable(true))
    }

    /// A 2xx answer's body as `T` (see [`json`](Self::json)), or for any
    /// other status the error `error` reads from the answer: how a codec
    /// reads an answer that is either the documented object or an error.
    pub fn json_or<T: DeserializeOwned>(
        &self,
        what: &str,
        error: impl FnOnce(&HttpResponse) -> Error,
    ) -> Result<T, Error> {
        if self.is_success() {
            self.json(what)
        } else {
            Err(error(self))
        }
    }

    /// An error for this answer whose kind follows from the HTTP status
    /// alone ([`ErrorKind::from_http_status`]).
    pub fn status_error(&self, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::from_http_status(self.status), message)
    }

    /// The best human message in the body, whatever its JSON shape (see
    /// [`json_text`]), else an excerpt of the body as text (see
    /// [`text_excerpt`](Self::text_excerpt)).
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|value| json_text(&value))
            .unwrap_or_else(|| self.text_excerpt(300))
    }

    /// The body as text, lossily, cut to `max` bytes, or a sentence naming
    /// the status when it is empty: for the message of an error whose body
    /// says nothing more useful.
    pub fn text_excerpt(&self, max: usize) -> String {
        let mut cut = max.min(self.body.len());
        while cut < self.body.len() && cut > 0 && (self.body[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        let text = String::from_utf8_lossy(&self.body[..cut]).trim().to_owned();
        if text.is_empty() {
            format!("the server answered HTTP {} with no message", self.status)
        } else {
            text
        }
    }
}

/// The text a person should read in a JSON error of unknown shape: a
/// non-blank string; in an object, the first of `message`, `msg`, `detail`,
/// `error`, `title` that has text; in an array, the texts joined with `; `.
///
/// ```
/// use imagegen_core::http::json_text;
/// use serde_json::json;
/// assert_eq!(json_text(&json!({"error": {"message": "bad key"}})).as_deref(), Some("bad key"));
/// assert_eq!(json_text(&json!({"detail": [{"msg": "a"}, {"msg": "b"}]})).as_deref(), Some("a; b"));
/// assert_eq!(json_text(&json!({"code": 5})), None);
/// ```
pub fn json_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
        Value::Object(object) => ["message", "msg", "detail", "error", "title"]
            .iter()
            .find_map(|key| object.get(*key).and_then(json_text)),
        Value::Array(items) => {
            let texts: Vec<String> = items.iter().filter_map(json_text).collect();
            (!texts.is_empty()).then(|| texts.join("; "))
        }
        _ => None,
    }
}

/// The longest wait a `Retry-After` header is read as. Larger values (and
/// ones too large for a [`Duration`], such as `1e300`) are clamped to it;
/// the retry policy then refuses to wait that long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(366 * 24 * 3600);

/// Reads `retry-after-ms` (OpenAI), then `retry-after` as seconds or an HTTP
/// date relative to `now`. A date in the past means "now" (zero); negative,
/// non-finite and unreadable values are ignored; huge ones are clamped to
/// [`MAX_RETRY_AFTER`]. Never panics.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = |text: &str, scale: f64| {
        let number = text.parse::<f64>().ok()?;
        if !number.is_finite() || number < 0.0 {
            return None;
        }
        let secs = number / scale;
        Some(Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
    };
    if let Some(wait) = value("retry-after-ms").and_then(|v| seconds(v, 1000.0)) {
        return Some(wait);
    }
    let raw = value("retry-after")?;
    if raw.parse::<f64>().is_ok() {
        return seconds(raw, 1.0);
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn huge_retry_after_values_are_clamped_not_a_panic() {
        let now = SystemTime::UNIX_EPOCH;
        for (name, value) in [
            ("retry-after", "1e300"),
            ("retry-after-ms", "1e300"),
            ("retry-after", "18446744073709551616"),
            ("retry-after-ms", "179769313486231570000000000000000000000"),
        ] {
            assert_eq!(
                parse_retry_after(&headers(&[(name, value)]), now),
                Some(MAX_RETRY_AFTER),
                "{name}: {value}"
            );
        }
        for value in ["NaN", "inf", "-inf", "-0.5"] {
            assert_eq!(
                parse_retry_after(&headers(&[("retry-after", value)]), now),
                None,
                "{value}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever a server sends as `retry-after` or `retry-after-ms`,
        /// reading it never panics and never yields more than the clamp.
        #[test]
        fn any_retry_after_header_is_read_without_panic(
            seconds in "\\PC{0,40}",
            millis in "[-+0-9.eE]{0,40}|inf|NaN|1e300|\\PC{0,12}",
            offset in 0u64..=u64::MAX / 4,
        ) {
            let mut map = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                map.insert("retry-after", value);
            }
            if let Ok(value) = HeaderValue::from_str(&millis) {
                map.insert("retry-after-ms", value);
            }
            let now = SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(offset))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Some(wait) = parse_retry_after(&map, now) {
                proptest::prop_assert!(wait <= MAX_RETRY_AFTER);
            }
        }
    }

    #[test]
    fn json_bodies_merge_provider_options_at_the_given_object() {
        let url = Url::parse("http://h/v1/runs").unwrap();
        let request =
            ImageRequest::new("lamp").provider_option("acme", "seed", serde_json::json!(7));
        let body = serde_json::json!({"model": "m", "input": {"prompt": "lamp"}});
        let nested = HttpRequest::post(url.clone())
            .json(&body, (&request, "acme", &["input"]))
            .unwrap();
        assert_eq!(
            nested.json_body(),
            serde_json::json!({"model": "m", "input": {"prompt": "lamp", "seed": 7}})
        );
        let top = HttpRequest::post(url.clone())
            .json(&body, (&request, "acme", &[]))
            .unwrap();
        assert_eq!(top.json_body()["seed"], 7);
        let other = HttpRequest::post(url)
            .json(&body, (&request, "other", &[]))
            .unwrap();
        assert_eq!(other.json_body(), body);
    }

    #[test]
    fn json_or_reads_successes_and_hands_failures_to_the_codec() {
        let error = |answer: &HttpResponse| answer.status_error(answer.message());
        let ok: serde_json::Value = HttpResponse::new(201, r#"{"id":1}"#)
            .json_or("a task", error)
            .unwrap();
        assert_eq!(ok["id"], 1);
        let err = HttpResponse::new(404, r#"{"detail":"gone"}"#)
            .json_or::<serde_json::Value>("a task", error)
            .unwrap_err();
        assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "gone"));
        let err = HttpResponse::new(200, "{")
            .json_or::<serde_json::Value>("a task", error)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
    }

    #[test]
    fn excerpts_never_split_a_character() {
        let answer = HttpResponse::new(502, "ééé");
        assert_eq!(answer.text_excerpt(3), "é");
        assert_eq!(
            HttpResponse::new(502, "").text_excerpt(10),
            "the server answered HTTP 502 with no message"
        );
    }
}
