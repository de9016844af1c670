//! The runner against a journal that fails at the worst moment.

use std::sync::Arc;
use std::time::Duration;

use imagegen_jobs::{
    Claim, Endpoint, JobError, JobRow, JobState, JobStore, NewJob, OutputRow, SqliteStore,
    StoreError, StoreErrorKind, StoreResult, Summary,
};

use super::{RunOptions, Runner, Target};
use crate::args::{ConnArgs, SimProfile};
use crate::connect::{ClientSettings, Connection, Recorded};
use crate::exit::Exit;
use crate::progress::{Mode, Progress};

/// A journal whose disk fills up just after a create is accepted.
struct FullAfterAccept(SqliteStore);

#[imagegen_core::async_trait]
impl JobStore for FullAfterAccept {
    fn location(&self) -> String {
        self.0.location()
    }
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.0.meta(key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.0.set_meta(key, value).await
    }
    async fn endpoint(&self, provider: &str) -> StoreResult<Option<Endpoint>> {
        self.0.endpoint(provider).await
    }
    async fn set_endpoint(&self, provider: &str, endpoint: &Endpoint) -> StoreResult<()> {
        self.0.set_endpoint(provider, endpoint).await
    }
    async fn add_jobs(&self, jobs: &[NewJob]) -> StoreResult<()> {
        self.0.add_jobs(jobs).await
    }
    async fn finish_ingest(&self) -> StoreResult<u64> {
        self.0.finish_ingest().await
    }
    async fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        self.0.jobs().await
    }
    async fn claim(&self, limit: usize, claim: &Claim) -> StoreResult<Vec<JobRow>> {
        self.0.claim(limit, claim).await
    }
    async fn mark_submitting(
        &self,
        id: i64,
        provider: &str,
        endpoint: &Endpoint,
        est_credits: f64,
    ) -> StoreResult<()> {
        self.0
            .mark_submitting(id, provider, endpoint, est_credits)
            .await
    }
    async fn record_task(&self, _: i64, _: &str, _: &str, _: &str) -> StoreResult<()> {
        Err(StoreError::new(
            StoreErrorKind::Io,
            "No space left on device (os error 28)",
        ))
    }
    async fn record_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&JobError>,
    ) -> StoreResult<()> {
        self.0.record_state(id, state, error).await
    }
    async fn record_output(&self, id: i64, output: &OutputRow) -> StoreResult<()> {
        self.0.record_output(id, output).await
    }
    async fn record_done(&self, id: i64, credits: Option<f64>, images: usize) -> StoreResult<()> {
        self.0.record_done(id, credits, images).await
    }
    async fn note(&self, id: i64, detail: &str) -> StoreResult<()> {
        self.0.note(id, detail).await
    }
    async fn summary(&self) -> StoreResult<Summary> {
        self.0.summary().await
    }
}

#[tokio::test]
async fn a_task_id_the_journal_cannot_record_still_gets_its_images_and_the_run_exits_8() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path()).unwrap();
    let request = imagegen_core::ImageRequest::new("a lamp");
    store
        .add_jobs(&[NewJob {
            line: 1,
            copy: 0,
            name: None,
            prompt: "a lamp".into(),
            providers: vec!["runbase".into()],
            request: Some(serde_json::to_string(&request).unwrap()),
            strictness: "strict".into(),
            invalid: None,
        }])
        .await
        .unwrap();
    store.finish_ingest().await.unwrap();
    let conn_args = ConnArgs {
        sim: true,
        sim_profile: SimProfile::Fast,
        base_url: None,
        rate_limit: None,
        poll_interval: Some(Duration::from_millis(20)),
    };
    let conn = Connection::open(
        &["runbase"],
        &conn_args,
        &Recorded::default(),
        None,
        ClientSettings::default(),
    )
    .await
    .unwrap();
    let runner = Runner {
        store: Arc::new(FullAfterAccept(store.clone())),
        conn: Arc::new(conn),
        dir: dir.path().to_owned(),
        progress: Arc::new(Progress::jobs(Mode::Quiet, 1)),
        options: RunOptions {
            concurrency: 1,
            max_credits: None,
            claim: Claim::default(),
            task_timeout: Duration::from_secs(30),
            run_timeout: None,
            json: false,
            gallery: false,
            follow: false,
        },
        target: Target::Journal,
    };
    assert_eq!(runner.run().await.unwrap(), Exit::Ambiguous);
    let job = &store.jobs().await.unwrap()[0];
    assert_eq!(job.task_id, None);
    // The paid image is on disk all the same.
    assert_eq!(job.outputs.len(), 1);
    assert!(std::path::Path::new(&job.outputs[0].path).is_file());
}
