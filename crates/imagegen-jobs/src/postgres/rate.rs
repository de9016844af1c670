//! [`PgRate`]: one rate budget per API key, shared through PostgreSQL by
//! every process that points at the database.
//!
//! **How.** One row per account in `imagegen.rate_windows` holds a
//! sliding-window log: the start times of the account's last `cap`
//! requests. A take is one call of `imagegen.rate_take` (migration 2), one
//! statement and one round trip: it locks the account's row (the lock
//! serializes the takers of one account, in every process), reads the
//! server's `clock_timestamp()` after the lock is held, drops the starts
//! older than the window, and either appends the new start (granted) or
//! records nothing and answers how long until the oldest start leaves
//! (full). Times are the database server's, so the machines' clocks may
//! disagree; a start is never backdated by the wait for the lock.
//!
//! **What it costs.** One prepared statement per request, on a pooled
//! connection (`docs/PERFORMANCE.md`, "Shared rate budget", has the round
//! trip measured). A process asks for one request at a time per account
//! (`imagegen_core::RateBudget` queues the others locally), so a full
//! window costs each process one denied ask, then sleeps for the time
//! advised.
//!
//! **A process that dies** holds nothing: every grant is one start in the
//! log, which leaves the window `window` after it was taken whether or not
//! its taker lives. There are no batches of grants to return.
//!
//! **A database that does not answer** within [`PgRateOptions::timeout`]
//! makes the take fail; the client then paces that process alone for a
//! while (see `imagegen_core::SharedRate`).
//!
//! **No key in the database.** The row is keyed by a SHA-256 of the
//! client's account id ([`PgRate::account_key`]), itself already a
//! fingerprint of base URL and key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use imagegen_core::async_trait;
use imagegen_core::shared_rate::{Grant, SharedRate, SharedRateError};
use sha2::{Digest, Sha256};

use super::{PgStore, error_chain, open_pool, pool_error, schema};
use crate::store::{StoreError, StoreErrorKind, StoreResult};

const TAKE: &str = "SELECT imagegen.rate_take($1, $2, $3)";

const HOLD_BACK: &str = "INSERT INTO imagegen.rate_windows AS w (account, blocked_until)
     VALUES ($1, clock_timestamp() + make_interval(secs => $2))
     ON CONFLICT (account) DO UPDATE
     SET blocked_until = greatest(w.blocked_until, EXCLUDED.blocked_until)";

/// How a [`PgRate`] talks to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgRateOptions {
    /// The longest a take may take, connecting included, before it counts
    /// as failed (and the request is paced by its process alone). Default
    /// 1 s: a take is one short statement, well under a millisecond on a
    /// healthy database.
    pub timeout: Duration,
    /// The most connections the handle opens (at least 1). Default 2: a
    /// process has at most one take in flight per account.
    pub max_connections: usize,
}

impl Default for PgRateOptions {
    fn default() -> Self {
        PgRateOptions {
            timeout: Duration::from_secs(1),
            max_connections: 2,
        }
    }
}

impl PgRateOptions {
    /// Sets the longest a take may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets the most connections (at least 1).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

/// The rate budgets of every account, shared through PostgreSQL: the
/// [`SharedRate`] backend to give `imagegen_core::ClientBuilder::shared_rate`.
/// Cheap to clone. See the [module docs](self).
///
/// ```no_run
/// # async fn run(provider: imagegen_core::testing::ScriptedProvider) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use imagegen_core::Client;
/// use imagegen_jobs::PgRate;
/// let shared = PgRate::connect("postgres://app@db.internal/imagegen").await?;
/// let client = Client::builder()
///     .provider(provider)
///     .shared_rate(Arc::new(shared))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgRate {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    location: String,
    timeout: Duration,
}

impl fmt::Debug for PgRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRate")
            .field("location", &self.inner.location)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl PgRate {
    /// Connects to the database at `url` (as [`PgStore::connect`] takes
    /// it) and runs the migrations this version knows, for an app that
    /// wants the shared budget without the job queue. Refuses a database
    /// whose schema is newer than this version.
    pub async fn connect(url: &str) -> StoreResult<PgRate> {
        Self::connect_with(url, PgRateOptions::default()).await
    }

    /// [`connect`](Self::connect) with another timeout or pool size.
    pub async fn connect_with(url: &str, options: PgRateOptions) -> StoreResult<PgRate> {
        if options.timeout.is_zero() || options.max_connections == 0 {
            return Err(StoreError::new(
                StoreErrorKind::Usage,
                format!(
                    "timeout {:?}, {} connection(s): the timeout must be above zero, with at least one connection",
                    options.timeout, options.max_connections
                ),
            ));
        }
        let (pool, _, location) = open_pool(url, "rate budget", options.max_connections)?;
        let mut conn = pool.get().await.map_err(|e| pool_error(&location, e))?;
        schema::migrate(&mut conn, &location).await?;
        drop(conn);
        Ok(PgRate {
            inner: Arc::new(Inner {
                pool,
                location,
                timeout: options.timeout,
            }),
        })
    }

    /// The same handle with another take timeout.
    pub fn with_timeout(self, timeout: Duration) -> PgRate {
        PgRate {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                location: self.inner.location.clone(),
                timeout: timeout.max(Duration::from_millis(1)),
            }),
        }
    }

    /// What the database stores for `account_id`: its SHA-256, in hex.
    /// Whatever an `ImageProvider` puts in its account id, no key reaches
    /// the database.
    pub fn account_key(account_id: &str) -> String {
        hex::encode(Sha256::digest(account_id.as_bytes()))
    }

    fn failed(&self, what: &str, err: &dyn std::error::Error) -> SharedRateError {
        SharedRateError::new(format!(
            "{}: {what}: {}",
            self.inner.location,
            error_chain(err)
        ))
    }

    fn failed_plain(&self, what: &str) -> SharedRateError {
        SharedRateError::new(format!("{}: {what}", self.inner.location))
    }

    /// Runs the statement `sql` (prepared once per connection) with
    /// `params`, within the timeout: one round trip on a warm connection.
    async fn run(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, SharedRateError> {
        self.within(what, async {
            let conn = self
                .inner
                .pool
                .get()
                .await
                .map_err(|e| self.failed("connecting", &e))?;
            let statement = conn
                .prepare_cached(sql)
                .await
                .map_err(|e| self.failed(what, &e))?;
            conn.query(&statement, params)
                .await
                .map_err(|e| self.failed(what, &e))
        })
        .await
    }

    /// Runs `ask` within the timeout.
    async fn within<T>(
        &self,
        what: &str,
        ask: impl Future<Output = Result<T, SharedRateError>>,
    ) -> Result<T, SharedRateError> {
        tokio::time::timeout(self.inner.timeout, ask)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(SharedRateError::new(format!(
                    "{}: {what}: no answer within {:?}",
                    self.inner.location, self.inner.timeout
                )))
            })
    }
}

impl PgStore {
    /// The shared rate budget on this store's database and connections
    /// (see [`PgRate`]): a worker paces its requests with the same budget
    /// as every other process on the database, without a second pool.
    pub fn shared_rate(&self) -> PgRate {
        PgRate {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                location: self.inner.location.clone(),
                timeout: PgRateOptions::default().timeout,
            }),
        }
    }
}

#[async_trait]
impl SharedRate for PgRate {
    async fn take(
        &self,
        account: &str,
        cap: u32,
        window: Duration,
    ) -> Result<Grant, SharedRateError> {
        let key = PgRate::account_key(account);
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        let window_secs = window.as_secs_f64();
        let rows = self
            .run("taking a request start", TAKE, &[&key, &cap, &window_secs])
            .await?;
        let wait: f64 = match rows.first() {
            Some(row) => row
                .try_get(0)
                .map_err(|e| self.failed("reading a take", &e))?,
            None => return Err(self.failed_plain("a take answered no row")),
        };
        if wait.is_nan() || wait <= 0.0 {
            return Ok(Grant::Granted);
        }
        // Never longer than one window: a wait beyond it would be a clock
        // step on the server, not a full window.
        let retry_in = Duration::try_from_secs_f64(wait)
            .unwrap_or(window)
            .min(window.max(Duration::from_millis(1)));
        Ok(Grant::Full { retry_in })
    }

    async fn hold_back(&self, account: &str, wait: Duration) -> Result<(), SharedRateError> {
        let key = PgRate::account_key(account);
        let wait_secs = wait.as_secs_f64();
        self.run("sharing a hold-back", HOLD_BACK, &[&key, &wait_secs])
            .await
            .map(drop)
    }
}
