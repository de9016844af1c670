//! The task store and lifecycle of the asynchronous providers.
//!
//! A task holds its creation instant and its queue and generation durations;
//! its phase is computed from the clock whenever it is looked at. No timer,
//! thread or tokio task exists per task (only a gptimage15 task with a
//! `callback_url` spawns one, to call it). Tasks live in a sharded map; a
//! finished task older than the configured TTL is swept away on later
//! creates, so memory stays bounded by the rate of work.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::Provider;
use crate::config::QualityLevel;
use crate::images::{ImageFormat, ImageSize, ImageSpec};

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

    /// Generation time actually spent, in milliseconds (0 before the start).
    pub fn inference_ms(&self) -> u64 {
        let end = self.end_at();
        end.saturating_duration_since(self.start_at()).as_millis() as u64
    }
}

/// All tasks of every provider.
pub(crate) struct TaskStore {
    shards: Vec<Mutex<HashMap<String, Task>>>,
    creates: AtomicU64,
    ttl: Duration,
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
        }
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
        self.shard(&task.id).insert(task.id.clone(), task);
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
            Some(t) if t.provider == provider => Some(f(t)),
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
                f(t);
            }
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
