//! Claims and leases: which jobs a worker gets, how long it holds them,
//! what becomes of a dead worker's jobs, and the heartbeat.

use deadpool_postgres::{GenericClient, Pool};

use super::rows::{JOB_COLUMNS, with_outputs};
use super::{PgOptions, PgStore, SETTLED_CHANNEL};
use crate::model::JobRow;
use crate::store::{Claim, StoreError, StoreErrorKind, StoreResult};

/// Hands out up to `limit` jobs in job order, each to one handle at a time
/// and to each handle once: not held by a live lease, not last claimed by
/// this handle, and in a state to work on. `SKIP LOCKED` lets concurrent
/// claims pass each other's rows instead of waiting or taking them twice.
///
/// * `$3` (`claim.ambiguous`): ambiguous jobs without a task id too;
/// * `$4` (`claim.failed`): failed jobs too, with or without a task id.
///
/// A job with a task id is handed out whatever its state but done,
/// invalid or failed (a failed one only on `claim.failed`): the runner
/// polls it, never submits it (`mark_submitting` refuses a task id).
const CLAIM: &str = "
WITH picked AS (
    SELECT id FROM imagegen.jobs
    WHERE queue_id = $1
      AND state NOT IN ('done', 'invalid')
      AND (lease_until IS NULL OR lease_until < now())
      AND claimed_by IS DISTINCT FROM $2
      AND (state IN ('pending', 'retryable', 'skipped', 'submitted', 'timed_out')
           OR (task_id IS NOT NULL AND state <> 'failed')
           OR ($3 AND state = 'ambiguous')
           OR ($4 AND state = 'failed'))
    ORDER BY id
    LIMIT $5
    FOR UPDATE SKIP LOCKED
)
UPDATE imagegen.jobs AS j
SET claimed_by = $2, lease_until = now() + make_interval(secs => $6)
-- An array, not a join: the update then looks each job up by its key
-- instead of scanning the queue.
WHERE j.queue_id = $1 AND j.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING ";

/// A create whose worker stopped renewing its lease (or gave its claims
/// back) may have been accepted: the job becomes `ambiguous`, with the
/// reason in its events, and is sent again only on the user's opt-in.
/// `$2`: [`SETTLED_CHANNEL`].
const SETTLE_EXPIRED: &str = "
WITH expired AS (
    UPDATE imagegen.jobs
    SET state = 'ambiguous', lease_until = NULL, updated_at = now(),
        error_kind = COALESCE(error_kind, 'interrupted'),
        error = COALESCE(error, 'its worker stopped while its create was being sent; it may have been accepted')
    -- mark_submitting always sets a lease and release() settles its own
    -- creates, so an expired lease finds them all; the condition on
    -- lease_until lets the index of held jobs answer it without a scan.
    WHERE queue_id = $1 AND lease_until < now() AND state = 'submitting' AND task_id IS NULL
    RETURNING queue_id, id, claimed_by
), logged AS (
    INSERT INTO imagegen.events(queue_id, job_id, state, detail)
    SELECT queue_id, id, 'ambiguous',
           'found mid-create after worker ' || COALESCE(claimed_by, '?') || ' stopped renewing its lease; the create may have been accepted'
    FROM expired
)
-- Applications waiting on these jobs hear that they settled (sent at commit).
SELECT count(*) FROM (
    SELECT pg_notify($2, queue_id || ':' || id) FROM expired
) AS told";

/// Settles the creates of workers that died mid-send (see
/// [`SETTLE_EXPIRED`]); returns how many.
pub(super) async fn settle_expired(
    client: &impl GenericClient,
    queue_id: i64,
) -> Result<u64, tokio_postgres::Error> {
    let settled: i64 = client
        .query_one(SETTLE_EXPIRED, &[&queue_id, &SETTLED_CHANNEL])
        .await?
        .get(0);
    Ok(u64::try_from(settled).unwrap_or(0))
}

/// Renews this handle's leases (and its running ingest's) every
/// `options.heartbeat`, until the handle is dropped. A failed renewal is
/// logged and tried again at the next beat: if the database stays out of
/// reach past the lease, other workers take the jobs over, and
/// `mark_submitting`'s fence stops this one from sending their creates.
pub(super) async fn heartbeat(pool: Pool, queue_id: i64, worker: String, options: PgOptions) {
    let lease = options.lease.as_secs_f64();
    let mut beat = tokio::time::interval(options.heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await; // the first tick is immediate: the claims are fresh
    loop {
        beat.tick().await;
        let renewed = async {
            let conn = pool.get().await.map_err(|e| e.to_string())?;
            conn.execute(
                "UPDATE imagegen.jobs SET lease_until = now() + make_interval(secs => $3)
                 WHERE queue_id = $1 AND claimed_by = $2 AND lease_until IS NOT NULL",
                &[&queue_id, &worker, &lease],
            )
            .await
            .map_err(|e| super::error_chain(&e))?;
            conn.execute(
                "UPDATE imagegen.queues SET ingest_lease_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND ingest = 'running' AND ingest_by = $2",
                &[&queue_id, &worker, &lease],
            )
            .await
            .map_err(|e| super::error_chain(&e))?;
            Ok::<(), String>(())
        };
        if let Err(e) = renewed.await {
            tracing::warn!(worker = %worker, "could not renew the job leases: {e}");
        }
    }
}

impl PgStore {
    /// See [`CLAIM`].
    pub(super) async fn claim_jobs(&self, limit: usize, claim: &Claim) -> StoreResult<Vec<JobRow>> {
        // Any notification from now on may be about jobs this claim does
        // not see: `wait_for_work` then returns at once.
        self.inner.note_claim_start().await;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn().await?;
        self.refuse_unfinished_ingest(&conn).await?;
        settle_expired(&conn, self.inner.queue_id)
            .await
            .map_err(self.db("settling expired claims"))?;
        let query = format!("{CLAIM}{}", prefixed("j.", JOB_COLUMNS));
        let statement = conn
            .prepare_cached(&query)
            .await
            .map_err(self.db("claiming jobs"))?;
        let rows = conn
            .query(
                &statement,
                &[
                    &self.inner.queue_id,
                    &self.inner.worker,
                    &claim.ambiguous,
                    &claim.failed,
                    &limit,
                    &self.lease_secs(),
                ],
            )
            .await
            .map_err(self.db("claiming jobs"))?;
        with_outputs(&conn, self.inner.queue_id, &rows, &self.inner.location).await
    }

    /// A queue whose batch ingest has not finished is not worked on: the
    /// ingest is still running (another handle is alive and recording it),
    /// or it was cut short (that handle stopped without finishing).
    async fn refuse_unfinished_ingest(&self, client: &impl GenericClient) -> StoreResult<()> {
        let row = client
            .query_one(
                "SELECT ingest, ingest_by, COALESCE(ingest_lease_until < now(), true)
                 FROM imagegen.queues WHERE id = $1",
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("reading the queue"))?;
        let ingest: String = row.get(0);
        if ingest != "running" {
            return Ok(());
        }
        let by: Option<String> = row.get(1);
        let by = by.unwrap_or_else(|| "an unknown worker".to_owned());
        let expired: bool = row.get(2);
        // Only now, on the way to an error, is the count worth its scan.
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM imagegen.jobs WHERE queue_id = $1),
                        (SELECT value FROM imagegen.meta WHERE queue_id = $1 AND key = 'batch_file')",
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("reading the queue"))?;
        let jobs: i64 = row.get(0);
        let batch_file: Option<String> = row.get(1);
        let location = &self.inner.location;
        if by == self.inner.worker {
            return Err(StoreError::new(
                StoreErrorKind::Usage,
                format!("{location}: this handle is still recording the queue's jobs; they are handed out once its ingest finishes"),
            )
            .hint("call finish_ingest after the last add_jobs"));
        }
        if !expired {
            return Err(StoreError::new(
                StoreErrorKind::InUse,
                format!("{location}: the queue's jobs are still being recorded by {by} ({jobs} so far); they are handed out once that ingest finishes"),
            )
            .hint("wait for the batch to finish reading its file, then start the worker again"));
        }
        Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "{location}: the queue was cut short: {by} stopped while recording its jobs ({jobs} recorded), so it holds only part of its batch"
            ),
        )
        .hint(match batch_file {
            Some(file) => format!(
                "nothing was sent from it; start the batch again into a new queue: `imagegen batch {file} --store URL --queue NEW_QUEUE`"
            ),
            None => "nothing was sent from it; start the batch again into a new queue".to_owned(),
        }))
    }

    /// The error for a queue another handle is recording jobs into (or
    /// stopped recording into without finishing).
    pub(super) async fn refuse_unfinished_ingest_of_other(&self) -> StoreError {
        let conn = match self.conn().await {
            Ok(conn) => conn,
            Err(e) => return e,
        };
        match self.refuse_unfinished_ingest(&conn).await {
            Err(e) => e,
            Ok(()) => StoreError::new(
                StoreErrorKind::InUse,
                format!(
                    "{}: another worker's ingest of the queue changed while this one recorded jobs",
                    self.inner.location
                ),
            )
            .hint("try again"),
        }
    }

    /// See [`crate::store::JobStore::release`]: this handle's held jobs
    /// are given back at once; a create it was sending becomes ambiguous.
    pub(super) async fn release_claims(&self) -> StoreResult<()> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                "WITH interrupted AS (
                     UPDATE imagegen.jobs
                     SET state = 'ambiguous', lease_until = NULL, updated_at = now(),
                         error_kind = COALESCE(error_kind, 'interrupted'),
                         error = COALESCE(error, 'its worker stopped while its create was being sent; it may have been accepted')
                     WHERE queue_id = $1 AND claimed_by = $2 AND lease_until IS NOT NULL
                       AND state = 'submitting' AND task_id IS NULL
                     RETURNING queue_id, id
                 ), logged AS (
                     INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                     SELECT queue_id, id, 'ambiguous', 'released by its worker while its create was being sent; it may have been accepted'
                     FROM interrupted
                 ), freed AS (
                     UPDATE imagegen.jobs SET lease_until = NULL
                     WHERE queue_id = $1 AND claimed_by = $2 AND lease_until IS NOT NULL
                       AND NOT (state = 'submitting' AND task_id IS NULL)
                     RETURNING id
                 )
                 SELECT (SELECT count(*) FROM freed),
                        -- Applications waiting on the interrupted jobs hear they settled.
                        (SELECT count(*) FROM (
                            SELECT pg_notify($3, queue_id || ':' || id) FROM interrupted
                         ) AS told)",
                &[&self.inner.queue_id, &self.inner.worker, &SETTLED_CHANNEL],
            )
            .await
            .map_err(self.db("giving back claims"))?;
        let freed: i64 = row.get(0);
        if freed > 0 {
            // Idle workers take them at once instead of at their next poll.
            self.notify(&conn).await?;
        }
        Ok(())
    }
}

/// `columns` with each name prefixed by a table alias.
fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
