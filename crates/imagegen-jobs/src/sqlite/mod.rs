//! The batch journal: `DIR/imagegen-journal.sqlite`, a [`JobStore`] for one
//! batch folder on one machine.
//!
//! Tables (schema version 2):
//! - `meta(key, value)`: `schema_version`, `batch_file`, `jobs_recorded`
//!   (the number of jobs the batch recorded, checked at every open), and
//!   batch settings.
//! - `endpoints(provider, endpoint)`: where each provider of the batch is
//!   reached: a base URL, or `sim` for the in-process simulator.
//! - `jobs`: one row per image asked for: prompt, request JSON, strictness,
//!   provider order, state, the provider and endpoint of its create, task
//!   id, the serialized task handle (never inline image bytes), last error,
//!   credits reported and estimated.
//! - `events(job_id, at, state, detail)`: every state change.
//! - `outputs(job_id, idx, path, sha256, bytes, width, height, url)`.
//!
//! **One process at a time.** Opening takes an exclusive OS lock on
//! `DIR/.imagegen.lock` for the life of the store (the kernel drops it when
//! the process dies, so a stale lock never blocks); a second `batch`,
//! `resume` or `wait` on the folder is refused at once, naming the holder.
//!
//! **Nothing guessed.** A schema version newer than this one, a job state
//! it does not know, or fewer jobs than the batch recorded (a journal cut
//! short, a lost `-wal` file) is a [`StoreErrorKind::Unreadable`] error.
//! Version 1 journals are migrated explicitly ([`migrate`]).
//!
//! One connection behind a mutex is the only writer; the database is in WAL
//! mode, and the writes that protect money (`submitting`, a task id, the
//! outputs) commit with `synchronous=FULL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::model::{Endpoint, JobRow, JobState, NewJob, OutputRow, Summary};
mod lock;
mod schema;

pub use lock::FolderLock;
use schema::{SCHEMA, settle_interrupted_creates, validate};
pub use schema::{SCHEMA_VERSION, migrate};

use crate::store::{Claim, JobError, JobStore, StoreError, StoreErrorKind, StoreResult};

/// The journal's file name inside the batch folder.
pub const FILE_NAME: &str = "imagegen-journal.sqlite";

/// The lock file's name inside the batch folder.
pub const LOCK_NAME: &str = ".imagegen.lock";

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn io(err: impl std::fmt::Display) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("the batch journal: {err}"))
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        let kind = match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                ) =>
            {
                StoreErrorKind::Unreadable
            }
            _ => StoreErrorKind::Io,
        };
        StoreError::new(kind, format!("the batch journal: {err}"))
    }
}

/// The journal of one batch folder. Cheap to clone; all clones share the
/// one connection and the folder's lock.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The last job id [`JobStore::claim`] handed out: each job once per
    /// run (this process is the folder's only worker).
    claimed_up_to: Arc<Mutex<i64>>,
    /// The folder's lock; `None` for a reader that found it held.
    _lock: Option<Arc<FolderLock>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The journal path of a batch folder.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Starts a new batch in `dir` (created if needed): locks it, and
    /// refuses a folder that already holds a batch.
    pub fn create(dir: &Path) -> StoreResult<SqliteStore> {
        let lock = FolderLock::take(dir)?;
        let path = Self::path_in(dir);
        if path.exists() {
            return Err(StoreError::new(
                StoreErrorKind::Usage,
                format!("{} already holds a batch journal", dir.display()),
            )
            .hint(format!(
                "`imagegen resume {}` continues it; or pass another --out",
                dir.display()
            )));
        }
        let conn = Self::connect(&path)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION.to_string()],
        )?;
        Ok(Self::wrap(conn, path, Some(lock)))
    }

    /// Opens the batch in `dir`: locks it, migrates an older schema,
    /// and refuses a journal it does not understand or that was cut short.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        let path = Self::path_in(dir);
        if !path.exists() {
            return Err(StoreError::new(
                StoreErrorKind::Usage,
                format!(
                    "no batch journal in {} ({FILE_NAME} not found)",
                    dir.display()
                ),
            )
            .hint("pass the output folder of an `imagegen batch` run (its --out)"));
        }
        let lock = FolderLock::take(dir)?;
        let mut conn = Self::connect(&path)?;
        migrate(&mut conn)?;
        validate(&conn, dir)?;
        settle_interrupted_creates(&mut conn)?;
        Ok(Self::wrap(conn, path, Some(lock)))
    }

    /// Opens the batch in `dir` to read it (`imagegen jobs`, a gallery),
    /// also while another process runs it: with the folder's lock when it
    /// is free (as [`open`](Self::open)), else read-only, refusing a
    /// journal that would need migrating first. A reader never writes.
    pub fn open_to_read(dir: &Path) -> StoreResult<SqliteStore> {
        match Self::open(dir) {
            Err(e) if e.kind == StoreErrorKind::InUse => {}
            other => return other,
        }
        let path = Self::path_in(dir);
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            return Err(StoreError::new(
                StoreErrorKind::InUse,
                format!(
                    "the batch journal in {} is in use and has schema version {}; it can be read once the process using it ends",
                    dir.display(),
                    version.as_deref().unwrap_or("unknown")
                ),
            ));
        }
        validate(&conn, dir)?;
        Ok(Self::wrap(conn, path, None))
    }

    fn connect(path: &Path) -> StoreResult<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    fn wrap(conn: Connection, path: PathBuf, lock: Option<FolderLock>) -> SqliteStore {
        SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
            claimed_up_to: Arc::new(Mutex::new(0)),
            _lock: lock.map(Arc::new),
        }
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction; `durable` commits with `synchronous=FULL`.
    fn write<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if durable {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let result = (|| -> rusqlite::Result<T> {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        if durable {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        result.map_err(StoreError::from)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(StoreError::from)
    }

    fn set_state(
        tx: &Transaction<'_>,
        id: i64,
        state: JobState,
        detail: Option<&str>,
    ) -> rusqlite::Result<()> {
        let at = now();
        tx.execute(
            "UPDATE jobs SET state = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, state.as_str(), at],
        )?;
        tx.execute(
            "INSERT INTO events(job_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, at, state.as_str(), detail],
        )?;
        Ok(())
    }

    fn outputs_of(c: &Connection, id: i64) -> rusqlite::Result<Vec<OutputRow>> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {OUTPUT_COLUMNS} FROM outputs WHERE job_id = ?1 ORDER BY idx"
        ))?;
        let rows = stmt.query_map([id], |r| output_row(r, 0))?;
        rows.collect()
    }
}

const JOB_COLUMNS: &str = "id, line, copy, name, prompt, providers, request, strictness, state, provider, \
    endpoint, task_id, handle, error_kind, error, credits, est_credits, attempts";

const OUTPUT_COLUMNS: &str = "idx, path, sha256, bytes, width, height, url, host";

/// A job row read with [`JOB_COLUMNS`], with its stored state name (checked
/// by [`known_state`]) and no outputs yet.
fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, JobRow)> {
    let providers: String = r.get(5)?;
    let endpoint: Option<String> = r.get(10)?;
    Ok((
        r.get(8)?,
        JobRow {
            id: r.get(0)?,
            line: r.get(1)?,
            copy: r.get(2)?,
            name: r.get(3)?,
            prompt: r.get(4)?,
            providers: providers
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            request: r.get(6)?,
            strictness: r.get(7)?,
            state: JobState::Pending,
            provider: r.get(9)?,
            endpoint: endpoint.as_deref().map(Endpoint::from_stored),
            task_id: r.get(11)?,
            handle: r.get(12)?,
            error_kind: r.get(13)?,
            error: r.get(14)?,
            credits: r.get(15)?,
            est_credits: r.get(16)?,
            attempts: r.get(17)?,
            outputs: Vec::new(),
        },
    ))
}

/// An output row read with [`OUTPUT_COLUMNS`] from column `at` on.
fn output_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<OutputRow> {
    Ok(OutputRow {
        idx: r.get(at)?,
        path: r.get(at + 1)?,
        sha256: r.get(at + 2)?,
        bytes: r.get(at + 3)?,
        width: r.get(at + 4)?,
        height: r.get(at + 5)?,
        url: r.get(at + 6)?,
        host: r.get(at + 7)?,
    })
}

/// The job with its stored state parsed; a state this version does not
/// know is an error (validated at open; this guards rows written since).
fn known_state((state, mut job): (String, JobRow)) -> StoreResult<JobRow> {
    match JobState::parse(&state) {
        Some(known) => {
            job.state = known;
            Ok(job)
        }
        None => Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!("job {} is in the unknown state `{state}`", job.id),
        )),
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    async fn endpoint(&self, provider: &str) -> StoreResult<Option<Endpoint>> {
        self.read(|c| {
            c.query_row(
                "SELECT endpoint FROM endpoints WHERE provider = ?1",
                [provider],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })
        .map(|e| e.as_deref().map(Endpoint::from_stored))
    }

    async fn set_endpoint(&self, provider: &str, endpoint: &Endpoint) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "INSERT INTO endpoints(provider, endpoint) VALUES (?1, ?2)
                 ON CONFLICT(provider) DO UPDATE SET endpoint = excluded.endpoint",
                params![provider, endpoint.as_stored()],
            )
            .map(drop)
        })
    }

    async fn add_jobs(&self, jobs: &[NewJob]) -> StoreResult<()> {
        let at = now();
        self.write(true, |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO jobs(line, copy, name, prompt, providers, request, strictness, state, error_kind, error, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            )?;
            let mut event = tx.prepare_cached(
                "INSERT INTO events(job_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for job in jobs {
                let state = if job.invalid.is_some() {
                    JobState::Invalid
                } else {
                    JobState::Pending
                };
                insert.execute(params![
                    job.line as i64,
                    job.copy,
                    job.name,
                    job.prompt,
                    job.providers.join(","),
                    job.request,
                    job.strictness,
                    state.as_str(),
                    job.invalid.as_ref().map(|_| "invalid_request"),
                    job.invalid,
                    at,
                ])?;
                let id = tx.last_insert_rowid();
                event.execute(params![id, at, state.as_str(), job.invalid])?;
            }
            Ok(())
        })
    }

    async fn finish_ingest(&self) -> StoreResult<u64> {
        self.write(true, |tx| {
            let jobs: u64 = tx.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?;
            for (key, value) in [
                ("jobs_recorded", jobs.to_string()),
                ("ingest", "complete".to_owned()),
            ] {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )?;
            }
            Ok(jobs)
        })
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        let rows = self.read(|c| {
            let mut outputs: HashMap<i64, Vec<OutputRow>> = HashMap::new();
            let mut stmt = c.prepare(&format!(
                "SELECT job_id, {OUTPUT_COLUMNS} FROM outputs ORDER BY job_id, idx"
            ))?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, output_row(r, 1)?)))? {
                let (id, output) = row?;
                outputs.entry(id).or_default().push(output);
            }
            let mut stmt = c.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id"))?;
            let rows = stmt.query_map([], job_row)?;
            let mut jobs = Vec::new();
            for row in rows {
                let (state, mut job) = row?;
                job.outputs = outputs.remove(&job.id).unwrap_or_default();
                jobs.push((state, job));
            }
            Ok(jobs)
        })?;
        rows.into_iter().map(known_state).collect()
    }

    async fn claim(&self, limit: usize, claim: &Claim) -> StoreResult<Vec<JobRow>> {
        let mut cursor = self.claimed_up_to.lock().unwrap_or_else(|p| p.into_inner());
        let rows = self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE id > ?1 AND (
                     state IN ('pending', 'retryable', 'skipped', 'submitted', 'timed_out')
                     OR (task_id IS NOT NULL AND state NOT IN ('done', 'invalid', 'failed'))
                     OR (?2 AND task_id IS NULL AND state IN ('ambiguous', 'submitting'))
                     OR (?3 AND state = 'failed'))
                 ORDER BY id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![*cursor, claim.ambiguous, claim.failed, limit as i64],
                job_row,
            )?;
            let mut jobs = Vec::new();
            for row in rows {
                let (state, mut job) = row?;
                job.outputs = Self::outputs_of(c, job.id)?;
                jobs.push((state, job));
            }
            Ok(jobs)
        })?;
        if let Some((_, last)) = rows.last() {
            *cursor = last.id;
        }
        rows.into_iter().map(known_state).collect()
    }

    async fn mark_submitting(
        &self,
        id: i64,
        provider: &str,
        endpoint: &Endpoint,
        est_credits: f64,
    ) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET provider = ?2, endpoint = ?3, est_credits = ?4, attempts = attempts + 1,
                        error_kind = NULL, error = NULL
                 WHERE id = ?1",
                params![id, provider, endpoint.as_stored(), est_credits],
            )?;
            Self::set_state(tx, id, JobState::Submitting, Some(provider))
        })
    }

    async fn record_task(
        &self,
        id: i64,
        provider: &str,
        task_id: &str,
        handle: &str,
    ) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET provider = ?2, task_id = ?3, handle = ?4, error_kind = NULL, error = NULL
                 WHERE id = ?1",
                params![id, provider, task_id, handle],
            )?;
            Self::set_state(
                tx,
                id,
                JobState::Submitted,
                Some(&format!("{provider}:{task_id}")),
            )
        })
    }

    async fn record_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&JobError>,
    ) -> StoreResult<()> {
        self.write(true, |tx| {
            if let Some(error) = error {
                tx.execute(
                    "UPDATE jobs SET error_kind = ?2, error = ?3 WHERE id = ?1",
                    params![id, error.kind, error.message],
                )?;
            }
            Self::set_state(tx, id, state, error.map(|e| e.message.as_str()))
        })
    }

    async fn record_output(&self, id: i64, out: &OutputRow) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO outputs(job_id, idx, path, sha256, bytes, width, height, url, host)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![id, out.idx, out.path, out.sha256, out.bytes, out.width, out.height, out.url, out.host],
            )
            .map(drop)
        })
    }

    async fn record_done(&self, id: i64, credits: Option<f64>, images: usize) -> StoreResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET credits = COALESCE(?2, credits), error_kind = NULL, error = NULL WHERE id = ?1",
                params![id, credits],
            )?;
            Self::set_state(tx, id, JobState::Done, Some(&format!("{images} image(s)")))
        })
    }

    async fn note(&self, id: i64, detail: &str) -> StoreResult<()> {
        self.write(false, |tx| {
            let state: String =
                tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO events(job_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
                params![id, now(), state, detail],
            )
            .map(drop)
        })
    }

    async fn summary(&self) -> StoreResult<Summary> {
        self.read(|c| {
            let mut s = Summary::default();
            let mut stmt = c.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
                let (state, n) = row?;
                s.total += n;
                s.by_state.insert(state, n);
            }
            s.credits_reported = c.query_row(
                "SELECT COALESCE(SUM(credits), 0) FROM jobs WHERE credits IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            s.credits_estimated = c.query_row(
                "SELECT COALESCE(SUM(est_credits), 0) FROM jobs
                 WHERE credits IS NULL AND attempts > 0
                   AND state NOT IN ('invalid', 'pending', 'skipped', 'retryable')",
                [],
                |r| r.get(0),
            )?;
            s.images = c.query_row("SELECT COUNT(*) FROM outputs", [], |r| r.get(0))?;
            let mut stmt = c.prepare(
                "SELECT state, error_kind, COUNT(*) FROM jobs
                 WHERE error_kind IS NOT NULL AND state NOT IN ('done', 'pending')
                 GROUP BY state, error_kind",
            )?;
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u64>(2)?,
                ))
            })? {
                let (state, kind, n) = row?;
                s.errors.entry(state).or_default().insert(kind, n);
            }
            Ok(s)
        })
    }
}

#[cfg(test)]
mod tests;
