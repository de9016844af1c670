//! # imagegen-sim
//!
//! A local simulator of the image APIs imagegen speaks (Runbase,
//! gptimage15.ai, OpenAI's Images API, fal.ai, Replicate, Azure OpenAI and
//! WaveSpeed AI), served over real HTTP on one loopback port so tests,
//! benchmarks and offline demos exercise the real provider clients. Think
//! LocalStack, for GPT Image 1.5 resellers.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use imagegen_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::fast()).await?;
//! println!("runbase at {}", sim.runbase_url()); // http://127.0.0.1:PORT/runbase/api/v1
//! println!("fal at {}", sim.fal_url()); // http://127.0.0.1:PORT/fal
//! // ... point a client at it with the key "sim-key" ...
//! let ledger = sim.ledger();
//! assert_eq!(ledger.totals("runbase").duplicate_creates, 0);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! | prefix | stands for | endpoints |
//! |---|---|---|
//! | `/runbase/api/v1` | `https://runbase.net/api/v1` | `POST /runs`, `GET /runs/{id}` |
//! | `/gptimage15/api` | `https://gptimage15.ai/api` | `POST /generate`, `GET /status?task_id=`, `GET /v2/status?task_id=` |
//! | `/openai/v1` | `https://api.openai.com/v1` | `POST /images/generations`, `POST /images/edits` |
//! | `/fal` | `https://queue.fal.run` | `POST /fal-ai/gpt-image-1.5[/edit]`, `GET .../requests/{id}[/status]`, `PUT .../requests/{id}/cancel` |
//! | `/fal-rest` | `https://rest.fal.ai` | `GET /.well-known/jwks.json` (webhook key) |
//! | `/replicate/v1` | `https://api.replicate.com/v1` | `POST /models/openai/gpt-image-1.5/predictions`, `POST /predictions`, `GET /predictions/{id}`, `POST /predictions/{id}/cancel`, `GET /webhooks/default/secret` |
//! | `/azure` | `https://{resource}.openai.azure.com` | `POST /openai/deployments/{d}/images/{generations,edits}?api-version=`, `POST /openai/v1/images/{generations,edits}` |
//! | `/wavespeed` | `https://api.wavespeed.ai` | `POST /api/v3/openai/gpt-image-1.5/{text-to-image,edit}`, `GET /api/v3/predictions/{id}[/result]`, `GET /api/v3/webhook/secret` |
//! | `/files/{provider}/{task}/{index}.{png,jpeg,webp}` | the sellers' CDNs | `GET` a task's image, no key |
//! | `/_sim/...` | the sim itself | ledger, config, reset, health |
//!
//! ## Decisions where the providers' docs are silent
//!
//! Each provider module states its own: [`providers::runbase`] (1 credit per
//! run, no refund, run object shape, statuses), [`providers::gptimage15`]
//! (HTTP status = envelope code, 10 credits and refund on `FAILED`, callback
//! body `{"task_id", "status"}` with 3 retries), the OpenAI modules (1 credit
//! per image, `insufficient_quota`, `moderation_blocked`),
//! [`providers::fal`] (auth `Key`, pydantic 422s, concurrency queue,
//! `COMPLETED` with errors, ED25519 webhooks), [`providers::replicate`]
//! (`Prefer: wait`, `Cancel-After`, problem details, the throttled 429 with
//! `Retry-After`, Standard-Webhooks signatures), [`providers::azure`]
//! (`api-key`, api-version and deployment errors, no webp, `contentFilter`,
//! 9 requests per minute per deployment) and [`providers::wavespeed`]
//! (envelope, sync-mode 504, Bronze limits, `v3` hex signatures). Faults
//! are described in [`faults`], magic keys and prompts in [`magic`], the
//! ledger's counting rules in [`ledger`], the rate limits in [`ratelimit`]
//! and [`config`], webhooks in [`providers::webhook`]. In short:
//!
//! - Accepted keys: `sim-key` plus any added with [`SimConfig::api_key`],
//!   plus the [`magic`] keys, each presented the provider's way (`Bearer`,
//!   fal's `Key`, Azure's `api-key`).
//! - Credits: [`SimConfig::credits`] per key per provider (1,000,000 by
//!   default); nothing is charged for a rejected request; each seller's
//!   refund rule is in [`providers`]' modules.
//! - Runbase rate limit: 20 requests per 10 s per key, fixed window, creates
//!   and polls counted together. The newer sellers' limits are in
//!   [`config`]: [`SimConfig::realistic`] as documented,
//!   [`SimConfig::fast`] with minute windows scaled to a second.
//! - A task's latency is decided at its creation from the profile in force;
//!   its status is computed from timestamps at each poll.
//! - Ids (task, request and prediction ids) are unique to each simulator
//!   instance: a random tag drawn at start is mixed into every one, so a
//!   client that kept an id from an earlier simulator gets a 404, never
//!   another task. [`SimConfig::seeded_ids`] draws them from the seed
//!   instead, for tests that need fixed ids. See [`ids`].
//!
//! ## Restarting on the same state
//!
//! With [`SimConfig::state_dir`] (`--state-dir DIR`) the simulator writes
//! its tasks, ledger and counters to a journal in `DIR` as they change, and
//! a simulator started later on `DIR` reads them back: it answers the
//! status, result and images of the earlier one's tasks, each going on from
//! its wall-clock creation time, and its ledger goes on from the earlier
//! one's (so it still proves nothing was paid twice). One simulator at a
//! time may use a folder. Without a state dir nothing is written. See
//! [`persist`] for what is kept, the file format, durability and the lock.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use imagegen_sim::{Sim, SimConfig};
//! let first = Sim::start(SimConfig::fast().state_dir("/tmp/my-batch/sim")).await?;
//! // ... create tasks, then stop (or crash) ...
//! drop(first);
//! let again = Sim::start(SimConfig::fast().state_dir("/tmp/my-batch/sim")).await?;
//! // ... the first simulator's tasks answer here, and its ledger goes on.
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod cli;
mod concurrency;
pub mod config;
pub mod faults;
pub mod ids;
pub mod images;
pub mod ledger;
pub mod magic;
pub mod persist;
pub mod providers;
pub mod ratelimit;
mod state;
mod tasks;

pub use cli::{SimArgs, serve};
pub use config::{
    DEFAULT_API_KEY, DEFAULT_AZURE_DEPLOYMENT, DEFAULT_CREDITS, DEFAULT_FAL_WEBHOOK_SEED,
    DEFAULT_REPLICATE_WEBHOOK_SECRET, DEFAULT_WAVESPEED_WEBHOOK_SECRET, LatencyProfile, RateLimit,
    SimConfig,
};
pub use faults::FaultConfig;
pub use ids::IdMode;
pub use ledger::{Ledger, LedgerEntry};
pub use persist::Restored;
pub use state::RuntimeConfig;

use state::AppState;

/// The simulated providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// runbase.net.
    Runbase,
    /// gptimage15.ai.
    Gptimage15,
    /// api.openai.com.
    Openai,
    /// fal.ai's queue (queue.fal.run).
    Fal,
    /// api.replicate.com.
    Replicate,
    /// Azure OpenAI ({resource}.openai.azure.com).
    Azure,
    /// api.wavespeed.ai.
    Wavespeed,
}

impl Provider {
    /// Every provider, in ledger order.
    pub const ALL: [Provider; 7] = [
        Provider::Runbase,
        Provider::Gptimage15,
        Provider::Openai,
        Provider::Fal,
        Provider::Replicate,
        Provider::Azure,
        Provider::Wavespeed,
    ];

    /// The name used in the ledger and in file URLs.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Runbase => "runbase",
            Provider::Gptimage15 => "gptimage15",
            Provider::Openai => "openai",
            Provider::Fal => "fal",
            Provider::Replicate => "replicate",
            Provider::Azure => "azure",
            Provider::Wavespeed => "wavespeed",
        }
    }

    /// The provider whose [`Provider::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The sim's path prefix that stands for the provider's base URL.
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::Runbase => providers::RUNBASE_PREFIX,
            Provider::Gptimage15 => providers::GPTIMAGE15_PREFIX,
            Provider::Openai => providers::OPENAI_PREFIX,
            Provider::Fal => providers::FAL_PREFIX,
            Provider::Replicate => providers::REPLICATE_PREFIX,
            Provider::Azure => providers::AZURE_PREFIX,
            Provider::Wavespeed => providers::WAVESPEED_PREFIX,
        }
    }
}

/// Entry point: starts a simulator.
pub struct Sim;

impl Sim {
    /// Binds `config.host:config.port` and serves on the current tokio
    /// runtime until the returned handle is dropped or shut down.
    ///
    /// With a [`SimConfig::state_dir`], first takes the folder's lock (an
    /// [`std::io::ErrorKind::ResourceBusy`] error if another simulator holds
    /// it) and restores what the journal there holds (see [`persist`]).
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        if let Err(e) = providers::admin::check_faults(&config.faults) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
        }
        let locked = match &config.state_dir {
            Some(dir) => Some(persist::lock_dir(dir)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let base_url = format!("http://{shown}");
        let state = Arc::new(AppState::new(&config, base_url.clone()));
        let restored = match locked {
            Some(locked) => Some(persist::restore(&state, locked)?),
            None => None,
        };
        let app = providers::router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        tracing::debug!(%base_url, "imagegen-sim listening");
        Ok(SimHandle {
            addr,
            base_url,
            state,
            restored,
            stop: Some(tx),
            server: Some(server),
        })
    }
}

/// A running simulator. Dropping it stops the server (the listener closes at
/// once; open connections are closed gracefully).
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    state: Arc<AppState>,
    restored: Option<Restored>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/runbase/api/v1` (stands for `https://runbase.net/api/v1`).
    pub fn runbase_url(&self) -> String {
        format!("{}{}", self.base_url, providers::RUNBASE_PREFIX)
    }

    /// `http://127.0.0.1:PORT/gptimage15/api` (stands for `https://gptimage15.ai/api`).
    pub fn gptimage15_url(&self) -> String {
        format!("{}{}", self.base_url, providers::GPTIMAGE15_PREFIX)
    }

    /// `http://127.0.0.1:PORT/openai/v1` (stands for `https://api.openai.com/v1`).
    pub fn openai_url(&self) -> String {
        format!("{}{}", self.base_url, providers::OPENAI_PREFIX)
    }

    /// `http://127.0.0.1:PORT/fal` (stands for `https://queue.fal.run`).
    pub fn fal_url(&self) -> String {
        self.url_for(Provider::Fal)
    }

    /// `http://127.0.0.1:PORT/replicate/v1` (stands for `https://api.replicate.com/v1`).
    pub fn replicate_url(&self) -> String {
        self.url_for(Provider::Replicate)
    }

    /// `http://127.0.0.1:PORT/azure` (stands for `https://{resource}.openai.azure.com`).
    pub fn azure_url(&self) -> String {
        self.url_for(Provider::Azure)
    }

    /// `http://127.0.0.1:PORT/wavespeed` (stands for `https://api.wavespeed.ai`).
    pub fn wavespeed_url(&self) -> String {
        self.url_for(Provider::Wavespeed)
    }

    /// The base URL of `provider` on this sim (its path prefix on [`SimHandle::base_url`]).
    pub fn url_for(&self, provider: Provider) -> String {
        format!("{}{}", self.base_url, provider.prefix())
    }

    /// The public half of the ED25519 key pair that signs fal webhooks
    /// (also in `GET /_sim/config` as `fal_webhook_public_key`, hex, and at
    /// `/fal-rest/.well-known/jwks.json`).
    pub fn fal_webhook_public_key(&self) -> ed25519_dalek::VerifyingKey {
        self.state.sellers.fal_signing.verifying_key()
    }

    /// Replicate's webhook signing secret (`whsec_...`).
    pub fn replicate_webhook_secret(&self) -> String {
        self.state.sellers.replicate_secret.clone()
    }

    /// WaveSpeed's webhook secret (`whsec_...`).
    pub fn wavespeed_webhook_secret(&self) -> String {
        self.state.sellers.wavespeed_secret.clone()
    }

    /// A settled snapshot of the ledger (every refund due booked first).
    pub fn ledger(&self) -> Ledger {
        self.state.ledger()
    }

    /// Replaces the fault injection in force.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.set_runtime(|rt| rt.faults = faults);
    }

    /// Replaces the latency model for new tasks.
    pub fn set_latency(&self, latency: LatencyProfile) {
        self.state.set_runtime(|rt| rt.latency = latency);
    }

    /// The faults and latency in force.
    pub fn runtime_config(&self) -> RuntimeConfig {
        self.state.runtime()
    }

    /// Forgets every task, the ledger, rate-limit windows, queues and 429 bursts.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// What was found in the state dir at start (`None` without one).
    pub fn restored(&self) -> Option<&Restored> {
        self.restored.as_ref()
    }

    /// The state dir, if any (see [`SimConfig::state_dir`]).
    pub fn state_dir(&self) -> Option<std::path::PathBuf> {
        self.state.state_dir()
    }

    /// How this simulator draws its ids.
    pub fn id_mode(&self) -> IdMode {
        self.state.id_mode
    }

    /// When task `id` was created and when it ends (completes, fails or
    /// is stopped), by the simulator's wall clock, whatever its provider:
    /// what a benchmark measures a client's detection delay against.
    pub fn task_times(&self, id: &str) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
        self.state.tasks.with_id(id, |task| {
            (task.created_wall.into(), task.end_wall().into())
        })
    }

    /// Number of tasks held in memory.
    pub fn tasks_in_store(&self) -> usize {
        self.state.tasks.len()
    }

    /// Stops accepting, closes connections gracefully (at most 2 s), and
    /// waits for the server to end; then syncs and closes the state dir's
    /// journal and releases its lock.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(std::time::Duration::from_secs(2), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        self.state.stop();
    }
}

impl Drop for SimHandle {
    /// Stops the server and the timers of webhooks and callbacks, and
    /// releases the state dir (a simulator may be started on it at once).
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.state.stop();
    }
}
