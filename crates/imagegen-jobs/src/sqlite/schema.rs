//! The journal's schema, its explicit migrations, and the checks that
//! refuse what this version does not understand.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::now;
use crate::store::{StoreError, StoreErrorKind, StoreResult};

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 2;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    provider TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    line        INTEGER NOT NULL,
    copy        INTEGER NOT NULL DEFAULT 0,
    name        TEXT,
    prompt      TEXT NOT NULL,
    providers   TEXT NOT NULL,
    request     TEXT,
    strictness  TEXT NOT NULL DEFAULT 'strict',
    state       TEXT NOT NULL,
    provider    TEXT,
    endpoint    TEXT,
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
    host   TEXT,
    PRIMARY KEY (job_id, idx)
);
";

/// Brings an older journal to [`SCHEMA_VERSION`], in one transaction;
/// refuses a newer or unreadable version.
///
/// * 1 → 2: jobs gain `strictness` (from the batch's `strictness` meta
///   value) and `endpoint` (unknown: left empty, so a resume uses the
///   endpoint it is given), outputs gain `host`; the `endpoints` table is created; a journal
///   with jobs records their number as `jobs_recorded` and its ingest as
///   complete (version 1 wrote them in one transaction), one without stays
///   incomplete and is refused.
pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let has_meta: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            "the batch journal has no meta table: it is not an imagegen journal, or it was cut short",
        ));
    }
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let version: u32 = match version.as_deref().map(str::parse) {
        Some(Ok(v)) => v,
        Some(Err(_)) | None => {
            return Err(StoreError::new(
                StoreErrorKind::Unreadable,
                format!(
                    "the batch journal's schema version is {}, which this imagegen cannot read",
                    version.as_deref().unwrap_or("missing")
                ),
            ));
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "the batch journal has schema version {version}; this imagegen reads up to {SCHEMA_VERSION}"
            ),
        )
        .hint("use the imagegen that wrote it, or a newer one"));
    }
    if version == 1 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "ALTER TABLE jobs ADD COLUMN strictness TEXT NOT NULL DEFAULT 'strict';
             ALTER TABLE jobs ADD COLUMN endpoint TEXT;
             ALTER TABLE outputs ADD COLUMN host TEXT;
             CREATE TABLE IF NOT EXISTS endpoints (
                 provider TEXT PRIMARY KEY,
                 endpoint TEXT NOT NULL
             );",
        )?;
        tx.execute(
            "UPDATE jobs SET strictness = COALESCE(
                 (SELECT value FROM meta WHERE key = 'strictness'), 'strict')",
            [],
        )?;
        // A version-1 batch recorded all its jobs in one transaction: any
        // job means the ingest finished; none means it was cut short.
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value)
             SELECT 'jobs_recorded', CAST((SELECT COUNT(*) FROM jobs) AS TEXT)
             WHERE (SELECT COUNT(*) FROM jobs) > 0",
            [],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value)
             SELECT 'ingest', 'complete' WHERE (SELECT COUNT(*) FROM jobs) > 0",
            [],
        )?;
        tx.execute(
            "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
            [],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Refuses a journal with states this version does not know, or with
/// fewer jobs than its batch recorded.
pub(super) fn validate(conn: &Connection, dir: &Path) -> StoreResult<()> {
    let mut stmt = conn.prepare("SELECT id, state FROM jobs WHERE state NOT IN (
        'pending','invalid','submitting','ambiguous','retryable','submitted','timed_out','done','failed','skipped')
        ORDER BY id LIMIT 5")?;
    let unknown: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if let Some((id, state)) = unknown.first() {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "job {id} of the batch journal is in the state `{state}`, which this imagegen does not know ({} job(s) at least)",
                unknown.len()
            ),
        )
        .hint("nothing was sent; use the imagegen that wrote it, or a newer one"));
    }
    let jobs: u64 = conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?;
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let batch_file = meta("batch_file")?;
    let expected = meta("jobs_recorded")?.and_then(|r| r.parse::<u64>().ok());
    let ingested = meta("ingest")?.as_deref() == Some("complete");
    let cut_short = match expected {
        Some(expected) => jobs < expected || !ingested,
        None => batch_file.is_some(),
    };
    if cut_short {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "the batch journal in {} holds {jobs} job(s) of {}: it was cut short (killed while the batch file was read, or its -wal file lost)",
                dir.display(),
                expected.map_or("an unknown number".to_owned(), |e| e.to_string())
            ),
        )
        .hint(match &batch_file {
            Some(file) => format!(
                "nothing is resumed from it; start the batch again into a new folder: `imagegen batch {file} --out NEW_DIR`"
            ),
            None => "nothing is resumed from it; start the batch again into a new folder".to_owned(),
        }));
    }
    Ok(())
}

/// Jobs left `submitting` by a process that died mid-create (this one
/// holds the folder's lock, so no other is sending): their create may have
/// been accepted. They become `ambiguous`, with the reason in their events.
pub(super) fn settle_interrupted_creates(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let at = now();
    tx.execute(
        "INSERT INTO events(job_id, at, state, detail)
         SELECT id, ?1, 'ambiguous', 'found mid-create after the previous run ended; the create may have been accepted'
         FROM jobs WHERE state = 'submitting'",
        [&at],
    )?;
    tx.execute(
        "UPDATE jobs SET state = 'ambiguous', updated_at = ?1,
                error_kind = COALESCE(error_kind, 'interrupted'),
                error = COALESCE(error, 'the run ended while its create was being sent; it may have been accepted')
         WHERE state = 'submitting'",
        [&at],
    )?;
    tx.commit()?;
    Ok(())
}
