//! The batch journal: `DIR/imagegen-journal.sqlite`.
//!
//! Every job is recorded before its create is sent, its task id as soon as it
//! is known, every state change as an event, and its outputs with their
//! sha256. `imagegen resume` reads it to continue without paying twice.
//!
//! Tables:
//! - `meta(key, value)`: schema version, batch settings.
//! - `jobs`: one row per image asked for (a line with `n: 3` is three jobs):
//!   prompt, request JSON, provider order, state, provider, task id, the
//!   serialized task handle, last error, credits.
//! - `events(job_id, at, state, detail)`: every state change.
//! - `outputs(job_id, idx, path, sha256, bytes, width, height, url)`.
//!
//! One connection behind a mutex is the only writer, so concurrent jobs can't
//! corrupt it; the database is in WAL mode, and the writes that protect money
//! (`submitting`, a task id, the outputs) are committed with
//! `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::exit::{CliError, CliResult};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

mod types;

pub use types::{JobRow, JobState, NewJob, OutputRow, Summary};

/// The journal's file name inside the output folder.
pub const FILE_NAME: &str = "imagegen-journal.sqlite";

const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    line        INTEGER NOT NULL,
    copy        INTEGER NOT NULL DEFAULT 0,
    name        TEXT,
    prompt      TEXT NOT NULL,
    providers   TEXT NOT NULL,
    request     TEXT,
    state       TEXT NOT NULL,
    provider    TEXT,
    task_id     TEXT,
    handle      TEXT,
    error_kind  TEXT,
    error       TEXT,
    credits     REAL,
    est_credits REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS events (
    id     INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    at     TEXT NOT NULL,
    state  TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS outputs (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    idx    INTEGER NOT NULL,
    path   TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes  INTEGER,
    width  INTEGER,
    height INTEGER,
    url    TEXT,
    PRIMARY KEY (job_id, idx)
);
";

/// The journal of one output folder. Cheap to clone; all clones share the
/// one connection.
#[derive(Clone)]
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Journal {
    /// The journal path for an output folder.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Opens the journal in `dir`, creating the folder and the database if needed.
    pub fn create(dir: &Path) -> CliResult<Journal> {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::failed(format!(
                "cannot create output folder {}: {e}",
                dir.display()
            ))
        })?;
        Journal::open_path(&Journal::path_in(dir))
    }

    /// Opens an existing journal in `dir`.
    pub fn open(dir: &Path) -> CliResult<Journal> {
        let path = Journal::path_in(dir);
        if !path.exists() {
            return Err(CliError::invalid(format!(
                "no batch journal in {} ({FILE_NAME} not found)",
                dir.display()
            ))
            .hint("pass the output folder of an `imagegen batch` run (its --out)"));
        }
        Journal::open_path(&path)
    }

    fn open_path(path: &Path) -> CliResult<Journal> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION],
        )?;
        Ok(Journal {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction. `durable` commits with `synchronous=FULL`.
    fn write<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> CliResult<T> {
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
        result.map_err(CliError::from)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> CliResult<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(CliError::from)
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> CliResult<Option<String>> {
        self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Sets a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    /// How many jobs are recorded.
    pub fn job_count(&self) -> CliResult<u64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0)))
    }

    /// Records the jobs of a batch, all in one durable transaction.
    pub fn add_jobs(&self, jobs: &[NewJob]) -> CliResult<()> {
        let at = now();
        self.write(true, |tx| {
            let mut insert = tx.prepare(
                "INSERT INTO jobs(line, copy, name, prompt, providers, request, state, error_kind, error, est_credits, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            )?;
            let mut event = tx.prepare(
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
                    state.as_str(),
                    job.invalid.as_ref().map(|_| "invalid_request"),
                    job.invalid,
                    job.est_credits,
                    at,
                ])?;
                let id = tx.last_insert_rowid();
                event.execute(params![id, at, state.as_str(), job.invalid])?;
            }
            Ok(())
        })
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

    /// Marks a job `submitting` to `provider`, durably, BEFORE its create is sent.
    pub fn mark_submitting(&self, id: i64, provider: &str) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET provider = ?2, attempts = attempts + 1, error_kind = NULL, error = NULL WHERE id = ?1",
                params![id, provider],
            )?;
            Journal::set_state(tx, id, JobState::Submitting, Some(provider))
        })
    }

    /// Records the task id and handle the provider gave, durably.
    pub fn record_task(
        &self,
        id: i64,
        provider: &str,
        task_id: &str,
        handle: &str,
    ) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET provider = ?2, task_id = ?3, handle = ?4, error_kind = NULL, error = NULL WHERE id = ?1",
                params![id, provider, task_id, handle],
            )?;
            Journal::set_state(
                tx,
                id,
                JobState::Submitted,
                Some(&format!("{provider}:{task_id}")),
            )
        })
    }

    /// Moves a job to `state` with the error that put it there.
    pub fn record_error(
        &self,
        id: i64,
        state: JobState,
        kind: &str,
        message: &str,
        credits: Option<f64>,
    ) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET error_kind = ?2, error = ?3, credits = COALESCE(?4, credits) WHERE id = ?1",
                params![id, kind, message, credits],
            )?;
            Journal::set_state(tx, id, state, Some(message))
        })
    }

    /// Moves a job to `state` with a detail, keeping everything else.
    pub fn record_state(&self, id: i64, state: JobState, detail: Option<&str>) -> CliResult<()> {
        self.write(state.is_ambiguous(), |tx| {
            Journal::set_state(tx, id, state, detail)
        })
    }

    /// Records one saved image of a job (durably: it is what not to download again).
    pub fn record_output(&self, id: i64, out: &OutputRow) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO outputs(job_id, idx, path, sha256, bytes, width, height, url)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, out.idx, out.path, out.sha256, out.bytes, out.width, out.height, out.url],
            )
            .map(drop)
        })
    }

    /// Marks a job done with the credits the provider reported.
    pub fn record_done(&self, id: i64, credits: Option<f64>, images: usize) -> CliResult<()> {
        self.write(true, |tx| {
            tx.execute(
                "UPDATE jobs SET credits = COALESCE(?2, credits), error_kind = NULL, error = NULL WHERE id = ?1",
                params![id, credits],
            )?;
            Journal::set_state(
                tx,
                id,
                JobState::Done,
                Some(&format!("{images} image(s)")),
            )
        })
    }

    /// Appends an event without changing the state (warnings, retries).
    pub fn note(&self, id: i64, detail: &str) -> CliResult<()> {
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

    /// Every job, in order.
    pub fn jobs(&self) -> CliResult<Vec<JobRow>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, line, copy, name, prompt, providers, request, state, provider, task_id, handle,
                        error_kind, error, credits, est_credits, attempts
                 FROM jobs ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                let providers: String = r.get(5)?;
                let state: String = r.get(7)?;
                Ok(JobRow {
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
                    state: JobState::parse(&state).unwrap_or(JobState::Pending),
                    provider: r.get(8)?,
                    task_id: r.get(9)?,
                    handle: r.get(10)?,
                    error_kind: r.get(11)?,
                    error: r.get(12)?,
                    credits: r.get(13)?,
                    est_credits: r.get(14)?,
                    attempts: r.get(15)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The credits reported for one job, if any.
    pub fn credits(&self, id: i64) -> CliResult<Option<f64>> {
        self.read(|c| c.query_row("SELECT credits FROM jobs WHERE id = ?1", [id], |r| r.get(0)))
    }

    /// The saved images of a job.
    pub fn outputs(&self, id: i64) -> CliResult<Vec<OutputRow>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT idx, path, sha256, bytes, width, height, url FROM outputs WHERE job_id = ?1 ORDER BY idx",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(OutputRow {
                    idx: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    bytes: r.get(3)?,
                    width: r.get(4)?,
                    height: r.get(5)?,
                    url: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Counts by state, credits and images.
    pub fn summary(&self) -> CliResult<Summary> {
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
                 WHERE credits IS NULL AND attempts > 0 AND state NOT IN ('invalid', 'pending', 'skipped')",
                [],
                |r| r.get(0),
            )?;
            s.images = c.query_row("SELECT COUNT(*) FROM outputs", [], |r| r.get(0))?;
            Ok(s)
        })
    }
}

#[cfg(test)]
mod tests;
