//! The [`JobStore`] implementation, and the application API
//! ([`PgStore::enqueue`], [`PgStore::job`], [`PgStore::wait_settled`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::rows::{JOB_COLUMNS, OUTPUT_COLUMNS, job_row, output_row, with_outputs};
use super::{Inner, NOTIFY_CHANNEL, PgStore, SETTLED_CHANNEL, db_error, error_chain};
use crate::model::{Endpoint, JobRow, JobState, NewJob, OutputRow, Summary};
use crate::store::{Claim, JobError, JobStore, StoreError, StoreErrorKind, StoreResult};

/// The columns a new job is recorded with, by `COPY` or `INSERT`.
const NEW_JOB_COLUMNS: &str = "queue_id, id, line, copy, name, prompt, providers, request, strictness, state, error_kind, error";

/// Their types, for the binary `COPY`.
const NEW_JOB_TYPES: [Type; 12] = [
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// A [`NewJob`] checked and converted for the database.
struct NewRow<'a> {
    job: &'a NewJob,
    line: i64,
    copy: i64,
    state: &'static str,
    error_kind: Option<&'static str>,
}

impl<'a> NewRow<'a> {
    /// Refuses what PostgreSQL cannot store (a NUL character in text, a
    /// line number past `i64`) with the job's line, before anything is
    /// written: one bad line must not fail a chunk with a bare database
    /// error.
    fn check(job: &'a NewJob) -> StoreResult<NewRow<'a>> {
        let bad = |what: &str| {
            StoreError::new(
                StoreErrorKind::Usage,
                format!("the job of line {} {what}", job.line),
            )
        };
        let texts = [
            Some(job.prompt.as_str()),
            job.name.as_deref(),
            job.request.as_deref(),
            Some(job.strictness.as_str()),
            job.invalid.as_deref(),
        ];
        if texts.into_iter().flatten().any(|t| t.contains('\0'))
            || job.providers.iter().any(|p| p.contains('\0'))
        {
            return Err(bad("holds a NUL character, which PostgreSQL cannot store")
                .hint("remove the NUL characters from the batch file"));
        }
        let line =
            i64::try_from(job.line).map_err(|_| bad("has a line number too large to store"))?;
        let invalid = job.invalid.is_some();
        Ok(NewRow {
            job,
            line,
            copy: i64::from(job.copy),
            state: if invalid {
                JobState::Invalid.as_str()
            } else {
                JobState::Pending.as_str()
            },
            error_kind: invalid.then_some("invalid_request"),
        })
    }

    fn values<'b>(&'b self, queue_id: &'b i64, id: &'b i64) -> [&'b (dyn ToSql + Sync); 12] {
        [
            queue_id,
            id,
            &self.line,
            &self.copy,
            &self.job.name,
            &self.job.prompt,
            &self.job.providers,
            &self.job.request,
            &self.job.strictness,
            &self.state,
            &self.error_kind,
            &self.job.invalid,
        ]
    }
}

impl Inner {
    /// Listens (if it did not yet) and remembers how many wake-ups were
    /// seen before this claim looks at the table.
    pub(super) async fn note_claim_start(&self) {
        if let Err(e) = self.listener.ensure().await {
            // Claims still work; `wait_for_work` tries again to listen.
            tracing::warn!("cannot LISTEN for new jobs: {}", error_chain(&e));
        }
        self.seen_at_claim
            .store(self.listener.count(), Ordering::SeqCst);
    }
}

impl PgStore {
    /// Records one job into the queue, live: any worker on the queue may
    /// take it at once (idle ones are woken). Returns its job id, for
    /// [`job`](Self::job). For an application enqueueing from its own
    /// request handlers; a batch file goes through
    /// [`JobStore::add_jobs`] and [`JobStore::finish_ingest`].
    pub async fn enqueue(&self, job: &NewJob) -> StoreResult<i64> {
        let row = NewRow::check(job)?;
        let conn = self.conn().await?;
        // One statement: the job number is taken and the job written in
        // one transaction, and the notification leaves when it commits.
        let query = format!(
            "WITH slot AS (
                 UPDATE imagegen.queues SET next_job_id = next_job_id + 1
                 WHERE id = $1 RETURNING next_job_id - 1 AS id
             ), added AS (
                 INSERT INTO imagegen.jobs({NEW_JOB_COLUMNS})
                 SELECT $1, slot.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM slot
                 RETURNING id
             )
             SELECT id, pg_notify($12, $1::text) FROM added"
        );
        let queue_id = self.inner.queue_id;
        // The job number comes from the queue row (`slot`), not from here.
        let unused_id = 0;
        let values = row.values(&queue_id, &unused_id);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&queue_id];
        params.extend_from_slice(&values[2..]);
        params.push(&NOTIFY_CHANNEL);
        let added = conn
            .query_opt(query.as_str(), &params)
            .await
            .map_err(self.db("enqueueing a job"))?;
        match added {
            Some(added) => Ok(added.get(0)),
            None => Err(self.queue_gone()),
        }
    }

    /// Job `id` of the queue with its outputs, or `None` when the queue
    /// has no such job.
    pub async fn job(&self, id: i64) -> StoreResult<Option<JobRow>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &*format!(
                    "SELECT {JOB_COLUMNS} FROM imagegen.jobs WHERE queue_id = $1 AND id = $2"
                ),
                &[&self.inner.queue_id, &id],
            )
            .await
            .map_err(self.db("reading a job"))?;
        Ok(
            with_outputs(&conn, self.inner.queue_id, &rows, &self.inner.location)
                .await?
                .pop(),
        )
    }

    /// Waits, at most `timeout`, until job `id` is final
    /// ([`JobState::is_final`]: done, failed, invalid, or ambiguous, which
    /// no worker sends again without an opt-in), and returns it with its
    /// outputs; when `timeout` passes first, returns it as it is then (its
    /// state says which). Woken by the `NOTIFY` a worker sends when a job
    /// of the queue settles ([`SETTLED_CHANNEL`]), not by polling: the job
    /// is read again after each, and once after the `LISTEN` is in place,
    /// so a settle between the read and the wait is never missed.
    pub async fn wait_settled(&self, id: i64, timeout: Duration) -> StoreResult<JobRow> {
        let listener = &self.inner.listener;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            listener
                .ensure_settles()
                .await
                .map_err(self.db("listening for settled jobs"))?;
            let seen = listener.settle_count();
            let job = self.job(id).await?.ok_or_else(|| self.no_job(id))?;
            if job.state.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(job);
            }
            // Timing out is an answer (the job as it is), not an error.
            let _ = tokio::time::timeout_at(deadline, listener.wait_settle_past(seen)).await;
        }
    }

    /// Tells applications waiting on job `id` that it settled.
    async fn notify_settled(&self, client: &impl GenericClient, id: i64) -> StoreResult<()> {
        client
            .execute(
                "SELECT pg_notify($1, $2)",
                &[&SETTLED_CHANNEL, &format!("{}:{id}", self.inner.queue_id)],
            )
            .await
            .map(drop)
            .map_err(self.db("notifying a settled job"))
    }

    /// Tells idle workers of the queue that there may be work.
    pub(super) async fn notify(&self, client: &impl GenericClient) -> StoreResult<()> {
        client
            .execute(
                "SELECT pg_notify($1, $2)",
                &[&NOTIFY_CHANNEL, &self.inner.queue_id.to_string()],
            )
            .await
            .map(drop)
            .map_err(self.db("notifying workers"))
    }

    fn queue_gone(&self) -> StoreError {
        StoreError::new(
            StoreErrorKind::Usage,
            format!(
                "{}: the queue no longer exists (it was deleted)",
                self.inner.location
            ),
        )
        .hint("connect again to start a new queue of that name")
    }

    fn no_job(&self, id: i64) -> StoreError {
        StoreError::new(
            StoreErrorKind::Usage,
            format!("{}: there is no job {id} in the queue", self.inner.location),
        )
    }

    /// Why `mark_submitting` found nothing to mark: the create must not be
    /// sent.
    async fn why_not_claimed(&self, client: &impl GenericClient, id: i64) -> StoreError {
        let row = client
            .query_opt(
                "SELECT state, task_id, claimed_by, COALESCE(lease_until > now(), false)
                 FROM imagegen.jobs WHERE queue_id = $1 AND id = $2",
                &[&self.inner.queue_id, &id],
            )
            .await;
        let row = match row {
            Ok(Some(row)) => row,
            Ok(None) => return self.no_job(id),
            Err(e) => return db_error(&self.inner.location, "reading a job", e),
        };
        let state: String = row.get(0);
        let task_id: Option<String> = row.get(1);
        let claimed_by: Option<String> = row.get(2);
        let live: bool = row.get(3);
        let why = if let Some(task_id) = task_id {
            format!("it already has the task id {task_id}: it is polled, never sent again")
        } else if claimed_by.as_deref() != Some(self.inner.worker.as_str()) {
            format!(
                "it is claimed by {}, not by this worker",
                claimed_by.as_deref().unwrap_or("no worker")
            )
        } else if !live {
            "this worker's claim on it ended (its lease ran out, or it was given back)".to_owned()
        } else {
            format!("it is `{state}`, a state no create is sent from")
        };
        StoreError::new(
            StoreErrorKind::ClaimLost,
            format!("{}: job {id} was not sent: {why}", self.inner.location),
        )
        .hint("nothing was sent for it; claim jobs again to go on")
    }
}

#[async_trait]
impl JobStore for PgStore {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let conn = self.conn().await?;
        conn.query_opt(
            "SELECT value FROM imagegen.meta WHERE queue_id = $1 AND key = $2",
            &[&self.inner.queue_id, &key],
        )
        .await
        .map(|row| row.map(|r| r.get(0)))
        .map_err(self.db("reading a meta value"))
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO imagegen.meta(queue_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (queue_id, key) DO UPDATE SET value = excluded.value",
            &[&self.inner.queue_id, &key, &value],
        )
        .await
        .map(drop)
        .map_err(self.db("writing a meta value"))
    }

    async fn endpoint(&self, provider: &str) -> StoreResult<Option<Endpoint>> {
        let conn = self.conn().await?;
        conn.query_opt(
            "SELECT endpoint FROM imagegen.endpoints WHERE queue_id = $1 AND provider = $2",
            &[&self.inner.queue_id, &provider],
        )
        .await
        .map(|row| row.map(|r| Endpoint::from_stored(r.get(0))))
        .map_err(self.db("reading an endpoint"))
    }

    async fn set_endpoint(&self, provider: &str, endpoint: &Endpoint) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO imagegen.endpoints(queue_id, provider, endpoint) VALUES ($1, $2, $3)
             ON CONFLICT (queue_id, provider) DO UPDATE SET endpoint = excluded.endpoint",
            &[&self.inner.queue_id, &provider, &endpoint.as_stored()],
        )
        .await
        .map(drop)
        .map_err(self.db("writing an endpoint"))
    }

    async fn add_jobs(&self, jobs: &[NewJob]) -> StoreResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let rows = jobs
            .iter()
            .map(NewRow::check)
            .collect::<StoreResult<Vec<_>>>()?;
        let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let queue_id = self.inner.queue_id;
        let mut conn = self.conn().await?;
        let tx = conn
            .transaction()
            .await
            .map_err(self.db("recording jobs"))?;
        // The queue row stays locked until the chunk commits: job numbers
        // are taken in order, and a second ingest cannot interleave.
        let queue = tx
            .query_opt(
                "SELECT ingest, ingest_by, COALESCE(ingest_lease_until < now(), true)
                 FROM imagegen.queues WHERE id = $1 FOR UPDATE",
                &[&queue_id],
            )
            .await
            .map_err(self.db("recording jobs"))?
            .ok_or_else(|| self.queue_gone())?;
        let ingest: String = queue.get(0);
        let by: Option<String> = queue.get(1);
        if ingest == "running" && by.as_deref() != Some(self.inner.worker.as_str()) {
            drop(tx);
            let err = self.refuse_unfinished_ingest_of_other().await;
            return Err(err);
        }
        let first: i64 = tx
            .query_one(
                "UPDATE imagegen.queues
                 SET next_job_id = next_job_id + $2, ingest = 'running', ingest_by = $3,
                     ingest_lease_until = now() + make_interval(secs => $4)
                 WHERE id = $1 RETURNING next_job_id - $2",
                &[&queue_id, &count, &self.inner.worker, &self.lease_secs()],
            )
            .await
            .map_err(self.db("recording jobs"))?
            .get(0);
        let sink = tx
            .copy_in(&*format!(
                "COPY imagegen.jobs ({NEW_JOB_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(self.db("recording jobs"))?;
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &NEW_JOB_TYPES));
        for (id, row) in (first..).zip(&rows) {
            writer
                .as_mut()
                .write(&row.values(&queue_id, &id))
                .await
                .map_err(self.db("recording jobs"))?;
        }
        writer.finish().await.map_err(self.db("recording jobs"))?;
        tx.commit().await.map_err(self.db("recording jobs"))
    }

    async fn finish_ingest(&self) -> StoreResult<u64> {
        let conn = self.conn().await?;
        let finished = conn
            .query_opt(
                "UPDATE imagegen.queues
                 SET ingest = 'complete', ingest_by = NULL, ingest_lease_until = NULL,
                     jobs_recorded = (SELECT count(*) FROM imagegen.jobs WHERE queue_id = $1)
                 WHERE id = $1 AND (ingest <> 'running' OR ingest_by = $2)
                 RETURNING jobs_recorded",
                &[&self.inner.queue_id, &self.inner.worker],
            )
            .await
            .map_err(self.db("finishing the ingest"))?;
        let Some(finished) = finished else {
            return Err(self.refuse_unfinished_ingest_of_other().await);
        };
        let jobs: i64 = finished.get(0);
        self.notify(&conn).await?;
        Ok(u64::try_from(jobs).unwrap_or(0))
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        let conn = self.conn().await?;
        let outputs = conn
            .query(
                &*format!(
                    "SELECT job_id, {OUTPUT_COLUMNS} FROM imagegen.outputs
                     WHERE queue_id = $1 ORDER BY job_id, idx"
                ),
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("reading outputs"))?;
        let mut by_job: HashMap<i64, Vec<OutputRow>> = HashMap::new();
        for row in &outputs {
            by_job
                .entry(row.get(0))
                .or_default()
                .push(output_row(row, 1)?);
        }
        let rows = conn
            .query(
                &*format!(
                    "SELECT {JOB_COLUMNS} FROM imagegen.jobs WHERE queue_id = $1 ORDER BY id"
                ),
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("reading jobs"))?;
        rows.iter()
            .map(|row| {
                let mut job = job_row(row)?;
                job.outputs = by_job.remove(&job.id).unwrap_or_default();
                Ok(job)
            })
            .collect()
    }

    async fn claim(&self, limit: usize, claim: &Claim) -> StoreResult<Vec<JobRow>> {
        self.claim_jobs(limit, claim).await
    }

    async fn mark_submitting(
        &self,
        id: i64,
        provider: &str,
        endpoint: &Endpoint,
        est_credits: f64,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        // The fence: only a job this handle holds a live lease on, without
        // a task id, in a state a create is sent from. Anything else means
        // another worker may be sending (or has sent) this create.
        let marked = conn
            .query_opt(
                "WITH marked AS (
                     UPDATE imagegen.jobs
                     SET state = 'submitting', provider = $3, endpoint = $4, est_credits = $5,
                         attempts = attempts + 1, error_kind = NULL, error = NULL, updated_at = now(),
                         lease_until = now() + make_interval(secs => $7)
                     WHERE queue_id = $1 AND id = $2 AND claimed_by = $6 AND lease_until > now()
                       AND task_id IS NULL
                       AND state IN ('pending', 'retryable', 'skipped', 'submitting', 'ambiguous', 'failed')
                     RETURNING queue_id, id
                 )
                 INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                 SELECT queue_id, id, 'submitting', $3 FROM marked
                 RETURNING job_id",
                &[
                    &self.inner.queue_id,
                    &id,
                    &provider,
                    &endpoint.as_stored(),
                    &est_credits,
                    &self.inner.worker,
                    &self.lease_secs(),
                ],
            )
            .await
            .map_err(self.db("marking a job as being sent"))?;
        match marked {
            Some(_) => Ok(()),
            None => Err(self.why_not_claimed(&conn, id).await),
        }
    }

    async fn record_task(
        &self,
        id: i64,
        provider: &str,
        task_id: &str,
        handle: &str,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        // Never fenced: a task id is recorded whoever holds the job, or
        // the task (paid for) would be lost. This handle keeps polling it
        // if it still holds the claim.
        let recorded = conn
            .query_opt(
                "WITH moved AS (
                     UPDATE imagegen.jobs
                     SET provider = $3, task_id = $4, handle = $5, error_kind = NULL, error = NULL,
                         state = 'submitted', updated_at = now(),
                         lease_until = CASE WHEN claimed_by = $6
                                            THEN now() + make_interval(secs => $7)
                                            ELSE lease_until END
                     WHERE queue_id = $1 AND id = $2
                     RETURNING queue_id, id
                 )
                 INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                 SELECT queue_id, id, 'submitted', $3 || ':' || $4 FROM moved
                 RETURNING job_id",
                &[
                    &self.inner.queue_id,
                    &id,
                    &provider,
                    &task_id,
                    &handle,
                    &self.inner.worker,
                    &self.lease_secs(),
                ],
            )
            .await
            .map_err(self.db("recording a task id"))?;
        recorded.map(drop).ok_or_else(|| self.no_job(id))
    }

    async fn record_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&JobError>,
    ) -> StoreResult<()> {
        // The claim ends with any state but those of a create in flight:
        // the job is then another worker's to take (to retry, to poll), or
        // settled. A create in flight keeps its lease (or gets one that has
        // already run out, when this handle did not hold the job).
        let keeps_claim = matches!(state, JobState::Submitting | JobState::Submitted);
        let conn = self.conn().await?;
        let moved = conn
            .query_opt(
                "WITH moved AS (
                     UPDATE imagegen.jobs
                     SET state = $3, error_kind = COALESCE($4, error_kind), error = COALESCE($5, error),
                         updated_at = now(),
                         -- A create in flight always has a lease, so that
                         -- the sweep of expired ones finds it.
                         lease_until = CASE WHEN $6 THEN COALESCE(lease_until, now()) ELSE NULL END
                     WHERE queue_id = $1 AND id = $2
                     RETURNING queue_id, id
                 )
                 INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                 SELECT queue_id, id, $3, $5 FROM moved
                 RETURNING job_id",
                &[
                    &self.inner.queue_id,
                    &id,
                    &state.as_str(),
                    &error.map(|e| e.kind.as_str()),
                    &error.map(|e| e.message.as_str()),
                    &keeps_claim,
                ],
            )
            .await
            .map_err(self.db("recording a job's state"))?;
        if moved.is_none() {
            return Err(self.no_job(id));
        }
        if state.is_final() {
            self.notify_settled(&conn, id).await?;
        }
        if matches!(
            state,
            JobState::Pending | JobState::Retryable | JobState::TimedOut
        ) {
            self.notify(&conn).await?;
        }
        Ok(())
    }

    async fn record_output(&self, id: i64, out: &OutputRow) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO imagegen.outputs(queue_id, job_id, idx, path, sha256, bytes, width, height, url, host)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (queue_id, job_id, idx) DO UPDATE SET
                 path = excluded.path, sha256 = excluded.sha256, bytes = excluded.bytes,
                 width = excluded.width, height = excluded.height, url = excluded.url,
                 host = excluded.host",
            &[
                &self.inner.queue_id,
                &id,
                &out.idx,
                &out.path,
                &out.sha256,
                &out.bytes,
                &out.width,
                &out.height,
                &out.url,
                &out.host,
            ],
        )
        .await
        .map(drop)
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
                self.no_job(id)
            } else {
                db_error(&self.inner.location, "recording an output", e)
            }
        })
    }

    async fn record_done(&self, id: i64, credits: Option<f64>, images: usize) -> StoreResult<()> {
        let conn = self.conn().await?;
        let done = conn
            .query_opt(
                "WITH moved AS (
                     UPDATE imagegen.jobs
                     SET state = 'done', credits = COALESCE($3, credits), error_kind = NULL,
                         error = NULL, lease_until = NULL, updated_at = now()
                     WHERE queue_id = $1 AND id = $2
                     RETURNING queue_id, id
                 )
                 INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                 SELECT queue_id, id, 'done', $4 FROM moved
                 RETURNING job_id",
                &[
                    &self.inner.queue_id,
                    &id,
                    &credits,
                    &format!("{images} image(s)"),
                ],
            )
            .await
            .map_err(self.db("recording a job as done"))?;
        done.ok_or_else(|| self.no_job(id))?;
        self.notify_settled(&conn, id).await
    }

    async fn note(&self, id: i64, detail: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        let noted = conn
            .query_opt(
                "INSERT INTO imagegen.events(queue_id, job_id, state, detail)
                 SELECT queue_id, id, state, $3 FROM imagegen.jobs WHERE queue_id = $1 AND id = $2
                 RETURNING job_id",
                &[&self.inner.queue_id, &id, &detail],
            )
            .await
            .map_err(self.db("noting an event"))?;
        noted.map(drop).ok_or_else(|| self.no_job(id))
    }

    async fn summary(&self) -> StoreResult<Summary> {
        let conn = self.conn().await?;
        let mut summary = Summary::default();
        let by_state = conn
            .query(
                "SELECT state, count(*) FROM imagegen.jobs WHERE queue_id = $1 GROUP BY state",
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("counting jobs"))?;
        for row in &by_state {
            let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            summary.total += n;
            summary.by_state.insert(row.get(0), n);
        }
        let totals = conn
            .query_one(
                "SELECT COALESCE(sum(credits), 0)::float8,
                        COALESCE(sum(est_credits) FILTER (
                            WHERE credits IS NULL AND attempts > 0
                              AND state NOT IN ('invalid', 'pending', 'skipped', 'retryable')), 0)::float8,
                        (SELECT count(*) FROM imagegen.outputs WHERE queue_id = $1)
                 FROM imagegen.jobs WHERE queue_id = $1",
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("summing credits"))?;
        summary.credits_reported = totals.get(0);
        summary.credits_estimated = totals.get(1);
        summary.images = u64::try_from(totals.get::<_, i64>(2)).unwrap_or(0);
        // Why jobs ended where they did, as the SQLite journal counts it:
        // the last error kind of each job that is neither done nor pending.
        let errors = conn
            .query(
                "SELECT state, error_kind, count(*) FROM imagegen.jobs
                 WHERE queue_id = $1 AND error_kind IS NOT NULL AND state NOT IN ('done', 'pending')
                 GROUP BY state, error_kind",
                &[&self.inner.queue_id],
            )
            .await
            .map_err(self.db("counting error kinds"))?;
        for row in &errors {
            let n = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
            summary
                .errors
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), n);
        }
        Ok(summary)
    }

    async fn release(&self) -> StoreResult<()> {
        self.release_claims().await
    }

    async fn held_elsewhere(&self) -> StoreResult<u64> {
        let conn = self.conn().await?;
        // Leases that ran out count too: the next claim takes those jobs.
        let held: i64 = conn
            .query_one(
                "SELECT count(*) FROM imagegen.jobs
                 WHERE queue_id = $1 AND lease_until IS NOT NULL AND claimed_by IS DISTINCT FROM $2",
                &[&self.inner.queue_id, &self.inner.worker],
            )
            .await
            .map_err(self.db("counting the jobs other workers hold"))?
            .get(0);
        Ok(u64::try_from(held).unwrap_or(0))
    }

    async fn wait_for_work(&self, timeout: Duration) -> StoreResult<()> {
        let listener = &self.inner.listener;
        listener
            .ensure()
            .await
            .map_err(self.db("listening for new jobs"))?;
        let seen = self.inner.seen_at_claim.load(Ordering::SeqCst);
        // Timing out is the normal end of an idle wait, not an error.
        let _ = tokio::time::timeout(timeout, listener.wait_past(seen)).await;
        Ok(())
    }
}
