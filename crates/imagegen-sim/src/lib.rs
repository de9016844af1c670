//! # imagegen-sim
//!
//! A local simulator of the three image APIs imagegen speaks (Runbase,
//! gptimage15.ai and OpenAI's Images API), served over real HTTP on one
//! loopback port so tests, benchmarks and offline demos exercise the real
//! provider clients. Think LocalStack, for GPT Image 1.5 resellers.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use imagegen_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::fast()).await?;
//! println!("runbase at {}", sim.runbase_url()); // http://127.0.0.1:PORT/runbase/api/v1
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
//! | `/files/{provider}/{task}/{index}.png` | the resellers' CDN | `GET` a task's PNG, no key |
//! | `/_sim/...` | the sim itself | ledger, config, reset, health |
//!
//! ## Decisions where the providers' docs are silent
//!
//! Each provider module states its own: [`providers::runbase`] (1 credit per
//! run, no refund, run object shape, statuses), [`providers::gptimage15`]
//! (HTTP status = envelope code, 10 credits and refund on `FAILED`, callback
//! body `{"task_id", "status"}` with 3 retries), the OpenAI modules (1 credit
//! per image, `insufficient_quota`, `moderation_blocked`). Faults are
//! described in [`faults`], magic keys in [`magic`], the ledger's counting
//! rules in [`ledger`], the rate limit in [`ratelimit`]. In short:
//!
//! - Accepted keys: `sim-key` plus any added with [`SimConfig::api_key`],
//!   plus the [`magic`] keys. Auth is `Authorization: Bearer <key>`.
//! - Credits: [`SimConfig::credits`] per key per provider (1,000,000 by
//!   default); nothing is charged for a rejected request.
//! - Runbase rate limit: 20 requests per 10 s per key, fixed window, creates
//!   and polls counted together.
//! - A task's latency is decided at its creation from the profile in force;
//!   its status is computed from timestamps at each poll.

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod cli;
pub mod config;
pub mod faults;
pub mod images;
pub mod ledger;
pub mod magic;
pub mod providers;
pub mod ratelimit;
mod state;
mod tasks;

pub use cli::{SimArgs, serve};
pub use config::{DEFAULT_API_KEY, DEFAULT_CREDITS, LatencyProfile, RateLimit, SimConfig};
pub use faults::FaultConfig;
pub use ledger::{Ledger, LedgerEntry};
pub use state::RuntimeConfig;

use state::AppState;

/// The three simulated providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// runbase.net.
    Runbase,
    /// gptimage15.ai.
    Gptimage15,
    /// api.openai.com.
    Openai,
}

impl Provider {
    /// The name used in the ledger and in file URLs.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Runbase => "runbase",
            Provider::Gptimage15 => "gptimage15",
            Provider::Openai => "openai",
        }
    }
}

/// Entry point: starts a simulator.
pub struct Sim;

impl Sim {
    /// Binds `config.host:config.port` and serves on the current tokio
    /// runtime until the returned handle is dropped or shut down.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        if let Err(e) = providers::admin::check_faults(&config.faults) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
        }
        let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let base_url = format!("http://{shown}");
        let state = Arc::new(AppState::new(&config, base_url.clone()));
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

    /// A settled snapshot of the ledger (failed gptimage15 tasks refunded).
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

    /// Forgets every task, the ledger, rate-limit windows and 429 bursts.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Number of tasks held in memory.
    pub fn tasks_in_store(&self) -> usize {
        self.state.tasks.len()
    }

    /// Stops accepting, closes connections gracefully (at most 2 s), and
    /// waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
