//! Unit tests of the journal.

use super::*;

fn job(line: usize, prompt: &str) -> NewJob {
    NewJob {
        line,
        copy: 0,
        name: None,
        prompt: prompt.into(),
        providers: vec!["runbase".into()],
        request: Some(format!("{{\"prompt\":\"{prompt}\"}}")),
        invalid: None,
        est_credits: 1.0,
    }
}

#[test]
fn records_a_job_through_its_life_with_events() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path()).unwrap();
    let mut bad = job(2, "{oops");
    bad.invalid = Some("invalid JSON".into());
    bad.request = None;
    j.add_jobs(&[job(1, "lamp"), bad, job(3, "chair")]).unwrap();
    j.mark_submitting(1, "runbase").unwrap();
    j.record_task(1, "runbase", "run_1", "{}").unwrap();
    j.record_output(
        1,
        &OutputRow {
            idx: 0,
            path: "images/lamp.png".into(),
            sha256: "ab".into(),
            bytes: Some(10),
            width: Some(1024),
            height: Some(1024),
            url: None,
        },
    )
    .unwrap();
    j.record_done(1, Some(1.0), 1).unwrap();
    j.mark_submitting(3, "runbase").unwrap();

    // A second handle on the same file sees everything (as after a crash).
    drop(j);
    let j = Journal::open(dir.path()).unwrap();
    let jobs = j.jobs().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].state, JobState::Done);
    assert_eq!(jobs[0].task_id.as_deref(), Some("run_1"));
    assert_eq!(jobs[1].state, JobState::Invalid);
    assert_eq!(jobs[1].error.as_deref(), Some("invalid JSON"));
    assert_eq!(jobs[2].state, JobState::Submitting);
    assert!(jobs[2].state.is_ambiguous());
    assert_eq!(j.outputs(1).unwrap()[0].width, Some(1024));

    let s = j.summary().unwrap();
    assert_eq!(s.total, 3);
    assert_eq!(s.count(JobState::Done), 1);
    assert_eq!(s.count(JobState::Invalid), 1);
    assert_eq!(s.credits_reported, 1.0);
    assert_eq!(s.credits_estimated, 1.0);
    assert_eq!(s.images, 1);

    let events: i64 = j
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM events WHERE job_id = 1", [], |r| {
                r.get(0)
            })
        })
        .unwrap();
    assert_eq!(events, 4); // pending, submitting, submitted, done
}

#[test]
fn open_without_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Journal::open(dir.path()).err().unwrap();
    assert!(err.message.contains("no batch journal"), "{}", err.message);
}

#[test]
fn concurrent_writers_share_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path()).unwrap();
    let jobs: Vec<_> = (1..=50).map(|i| job(i, &format!("p{i}"))).collect();
    j.add_jobs(&jobs).unwrap();
    let handles: Vec<_> = (1..=50)
        .map(|id| {
            let j = j.clone();
            std::thread::spawn(move || {
                j.mark_submitting(id, "runbase").unwrap();
                j.record_task(id, "runbase", &format!("t{id}"), "{}")
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(j.summary().unwrap().count(JobState::Submitted), 50);
}
