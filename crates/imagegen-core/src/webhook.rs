//! Webhooks as hints, never as truth.
//!
//! A provider may call a URL when a task ends. Whoever knows the URL can
//! call it too, so a call is only a *hint*: the provider's codec takes
//! nothing from it but a task id (after verifying its signature, where the
//! provider signs webhooks), and [`Client::on_webhook`](crate::Client::on_webhook)
//! fetches that task's status with the API key, and only when this client is
//! waiting on the task. Any other call costs no API request.
//!
//! With the `axum` feature, `router` serves this as a POST endpoint that
//! answers at once: 400 for a call that names no valid task (or fails its
//! signature), 202 otherwise, the status fetch going on in the background.

use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The longest task id accepted from a webhook.
pub const MAX_TASK_ID_LEN: usize = 256;

/// One webhook call as it arrived: headers, raw body (signatures cover the
/// exact bytes), query string and arrival time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookCall {
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// When it arrived, for signature timestamp checks.
    pub received_at: SystemTime,
}

impl WebhookCall {
    /// A call received now.
    pub fn new(headers: HeaderMap, body: impl Into<Bytes>, query: Option<String>) -> Self {
        WebhookCall {
            headers,
            body: body.into(),
            query,
            received_at: SystemTime::now(),
        }
    }

    /// The value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The first of `paths` (each a list of object keys into the JSON body)
    /// that holds a string or an integer, as text; else query parameter
    /// `query`. For reading a task id out of a webhook call.
    ///
    /// ```
    /// use imagegen_core::WebhookCall;
    /// let call = WebhookCall::new(Default::default(), r#"{"data":{"id":42}}"#, None);
    /// assert_eq!(call.field(&[&["id"], &["data", "id"]], "id").as_deref(), Some("42"));
    /// let call = WebhookCall::new(Default::default(), "", Some("id=t-1".into()));
    /// assert_eq!(call.field(&[&["id"]], "id").as_deref(), Some("t-1"));
    /// ```
    pub fn field(&self, paths: &[&[&str]], query: &str) -> Option<String> {
        let body: serde_json::Value = self.json().unwrap_or_default();
        paths
            .iter()
            .find_map(|path| {
                let value = path.iter().try_fold(&body, |v, key| v.get(key))?;
                value
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| value.as_i64().map(|n| n.to_string()))
            })
            .or_else(|| self.query_param(query))
    }

    /// The body parsed as `T`, or `None` when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// `id` if it can be a task id: not empty, at most [`MAX_TASK_ID_LEN`]
/// bytes, only ASCII letters, digits and `-_.:`. Anything else is an
/// `InvalidRequest` error: a webhook's task id goes into a URL.
///
/// ```
/// use imagegen_core::webhook::task_id;
/// assert_eq!(task_id(" n36abc ").unwrap(), "n36abc");
/// assert!(task_id("../x y").is_err());
/// assert!(task_id("").is_err());
/// ```
pub fn task_id(id: &str) -> Result<String, Error> {
    let id = id.trim();
    let valid = !id.is_empty()
        && id.len() <= MAX_TASK_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if valid {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid_request(
            "the webhook's task id is empty, too long or has unexpected characters",
        ))
    }
}

#[cfg(feature = "axum")]
pub use self::axum_router::router;

#[cfg(feature = "axum")]
mod axum_router {
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{RawQuery, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    use super::WebhookCall;
    use crate::client::Client;

    #[derive(Clone)]
    struct Hook {
        client: Client,
        provider: String,
    }

    /// A router answering `POST /` for `provider`'s webhooks: 400 when the
    /// call names no valid task id or fails the provider's signature check,
    /// else 202 at once, with the authenticated status fetch (for a task the
    /// client waits on) in the background. Nest it where the webhook URL
    /// points:
    ///
    /// ```no_run
    /// # fn run(client: imagegen_core::Client) {
    /// let app = axum::Router::new()
    ///     .nest("/hooks/acme", imagegen_core::webhook::router(client, "acme"));
    /// # }
    /// ```
    pub fn router(client: Client, provider: &str) -> Router {
        Router::new().route("/", post(handle)).with_state(Hook {
            client,
            provider: provider.to_owned(),
        })
    }

    async fn handle(
        State(hook): State<Hook>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, &'static str) {
        let call = WebhookCall::new(headers, body, query);
        let task_id = match hook
            .client
            .provider(&hook.provider)
            .ok_or_else(|| crate::Error::invalid_request("unknown provider"))
            .and_then(|p| p.webhook_task(&call))
        {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(provider = hook.provider.as_str(), error = %err, "webhook refused");
                return (StatusCode::BAD_REQUEST, "not a valid webhook call\n");
            }
        };
        tokio::spawn(async move {
            if let Err(err) = hook.client.on_callback(&hook.provider, &task_id).await {
                // The waiters poll on their own; the hint was still received.
                tracing::warn!(provider = hook.provider.as_str(), task_id, error = %err, "status fetch after webhook failed");
            }
        });
        (StatusCode::ACCEPTED, "accepted\n")
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::testing::ScriptedProvider;
    use crate::{Client, ImageRequest, PollPolicy, TaskState, TaskStatus};

    #[tokio::test]
    async fn the_router_answers_at_once_and_fetches_only_for_waited_tasks() {
        let fake = Arc::new(ScriptedProvider::polled_api("acme"));
        let client = Client::builder()
            .provider_arc(fake.clone())
            .poll_policy(PollPolicy::default().with_initial_interval(Duration::from_secs(3600)))
            .build()
            .unwrap();
        let submission = client.submit(ImageRequest::new("lamp")).await.unwrap();
        let waiter = client.clone();
        let handle = submission.handles[0].clone();
        let wait = tokio::spawn(async move { waiter.wait(&handle).await });
        let app = axum::Router::new().nest("/hooks/acme", super::router(client, "acme"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/hooks/acme");
        // Let the waiter register before the calls arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;

        for i in 0..300 {
            let forged = http.post(&url).body(format!(r#"{{"task":"forged-{i}"}}"#));
            assert_eq!(forged.send().await.unwrap().status(), 202);
        }
        assert_eq!(
            http.post(&url).body("{}").send().await.unwrap().status(),
            400
        );
        let odd = http.post(&url).body(r#"{"task":"../x y"}"#);
        assert_eq!(odd.send().await.unwrap().status(), 400);
        assert_eq!(
            fake.calls().len(),
            1,
            "only the create: forged calls cost nothing"
        );

        // The waited task: answered at once, then fetched and woken.
        fake.push_status(
            "acme-1",
            Ok(TaskStatus::new("acme-1", TaskState::Succeeded)
                .with_urls(["https://i.invalid/1.png"])
                .unwrap()),
        );
        let real = http
            .post(format!("{url}?task=acme-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(real.status(), 202);
        let generation = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the webhook ends the hour-long wait")
            .unwrap()
            .unwrap();
        assert_eq!(generation.images.len(), 1);
    }
}
