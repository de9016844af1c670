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
use crate::images::ImageSize;

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
