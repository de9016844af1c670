//! The PostgreSQL job store: a [`JobStore`] that many workers, on any
//! number of machines, share (behind the `postgres` feature).
//!
//! One database holds any number of **queues**. A queue is what one SQLite
//! batch folder is: its jobs, meta values and endpoints. [`PgStore::connect`]
//! names the queue (creating it when it is new) and everything the handle
//! does is scoped to it. All tables live in the `imagegen` schema, so the
//! store can share an application's database.
//!
//! The job states and the promises are those of the SQLite journal
//! ([`crate::store`]); what sharing adds:
//!
//! * **Claims are leases.** [`JobStore::claim`] takes jobs with
//!   `FOR UPDATE SKIP LOCKED` (two workers never get the same job) and marks
//!   them `claimed_by` this handle until `lease_until`. A heartbeat task
//!   renews the leases of this handle's unfinished claims
//!   ([`PgOptions::heartbeat`]); a worker that dies stops renewing, and its
//!   jobs are taken over when the lease runs out ([`PgOptions::lease`]).
//!   [`JobStore::release`] gives a stopping worker's jobs back at once (a
//!   create it was still sending becomes ambiguous).
//! * **A dead worker's jobs:** `submitting` becomes `ambiguous` (its create
//!   may have been accepted: handed out again only with
//!   `Claim { ambiguous: true }`), `submitted` and `timed_out` are claimed by
//!   another worker to poll, `pending` and `retryable` to submit. A job with
//!   a task id is never handed out for submission, and no write clears a
//!   task id.
//! * **Creates are fenced.** [`JobStore::mark_submitting`] succeeds only for
//!   a job this handle holds a live lease on and that has no task id; else
//!   it fails with [`StoreErrorKind::ClaimLost`] and the create must not be
//!   sent. A worker that lost its lease (paused, cut off) can never send a
//!   create another worker is also sending.
//! * **Idle workers wake at once:** jobs added to a queue `NOTIFY` the
//!   channel [`NOTIFY_CHANNEL`] with the queue's id, which
//!   [`JobStore::wait_for_work`] `LISTEN`s to.
//! * **An ingest is a unit.** [`JobStore::add_jobs`] records chunks with
//!   `COPY`; until [`JobStore::finish_ingest`] the queue is refused at claim:
//!   while the ingesting handle is alive ([`StoreErrorKind::InUse`]), and for
//!   good once it stopped without finishing ([`StoreErrorKind::Unreadable`],
//!   "cut short").
//!
//! Applications use [`PgStore::enqueue`] (one job into a live queue),
//! [`PgStore::job`] (its state and outputs by id) and
//! [`PgStore::wait_settled`] (woken by a `NOTIFY` on [`SETTLED_CHANNEL`]
//! when the job settles).
//!
//! **One rate budget per API key** across every process on the database:
//! [`PgRate`] (from [`PgRate::connect`], or [`PgStore::shared_rate`] on a
//! store's connections) is the `imagegen_core::SharedRate` backend a
//! `ClientBuilder::shared_rate` takes. See its docs for the design.
//!
//! **Why tokio-postgres.** The driver is `tokio-postgres` with the small
//! `deadpool-postgres` pool, not `sqlx`: the queries are few and fixed, and
//! sqlx's macros and their dependencies cost far more build time on a
//! two-core CI. Migrations are a short ordered list of SQL files
//! ([`SCHEMA_VERSION`]) applied in one transaction under an advisory lock.
//! No generic job-queue crate is used: their automatic retries would send a
//! create again, and a create may have been paid for.

mod lease;
mod listen;
mod rate;
mod rows;
mod schema;
mod store;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, SslMode};

pub use rate::{PgRate, PgRateOptions};
pub use schema::SCHEMA_VERSION;

use crate::store::{StoreError, StoreErrorKind, StoreResult};

/// The channel every queue's "jobs were added or given back" notifications
/// go to; the payload is the queue's id.
pub const NOTIFY_CHANNEL: &str = "imagegen_work";

/// The channel a job's settling (done, failed, invalid, ambiguous) is
/// announced on, for [`PgStore::wait_settled`]; the payload is
/// `queue_id:job_id`.
pub const SETTLED_CHANNEL: &str = "imagegen_settled";

/// How a [`PgStore`] handle leases its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// How long a claim holds a job without a heartbeat: the jobs of a
    /// worker that stopped are taken over this long after its last renewal.
    pub lease: Duration,
    /// How often the handle renews the leases of its unfinished claims.
    /// Well under [`lease`](Self::lease), so a slow round trip never lets a
    /// live worker's lease run out.
    pub heartbeat: Duration,
    /// The most connections the handle opens for its queries (one more is
    /// opened to `LISTEN` once the handle claims or waits for work).
    pub max_connections: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// A handle on one queue of a PostgreSQL job store. Cheap to clone: clones
/// share the connections, the heartbeat and the claims (they are one
/// worker). See the [module docs](self).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    queue: String,
    queue_id: i64,
    /// This handle's name in `claimed_by`: host, pid and a random part.
    worker: String,
    options: PgOptions,
    location: String,
    heartbeat: tokio::task::JoinHandle<()>,
    listener: listen::Listener,
    /// The listener's wake-up count when the last claim began: a
    /// notification after it means there may be work.
    seen_at_claim: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A dropped handle stops renewing: its unfinished claims run out
        // like a dead worker's unless it called `release` first.
        self.heartbeat.abort();
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.inner.location)
            .field("worker", &self.inner.worker)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`
    /// or `host=... dbname=...`), runs the migrations this version knows,
    /// and opens `queue`, creating it when it is new. Refuses a database
    /// whose schema is newer than this version, and a queue holding a job
    /// state it does not know.
    pub async fn connect(url: &str, queue: &str) -> StoreResult<PgStore> {
        Self::connect_with(url, queue, PgOptions::default()).await
    }

    /// [`connect`](Self::connect) with other lease times or pool size.
    pub async fn connect_with(url: &str, queue: &str, options: PgOptions) -> StoreResult<PgStore> {
        check_queue_name(queue)?;
        check_options(&options)?;
        let (pool, config, location) =
            open_pool(url, &format!("queue `{queue}`"), options.max_connections)?;

        let mut conn = pool.get().await.map_err(|e| pool_error(&location, e))?;
        schema::migrate(&mut conn, &location).await?;
        let queue_id = schema::open_queue(&conn, queue, &location).await?;
        schema::refuse_unknown_states(&conn, queue_id, &location).await?;
        lease::settle_expired(&conn, queue_id)
            .await
            .map_err(|e| db_error(&location, "settling expired claims", e))?;
        drop(conn);

        let worker = worker_name();
        let heartbeat = tokio::spawn(lease::heartbeat(
            pool.clone(),
            queue_id,
            worker.clone(),
            options,
        ));
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                // The LISTEN connection lives outside the pool.
                listener: listen::Listener::new(config, queue_id),
                queue: queue.to_owned(),
                queue_id,
                worker,
                options,
                location,
                heartbeat,
                seen_at_claim: AtomicU64::new(0),
            }),
        })
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.inner.queue
    }

    /// This handle's name as the store records it in `claimed_by`.
    pub fn worker(&self) -> &str {
        &self.inner.worker
    }

    async fn conn(&self) -> StoreResult<deadpool_postgres::Object> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.inner.location, e))
    }

    fn db(&self, what: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
        let location = &self.inner.location;
        let what = what.to_owned();
        move |e| db_error(location, &what, e)
    }

    fn lease_secs(&self) -> f64 {
        self.inner.options.lease.as_secs_f64()
    }
}

/// A pool of at most `max_connections` to the database at `url`, its
/// parsed configuration, and where it is for messages (`what` says what the
/// handle uses it for). Nothing is connected yet.
fn open_pool(
    url: &str,
    what: &str,
    max_connections: usize,
) -> StoreResult<(Pool, tokio_postgres::Config, String)> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        StoreError::new(
            StoreErrorKind::Usage,
            format!("the PostgreSQL URL is not valid: {}", error_chain(&e)),
        )
        .hint("write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    })?;
    let location = location_of(&config, what);
    if config.get_ssl_mode() == SslMode::Require {
        return Err(StoreError::new(
            StoreErrorKind::Usage,
            format!("{location}: the URL asks for TLS (sslmode=require), which this imagegen does not speak to PostgreSQL yet"),
        )
        .hint("connect over a private network or a local TLS-terminating proxy, without sslmode=require"));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("imagegen");
    }
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(max_connections)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(60)))
        .create_timeout(Some(Duration::from_secs(15)))
        .build()
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Usage,
                format!("{location}: cannot set up connections: {e}"),
            )
        })?;
    Ok((pool, config, location))
}

/// Queue names are what a person types (`--queue`): printable, short.
fn check_queue_name(queue: &str) -> StoreResult<()> {
    if queue.is_empty() || queue.len() > 200 || queue.chars().any(char::is_control) {
        return Err(StoreError::new(
            StoreErrorKind::Usage,
            format!("`{}` is not a queue name", queue.escape_debug()),
        )
        .hint("name a queue with 1 to 200 printable characters, e.g. `dataset-2026-05`"));
    }
    Ok(())
}

fn check_options(options: &PgOptions) -> StoreResult<()> {
    if options.heartbeat.is_zero()
        || options.heartbeat >= options.lease
        || options.max_connections == 0
    {
        return Err(StoreError::new(
            StoreErrorKind::Usage,
            format!(
                "lease {:?}, heartbeat {:?}, {} connection(s): the heartbeat must be shorter than the lease and above zero, with at least one connection",
                options.lease, options.heartbeat, options.max_connections
            ),
        ));
    }
    Ok(())
}

/// Where the store is, for messages: never the password.
fn location_of(config: &tokio_postgres::Config, what: &str) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db} ({what})")
}

/// Host, process and a random part: unique per handle, and readable in
/// `claimed_by` when a person asks which worker holds a job.
fn worker_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    // RandomState is seeded from the OS per process; mixing in a counter
    // and the time keeps two handles of one process apart.
    static HANDLES: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(HANDLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        hasher.finish() as u32
    )
}

/// An error and its sources, one line: tokio-postgres's `Display` names
/// only the kind ("db error"), the cause is in the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A database error as a [`StoreError`]: what was being done, where, and
/// what to do about the common causes.
pub(crate) fn db_error(location: &str, what: &str, err: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let Some(db) = err.as_db_error() else {
        return StoreError::new(
            StoreErrorKind::Io,
            format!("{location}: {what}: {}", error_chain(&err)),
        )
        .hint("check that PostgreSQL is running and reachable at that address");
    };
    let message = format!(
        "{location}: {what}: {} ({})",
        db.message(),
        db.code().code()
    );
    let code = db.code();
    let (kind, hint) = if *code == SqlState::INVALID_CATALOG_NAME {
        (
            StoreErrorKind::Usage,
            Some("create the database first (`createdb NAME`), or fix the URL's database name"),
        )
    } else if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        (
            StoreErrorKind::Usage,
            Some("check the user and password in the URL"),
        )
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        (
            StoreErrorKind::Usage,
            Some(
                "the user needs CREATE on the database the first time (for the `imagegen` schema), then read and write on it",
            ),
        )
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        (
            StoreErrorKind::Io,
            Some("lower the workers' connections, or raise the server's max_connections"),
        )
    } else {
        (StoreErrorKind::Io, None)
    };
    let error = StoreError::new(kind, message);
    match hint {
        Some(hint) => error.hint(hint),
        None => error,
    }
}

fn pool_error(location: &str, err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(e) => db_error(location, "connecting", e),
        PoolError::Timeout(_) => StoreError::new(
            StoreErrorKind::Io,
            format!("{location}: no connection to PostgreSQL within the time allowed"),
        )
        .hint("check that PostgreSQL is running and reachable, and not out of connections"),
        other => StoreError::new(StoreErrorKind::Io, format!("{location}: {other}")),
    }
}
