//! Webhooks as hints, never as truth.
//!
//! gptimage15.ai can call a `callback_url` when a task ends, but the body is
//! undocumented and unauthenticated: anyone who guesses the URL can post to
//! it. So a callback is only a *hint*: [`task_id_from_callback`] takes
//! nothing from it but a task id (a status or image URLs in the body are
//! ignored), and [`Client::on_callback`](crate::Client::on_callback) fetches
//! the task's status with the API key, hands it to any waiter on that task
//! (which then returns at once instead of at its next scheduled poll) and
//! publishes it to [`Client::subscribe_callbacks`](crate::Client::subscribe_callbacks).
//!
//! With the `axum` feature, `router` serves this as a POST endpoint.

use crate::error::Error;

/// The longest task id accepted from a callback.
pub const MAX_TASK_ID_LEN: usize = 256;

/// Extracts the task id from a webhook call: `task_id` in a JSON body (at
/// the top level or under `data`, as in gptimage15.ai's envelope), else in
/// the query string. Nothing else in the body is read.
///
/// ```
/// use imagegen_core::webhook::task_id_from_callback;
/// let body = br#"{"task_id": "n36abc", "status": "SUCCESS", "response": ["https://evil.example/x.png"]}"#;
/// assert_eq!(task_id_from_callback(body, None).unwrap(), "n36abc");
/// assert_eq!(task_id_from_callback(b"", Some("task_id=t-9&x=1")).unwrap(), "t-9");
/// assert!(task_id_from_callback(b"{}", None).is_err());
/// ```
pub fn task_id_from_callback(body: &[u8], query: Option<&str>) -> Result<String, Error> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            let id = json
                .get("task_id")
                .or_else(|| json.get("data").and_then(|d| d.get("task_id")))?;
            match id {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        });
    let from_query = || {
        url::form_urlencoded::parse(query.unwrap_or("").trim_start_matches('?').as_bytes())
            .find(|(k, _)| k == "task_id")
            .map(|(_, v)| v.into_owned())
    };
    let id = from_body
        .or_else(from_query)
        .ok_or_else(|| Error::invalid_request("the callback names no task_id"))?;
    let id = id.trim();
    let valid = !id.is_empty()
        && id.len() <= MAX_TASK_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !valid {
        return Err(Error::invalid_request(
            "the callback's task_id is empty, too long or has unexpected characters",
        ));
    }
    Ok(id.to_owned())
}

#[cfg(feature = "axum")]
pub use self::axum_router::router;

#[cfg(feature = "axum")]
mod axum_router {
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{RawQuery, State};
    use axum::http::StatusCode;
    use axum::routing::post;

    use crate::client::Client;

    #[derive(Clone)]
    struct Hook {
        client: Client,
        provider: String,
    }

    /// A router answering `POST /` for `provider`'s webhooks: 400 when the
    /// call names no valid task id, else 200 after the authenticated status
    /// fetch (whose result reaches waiters and
    /// [`Client::subscribe_callbacks`]). Nest it where the `callback_url`
    /// points:
    ///
    /// ```no_run
    /// # fn run(client: imagegen_core::Client) {
    /// let app = axum::Router::new()
    ///     .nest("/hooks/gptimage15", imagegen_core::webhook::router(client, "gptimage15"));
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
        body: Bytes,
    ) -> (StatusCode, &'static str) {
        let task_id = match super::task_id_from_callback(&body, query.as_deref()) {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(provider = hook.provider.as_str(), error = %err, "webhook refused");
                return (StatusCode::BAD_REQUEST, "no valid task_id\n");
            }
        };
        if let Err(err) = hook.client.on_callback(&hook.provider, &task_id).await {
            // The waiters poll on their own; the hint was still received.
            tracing::warn!(provider = hook.provider.as_str(), task_id, error = %err, "status fetch after webhook failed");
        }
        (StatusCode::OK, "ok\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope_and_refuses_odd_ids() {
        assert_eq!(
            task_id_from_callback(br#"{"code":200,"data":{"task_id":"abc"}}"#, None).unwrap(),
            "abc"
        );
        assert_eq!(
            task_id_from_callback(br#"{"task_id":42}"#, None).unwrap(),
            "42"
        );
        assert!(task_id_from_callback(br#"{"task_id":"../x y"}"#, None).is_err());
        assert!(task_id_from_callback(b"not json", Some("other=1")).is_err());
        // The body wins over the query.
        assert_eq!(
            task_id_from_callback(br#"{"task_id":"a"}"#, Some("task_id=b")).unwrap(),
            "a"
        );
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn the_router_answers_200_or_400_and_publishes_the_fetched_status() {
        use std::sync::Arc;

        use crate::testing::ScriptedProvider;
        use crate::{Client, ImageOutput};

        let fake = Arc::new(ScriptedProvider::runbase_like("gptimage15"));
        let client = Client::builder()
            .provider_arc(fake.clone())
            .build()
            .unwrap();
        let mut events = client.subscribe_callbacks();
        let app = axum::Router::new().nest("/hooks/gptimage15", router(client, "gptimage15"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let http = reqwest::Client::new();
        let url = format!("http://{addr}/hooks/gptimage15");
        let ok = http
            .post(&url)
            .body(
                r#"{"task_id":"t-1","status":"SUCCESS","response":["https://evil.example/x.png"]}"#,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let event = events.recv().await.unwrap();
        assert_eq!(event.status.task_id, "t-1");
        assert_eq!(
            event.status.outputs,
            [ImageOutput::Url {
                url: "https://images.invalid/t-1/0.png".into()
            }]
        );
        assert_eq!(fake.status_count("t-1"), 1);

        let bad = http.post(&url).body("{}").send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let by_query = http
            .post(format!("{url}?task_id=t-2"))
            .send()
            .await
            .unwrap();
        assert_eq!(by_query.status(), 200);
        assert_eq!(fake.status_count("t-2"), 1);
    }
}
