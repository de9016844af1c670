//! Rows as the model types: jobs (with their outputs) and outputs.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use super::db_error;

use crate::model::{Endpoint, JobRow, JobState, OutputRow};
use crate::store::{StoreError, StoreErrorKind, StoreResult};

/// The job columns [`job_row`] reads, in its order.
pub(super) const JOB_COLUMNS: &str = "id, line, copy, name, prompt, providers, request, strictness, state, provider, \
    endpoint, task_id, handle, error_kind, error, credits, est_credits, attempts";

/// The output columns [`output_row`] reads, in its order.
pub(super) const OUTPUT_COLUMNS: &str = "idx, path, sha256, bytes, width, height, url, host";

/// Column `i` of `r`; a column of another type (a schema this version did
/// not write) is an error, not a panic.
fn col<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> StoreResult<T> {
    r.try_get(i).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "the job store's column `{}` cannot be read: {}",
                r.columns().get(i).map_or("?", |c| c.name()),
                super::error_chain(&e)
            ),
        )
    })
}

/// A job read with [`JOB_COLUMNS`], without outputs; a state this version
/// does not know is an error, never a guess.
pub(super) fn job_row(r: &Row) -> StoreResult<JobRow> {
    let id: i64 = col(r, 0)?;
    let state: String = col(r, 8)?;
    let Some(known) = JobState::parse(&state) else {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!("job {id} is in the unknown state `{state}`"),
        )
        .hint("nothing was sent; use the imagegen that wrote it, or a newer one"));
    };
    let endpoint: Option<String> = col(r, 10)?;
    Ok(JobRow {
        id,
        line: col(r, 1)?,
        copy: col(r, 2)?,
        name: col(r, 3)?,
        prompt: col(r, 4)?,
        providers: col(r, 5)?,
        request: col(r, 6)?,
        strictness: col(r, 7)?,
        state: known,
        provider: col(r, 9)?,
        endpoint: endpoint.as_deref().map(Endpoint::from_stored),
        task_id: col(r, 11)?,
        handle: col(r, 12)?,
        error_kind: col(r, 13)?,
        error: col(r, 14)?,
        credits: col(r, 15)?,
        est_credits: col(r, 16)?,
        attempts: col(r, 17)?,
        outputs: Vec::new(),
    })
}

/// An output read with [`OUTPUT_COLUMNS`] from column `at` on.
pub(super) fn output_row(r: &Row, at: usize) -> StoreResult<OutputRow> {
    Ok(OutputRow {
        idx: col(r, at)?,
        path: col(r, at + 1)?,
        sha256: col(r, at + 2)?,
        bytes: col(r, at + 3)?,
        width: col(r, at + 4)?,
        height: col(r, at + 5)?,
        url: col(r, at + 6)?,
        host: col(r, at + 7)?,
    })
}

/// Jobs read with [`JOB_COLUMNS`], in job order, each with its outputs
/// (one query for the outputs of all of them).
pub(super) async fn with_outputs(
    client: &impl GenericClient,
    queue_id: i64,
    rows: &[Row],
    location: &str,
) -> StoreResult<Vec<JobRow>> {
    let mut jobs = rows.iter().map(job_row).collect::<StoreResult<Vec<_>>>()?;
    jobs.sort_by_key(|j| j.id);
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let outputs = client
        .query(
            &*format!(
                "SELECT job_id, {OUTPUT_COLUMNS} FROM imagegen.outputs
                 WHERE queue_id = $1 AND job_id = ANY($2) ORDER BY job_id, idx"
            ),
            &[&queue_id, &ids],
        )
        .await
        .map_err(|e| db_error(location, "reading outputs", e))?;
    let mut by_job: HashMap<i64, Vec<OutputRow>> = HashMap::new();
    for row in &outputs {
        by_job
            .entry(col(row, 0)?)
            .or_default()
            .push(output_row(row, 1)?);
    }
    for job in &mut jobs {
        job.outputs = by_job.remove(&job.id).unwrap_or_default();
    }
    Ok(jobs)
}
