//! Shared server state and the per-request context every provider handler
//! goes through: authentication, the fault dice, and booking of answers.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::Provider;
use crate::concurrency::Slots;
use crate::config::{LatencyProfile, QualityLevel, RateLimit, SimConfig};
use crate::faults::{Dice, Fault, FaultConfig, mix};
use crate::ids::{IdMint, IdMode};
use crate::images::ImageCache;
use crate::ledger::{Ledger, LedgerStore};
use crate::persist::{BLOCK, Journal, Line};
use crate::ratelimit::{Bursts, RateLimiter};
use crate::tasks::{Outcome, Task, TaskStore};

/// What can change at run time (`GET`/`PUT /_sim/config`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RuntimeConfig {
    /// Fault injection in force.
    pub faults: FaultConfig,
    /// Latency model for new tasks.
    pub latency: LatencyProfile,
}

/// Everything the handlers share.
pub(crate) struct AppState {
    pub seed: u64,
    pub api_keys: HashSet<String>,
    pub credits: u64,
    pub usage_quota: Option<u64>,
    pub runtime: RwLock<RuntimeConfig>,
    request_counter: AtomicU64,
    id_counter: AtomicU64,
    /// How ids are drawn, and this instance's tag.
    pub id_mode: IdMode,
    ids: IdMint,
    /// With a state dir: the journal, and the counters it has reserved.
    journal: OnceLock<Arc<Journal>>,
    reserved_ids: AtomicU64,
    reserved_requests: AtomicU64,
    reserving: Mutex<()>,
    /// The handle was dropped or shut down: timers still pending do nothing.
    stopped: AtomicBool,
    pub ledger: LedgerStore,
    pub tasks: TaskStore,
    pub images: ImageCache,
    pub limiter: RateLimiter,
    pub bursts: Bursts,
    pub base_url: String,
    pub http: reqwest::Client,
    /// The newer sellers' limits and keys.
    pub sellers: Sellers,
}

/// Limits, queues and signing keys of fal, Replicate, Azure and WaveSpeed.
pub(crate) struct Sellers {
    pub fal_concurrency: u32,
    pub fal_signing: ed25519_dalek::SigningKey,
    pub replicate_creates: RateLimiter,
    pub replicate_others: RateLimiter,
    pub replicate_max_wait: std::time::Duration,
    pub replicate_secret: String,
    pub azure_limiter: RateLimiter,
    pub azure_deployments: Vec<String>,
    pub wavespeed_images: RateLimiter,
    pub wavespeed_concurrency: u32,
    pub wavespeed_sync_timeout: std::time::Duration,
    pub wavespeed_secret: String,
    /// fal and WaveSpeed queues.
    pub slots: Slots,
}

impl Sellers {
    fn new(config: &SimConfig) -> Self {
        Sellers {
            fal_concurrency: config.fal_concurrency,
            fal_signing: ed25519_dalek::SigningKey::from_bytes(&config.fal_webhook_seed),
            replicate_creates: RateLimiter::new(config.replicate_rate_limit),
            replicate_others: RateLimiter::new(config.replicate_other_rate_limit),
            replicate_max_wait: config.replicate_max_wait,
            replicate_secret: config.replicate_webhook_secret.clone(),
            azure_limiter: RateLimiter::new(config.azure_rate_limit),
            azure_deployments: config.azure_deployments.clone(),
            wavespeed_images: RateLimiter::new(config.wavespeed_rate_limit),
            wavespeed_concurrency: config.wavespeed_concurrency,
            wavespeed_sync_timeout: config.wavespeed_sync_timeout,
            wavespeed_secret: config.wavespeed_webhook_secret.clone(),
            slots: Slots::default(),
        }
    }

    fn reset(&self) {
        self.replicate_creates.reset();
        self.replicate_others.reset();
        self.azure_limiter.reset();
        self.wavespeed_images.reset();
        self.slots.reset();
    }
}

/// Result of reading the `Authorization` header.
pub(crate) enum Auth {
    Missing,
    Invalid(String),
}

impl AppState {
    pub fn new(config: &SimConfig, base_url: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .user_agent("imagegen-sim")
            .build()
            .unwrap_or_default();
        AppState {
            seed: config.seed,
            api_keys: config.api_keys.iter().cloned().collect(),
            credits: config.credits,
            usage_quota: config.runbase_usage_quota,
            runtime: RwLock::new(RuntimeConfig {
                faults: config.faults.clone(),
                latency: config.latency,
            }),
            request_counter: AtomicU64::new(0),
            id_counter: AtomicU64::new(0),
            id_mode: config.ids,
            ids: IdMint::new(config.ids, config.seed),
            journal: OnceLock::new(),
            reserved_ids: AtomicU64::new(0),
            reserved_requests: AtomicU64::new(0),
            reserving: Mutex::new(()),
            stopped: AtomicBool::new(false),
            ledger: LedgerStore::new(config.credits),
            tasks: TaskStore::new(config.task_ttl),
            images: ImageCache::default(),
            limiter: RateLimiter::new(config.runbase_rate_limit),
            bursts: Bursts::default(),
            base_url,
            http,
            sellers: Sellers::new(config),
        }
    }

    pub fn runtime(&self) -> RuntimeConfig {
        self.runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_runtime(&self, f: impl FnOnce(&mut RuntimeConfig)) {
        f(&mut self.runtime.write().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.limiter.limit()
    }

    /// Authenticates a provider request (`Authorization: Bearer`) and draws its dice.
    pub fn begin(self: &Arc<Self>, provider: Provider, headers: &HeaderMap) -> Result<Ctx, Auth> {
        self.begin_key(provider, bearer(headers))
    }

    /// Authenticates a request whose key was read from wherever the provider
    /// puts it, and draws its dice.
    pub fn begin_key(
        self: &Arc<Self>,
        provider: Provider,
        key: Option<String>,
    ) -> Result<Ctx, Auth> {
        let key = match key {
            None => {
                self.ledger.record_status(provider, "", 401);
                return Err(Auth::Missing);
            }
            Some(k) => k,
        };
        if !self.api_keys.contains(&key) && !crate::magic::is_magic(&key) {
            self.ledger.record_status(provider, &key, 401);
            return Err(Auth::Invalid(key));
        }
        let dice = Dice {
            seed: self.seed,
            request_no: self.count(&self.request_counter),
            faults: self.runtime().faults,
        };
        Ok(Ctx {
            state: self.clone(),
            provider,
            key,
            dice,
        })
    }

    /// A fresh id for `provider`, in its style (see [`crate::ids`]).
    pub fn next_id(&self, provider: Provider) -> String {
        self.ids.id(provider, self.count(&self.id_counter))
    }

    /// The next value of `counter` (ids or request numbers); with a state
    /// dir, a `counters` line reserves the next block before a value past
    /// the last reservation is handed out.
    fn count(&self, counter: &AtomicU64) -> u64 {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if let Some(journal) = self.journal.get() {
            let reserved = if std::ptr::eq(counter, &self.id_counter) {
                &self.reserved_ids
            } else {
                &self.reserved_requests
            };
            if n >= reserved.load(Ordering::Acquire) {
                let _one_at_a_time = self.reserving.lock().unwrap_or_else(|e| e.into_inner());
                if n >= reserved.load(Ordering::Acquire) {
                    reserved.store(n + 1 + BLOCK, Ordering::Release);
                    journal.append(&self.counters_line());
                }
            }
        }
        n
    }

    /// The `counters` line of the reservations in force.
    fn counters_line(&self) -> Line {
        Line::Counters {
            next_id: self.reserved_ids.load(Ordering::Acquire),
            next_request: self.reserved_requests.load(Ordering::Acquire),
        }
    }

    /// Goes on counting from what a journal used up; reserves a block of
    /// each and returns the line that says so.
    pub fn restore_counters(&self, next_id: u64, next_request: u64) -> Line {
        let ids = self.id_counter.load(Ordering::Relaxed).max(next_id);
        let requests = self
            .request_counter
            .load(Ordering::Relaxed)
            .max(next_request);
        self.id_counter.store(ids, Ordering::Relaxed);
        self.request_counter.store(requests, Ordering::Relaxed);
        self.reserved_ids.store(ids + BLOCK, Ordering::Release);
        self.reserved_requests
            .store(requests + BLOCK, Ordering::Release);
        self.counters_line()
    }

    /// Rebuilds the fal and WaveSpeed queues from the restored tasks: each
    /// key's slots are busy until the latest ends of its tasks, and tasks
    /// not started yet keep their place.
    pub fn restore_queues(&self, now: Instant) {
        type Booked = Vec<(u64, Instant, Instant)>;
        let mut keys: HashMap<(Provider, String), Booked> = HashMap::new();
        self.tasks.each(|t| {
            if matches!(t.provider, Provider::Fal | Provider::Wavespeed) {
                keys.entry((t.provider, t.api_key.clone()))
                    .or_default()
                    // A cancelled task no longer waits: its start is its end.
                    .push((t.more.seq, t.start_at().min(t.end_at()), t.end_at()));
            }
        });
        for ((provider, key), tasks) in keys {
            let limit = match provider {
                Provider::Fal => self.sellers.fal_concurrency,
                _ => self.sellers.wavespeed_concurrency,
            };
            self.sellers
                .slots
                .restore(provider, &key, limit, tasks, now);
        }
    }

    /// From now on, journals every change (ledger, tasks, counters).
    pub fn attach(&self, journal: Arc<Journal>) {
        self.ledger.attach(journal.clone());
        self.tasks.attach(journal.clone());
        let _ = self.journal.set(journal);
    }

    /// The state dir, if any.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.journal.get().map(|j| j.dir().to_path_buf())
    }

    /// The handle is gone: pending timers do nothing, and the journal is
    /// closed (its lock released).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(j) = self.journal.get() {
            j.close();
        }
    }

    /// Whether [`AppState::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Books the refund task `id` is due now, if any.
    pub fn settle_task(&self, provider: Provider, id: &str) {
        let now = Instant::now();
        if let Some(Some(credits)) = self.tasks.with(provider, id, |t| take_refund(t, now)) {
            let key = self
                .tasks
                .with(provider, id, |t| t.api_key.clone())
                .unwrap_or_default();
            self.ledger.refund(provider, &key, id, credits);
        }
    }

    /// The task `id` of `provider` if `key` created it: counts the look and
    /// books the refund its end is due, if any (each seller's rule, see
    /// [`refund_due`]).
    pub fn look(&self, provider: Provider, id: &str, key: &str) -> Option<Task> {
        let now = Instant::now();
        let found = self.tasks.with(provider, id, |t| {
            if t.api_key != key {
                return None;
            }
            t.polls += 1;
            Some((t.clone(), take_refund(t, now)))
        });
        let (task, refund) = found.flatten()?;
        if let Some(credits) = refund {
            self.ledger.refund(provider, key, id, credits);
        }
        Some(task)
    }

    /// Books every refund that finished tasks are due and did not get yet.
    pub fn settle(&self) {
        let now = Instant::now();
        let mut refunds = Vec::new();
        self.tasks.for_each(|t| {
            if let Some(cost) = take_refund(t, now) {
                refunds.push((t.provider, t.api_key.clone(), t.id.clone(), cost));
            }
        });
        for (provider, key, id, cost) in refunds {
            self.ledger.refund(provider, &key, &id, cost);
        }
    }

    pub fn ledger(&self) -> Ledger {
        self.settle();
        self.ledger.snapshot()
    }

    pub fn reset(&self) {
        if let Some(j) = self.journal.get() {
            j.append(&Line::Reset);
        }
        self.tasks.reset();
        self.ledger.reset();
        self.limiter.reset();
        self.bursts.reset();
        self.sellers.reset();
    }
}

/// Whether a task's end gives its credits back, by each seller's rule:
/// gptimage15 `FAILED`; fal a run that failed with a 5xx ("5xx are not
/// billed") or a request cancelled while still queued (it never ran);
/// Replicate `failed` and `aborted` (a deadline passed before the start;
/// `canceled` is charged, as Replicate says); WaveSpeed `failed`. Runbase and
/// the synchronous APIs never refund (they do not charge a refusal).
pub(crate) fn refund_due(t: &Task, now: Instant) -> bool {
    let outcome = t.outcome_at(now);
    match t.provider {
        Provider::Gptimage15 | Provider::Wavespeed => outcome == Outcome::Failed,
        Provider::Fal => {
            (outcome == Outcome::Failed && t.more.server_error)
                || matches!(outcome, Outcome::Canceled { started: false, .. })
        }
        Provider::Replicate => {
            outcome == Outcome::Failed
                || outcome
                    == Outcome::Canceled {
                        started: false,
                        by_deadline: true,
                    }
        }
        Provider::Runbase | Provider::Openai | Provider::Azure => false,
    }
}

/// Marks `t` refunded if its end is due a refund; returns the credits.
pub(crate) fn take_refund(t: &mut Task, now: Instant) -> Option<u64> {
    (!t.refunded && refund_due(t, now)).then(|| {
        t.refunded = true;
        t.cost
    })
}

/// The key of a `Bearer` authorization, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = key.trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// One authenticated provider request.
pub(crate) struct Ctx {
    pub state: Arc<AppState>,
    pub provider: Provider,
    pub key: String,
    pub dice: Dice,
}

/// What a successful answer answers, for the faults that strike only one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answering {
    /// A create (for OpenAI, the whole synchronous generation).
    Create,
    /// A status poll.
    Status,
}

/// An answer before it is sent.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Value,
}

impl Reply {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn ok(body: Value) -> Self {
        Reply::new(StatusCode::OK, body)
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    /// The answer as JSON, its body cut in half when `malformed`.
    pub fn into_response(self, malformed: bool) -> Response {
        let mut bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        if malformed {
            bytes.truncate((bytes.len() / 2).max(1));
        }
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

impl Ctx {
    /// Sends an answer as is, booking it.
    pub fn send(&self, reply: Reply) -> Response {
        self.state
            .ledger
            .record_status(self.provider, &self.key, reply.status.as_u16());
        reply.into_response(false)
    }

    /// Sends a successful answer to a create or a status poll, applying the
    /// slow and malformed faults (`malformed_status_json` to polls only).
    pub async fn send_success(&self, answering: Answering, reply: Reply) -> Response {
        if self.dice.roll(Fault::SlowResponse) {
            tokio::time::sleep(self.dice.faults.effective_slow_delay()).await;
        }
        let malformed = self.dice.roll(Fault::MalformedJson)
            || (answering == Answering::Status && self.dice.roll(Fault::MalformedStatusJson));
        self.state
            .ledger
            .record_status(self.provider, &self.key, reply.status.as_u16());
        reply.into_response(malformed)
    }

    /// Whether this request falls in a 429 burst.
    pub fn in_burst(&self) -> bool {
        let start = self.dice.roll(Fault::Burst429);
        self.state.bursts.hit(
            self.provider,
            &self.key,
            start,
            self.dice.faults.effective_burst_len(),
        )
    }

    /// Queue and generation time of a new task.
    pub fn durations(&self, quality: QualityLevel) -> (std::time::Duration, std::time::Duration) {
        self.state
            .runtime()
            .latency
            .durations(quality, self.dice.value(0x11))
    }
}

/// `2024-12-19T10:00:00.123Z`.
pub(crate) fn rfc3339_millis(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// `2024-12-19T10:00:00Z`.
pub(crate) fn rfc3339_secs(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// `2024-12-19 10:00:00`.
pub(crate) fn plain_datetime(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

/// The public base of file URLs: the request's `Host`, else the bound address.
pub(crate) fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() && !host.contains(['/', ' ']) => format!("http://{host}"),
        _ => state.base_url.clone(),
    }
}

/// A 64-bit hasher whose values do not change between builds or runs (the
/// standard library's may), so body hashes kept in a state dir still match
/// after a restart with another build. The bytes written, whatever the
/// calls, are read as one stream of little-endian 64-bit words, each mixed
/// into the state, and the tail and total length are mixed in at the end.
#[derive(Default)]
pub(crate) struct StableHasher {
    state: u64,
    /// Bytes of the word being filled, and how many.
    tail: u64,
    filled: u32,
    len: u64,
}

impl StableHasher {
    fn word(&mut self, w: u64) {
        self.state = mix(self.state ^ w);
    }
}

impl std::hash::Hasher for StableHasher {
    fn write(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while self.filled > 0 && !bytes.is_empty() {
            self.tail |= u64::from(bytes[0]) << (8 * self.filled);
            self.filled += 1;
            bytes = &bytes[1..];
            if self.filled == 8 {
                let w = self.tail;
                self.word(w);
                (self.tail, self.filled) = (0, 0);
            }
        }
        let mut words = bytes.chunks_exact(8);
        for c in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            self.tail |= u64::from(b) << (8 * i);
            self.filled += 1;
        }
    }

    fn finish(&self) -> u64 {
        mix(mix(self.state ^ self.tail) ^ self.len)
    }
}

/// A hash of a JSON body with object keys sorted.
pub(crate) fn body_hash(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn feed(v: &Value, h: &mut StableHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                for x in a {
                    feed(x, h);
                }
            }
            Value::Object(o) => {
                (5u8, o.len()).hash(h);
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                for k in keys {
                    k.hash(h);
                    feed(&o[k], h);
                }
            }
        }
    }
    let mut h = StableHasher::default();
    feed(v, &mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use super::*;

    #[test]
    fn body_hashes_differ_for_different_bodies() {
        let mut seen = HashMap::new();
        for i in 0..20_000 {
            let v = serde_json::json!({"prompt": format!("task {i}")});
            if let Some(j) = seen.insert(body_hash(&v), i) {
                panic!("task {i} has the hash of task {j}");
            }
        }
        let a = serde_json::json!({"a": 1, "b": [true, null, "x"]});
        let b = serde_json::json!({"b": [true, null, "x"], "a": 1});
        assert_eq!(body_hash(&a), body_hash(&b), "keys sorted");
    }

    #[test]
    fn the_stable_hasher_reads_one_stream_whatever_the_calls() {
        let whole = {
            let mut h = StableHasher::default();
            h.write(b"0123456789abcdefXYZ");
            h.finish()
        };
        let pieces = {
            let mut h = StableHasher::default();
            for p in [&b"012"[..], b"3456789a", b"", b"bcdefXY", b"Z"] {
                h.write(p);
            }
            h.finish()
        };
        assert_eq!(whole, pieces);
        let padded = {
            let mut h = StableHasher::default();
            h.write(b"0123456789abcdefXYZ\0");
            h.finish()
        };
        assert_ne!(whole, padded, "the length counts");
    }

    /// The value never changes between builds: it is kept in state dirs.
    /// (Lengths are hashed as `usize`, in native byte order.)
    #[test]
    #[cfg(all(target_endian = "little", target_pointer_width = "64"))]
    fn body_hashes_are_pinned() {
        let h = body_hash(&serde_json::json!({"prompt": "a lamp"}));
        assert_eq!(h, 1_433_976_851_939_724_486);
    }
}
