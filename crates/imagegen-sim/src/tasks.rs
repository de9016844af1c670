//! The task store and lifecycle of the asynchronous providers.
//!
//! A task holds its creation instant and its queue and generation durations;
//! its phase is computed from the clock whenever it is looked at. No timer,
//! thread or tokio task exists per task (only a gptimage15 task with a
//! `callback_url` spawns one, to call it). Tasks live in a sharded map; a
//! finished task older than the configured TTL is swept away on later
//! creates, so memory stays bounded by the rate of work.
//!
//! With a state dir, every task is written to the journal when it is
//! created, and again whenever something that outlives a restart changes
//! (a cancel, the webhook or callback sent, the first poll of a task that
//! shows an undocumented status first); see [`crate::persist`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::Provider;
use crate::config::QualityLevel;
use crate::images::{ImageFormat, ImageSize, ImageSpec};
use crate::persist::{Clock, Journal, Line};

const SHARDS: usize = 16;

/// Where a task is in its life, at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting in the queue.
    Queued,
    /// Generating; `early` during the first third (runbase `starting`).
    Running { early: bool },
    /// Done with images.
    Succeeded,
    /// Done without images.
    Failed,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// One simulated task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub provider: Provider,
    pub id: String,
    pub api_key: String,
    pub created: Instant,
    pub created_wall: OffsetDateTime,
    pub queue: Duration,
    pub generate: Duration,
    /// `Some(message)` when the task will fail.
    pub failure: Option<String>,
    /// The request as received (runbase `input`, gptimage15 body).
    pub request: Value,
    pub prompt: String,
    pub size: ImageSize,
    /// Quality asked (shown on the image).
    pub quality: QualityLevel,
    /// Reference images in the request (counted on the image).
    pub references: usize,
    /// Show an undocumented status at the first poll.
    pub unknown_status: bool,
    pub polls: u64,
    /// Credits charged (refunded on failure for gptimage15).
    pub cost: u64,
    pub refunded: bool,
    /// What only the newer sellers use (default for runbase and gptimage15).
    pub more: TaskMore,
}

/// Task details of the newer sellers (fal, Replicate, WaveSpeed).
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskMore {
    /// Images made (0 is read as 1).
    pub images: u32,
    /// Encoding of the images (PNG when `None`).
    pub format: Option<ImageFormat>,
    /// Transparent background asked for.
    pub transparent: bool,
    /// The failure is a server error (5xx), not a content-policy refusal.
    pub server_error: bool,
    /// When a cancel was asked for.
    pub canceled_at: Option<Instant>,
    /// A deadline after which the task is stopped (Replicate `Cancel-After`).
    pub deadline: Option<Instant>,
    /// Where to send the webhook(s).
    pub webhook: Option<String>,
    /// The terminal webhook was handed to the sender.
    pub notified: bool,
    /// Answer images as `data:` URIs or base64 rather than URLs.
    pub inline_images: bool,
    /// Which endpoint received the create (fal / WaveSpeed model path).
    pub endpoint: &'static str,
    /// Order of creation among the key's tasks (queue positions).
    pub seq: u64,
    /// Which webhook events to send (Replicate `webhook_events_filter`).
    pub events: u8,
}

/// How a task stands at some instant, cancels and deadlines included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not finished: queued or running.
    Pending(Phase),
    /// Done with images.
    Succeeded,
    /// Done without images.
    Failed,
    /// Stopped by a cancel or a deadline; `started` says whether it had
    /// begun generating.
    Canceled { started: bool, by_deadline: bool },
}

impl Outcome {
    pub fn is_terminal(self) -> bool {
        !matches!(self, Outcome::Pending(_))
    }
}

impl Task {
    /// The phase at `now`.
    pub fn phase_at(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.queue {
            Phase::Queued
        } else if elapsed < self.queue + self.generate {
            Phase::Running {
                early: elapsed < self.queue + self.generate / 3,
            }
        } else if self.failure.is_some() {
            Phase::Failed
        } else {
            Phase::Succeeded
        }
    }

    /// When the task ends.
    pub fn done_at(&self) -> Instant {
        self.created + self.queue + self.generate
    }

    /// Wall-clock time the task ends.
    pub fn completed_wall(&self) -> OffsetDateTime {
        self.created_wall + (self.queue + self.generate)
    }

    /// When generation starts (after the queue).
    pub fn start_at(&self) -> Instant {
        self.created + self.queue
    }

    /// The earliest cancel or deadline that stops the task before its end.
    pub fn stop(&self) -> Option<(Instant, bool)> {
        let cancel = self.more.canceled_at.map(|t| (t, false));
        let deadline = self.more.deadline.map(|t| (t, true));
        let first = match (cancel, deadline) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }?;
        (first.0 < self.done_at()).then_some(first)
    }

    /// When the task ends, stopped or not.
    pub fn end_at(&self) -> Instant {
        self.stop().map_or(self.done_at(), |(t, _)| t)
    }

    /// Wall-clock time of [`Task::end_at`].
    pub fn end_wall(&self) -> OffsetDateTime {
        self.created_wall + self.end_at().saturating_duration_since(self.created)
    }

    /// Where the task stands at `now`.
    pub fn outcome_at(&self, now: Instant) -> Outcome {
        if let Some((at, by_deadline)) = self.stop()
            && now >= at
        {
            return Outcome::Canceled {
                started: at >= self.start_at(),
                by_deadline,
            };
        }
        match self.phase_at(now) {
            Phase::Succeeded => Outcome::Succeeded,
            Phase::Failed => Outcome::Failed,
            p => Outcome::Pending(p),
        }
    }

    /// Number of images the task makes.
    pub fn images(&self) -> u32 {
        self.more.images.max(1)
    }

    /// Encoding of the task's images.
    pub fn format(&self) -> ImageFormat {
        self.more.format.unwrap_or(ImageFormat::Png)
    }

    /// Image `index` of the task as drawn, whether answered inline or served
    /// at [`ImageSpec::file_path`] (the one place a task's image is described,
    /// so both give the same bytes).
    pub fn image_spec(&self, index: usize) -> ImageSpec {
        ImageSpec::new(self.provider.name(), &self.id, &self.prompt, self.size)
            .quality(self.quality.label())
            .index(index, self.images() as usize)
            .references(self.references)
            .format(self.format())
            .transparent(self.more.transparent)
    }

    /// What of the task changes after its creation and must outlive a
    /// restart (refunds are booked by the ledger's lines).
    fn fingerprint(&self) -> (bool, Option<Instant>, bool) {
        (
            self.unknown_status && self.polls > 0,
            self.more.canceled_at,
            self.more.notified,
        )
    }

    /// The task as written to the journal.
    pub fn record(&self) -> TaskRecord {
        let after = |t: Option<Instant>| {
            t.map(|t| t.saturating_duration_since(self.created).as_nanos() as u64)
        };
        TaskRecord {
            provider: self.provider.name().to_string(),
            id: self.id.clone(),
            key: self.api_key.clone(),
            created_at: crate::persist::wall_to_string(self.created_wall),
            queue_ns: self.queue.as_nanos() as u64,
            generate_ns: self.generate.as_nanos() as u64,
            failure: self.failure.clone(),
            server_error: self.more.server_error,
            request: self.request.clone(),
            prompt: self.prompt.clone(),
            size: self.size.wxh().to_string(),
            quality: self.quality.label().to_string(),
            references: self.references,
            images: self.more.images,
            format: self.more.format.map(|f| f.label().to_string()),
            transparent: self.more.transparent,
            inline_images: self.more.inline_images,
            unknown_status: self.unknown_status,
            polls: self.polls,
            cost: self.cost,
            refunded: self.refunded,
            canceled_after_ns: after(self.more.canceled_at),
            deadline_after_ns: after(self.more.deadline),
            webhook: self.more.webhook.clone(),
            events: self.more.events,
            notified: self.more.notified,
            endpoint: self.more.endpoint.to_string(),
            seq: self.more.seq,
        }
    }

    /// The task a journal record describes, its instants placed on this
    /// process's clock from its wall-clock creation time (a task created 40 s
    /// before a restart is 40 s old after it). `None` when the record names
    /// no known provider, size, quality or format.
    pub fn from_record(r: TaskRecord, clock: &Clock) -> Option<Task> {
        let provider = Provider::from_name(&r.provider)?;
        let created_wall = crate::persist::wall_from_string(&r.created_at)?;
        let created = clock.instant_of(created_wall);
        let format = match r.format {
            Some(f) => Some(ImageFormat::from_label(&f)?),
            None => None,
        };
        let ns = Duration::from_nanos;
        Some(Task {
            provider,
            id: r.id,
            api_key: r.key,
            created,
            created_wall,
            queue: ns(r.queue_ns),
            generate: ns(r.generate_ns),
            failure: r.failure,
            request: r.request,
            prompt: r.prompt,
            size: ImageSize::from_wxh(&r.size)?,
            quality: QualityLevel::from_label(&r.quality)?,
            references: r.references,
            unknown_status: r.unknown_status,
            polls: r.polls,
            cost: r.cost,
            refunded: r.refunded,
            more: TaskMore {
                images: r.images,
                format,
                transparent: r.transparent,
                server_error: r.server_error,
                canceled_at: r.canceled_after_ns.map(|n| created + ns(n)),
                deadline: r.deadline_after_ns.map(|n| created + ns(n)),
                webhook: r.webhook,
                notified: r.notified,
                inline_images: r.inline_images,
                endpoint: static_endpoint(&r.endpoint),
                seq: r.seq,
                events: r.events,
            },
        })
    }

    /// Generation time actually spent, in milliseconds (0 before the start).
    pub fn inference_ms(&self) -> u64 {
        let end = self.end_at();
        end.saturating_duration_since(self.start_at()).as_millis() as u64
    }
}

/// The endpoint names a task may carry (they are `&'static str`).
fn static_endpoint(s: &str) -> &'static str {
    use crate::providers::{fal, wavespeed};
    [
        fal::MODEL,
        fal::EDIT,
        wavespeed::TEXT_TO_IMAGE,
        wavespeed::EDIT,
    ]
    .into_iter()
    .find(|e| *e == s)
    .unwrap_or("")
}

/// One task as the journal holds it (`{"t": "task", ...}`): everything
/// decided at its creation, and what changed since. Instants are written as
/// the wall-clock creation time (`created_at`, RFC 3339 with nanoseconds)
/// and offsets from it, in nanoseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct TaskRecord {
    /// [`Provider::name`].
    pub provider: String,
    pub id: String,
    /// The API key that created it.
    pub key: String,
    pub created_at: String,
    pub queue_ns: u64,
    pub generate_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub server_error: bool,
    pub request: Value,
    pub prompt: String,
    /// `WIDTHxHEIGHT`.
    pub size: String,
    /// `low`, `medium` or `high`.
    pub quality: String,
    pub references: usize,
    #[serde(default)]
    pub images: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default)]
    pub transparent: bool,
    #[serde(default)]
    pub inline_images: bool,
    #[serde(default)]
    pub unknown_status: bool,
    #[serde(default)]
    pub polls: u64,
    pub cost: u64,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canceled_after_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_after_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default)]
    pub events: u8,
    #[serde(default)]
    pub notified: bool,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub seq: u64,
}

/// All tasks of every provider.
pub(crate) struct TaskStore {
    shards: Vec<Mutex<HashMap<String, Task>>>,
    creates: AtomicU64,
    ttl: Duration,
    /// Where tasks are written, with a state dir (set once restored).
    journal: OnceLock<Arc<Journal>>,
}

fn shard_of(id: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

impl TaskStore {
    pub fn new(ttl: Duration) -> Self {
        TaskStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            creates: AtomicU64::new(0),
            ttl,
            journal: OnceLock::new(),
        }
    }

    /// From now on, writes every new or changed task to `journal`.
    pub fn attach(&self, journal: Arc<Journal>) {
        let _ = self.journal.set(journal);
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, HashMap<String, Task>> {
        self.shards[shard_of(id)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new task; every 1024 creates, sweeps expired tasks from one shard.
    pub fn insert(&self, task: Task) {
        let n = self.creates.fetch_add(1, Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.sweep(((n / 1024) as usize) % SHARDS);
        }
        // Written before anyone can see (and change) the task, so its
        // later lines follow this one; and outside the shard's lock.
        if let Some(j) = self.journal.get() {
            j.append(&Line::Task(Box::new(task.record())));
        }
        self.shard(&task.id).insert(task.id.clone(), task);
    }

    /// Puts back a task read from the journal (nothing is written). A task
    /// seen before keeps its `refunded` flag: refunds are the ledger's
    /// lines' to tell, so a refund is never lost nor booked twice.
    pub fn restore(&self, mut task: Task) {
        let mut shard = self.shard(&task.id);
        if let Some(old) = shard.get(&task.id) {
            task.refunded = old.refunded;
        }
        shard.insert(task.id.clone(), task);
    }

    /// Forgets every finished task older than the TTL (at restore).
    pub fn sweep_all(&self) {
        for shard in 0..SHARDS {
            self.sweep(shard);
        }
    }

    fn sweep(&self, shard: usize) {
        let now = Instant::now();
        let ttl = self.ttl;
        self.shards[shard]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| now.saturating_duration_since(t.done_at()) < ttl);
    }

    /// Runs `f` on the task `id` of `provider` if it exists.
    pub fn with<R>(
        &self,
        provider: Provider,
        id: &str,
        f: impl FnOnce(&mut Task) -> R,
    ) -> Option<R> {
        let mut shard = self.shard(id);
        match shard.get_mut(id) {
            Some(t) if t.provider == provider => {
                let Some(j) = self.journal.get() else {
                    return Some(f(t));
                };
                let before = t.fingerprint();
                let r = f(t);
                if t.fingerprint() != before {
                    j.append(&Line::Task(Box::new(t.record())));
                }
                Some(r)
            }
            _ => None,
        }
    }

    /// Runs `f` on the task `id` whatever its provider (file downloads).
    pub fn with_id<R>(&self, id: &str, f: impl FnOnce(&Task) -> R) -> Option<R> {
        self.shard(id).get(id).map(f)
    }

    /// Calls `f` on every task (shard by shard).
    pub fn for_each(&self, mut f: impl FnMut(&mut Task)) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for t in shard.values_mut() {
                match self.journal.get() {
                    None => f(t),
                    Some(j) => {
                        let before = t.fingerprint();
                        f(t);
                        if t.fingerprint() != before {
                            j.append(&Line::Task(Box::new(t.record())));
                        }
                    }
                }
            }
        }
    }

    /// Calls `f` on every task, read only (nothing is written).
    pub fn each(&self, mut f: impl FnMut(&Task)) {
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.values().for_each(&mut f);
        }
    }

    /// Number of stored tasks.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn reset(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}
