//! Start-up configuration of the simulator: keys, seed, credits, latency and
//! rate limits.
//!
//! Only [`FaultConfig`] and [`LatencyProfile`] can change while the sim runs
//! (through [`crate::SimHandle::set_faults`], [`crate::SimHandle::set_latency`]
//! or `PUT /_sim/config`); everything else is fixed at [`crate::Sim::start`].
//!
//! ## The sellers' documented limits
//!
//! [`SimConfig::realistic`] holds each limit as the seller documents it;
//! [`SimConfig::fast`] (the default, for tests) keeps every count and scales
//! every per-minute window down to one second (and the two sync-mode holds
//! from 60 s to 1 s), so a test sees the same 429s and queues in
//! milliseconds instead of minutes:
//!
//! | limit | realistic | fast | builder |
//! |---|---|---|---|
//! | Runbase requests per key | 20 / 10 s | 20 / 10 s | [`SimConfig::runbase_rate_limit`] |
//! | fal requests `IN_PROGRESS` per key (more wait `IN_QUEUE`) | 2 | 2 | [`SimConfig::fal_concurrency`] |
//! | Replicate creates per key | 600 / min | 600 / s | [`SimConfig::replicate_rate_limit`] |
//! | Replicate other requests per key | 3000 / min | 3000 / s | [`SimConfig::replicate_other_rate_limit`] |
//! | Replicate longest `Prefer: wait` hold | 60 s | 1 s | [`SimConfig::replicate_max_wait`] |
//! | Azure requests per key and deployment | 9 / min | 9 / s | [`SimConfig::azure_rate_limit`] |
//! | WaveSpeed images per key (Bronze) | 2 / min | 2 / s | [`SimConfig::wavespeed_rate_limit`] |
//! | WaveSpeed tasks running per key (Bronze; more wait) | 2 | 2 | [`SimConfig::wavespeed_concurrency`] |
//! | WaveSpeed sync-mode gateway limit | 60 s | 1 s | [`SimConfig::wavespeed_sync_timeout`] |

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::faults::FaultConfig;
pub use crate::ids::IdMode;

/// The API key every sim accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sim-key";

/// Default credit balance of every key on every provider.
pub const DEFAULT_CREDITS: u64 = 1_000_000;

/// Seed of the ED25519 key that signs fal webhooks unless told otherwise.
pub const DEFAULT_FAL_WEBHOOK_SEED: [u8; 32] = *b"imagegen-sim fal webhook seed v1";

/// Replicate's webhook signing secret unless told otherwise (the part after
/// `whsec_` is base64 of `imagegen-sim replicate webhooks!`).
pub const DEFAULT_REPLICATE_WEBHOOK_SECRET: &str =
    "whsec_aW1hZ2VnZW4tc2ltIHJlcGxpY2F0ZSB3ZWJob29rcyE=";

/// WaveSpeed's webhook secret unless told otherwise (the part after
/// `whsec_` is the HMAC key as is).
pub const DEFAULT_WAVESPEED_WEBHOOK_SECRET: &str = "whsec_imagegensimwavespeedwebhooksecret01";

/// The Azure deployment that exists unless told otherwise.
pub const DEFAULT_AZURE_DEPLOYMENT: &str = "gpt-image-1.5";

/// How long a simulated task waits in the queue and then generates.
///
/// Latency is computed from timestamps when a task is polled: no timer runs
/// per task. Generation time grows with quality (`low` < `medium` < `high`),
/// except for [`LatencyProfile::Fixed`], where every quality takes the same
/// time. A task's latency is fixed when it is created: changing the profile
/// at run time only affects later tasks.
///
/// Serialized in snake case: `"fast"`, `"realistic"`, `"instant"`,
/// `{"spread": {"queue_ms": 200, "generate_ms": 1600, "spread_pct": 20}}` or
/// `{"fixed": {"queue_ms": 10, "generate_ms": 50}}`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LatencyProfile {
    /// No latency at all: a task is finished at its first poll and an OpenAI
    /// call answers at once. For benchmarks.
    Instant,
    /// A few milliseconds: queue 5 ms, generation 10 / 20 / 40 ms for
    /// low / medium / high. For tests (the default).
    #[default]
    Fast,
    /// Seconds, like the real services: queue 1 s, generation 4 / 8 / 16 s
    /// for low / medium / high, each varied by up to ±20% per task
    /// (deterministically, from the task id). For demos.
    Realistic,
    /// Like [`LatencyProfile::Realistic`] with other times: `queue_ms`
    /// queued and `generate_ms` generating for a `medium` task (half for
    /// `low`, twice for `high`), both varied by up to ±`spread_pct` % per
    /// task (uniformly, from the task's random draw). `Realistic` is
    /// `{queue_ms: 1000, generate_ms: 8000, spread_pct: 20}`; a benchmark
    /// that cannot wait minutes divides both times (and the rate windows).
    Spread {
        /// Time queued of a `medium` task, in milliseconds.
        queue_ms: u64,
        /// Time generating of a `medium` task, in milliseconds.
        generate_ms: u64,
        /// How far each task's times stray from these, in percent (0 to 100).
        spread_pct: u64,
    },
    /// The same queue and generation time for every task and quality.
    Fixed {
        /// Time spent queued (`queued` / `PENDING`), in milliseconds.
        queue_ms: u64,
        /// Time spent generating, in milliseconds.
        generate_ms: u64,
    },
}

/// Quality levels that drive generation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QualityLevel {
    Low,
    Medium,
    High,
}

impl QualityLevel {
    /// `low`, `medium` or `high` (as images show it).
    pub(crate) fn label(self) -> &'static str {
        match self {
            QualityLevel::Low => "low",
            QualityLevel::Medium => "medium",
            QualityLevel::High => "high",
        }
    }

    /// From `low`, `medium` or `high`.
    pub(crate) fn from_label(s: &str) -> Option<Self> {
        match s {
            "low" => Some(QualityLevel::Low),
            "medium" => Some(QualityLevel::Medium),
            "high" => Some(QualityLevel::High),
            _ => None,
        }
    }
}

impl LatencyProfile {
    /// Queue and generation durations for one task of `quality`; `jitter` is a
    /// per-task random value (only [`LatencyProfile::Realistic`] uses it).
    pub(crate) fn durations(self, quality: QualityLevel, jitter: u64) -> (Duration, Duration) {
        let ms = Duration::from_millis;
        match self {
            LatencyProfile::Instant => (Duration::ZERO, Duration::ZERO),
            LatencyProfile::Fast => {
                let generate = match quality {
                    QualityLevel::Low => 10,
                    QualityLevel::Medium => 20,
                    QualityLevel::High => 40,
                };
                (ms(5), ms(generate))
            }
            LatencyProfile::Realistic => LatencyProfile::Spread {
                queue_ms: 1_000,
                generate_ms: 8_000,
                spread_pct: 20,
            }
            .durations(quality, jitter),
            LatencyProfile::Spread {
                queue_ms,
                generate_ms,
                spread_pct,
            } => {
                let generate = match quality {
                    QualityLevel::Low => generate_ms / 2,
                    QualityLevel::Medium => generate_ms,
                    QualityLevel::High => generate_ms.saturating_mul(2),
                };
                // 100 - spread .. 100 + spread percent, e.g. 80% .. 120%.
                let spread = spread_pct.min(100);
                let pct = 100 - spread + (jitter % (2 * spread + 1));
                let scale = |t: u64| ms(t.saturating_mul(pct) / 100);
                (scale(queue_ms), scale(generate))
            }
            LatencyProfile::Fixed {
                queue_ms,
                generate_ms,
            } => (ms(queue_ms), ms(generate_ms)),
        }
    }
}

/// A request budget per key: at most `requests` in any fixed `window`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window; `0` disables the limit.
    pub requests: u32,
    /// Window length (`window_ms` in JSON).
    #[serde(with = "duration_ms", rename = "window_ms")]
    pub window: Duration,
}

impl Default for RateLimit {
    /// Runbase's documented limit: 20 requests per 10 seconds.
    fn default() -> Self {
        RateLimit {
            requests: 20,
            window: Duration::from_secs(10),
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Everything [`crate::Sim::start`] needs. Build it with [`SimConfig::fast`],
/// [`SimConfig::realistic`] or [`SimConfig::instant`] and the builder methods.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to bind; `127.0.0.1` by default.
    pub host: IpAddr,
    /// Port to bind; `0` (the default) picks a free one.
    pub port: u16,
    /// Accepted API keys; `["sim-key"]` by default. The magic keys
    /// (see [`crate::magic`]) are always accepted as well.
    pub api_keys: Vec<String>,
    /// Seed of the fault dice and of the realistic profile's jitter; also of
    /// ids (and so images) with [`IdMode::Seeded`].
    pub seed: u64,
    /// How ids are drawn: unique to each simulator (the default), or from
    /// the seed (see [`crate::ids`]).
    pub ids: IdMode,
    /// A folder where the simulator keeps its tasks, ledger and counters, so
    /// that a simulator started later on the same folder goes on where it
    /// stopped (see [`crate::persist`]). `None` (the default): nothing is
    /// written anywhere.
    pub state_dir: Option<PathBuf>,
    /// Latency model at start.
    pub latency: LatencyProfile,
    /// Fault injection at start.
    pub faults: FaultConfig,
    /// Starting credit balance of every key on every provider.
    pub credits: u64,
    /// Runbase's per-key request budget (POST /runs and GET /runs/:id together).
    pub runbase_rate_limit: RateLimit,
    /// If set, a runbase key that has made this many requests gets
    /// `429 USAGE_EXCEEDED` on every later request (quota gone for good).
    pub runbase_usage_quota: Option<u64>,
    /// How long a finished task is kept before it may be forgotten (then its
    /// id answers 404). One hour by default.
    pub task_ttl: Duration,
    /// fal: requests of one key `IN_PROGRESS` at once (2, a new account's
    /// limit); more wait `IN_QUEUE`, never rejected. `0` lifts the limit.
    pub fal_concurrency: u32,
    /// fal: seed of the ED25519 key pair that signs webhooks.
    pub fal_webhook_seed: [u8; 32],
    /// Replicate: creates per key (600 per minute; `requests == 0` lifts it).
    pub replicate_rate_limit: RateLimit,
    /// Replicate: every other request per key (3000 per minute).
    pub replicate_other_rate_limit: RateLimit,
    /// Replicate: the longest a `Prefer: wait[=N]` create is held (60 s).
    pub replicate_max_wait: Duration,
    /// Replicate: the webhook signing secret, `whsec_<base64 key>`.
    pub replicate_webhook_secret: String,
    /// Azure: requests per key and deployment (9 per minute, GPT-image-1.5's
    /// default quota).
    pub azure_rate_limit: RateLimit,
    /// Azure: the deployment names that exist (others answer 404
    /// `DeploymentNotFound`).
    pub azure_deployments: Vec<String>,
    /// WaveSpeed: images per key (Bronze level: 2 per minute).
    pub wavespeed_rate_limit: RateLimit,
    /// WaveSpeed: tasks of one key running at once (Bronze: 2); more wait.
    /// `0` lifts the limit.
    pub wavespeed_concurrency: u32,
    /// WaveSpeed: how long a sync-mode request is held before the gateway
    /// answers 504 (the task goes on).
    pub wavespeed_sync_timeout: Duration,
    /// WaveSpeed: the webhook secret, `whsec_<key>` (the key is used as is).
    pub wavespeed_webhook_secret: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::fast()
    }
}

impl SimConfig {
    /// Latencies of a few milliseconds, for tests. This is the default.
    pub fn fast() -> Self {
        SimConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            api_keys: vec![DEFAULT_API_KEY.to_string()],
            seed: 0x5eed,
            ids: IdMode::Unique,
            state_dir: None,
            latency: LatencyProfile::Fast,
            faults: FaultConfig::default(),
            credits: DEFAULT_CREDITS,
            runbase_rate_limit: RateLimit::default(),
            runbase_usage_quota: None,
            task_ttl: Duration::from_secs(3600),
            fal_concurrency: 2,
            fal_webhook_seed: DEFAULT_FAL_WEBHOOK_SEED,
            replicate_rate_limit: per(600, SCALED_MINUTE),
            replicate_other_rate_limit: per(3000, SCALED_MINUTE),
            replicate_max_wait: SCALED_MINUTE,
            replicate_webhook_secret: DEFAULT_REPLICATE_WEBHOOK_SECRET.to_string(),
            azure_rate_limit: per(9, SCALED_MINUTE),
            azure_deployments: vec![DEFAULT_AZURE_DEPLOYMENT.to_string()],
            wavespeed_rate_limit: per(2, SCALED_MINUTE),
            wavespeed_concurrency: 2,
            wavespeed_sync_timeout: SCALED_MINUTE,
            wavespeed_webhook_secret: DEFAULT_WAVESPEED_WEBHOOK_SECRET.to_string(),
        }
    }

    /// Latencies of seconds, like the real services, for demos; every
    /// seller's limit as documented (per-minute windows of a minute).
    pub fn realistic() -> Self {
        let minute = Duration::from_secs(60);
        SimConfig {
            replicate_rate_limit: per(600, minute),
            replicate_other_rate_limit: per(3000, minute),
            replicate_max_wait: minute,
            azure_rate_limit: per(9, minute),
            wavespeed_rate_limit: per(2, minute),
            wavespeed_sync_timeout: minute,
            ..SimConfig::fast()
        }
        .latency(LatencyProfile::Realistic)
    }

    /// Zero latency: tasks finish at their first poll. For benchmarks.
    pub fn instant() -> Self {
        SimConfig::fast().latency(LatencyProfile::Instant)
    }

    /// Sets the port (`0` = ephemeral).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the address to bind (default `127.0.0.1`).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }

    /// Adds an accepted API key (`sim-key` stays accepted).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if !self.api_keys.contains(&key) {
            self.api_keys.push(key);
        }
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Draws ids from the seed and the order of creation only, so the same
    /// seed gives the same ids (and images) in every simulator; for tests
    /// that need fixed ids. By default ([`IdMode::Unique`]) every simulator
    /// hands out ids no other one does.
    pub fn seeded_ids(mut self) -> Self {
        self.ids = IdMode::Seeded;
        self
    }

    /// Keeps the simulator's state in `dir` (created if missing): tasks,
    /// ledger and counters are written there as they change and read back
    /// at start, so a simulator restarted on the same folder answers the
    /// earlier one's tasks and goes on with its ledger. Only one simulator
    /// may use a folder at a time. See [`crate::persist`].
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Sets the latency model.
    pub fn latency(mut self, latency: LatencyProfile) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the fault injection.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the starting credits of every key on every provider.
    pub fn credits(mut self, credits: u64) -> Self {
        self.credits = credits;
        self
    }

    /// Every per-key request limit that the fast profile leaves at its real
    /// window (Runbase's 20 per 10 s) scaled like the others (20 per 1 s),
    /// for interactive use of the fast profile (`imagegen --sim`): a client
    /// budgeting `requests` per `window` for every seller stays within it.
    pub fn interactive_limits(self, requests: u32, window: Duration) -> Self {
        self.runbase_rate_limit(requests, window)
    }

    /// Sets runbase's per-key rate limit (`requests == 0` disables it).
    pub fn runbase_rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.runbase_rate_limit = RateLimit { requests, window };
        self
    }

    /// Sets a per-key runbase request quota after which every request gets
    /// `429 USAGE_EXCEEDED`.
    pub fn runbase_usage_quota(mut self, requests: u64) -> Self {
        self.runbase_usage_quota = Some(requests);
        self
    }

    /// Sets how long finished tasks are kept.
    pub fn task_ttl(mut self, ttl: Duration) -> Self {
        self.task_ttl = ttl;
        self
    }

    /// Sets fal's per-key concurrency (`0` lifts it).
    pub fn fal_concurrency(mut self, requests: u32) -> Self {
        self.fal_concurrency = requests;
        self
    }

    /// Sets the seed of the ED25519 key that signs fal webhooks.
    pub fn fal_webhook_seed(mut self, seed: [u8; 32]) -> Self {
        self.fal_webhook_seed = seed;
        self
    }

    /// Sets Replicate's per-key create limit (`requests == 0` lifts it).
    pub fn replicate_rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.replicate_rate_limit = RateLimit { requests, window };
        self
    }

    /// Sets Replicate's per-key limit on every other request.
    pub fn replicate_other_rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.replicate_other_rate_limit = RateLimit { requests, window };
        self
    }

    /// Sets the longest hold of a Replicate `Prefer: wait` create.
    pub fn replicate_max_wait(mut self, wait: Duration) -> Self {
        self.replicate_max_wait = wait;
        self
    }

    /// Sets Replicate's webhook signing secret (`whsec_<base64>`).
    pub fn replicate_webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.replicate_webhook_secret = secret.into();
        self
    }

    /// Sets Azure's per-key, per-deployment request limit (`0` lifts it).
    pub fn azure_rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.azure_rate_limit = RateLimit { requests, window };
        self
    }

    /// Adds an Azure deployment name (`gpt-image-1.5` stays).
    pub fn azure_deployment(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.azure_deployments.contains(&name) {
            self.azure_deployments.push(name);
        }
        self
    }

    /// Sets WaveSpeed's per-key image limit (`images == 0` lifts it).
    pub fn wavespeed_rate_limit(mut self, images: u32, window: Duration) -> Self {
        self.wavespeed_rate_limit = RateLimit {
            requests: images,
            window,
        };
        self
    }

    /// Sets WaveSpeed's per-key concurrency (`0` lifts it).
    pub fn wavespeed_concurrency(mut self, tasks: u32) -> Self {
        self.wavespeed_concurrency = tasks;
        self
    }

    /// Sets WaveSpeed's sync-mode gateway limit.
    pub fn wavespeed_sync_timeout(mut self, limit: Duration) -> Self {
        self.wavespeed_sync_timeout = limit;
        self
    }

    /// Sets WaveSpeed's webhook secret (`whsec_<key>`).
    pub fn wavespeed_webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.wavespeed_webhook_secret = secret.into();
        self
    }
}

/// A documented minute, in the fast profile.
const SCALED_MINUTE: Duration = Duration::from_secs(1);

fn per(requests: u32, window: Duration) -> RateLimit {
    RateLimit { requests, window }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realistic_is_a_spread_and_a_spread_stays_within_it() {
        for jitter in [0, 20, 40, 41, 12_345] {
            let spread = LatencyProfile::Spread {
                queue_ms: 1_000,
                generate_ms: 8_000,
                spread_pct: 20,
            };
            for quality in [QualityLevel::Low, QualityLevel::Medium, QualityLevel::High] {
                assert_eq!(
                    LatencyProfile::Realistic.durations(quality, jitter),
                    spread.durations(quality, jitter)
                );
            }
        }
        let ms = Duration::from_millis;
        let scaled = LatencyProfile::Spread {
            queue_ms: 200,
            generate_ms: 1_600,
            spread_pct: 20,
        };
        assert_eq!(
            scaled.durations(QualityLevel::Medium, 0),
            (ms(160), ms(1_280))
        );
        assert_eq!(
            scaled.durations(QualityLevel::Medium, 40),
            (ms(240), ms(1_920))
        );
        assert_eq!(
            scaled.durations(QualityLevel::High, 20),
            (ms(200), ms(3_200))
        );
        let wide = LatencyProfile::Spread {
            queue_ms: 100,
            generate_ms: 100,
            spread_pct: 500,
        };
        assert_eq!(wide.durations(QualityLevel::Medium, 0), (ms(0), ms(0)));
        assert_eq!(
            wide.durations(QualityLevel::Medium, 200),
            (ms(200), ms(200))
        );
    }
}
