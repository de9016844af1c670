use super::*;
use crate::store::Claim;

fn job(line: usize, prompt: &str) -> NewJob {
    NewJob {
        line,
        copy: 0,
        name: None,
        prompt: prompt.to_owned(),
        providers: vec!["runbase".into(), "openai".into()],
        request: Some(format!(r#"{{"prompt":"{prompt}"}}"#)),
        strictness: "strict".into(),
        invalid: None,
    }
}

async fn batch(dir: &Path, prompts: &[&str]) -> SqliteStore {
    let store = SqliteStore::create(dir).unwrap();
    store.set_meta("batch_file", "prompts.txt").await.unwrap();
    let jobs: Vec<NewJob> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| job(i + 1, p))
        .collect();
    store.add_jobs(&jobs).await.unwrap();
    store.finish_ingest().await.unwrap();
    store
}

fn raw(dir: &Path) -> Connection {
    Connection::open(SqliteStore::path_in(dir)).unwrap()
}

#[tokio::test]
async fn jobs_round_trip_and_each_is_claimed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = batch(dir.path(), &["a", "b", "c"]).await;
    let endpoint = Endpoint::Url("http://127.0.0.1:9/api".into());
    store
        .mark_submitting(1, "runbase", &endpoint, 2.0)
        .await
        .unwrap();
    store
        .record_task(1, "runbase", "task-1", "{}")
        .await
        .unwrap();
    store
        .record_output(
            1,
            &OutputRow {
                idx: 0,
                path: "out/a.png".into(),
                sha256: "00".into(),
                bytes: Some(3),
                width: Some(1024),
                height: Some(1024),
                url: None,
                host: Some("box-1".into()),
            },
        )
        .await
        .unwrap();
    store.record_done(1, Some(1.5), 1).await.unwrap();
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    let jobs = store.jobs().await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].state, JobState::Done);
    assert_eq!(jobs[0].endpoint, Some(endpoint));
    assert_eq!(jobs[0].task_id.as_deref(), Some("task-1"));
    assert_eq!(jobs[0].outputs[0].path, "out/a.png");
    assert_eq!(jobs[0].outputs[0].host.as_deref(), Some("box-1"));
    assert_eq!(jobs[0].providers, ["runbase", "openai"]);
    assert_eq!(jobs[1].state, JobState::Pending);

    let first = store.claim(1, &Claim::default()).await.unwrap();
    assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), [2]);
    let rest = store.claim(10, &Claim::default()).await.unwrap();
    assert_eq!(rest.iter().map(|j| j.id).collect::<Vec<_>>(), [3]);
    assert!(store.claim(10, &Claim::default()).await.unwrap().is_empty());

    let summary = store.summary().await.unwrap();
    assert_eq!(summary.total, 3);
    assert_eq!(summary.count(JobState::Done), 1);
    assert_eq!(summary.images, 1);
    assert_eq!(summary.credits_reported, 1.5);
}

#[tokio::test]
async fn a_second_opener_is_refused_naming_the_holder_and_a_dead_holder_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = batch(dir.path(), &["a"]).await;
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::InUse);
    assert!(
        err.message.contains(&format!(
            "is in use by imagegen (pid {}",
            std::process::id()
        )),
        "{}",
        err.message
    );
    let err = SqliteStore::create(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::InUse);
    // A reader still sees it.
    let reader = SqliteStore::open_to_read(dir.path()).unwrap();
    assert_eq!(reader.jobs().await.unwrap().len(), 1);
    drop(store);
    // The lock file stays behind, naming a process that no longer holds it.
    assert!(dir.path().join(LOCK_NAME).exists());
    SqliteStore::open(dir.path()).unwrap();
}

#[tokio::test]
async fn a_folder_with_a_batch_is_not_started_again() {
    let dir = tempfile::tempdir().unwrap();
    drop(batch(dir.path(), &["a"]).await);
    let err = SqliteStore::create(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);
    assert!(err.hint.unwrap().contains("imagegen resume"));
}

#[tokio::test]
async fn unknown_states_and_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(batch(dir.path(), &["a", "b"]).await);
    raw(dir.path())
        .execute("UPDATE jobs SET state = 'weird' WHERE id = 2", [])
        .unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Unreadable);
    assert!(err.message.contains("`weird`"), "{}", err.message);

    raw(dir.path())
        .execute("UPDATE jobs SET state = 'pending'", [])
        .unwrap();
    SqliteStore::open(dir.path()).unwrap();
    raw(dir.path())
        .execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Unreadable);
    assert!(err.message.contains("schema version 99"), "{}", err.message);
}

#[tokio::test]
async fn a_journal_cut_short_is_refused() {
    // Killed while the batch file was being read: no finished ingest.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path()).unwrap();
    store.set_meta("batch_file", "prompts.txt").await.unwrap();
    store.add_jobs(&[job(1, "a")]).await.unwrap();
    drop(store);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Unreadable);
    assert!(err.message.contains("cut short"), "{}", err.message);
    assert!(err.hint.unwrap().contains("imagegen batch prompts.txt"));

    // Rows lost after the ingest finished (a lost -wal file).
    let dir = tempfile::tempdir().unwrap();
    drop(batch(dir.path(), &["a", "b", "c"]).await);
    let conn = raw(dir.path());
    conn.execute("DELETE FROM events", []).unwrap();
    conn.execute("DELETE FROM jobs WHERE id > 1", []).unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(err.message.contains("1 job(s) of 3"), "{}", err.message);
}

#[tokio::test]
async fn a_create_interrupted_mid_send_becomes_ambiguous_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = batch(dir.path(), &["a", "b"]).await;
    store
        .mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
        .await
        .unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let jobs = store.jobs().await.unwrap();
    assert_eq!(jobs[0].state, JobState::Ambiguous);
    assert_eq!(jobs[0].endpoint, Some(Endpoint::Sim));
    assert_eq!(jobs[0].error_kind.as_deref(), Some("interrupted"));
    // Not handed out unless the user accepts paying twice.
    let ids = |jobs: Vec<JobRow>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(store.claim(10, &Claim::default()).await.unwrap()), [2]);
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let claim = Claim {
        ambiguous: true,
        failed: false,
    };
    assert_eq!(ids(store.claim(10, &claim).await.unwrap()), [1, 2]);
}

#[tokio::test]
async fn a_job_with_a_task_id_is_handed_out_to_poll_whatever_its_state_and_failed_jobs_only_on_request()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = batch(dir.path(), &["a", "b", "c", "d"]).await;
    let error = JobError {
        kind: "invalid_request".into(),
        message: "refused".into(),
    };
    // 1: a failed create (no task id); 2: a failed generation (task id).
    store
        .record_state(1, JobState::Failed, Some(&error))
        .await
        .unwrap();
    store.record_task(2, "runbase", "t2", "{}").await.unwrap();
    store
        .record_state(2, JobState::Failed, Some(&error))
        .await
        .unwrap();
    // 3: ambiguous on record, but its task id is known.
    store.record_task(3, "runbase", "t3", "{}").await.unwrap();
    store
        .record_state(3, JobState::Ambiguous, None)
        .await
        .unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(
        summary.errors_in(JobState::Failed).collect::<Vec<_>>(),
        [("invalid_request", 2)]
    );
    drop(store);
    let ids = |jobs: Vec<JobRow>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    let store = SqliteStore::open(dir.path()).unwrap();
    // The failed generation is polled again only on request, like the failed create.
    assert_eq!(
        ids(store.claim(10, &Claim::default()).await.unwrap()),
        [3, 4]
    );
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let claim = Claim {
        ambiguous: true,
        failed: true,
    };
    let jobs = store.claim(10, &claim).await.unwrap();
    assert_eq!(ids(jobs.clone()), [1, 2, 3, 4]);
    assert_eq!(jobs[1].task_id.as_deref(), Some("t2"));
}

/// A version-1 journal as imagegen 0.1 wrote it.
fn version_1(dir: &Path, jobs: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let conn = raw(dir);
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE jobs (
            id INTEGER PRIMARY KEY, line INTEGER NOT NULL, copy INTEGER NOT NULL DEFAULT 0,
            name TEXT, prompt TEXT NOT NULL, providers TEXT NOT NULL, request TEXT,
            state TEXT NOT NULL, provider TEXT, task_id TEXT, handle TEXT, error_kind TEXT,
            error TEXT, credits REAL, est_credits REAL, attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
         CREATE TABLE events (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id),
            at TEXT NOT NULL, state TEXT NOT NULL, detail TEXT);
         CREATE TABLE outputs (job_id INTEGER NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL,
            path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER, width INTEGER, height INTEGER,
            url TEXT, PRIMARY KEY (job_id, idx));
         INSERT INTO meta VALUES ('schema_version', '1'), ('batch_file', 'p.txt'),
            ('strictness', 'best_effort');",
    )
    .unwrap();
    for i in 0..jobs {
        conn.execute(
            "INSERT INTO jobs(line, prompt, providers, request, state, provider, task_id, created_at, updated_at)
             VALUES (?1, 'old', 'runbase', '{}', 'submitted', 'runbase', ?2, 't', 't')",
            params![i as i64 + 1, format!("task-{i}")],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn version_1_journals_are_migrated_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    version_1(dir.path(), 2);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.meta("schema_version").await.unwrap().as_deref(),
        Some("2")
    );
    assert_eq!(
        store.meta("jobs_recorded").await.unwrap().as_deref(),
        Some("2")
    );
    let jobs = store.jobs().await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].strictness, "best_effort");
    assert_eq!(jobs[0].endpoint, None);
    assert_eq!(jobs[1].task_id.as_deref(), Some("task-1"));
    store
        .set_endpoint("runbase", &Endpoint::Url("http://x".into()))
        .await
        .unwrap();

    // A version-1 batch killed before its jobs were written.
    let dir = tempfile::tempdir().unwrap();
    version_1(dir.path(), 0);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Unreadable);
    assert!(err.message.contains("cut short"), "{}", err.message);
}

#[tokio::test]
async fn a_folder_without_a_journal_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);
    assert!(err.message.contains("no batch journal"), "{}", err.message);
}
