//! `PgStore` against a real PostgreSQL server.
//!
//! The server and the fresh database each test gets: `support` (see there).

use std::collections::HashSet;
use std::time::Duration;

use imagegen_jobs::postgres::SCHEMA_VERSION;
use imagegen_jobs::{
    Claim, Endpoint, JobError, JobRow, JobState, JobStore, NewJob, OutputRow, PgOptions, PgStore,
    StoreErrorKind,
};

mod support;

use support::{admin_url, raw, with_db};

/// Short leases, so the tests that need one to run out wait little.
fn quick() -> PgOptions {
    PgOptions {
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(200),
        max_connections: 4,
    }
}

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

async fn batch(url: &str, queue: &str, prompts: &[&str]) -> PgStore {
    let store = PgStore::connect_with(url, queue, quick()).await.unwrap();
    store.set_meta("batch_file", "prompts.txt").await.unwrap();
    let jobs: Vec<NewJob> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| job(i + 1, p))
        .collect();
    store.add_jobs(&jobs).await.unwrap();
    assert_eq!(store.finish_ingest().await.unwrap(), prompts.len() as u64);
    store
}

fn ids(jobs: &[JobRow]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

/// Moves the leases of `worker` into the past: what the clock does to a
/// dead worker's claims, without waiting for it.
async fn expire_leases(url: &str, worker: &str) {
    raw(url)
        .await
        .execute(
            "UPDATE imagegen.jobs SET lease_until = now() - interval '1 second'
             WHERE claimed_by = $1 AND lease_until IS NOT NULL",
            &[&worker],
        )
        .await
        .unwrap();
}

fn output(path: &str) -> OutputRow {
    OutputRow {
        idx: 0,
        path: path.into(),
        sha256: "00".into(),
        bytes: Some(3),
        width: Some(1024),
        height: Some(1024),
        url: None,
        host: Some("box-1".into()),
    }
}

#[tokio::test]
async fn jobs_round_trip_and_each_is_claimed_once() {
    with_db(|url| async move {
        let store = batch(&url, "q", &["a", "b", "c"]).await;
        let endpoint = Endpoint::Url("http://127.0.0.1:9/api".into());
        store.set_endpoint("runbase", &endpoint).await.unwrap();
        assert_eq!(ids(&store.claim(1, &Claim::default()).await.unwrap()), [1]);
        store
            .mark_submitting(1, "runbase", &endpoint, 2.0)
            .await
            .unwrap();
        store
            .record_task(1, "runbase", "task-1", "{}")
            .await
            .unwrap();
        store.record_output(1, &output("out/a.png")).await.unwrap();
        store.note(1, "a warning").await.unwrap();
        store.record_done(1, Some(1.5), 1).await.unwrap();
        drop(store);

        let store = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert_eq!(
            store.meta("batch_file").await.unwrap().as_deref(),
            Some("prompts.txt")
        );
        assert_eq!(store.meta("nothing").await.unwrap(), None);
        assert_eq!(
            store.endpoint("runbase").await.unwrap(),
            Some(endpoint.clone())
        );
        assert_eq!(store.endpoint("openai").await.unwrap(), None);
        let jobs = store.jobs().await.unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].state, JobState::Done);
        assert_eq!(jobs[0].endpoint, Some(endpoint));
        assert_eq!(jobs[0].task_id.as_deref(), Some("task-1"));
        assert_eq!(jobs[0].attempts, 1);
        assert_eq!(jobs[0].outputs, [output("out/a.png")]);
        assert_eq!(jobs[0].providers, ["runbase", "openai"]);
        assert_eq!(jobs[1].state, JobState::Pending);
        assert_eq!(jobs[1].request.as_deref(), Some(r#"{"prompt":"b"}"#));

        let first = store.claim(1, &Claim::default()).await.unwrap();
        assert_eq!(ids(&first), [2]);
        let rest = store.claim(10, &Claim::default()).await.unwrap();
        assert_eq!(ids(&rest), [3]);
        assert!(store.claim(10, &Claim::default()).await.unwrap().is_empty());

        let summary = store.summary().await.unwrap();
        assert_eq!(summary.total, 3);
        assert_eq!(summary.count(JobState::Done), 1);
        assert_eq!(summary.count(JobState::Pending), 2);
        assert_eq!(summary.images, 1);
        assert_eq!(summary.credits_reported, 1.5);

        // Writes about a job the queue does not have are errors.
        let err = store.record_done(99, None, 0).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Usage);
        assert!(err.message.contains("no job 99"), "{}", err.message);
        assert!(store.record_output(99, &output("x")).await.is_err());
        assert!(store.note(99, "x").await.is_err());
    })
    .await;
}

#[tokio::test]
async fn queues_in_one_database_are_apart() {
    with_db(|url| async move {
        let a = batch(&url, "a", &["a1", "a2"]).await;
        let b = batch(&url, "b", &["b1"]).await;
        a.set_meta("k", "from a").await.unwrap();
        a.set_endpoint("runbase", &Endpoint::Sim).await.unwrap();
        assert_eq!(b.meta("k").await.unwrap(), None);
        assert_eq!(b.endpoint("runbase").await.unwrap(), None);
        assert_eq!(b.jobs().await.unwrap().len(), 1);
        assert_eq!(b.summary().await.unwrap().total, 1);
        // Job numbers start at 1 in each queue.
        assert_eq!(ids(&b.claim(10, &Claim::default()).await.unwrap()), [1]);
        assert_eq!(b.job(1).await.unwrap().unwrap().prompt, "b1");
        assert_eq!(a.job(1).await.unwrap().unwrap().prompt, "a1");
        assert_eq!(ids(&a.claim(10, &Claim::default()).await.unwrap()), [1, 2]);
        assert!(a.location().contains("(queue `a`)"), "{}", a.location());
    })
    .await;
}

#[tokio::test]
async fn unknown_states_and_newer_schemas_are_refused() {
    with_db(|url| async move {
        drop(batch(&url, "q", &["a", "b"]).await);
        let db = raw(&url).await;
        db.execute("UPDATE imagegen.jobs SET state = 'weird' WHERE id = 2", &[])
            .await
            .unwrap();
        let err = PgStore::connect(&url, "q").await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
        assert!(err.message.contains("`weird`"), "{}", err.message);
        // Another queue of the database is not affected...
        let other = PgStore::connect(&url, "other").await.unwrap();
        // ...and a state written after a handle opened is refused when read.
        let store = {
            db.execute("UPDATE imagegen.jobs SET state = 'pending'", &[])
                .await
                .unwrap();
            PgStore::connect(&url, "q").await.unwrap()
        };
        db.execute("UPDATE imagegen.jobs SET state = 'weird' WHERE id = 2", &[])
            .await
            .unwrap();
        let err = store.job(2).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
        assert!(store.jobs().await.is_err());
        drop((store, other));

        db.execute(
            "INSERT INTO imagegen.schema_migrations(version, name) VALUES (99, 'from the future')",
            &[],
        )
        .await
        .unwrap();
        let err = PgStore::connect(&url, "q").await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
        assert!(err.message.contains("schema version 99"), "{}", err.message);
        assert!(
            err.message
                .contains(&format!("knows up to {SCHEMA_VERSION}")),
            "{}",
            err.message
        );
    })
    .await;
}

#[tokio::test]
async fn handles_connecting_at_once_migrate_a_new_database_once() {
    with_db(|url| async move {
        let handles = (0..4).map(|i| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, &format!("q{}", i % 2)).await })
        });
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
        let versions = raw(&url)
            .await
            .query("SELECT version FROM imagegen.schema_migrations", &[])
            .await
            .unwrap();
        assert_eq!(versions.len(), SCHEMA_VERSION as usize);
    })
    .await;
}

#[tokio::test]
async fn a_queue_whose_ingest_never_finished_is_refused_at_claim() {
    with_db(|url| async move {
        let ingesting = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        ingesting
            .set_meta("batch_file", "prompts.txt")
            .await
            .unwrap();
        ingesting.add_jobs(&[job(1, "a")]).await.unwrap();

        // While the ingesting handle lives, other workers are told to wait.
        let worker = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        let err = worker.claim(10, &Claim::default()).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::InUse, "{}", err.message);
        assert!(
            err.message.contains("still being recorded"),
            "{}",
            err.message
        );
        let err = worker.add_jobs(&[job(2, "b")]).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::InUse, "{}", err.message);
        // The ingesting handle itself is told to finish first.
        let err = ingesting.claim(10, &Claim::default()).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Usage, "{}", err.message);

        // It dies before finishing: the queue was cut short.
        drop(ingesting);
        raw(&url)
            .await
            .execute(
                "UPDATE imagegen.queues SET ingest_lease_until = now() - interval '1 second'",
                &[],
            )
            .await
            .unwrap();
        let err = worker.claim(10, &Claim::default()).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
        assert!(err.message.contains("cut short"), "{}", err.message);
        assert!(err.message.contains("1 recorded"), "{}", err.message);
        assert!(err.hint.unwrap().contains("imagegen batch prompts.txt"));
        assert_eq!(
            worker.finish_ingest().await.unwrap_err().kind,
            StoreErrorKind::Unreadable
        );
        // Nothing of it was handed out.
        assert_eq!(
            worker.job(1).await.unwrap().unwrap().state,
            JobState::Pending
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_turns_submitting_ambiguous_and_hands_the_rest_to_another_worker() {
    with_db(|url| async move {
        let dead = batch(&url, "q", &["a", "b", "c", "d"]).await;
        assert_eq!(
            ids(&dead.claim(3, &Claim::default()).await.unwrap()),
            [1, 2, 3]
        );
        dead.mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        dead.mark_submitting(2, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        dead.record_task(2, "runbase", "t2", "{}").await.unwrap();
        // Job 3 is claimed and never touched.

        let other = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        // While the lease holds, the other worker only gets job 4.
        assert_eq!(ids(&other.claim(10, &Claim::default()).await.unwrap()), [4]);

        let dead_worker = dead.worker().to_owned();
        drop(dead); // killed: no release, no more heartbeats
        expire_leases(&url, &dead_worker).await;
        let taken = other.claim(10, &Claim::default()).await.unwrap();
        assert_eq!(ids(&taken), [2, 3]);
        assert_eq!(taken[0].state, JobState::Submitted);
        assert_eq!(taken[0].task_id.as_deref(), Some("t2"));
        let one = other.job(1).await.unwrap().unwrap();
        assert_eq!(one.state, JobState::Ambiguous);
        assert_eq!(one.error_kind.as_deref(), Some("interrupted"));
        assert_eq!(one.endpoint, Some(Endpoint::Sim));

        // The ambiguous job goes out only on the user's opt-in.
        let brave = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert!(brave.claim(10, &Claim::default()).await.unwrap().is_empty());
        let brave = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        let opt_in = Claim {
            ambiguous: true,
            failed: false,
        };
        assert_eq!(ids(&brave.claim(10, &opt_in).await.unwrap()), [1]);
        brave
            .mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_dead_workers_lease_runs_out_and_a_live_ones_is_renewed() {
    with_db(|url| async move {
        let live = batch(&url, "q", &["a", "b"]).await;
        assert_eq!(ids(&live.claim(1, &Claim::default()).await.unwrap()), [1]);
        let dead = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert_eq!(ids(&dead.claim(1, &Claim::default()).await.unwrap()), [2]);
        drop(dead);

        // Job 2 comes free once its 2 s lease runs out; job 1 never does,
        // because the live handle's heartbeat renews it every 200 ms.
        let other = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        let mut taken = Vec::new();
        for _ in 0..100 {
            taken.extend(ids(&other.claim(10, &Claim::default()).await.unwrap()));
            if !taken.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(taken, [2]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(other.claim(10, &Claim::default()).await.unwrap().is_empty());
        live.mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handles_claiming_at_once_never_get_the_same_job() {
    with_db(|url| async move {
        let jobs: Vec<String> = (0..600).map(|i| format!("p{i}")).collect();
        let prompts: Vec<&str> = jobs.iter().map(String::as_str).collect();
        drop(batch(&url, "q", &prompts).await);
        let workers = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let store = PgStore::connect_with(&url, "q", quick()).await.unwrap();
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim(7, &Claim::default()).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    for job in claimed {
                        store
                            .mark_submitting(job.id, "runbase", &Endpoint::Sim, 1.0)
                            .await
                            .unwrap();
                        mine.push(job.id);
                    }
                }
            })
        });
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(all.len(), 600, "a job was handed out twice");
        assert_eq!(distinct.len(), 600);
    })
    .await;
}

#[tokio::test]
async fn release_gives_claims_back_at_once_and_a_create_in_flight_becomes_ambiguous() {
    with_db(|url| async move {
        let stopping = batch(&url, "q", &["a", "b", "c"]).await;
        assert_eq!(
            ids(&stopping.claim(10, &Claim::default()).await.unwrap()),
            [1, 2, 3]
        );
        stopping
            .mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        stopping
            .mark_submitting(2, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        stopping
            .record_task(2, "runbase", "t2", "{}")
            .await
            .unwrap();
        stopping.release().await.unwrap();

        let other = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert_eq!(
            ids(&other.claim(10, &Claim::default()).await.unwrap()),
            [2, 3]
        );
        assert_eq!(
            other.job(1).await.unwrap().unwrap().state,
            JobState::Ambiguous
        );
        // What it gave back is no longer its to send.
        let err = stopping
            .mark_submitting(3, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::ClaimLost);
    })
    .await;
}

#[tokio::test]
async fn mark_submitting_is_fenced_by_the_claim_and_the_task_id() {
    with_db(|url| async move {
        let store = batch(&url, "q", &["a", "b", "c"]).await;
        // Not claimed: refused, and nothing changed.
        let err = store
            .mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::ClaimLost);
        assert!(
            err.message.contains("job 1 was not sent"),
            "{}",
            err.message
        );
        assert_eq!(store.job(1).await.unwrap().unwrap().attempts, 0);

        store.claim(3, &Claim::default()).await.unwrap();
        // A task id is never sent again, whatever its state says.
        store.record_task(1, "runbase", "t1", "{}").await.unwrap();
        store
            .record_state(1, JobState::Pending, None)
            .await
            .unwrap();
        let err = store
            .mark_submitting(1, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::ClaimLost);
        assert!(err.message.contains("task id t1"), "{}", err.message);
        // No write clears a task id.
        store
            .record_state(
                1,
                JobState::Failed,
                Some(&JobError {
                    kind: "x".into(),
                    message: "y".into(),
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            store.job(1).await.unwrap().unwrap().task_id.as_deref(),
            Some("t1")
        );

        // Another handle's lease: refused, naming the holder.
        let other = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        let err = other
            .mark_submitting(2, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap_err();
        assert!(err.message.contains(store.worker()), "{}", err.message);

        // Fallback to the next provider while holding the job is allowed.
        store
            .mark_submitting(2, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        store
            .mark_submitting(2, "openai", &Endpoint::Sim, 2.0)
            .await
            .unwrap();
        let two = store.job(2).await.unwrap().unwrap();
        assert_eq!((two.provider.as_deref(), two.attempts), (Some("openai"), 2));
        // A recorded failure ends the claim.
        store
            .record_state(2, JobState::Ambiguous, None)
            .await
            .unwrap();
        assert_eq!(
            store
                .mark_submitting(2, "openai", &Endpoint::Sim, 2.0)
                .await
                .unwrap_err()
                .kind,
            StoreErrorKind::ClaimLost
        );
    })
    .await;
}

#[tokio::test]
async fn a_job_with_a_task_id_is_handed_out_to_poll_whatever_its_state_and_failed_jobs_only_on_request()
 {
    with_db(|url| async move {
        let store = batch(&url, "q", &["a", "b", "c", "d"]).await;
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
        let failed = store.job(1).await.unwrap().unwrap();
        assert_eq!(failed.error.as_deref(), Some("refused"));
        let summary = store.summary().await.unwrap();
        assert_eq!(
            summary.errors_in(JobState::Failed).collect::<Vec<_>>(),
            [("invalid_request", 2)]
        );
        assert_eq!(summary.errors_in(JobState::Ambiguous).count(), 0);

        // The failed generation is polled again only on request, like the
        // failed create.
        let worker = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert_eq!(
            ids(&worker.claim(10, &Claim::default()).await.unwrap()),
            [3, 4]
        );
        worker.release().await.unwrap();
        let worker = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        let claim = Claim {
            ambiguous: false,
            failed: true,
        };
        let jobs = worker.claim(10, &claim).await.unwrap();
        assert_eq!(ids(&jobs), [1, 2, 3, 4]);
        assert_eq!(jobs[1].task_id.as_deref(), Some("t2"));
        // On request the failed create is sent again; the failed
        // generation, held by the same claim, is only polled: its create
        // is never sent again.
        let endpoint = Endpoint::Url("http://127.0.0.1:1".into());
        worker
            .mark_submitting(1, "runbase", &endpoint, 1.0)
            .await
            .unwrap();
        let refused = worker
            .mark_submitting(2, "runbase", &endpoint, 1.0)
            .await
            .unwrap_err();
        assert_eq!(refused.kind, StoreErrorKind::ClaimLost);
        assert!(
            refused.message.contains("task id t2"),
            "{}",
            refused.message
        );
        let job2 = worker.job(2).await.unwrap().unwrap();
        assert_eq!(job2.state, JobState::Failed);
        assert_eq!(job2.task_id.as_deref(), Some("t2"));
        assert_eq!(job2.attempts, 0);
    })
    .await;
}

#[tokio::test]
async fn wait_for_work_wakes_when_jobs_are_added_and_times_out_otherwise() {
    with_db(|url| async move {
        let worker = batch(&url, "q", &[]).await;
        assert!(
            worker
                .claim(10, &Claim::default())
                .await
                .unwrap()
                .is_empty()
        );
        // Nothing comes: it waits out its timeout and returns.
        worker
            .wait_for_work(Duration::from_millis(200))
            .await
            .unwrap();

        let waiting = {
            let worker = worker.clone();
            tokio::spawn(async move { worker.wait_for_work(Duration::from_secs(600)).await })
        };
        let app = PgStore::connect(&url, "q").await.unwrap();
        // Another queue's jobs do not wake it...
        let elsewhere = PgStore::connect(&url, "elsewhere").await.unwrap();
        elsewhere.enqueue(&job(0, "not yours")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        // ...its own queue's do, long before the timeout.
        let id = app.enqueue(&job(0, "wake up")).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("NOTIFY did not wake wait_for_work")
            .unwrap()
            .unwrap();
        assert_eq!(
            ids(&worker.claim(10, &Claim::default()).await.unwrap()),
            [id]
        );

        // A job added between a claim and the wait is not missed.
        assert!(
            worker
                .claim(10, &Claim::default())
                .await
                .unwrap()
                .is_empty()
        );
        app.enqueue(&job(0, "between")).await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(30),
            worker.wait_for_work(Duration::from_secs(600)),
        )
        .await
        .expect("a notification before the wait was missed")
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_app_enqueues_into_a_live_queue_and_reads_the_job_by_id() {
    with_db(|url| async move {
        let worker = batch(&url, "live", &["from the batch"]).await;
        let app = PgStore::connect(&url, "live").await.unwrap();
        let id = app.enqueue(&job(0, "a lamp")).await.unwrap();
        assert_eq!(id, 2);
        let invalid = NewJob {
            invalid: Some("no prompt".into()),
            ..job(0, "")
        };
        let bad = app.enqueue(&invalid).await.unwrap();
        assert_eq!(
            app.job(bad).await.unwrap().unwrap().state,
            JobState::Invalid
        );
        assert_eq!(app.job(999).await.unwrap().map(|j| j.id), None);

        let claimed = worker.claim(10, &Claim::default()).await.unwrap();
        assert_eq!(ids(&claimed), [1, 2]);
        worker
            .mark_submitting(id, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        worker.record_task(id, "runbase", "t", "{}").await.unwrap();
        worker
            .record_output(id, &output("images/lamp.png"))
            .await
            .unwrap();
        worker.record_done(id, Some(2.0), 1).await.unwrap();

        let done = app.job(id).await.unwrap().unwrap();
        assert_eq!(done.state, JobState::Done);
        assert_eq!(done.prompt, "a lamp");
        assert_eq!(done.outputs[0].path, "images/lamp.png");
        assert_eq!(done.outputs[0].host.as_deref(), Some("box-1"));

        // Text PostgreSQL cannot store is refused with the line, not a bare
        // database error.
        let err = app.enqueue(&job(7, "nul\0byte")).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Usage);
        assert!(err.message.contains("line 7"), "{}", err.message);
    })
    .await;
}

#[tokio::test]
async fn an_ingest_of_100_000_jobs_in_chunks() {
    with_db(|url| async move {
        let store = PgStore::connect(&url, "big").await.unwrap();
        store.set_meta("batch_file", "big.txt").await.unwrap();
        let mut line = 0;
        for _ in 0..10 {
            let chunk: Vec<NewJob> = (0..10_000)
                .map(|_| {
                    line += 1;
                    job(line, &format!("prompt number {line}"))
                })
                .collect();
            store.add_jobs(&chunk).await.unwrap();
        }
        assert_eq!(store.finish_ingest().await.unwrap(), 100_000);
        let summary = store.summary().await.unwrap();
        assert_eq!(summary.total, 100_000);
        assert_eq!(summary.count(JobState::Pending), 100_000);
        let first = store.claim(3, &Claim::default()).await.unwrap();
        assert_eq!(ids(&first), [1, 2, 3]);
        assert_eq!(first[2].line, 3);
        let last = store.job(100_000).await.unwrap().unwrap();
        assert_eq!(last.prompt, "prompt number 100000");
    })
    .await;
}

#[tokio::test]
async fn bad_urls_queue_names_and_unreachable_servers_say_what_to_do() {
    let err = PgStore::connect("not a url at all", "q").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);
    assert!(err.message.contains("not valid"), "{}", err.message);

    let err = PgStore::connect("postgres://u:secret@127.0.0.1:9/db", "q")
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Io);
    assert!(!err.message.contains("secret"), "{}", err.message);
    assert!(err.message.contains("127.0.0.1:9"), "{}", err.message);
    assert!(err.hint.is_some());

    for name in ["", "tab\there"] {
        let err = PgStore::connect(&admin_url(), name).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Usage, "{name:?}");
    }
    let lease_shorter_than_heartbeat = PgOptions {
        lease: Duration::from_secs(1),
        heartbeat: Duration::from_secs(2),
        max_connections: 1,
    };
    let err = PgStore::connect_with(&admin_url(), "q", lease_shorter_than_heartbeat)
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);

    // A database that does not exist: say how to create it.
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path("imagegen_no_such_database");
    let err = PgStore::connect(url.as_str(), "q").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage, "{}", err.message);
    assert!(err.hint.unwrap().contains("createdb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_woken_when_its_job_settles_and_a_wait_that_times_out_says_where_the_job_is() {
    with_db(|url| async move {
        let worker = batch(&url, "live", &["from the batch"]).await;
        let app = PgStore::connect(&url, "live").await.unwrap();
        let id = app.enqueue(&job(0, "a lamp")).await.unwrap();

        // Nobody works on it: the wait ends at its timeout with the job as it is.
        let waited = app
            .wait_settled(id, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(waited.state, JobState::Pending);

        // Woken by the settle, not by the (hang-protection) timeout: the
        // waiter is started before the worker records anything.
        let waiter = {
            let app = app.clone();
            tokio::spawn(async move { app.wait_settled(id, Duration::from_secs(120)).await })
        };
        let claimed = worker.claim(10, &Claim::default()).await.unwrap();
        assert_eq!(ids(&claimed), [1, id]);
        worker
            .mark_submitting(id, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        worker
            .record_task(id, "runbase", "t-1", "{}")
            .await
            .unwrap();
        assert!(!waiter.is_finished(), "a submitted job is not final");
        worker
            .record_output(id, &output("images/lamp.png"))
            .await
            .unwrap();
        worker.record_done(id, Some(2.0), 1).await.unwrap();
        let done = waiter.await.unwrap().unwrap();
        assert_eq!(done.state, JobState::Done);
        assert_eq!(done.task_id.as_deref(), Some("t-1"));
        assert_eq!(done.outputs[0].path, "images/lamp.png");

        // A job already final is returned at once, whatever the timeout.
        let again = app
            .wait_settled(id, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(again.state, JobState::Done);

        // A create cut off by its worker's death settles as ambiguous when
        // another handle finds the lease run out: the waiter hears that too.
        let second = app.enqueue(&job(0, "a chair")).await.unwrap();
        let doomed = PgStore::connect_with(&url, "live", quick()).await.unwrap();
        assert_eq!(
            ids(&doomed.claim(10, &Claim::default()).await.unwrap()),
            [second]
        );
        doomed
            .mark_submitting(second, "runbase", &Endpoint::Sim, 1.0)
            .await
            .unwrap();
        let waiter = {
            let app = app.clone();
            tokio::spawn(async move { app.wait_settled(second, Duration::from_secs(120)).await })
        };
        let doomed_name = doomed.worker().to_owned();
        drop(doomed);
        expire_leases(&url, &doomed_name).await;
        assert!(
            worker
                .claim(10, &Claim::default())
                .await
                .unwrap()
                .is_empty()
        );
        let ambiguous = waiter.await.unwrap().unwrap();
        assert_eq!(ambiguous.state, JobState::Ambiguous);
        assert_eq!(ambiguous.task_id, None);

        let err = app
            .wait_settled(999, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Usage);
    })
    .await;
}

#[tokio::test]
async fn other_workers_held_jobs_are_counted_until_their_leases_are_given_back() {
    with_db(|url| async move {
        let holder = batch(&url, "q", &["a", "b", "c"]).await;
        let idle = PgStore::connect_with(&url, "q", quick()).await.unwrap();
        assert_eq!(idle.held_elsewhere().await.unwrap(), 0);
        assert_eq!(holder.claim(2, &Claim::default()).await.unwrap().len(), 2);
        assert_eq!(idle.held_elsewhere().await.unwrap(), 2);
        assert_eq!(holder.held_elsewhere().await.unwrap(), 0, "its own claims");
        holder.release().await.unwrap();
        assert_eq!(idle.held_elsewhere().await.unwrap(), 0);
    })
    .await;
}
