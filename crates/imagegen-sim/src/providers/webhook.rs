//! Signed webhooks of fal, Replicate and WaveSpeed.
//!
//! Each is a JSON `POST` (`content-type: application/json`, `user-agent:
//! imagegen-sim`), signed at every attempt with the attempt's unix time:
//!
//! | seller | headers | signed content | signature |
//! |---|---|---|---|
//! | fal | `X-Fal-Webhook-Request-Id`, `X-Fal-Webhook-User-Id`, `X-Fal-Webhook-Timestamp`, `X-Fal-Webhook-Signature` | `request_id \n user_id \n timestamp \n hex(sha256(body))` | ED25519, hex (128 digits) |
//! | Replicate | `webhook-id`, `webhook-timestamp`, `webhook-signature` | `id.timestamp.body` | `v1,` + base64 HMAC-SHA256, key = base64-decode of the secret after `whsec_` |
//! | WaveSpeed | `webhook-id`, `webhook-timestamp`, `webhook-signature` | `id.timestamp.body` | `v3,` + hex HMAC-SHA256, key = the secret after `whsec_`, as is |
//!
//! Decisions: fal's user id is `sim-user-` plus 8 hex digits derived from
//! the API key; the fal key pair comes from [`crate::SimConfig::fal_webhook_seed`].
//! Delivery is like gptimage15's callback: a non-2xx answer or a transport
//! error is retried 3 more times after 100 ms, 400 ms and 1.6 s (fal says
//! 10 times over 2 hours, Replicate "a few times": the sim keeps tests
//! short), with the same `webhook-id` / request id; the outcome is booked in
//! the ledger (`callbacks_delivered` / `callbacks_failed`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Provider;
use crate::faults::mix;
use crate::state::AppState;

/// One webhook to send.
pub(crate) struct Hook {
    pub provider: Provider,
    /// The API key of the task (ledger, fal user id).
    pub key: String,
    pub url: String,
    /// `webhook-id` (Replicate, WaveSpeed) or the request id (fal).
    pub id: String,
    pub body: Vec<u8>,
}

/// The fal user id the sim signs webhooks of `key` with.
pub(crate) fn fal_user_id(key: &str) -> String {
    let mut h = 0u64;
    for b in key.bytes() {
        h = mix(h ^ u64::from(b));
    }
    format!("sim-user-{:08x}", h as u32)
}

fn hmac_sha256(key: &[u8], content: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(content);
    mac.finalize().into_bytes().to_vec()
}

/// The key bytes of a `whsec_` secret: base64-decoded (Replicate) or as is
/// (WaveSpeed).
fn secret_key(secret: &str, decode: bool) -> Vec<u8> {
    let rest = secret.strip_prefix("whsec_").unwrap_or(secret);
    if decode {
        base64::engine::general_purpose::STANDARD
            .decode(rest)
            .unwrap_or_else(|_| rest.as_bytes().to_vec())
    } else {
        rest.as_bytes().to_vec()
    }
}

/// The signature headers of `hook` sent at `timestamp` (unix seconds).
pub(crate) fn sign(state: &AppState, hook: &Hook, timestamp: i64) -> Vec<(&'static str, String)> {
    match hook.provider {
        Provider::Fal => {
            let user = fal_user_id(&hook.key);
            let digest = hex::encode(Sha256::digest(&hook.body));
            let message = format!("{}\n{user}\n{timestamp}\n{digest}", hook.id);
            let signature = state.sellers.fal_signing.sign(message.as_bytes());
            vec![
                ("x-fal-webhook-request-id", hook.id.clone()),
                ("x-fal-webhook-user-id", user),
                ("x-fal-webhook-timestamp", timestamp.to_string()),
                ("x-fal-webhook-signature", hex::encode(signature.to_bytes())),
            ]
        }
        Provider::Replicate | Provider::Wavespeed => {
            let replicate = hook.provider == Provider::Replicate;
            let secret = if replicate {
                &state.sellers.replicate_secret
            } else {
                &state.sellers.wavespeed_secret
            };
            let mut content = format!("{}.{timestamp}.", hook.id).into_bytes();
            content.extend_from_slice(&hook.body);
            let mac = hmac_sha256(&secret_key(secret, replicate), &content);
            let signature = if replicate {
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(mac)
                )
            } else {
                format!("v3,{}", hex::encode(mac))
            };
            vec![
                ("webhook-id", hook.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ]
        }
        Provider::Runbase | Provider::Gptimage15 | Provider::Openai | Provider::Azure => Vec::new(),
    }
}

/// Sends `hook`, with retries; books the outcome.
pub(crate) async fn deliver(state: Arc<AppState>, hook: Hook) {
    let mut backoff = Duration::from_millis(100);
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
            backoff *= 4;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut req = state
            .http
            .post(&hook.url)
            .header("content-type", "application/json")
            .body(hook.body.clone());
        for (name, value) in sign(&state, &hook, now) {
            req = req.header(name, value);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                state.ledger.record_callback(hook.provider, &hook.key, true);
                return;
            }
            Ok(r) => tracing::debug!(url = %hook.url, status = %r.status(), "webhook refused"),
            Err(e) => tracing::debug!(url = %hook.url, error = %e, "webhook failed"),
        }
    }
    state
        .ledger
        .record_callback(hook.provider, &hook.key, false);
}

/// At `at`, builds a webhook with `make` (which may decline with `None`,
/// e.g. when a cancel already sent it) and sends it.
pub(crate) fn spawn_at<F, Fut>(state: Arc<AppState>, at: Instant, make: F)
where
    F: FnOnce(Arc<AppState>) -> Fut + Send + 'static,
    Fut: Future<Output = Option<Hook>> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        if state.stopped() {
            return;
        }
        if let Some(hook) = make(state.clone()).await {
            deliver(state, hook).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_decode_per_seller() {
        assert_eq!(
            secret_key("whsec_aW1hZ2VnZW4tc2ltIHJlcGxpY2F0ZSB3ZWJob29rcyE=", true),
            b"imagegen-sim replicate webhooks!"
        );
        assert_eq!(secret_key("whsec_abc", false), b"abc");
        assert!(fal_user_id("sim-key").starts_with("sim-user-"));
        assert_eq!(fal_user_id("sim-key"), fal_user_id("sim-key"));
    }
}
