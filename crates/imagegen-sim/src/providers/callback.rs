//! gptimage15's `callback_url`: the one case where a task gets its own tokio
//! task (a sleep until the task ends, then the POST and its retries).
//!
//! Body (decision; the page does not document it): `{"task_id": "...",
//! "status": "SUCCESS"|"FAILED"}`, JSON, `user-agent: imagegen-sim`. A
//! non-2xx answer or a transport error is retried 3 more times, after
//! 100 ms, 400 ms and 1.6 s; the outcome is booked in the ledger
//! (`callbacks_delivered` / `callbacks_failed`). A failed task is refunded
//! before its callback is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::gptimage15::take_refund;
use crate::Provider;
use crate::state::AppState;
use crate::tasks::Task;

/// Calls `url` when `task` ends, with retries; refunds a failed task first.
pub(crate) fn spawn(state: Arc<AppState>, task: &Task, url: String) {
    let id = task.id.clone();
    let key = task.api_key.clone();
    let done_at = tokio::time::Instant::from_std(task.done_at());
    let failed = task.failure.is_some();
    tokio::spawn(async move {
        tokio::time::sleep_until(done_at).await;
        if state.stopped() {
            return;
        }
        let now = Instant::now();
        // The callback is on its way: a restarted simulator will not send it.
        if let Some(Some(credits)) = state.tasks.with(Provider::Gptimage15, &id, |t| {
            t.more.notified = true;
            take_refund(t, now)
        }) {
            state
                .ledger
                .refund(Provider::Gptimage15, &key, &id, credits);
        }
        let body = json!({ "task_id": id, "status": if failed { "FAILED" } else { "SUCCESS" } });
        let mut backoff = Duration::from_millis(100);
        for attempt in 0..4 {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 4;
            }
            match state.http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    state
                        .ledger
                        .record_callback(Provider::Gptimage15, &key, true);
                    return;
                }
                Ok(r) => tracing::debug!(%url, status = %r.status(), "callback refused"),
                Err(e) => tracing::debug!(%url, error = %e, "callback failed"),
            }
        }
        state
            .ledger
            .record_callback(Provider::Gptimage15, &key, false);
    });
}
