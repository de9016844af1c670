//! The state dir: what a simulator writes so that the next one, started on
//! the same folder ([`crate::SimConfig::state_dir`], `--state-dir`), goes on
//! where it stopped.
//!
//! # What is kept
//!
//! - **Every task** (runbase runs, gptimage15 tasks, fal requests, Replicate
//!   predictions, WaveSpeed tasks): provider, id, key, prompt, size,
//!   quality, references, the request as received, and the outcome decided
//!   at its creation (queue and generation times, failure, cost, image
//!   count and format, webhook, Replicate's deadline and events, the fal and
//!   WaveSpeed queue order), then what changes later (a cancel, the webhook
//!   or callback sent, the first poll of a task that first shows an
//!   undocumented status). A later simulator answers its status, its result
//!   and its images (the same bytes: an image is drawn from its task), and
//!   its life goes on from its **wall-clock** creation time: a task created
//!   40 s before the restart is 40 s old after it, so a task half-way
//!   through its generation finishes when it would have. Webhooks and
//!   gptimage15 callbacks not yet sent are sent by the new simulator (their
//!   file URLs name its own address).
//! - **The ledger**: every account with its starting credits, and each
//!   change (accepted create with the hash of its body, refund, poll,
//!   error, callback), so `/_sim/ledger` shows the earlier simulator's
//!   charges, a create sent again after the restart still counts as a
//!   duplicate, and credits go on from where they were.
//! - **The counters** of ids and of requests (the fault dice), reserved in
//!   blocks of 1024, so ids stay unique even with [`crate::IdMode::Seeded`].
//!
//! Not kept (they start afresh): rate-limit windows, 429 bursts, the image
//! cache, faults and latency changed at run time (`PUT /_sim/config`; a
//! restarted simulator takes its own configuration), and tasks older than
//! the TTL ([`crate::SimConfig::task_ttl`]) after their end.
//!
//! # Files
//!
//! `imagegen-sim.jsonl` is a journal of JSON lines, one object per line,
//! its kind in `"t"`:
//!
//! | `t` | line |
//! |---|---|
//! | `header` | `{"format": 1, "written_at", "pid"}`: the first line after a compaction |
//! | `counters` | `{"next_id", "next_request"}`: ids and dice numbers below are used up |
//! | `account` | `{"entry": <a ledger entry>, "bodies": ["<16 hex digits>", ...]}`: a ledger account as it stands |
//! | `ledger` | `{"p", "k", "op": "create"\|"refund"\|"poll"\|"status"\|"callback", ...}`: one change of account (`p`, `k`): `create` `{"h", "cost", "charged"}`, `refund` `{"id", "credits"}`, `status` `{"code"}`, `callback` `{"ok"}` |
//! | `task` | one task, whole (see `TaskRecord` in `tasks.rs`): `provider`, `id`, `key`, `created_at` (RFC 3339, nanoseconds), `queue_ns`, `generate_ns`, `failure`, `request`, `prompt`, `size`, `quality`, ...; a later line for the same id replaces it |
//! | `reset` | `POST /_sim/reset`: forget every task and account (not the counters) |
//!
//! At start the journal is read line by line and replayed, then
//! **compacted**: the state it gives is written to `imagegen-sim.jsonl.tmp`
//! (a header, the counters, one `account` line per account, one `task` line
//! per task), synced to disk and renamed over the journal, so the journal
//! stays as small as the state plus what one run adds. A line that cannot
//! be read (a line cut short by a crash while it was being written, or
//! from a newer version) is skipped with a warning; a journal whose header
//! says a newer format is refused.
//!
//! # Durability
//!
//! Each change is one line, written with one `write` call on an unbuffered
//! file opened for appending, before the answer that reports it is sent:
//! once written it is in the operating system's hands, so a `kill -9` of
//! the whole process loses at most the request in flight (a line half
//! written is skipped at the next start). Lines are not synced to disk one
//! by one (a power cut may lose the last seconds); the compacted journal is
//! synced before it replaces the old one, and the journal is synced when the
//! simulator shuts down. A failed write (disk full) is logged once; the
//! simulator goes on serving.
//!
//! Why JSON lines and not SQLite (which the workspace has): the simulator
//! keeps its whole state in memory anyway, so the file only needs to be
//! appended to and read back once; an append is one system call of a few
//! microseconds, where a SQLite transaction per change costs tens; the
//! format can be read with `jq` or `grep`; and the crate needs no C library.
//!
//! # Lock
//!
//! `imagegen-sim.lock` is locked exclusively (`flock` on Unix, `LockFileEx`
//! on Windows, through the `fs4` crate) for as long as the simulator runs,
//! and holds its process id. A second simulator on the same folder, in
//! this process or another, is refused at start with an
//! [`std::io::ErrorKind::ResourceBusy`] error naming the folder and that
//! process id. The operating system releases the lock when the process
//! dies, so a killed simulator never leaves the folder locked; dropping or
//! shutting down a [`crate::SimHandle`] releases it too.
//!
//! Without a state dir nothing of this exists: no file is opened or written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Provider;
use crate::ledger::LedgerEntry;
use crate::state::AppState;
use crate::tasks::{Task, TaskRecord};

/// The journal's file name in the state dir.
pub const JOURNAL_FILE: &str = "imagegen-sim.jsonl";
/// The lock's file name in the state dir.
pub const LOCK_FILE: &str = "imagegen-sim.lock";
/// The journal format this version writes (and the newest it reads).
pub const FORMAT: u32 = 1;
/// How many ids (and request numbers) a `counters` line reserves ahead.
pub(crate) const BLOCK: u64 = 1024;

/// What a simulator found in its state dir at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// The state dir.
    pub dir: PathBuf,
    /// Tasks restored (those past their TTL are dropped).
    pub tasks: usize,
    /// Ledger accounts restored.
    pub accounts: usize,
    /// Journal lines read.
    pub lines_read: usize,
    /// Journal lines skipped because they could not be read.
    pub lines_skipped: usize,
}

/// One line of the journal.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Line {
    /// First line of a compacted journal.
    Header {
        format: u32,
        written_at: String,
        #[serde(default)]
        pid: u32,
    },
    /// Ids and request numbers below these are used up.
    Counters { next_id: u64, next_request: u64 },
    /// A ledger account as it stands (opened, or at compaction).
    Account {
        entry: LedgerEntry,
        bodies: Vec<String>,
    },
    /// One change of a ledger account.
    Ledger {
        p: String,
        k: String,
        op: String,
        #[serde(flatten)]
        fields: serde_json::Value,
    },
    /// A task, whole; a later line for the same id replaces it.
    Task(Box<TaskRecord>),
    /// `POST /_sim/reset`.
    Reset,
}

/// A wall-clock time as the journal writes it (RFC 3339, nanoseconds, UTC).
pub(crate) fn wall_to_string(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A wall-clock time written by [`wall_to_string`].
pub(crate) fn wall_from_string(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// One moment on both clocks, to place wall-clock times on `Instant`s.
pub(crate) struct Clock {
    instant: Instant,
    wall: OffsetDateTime,
}

impl Clock {
    pub fn now() -> Self {
        Clock {
            instant: Instant::now(),
            wall: OffsetDateTime::now_utc(),
        }
    }

    /// The instant of wall-clock time `wall` (now if it is in the future).
    pub fn instant_of(&self, wall: OffsetDateTime) -> Instant {
        let age = self.wall - wall;
        if !age.is_positive() {
            return self.instant;
        }
        let mut back = age.unsigned_abs();
        // An instant before the clock's origin cannot be had: take the
        // oldest one that can (the task is long finished either way).
        loop {
            if let Some(t) = self.instant.checked_sub(back) {
                return t;
            }
            back /= 2;
            if back.is_zero() {
                return self.instant;
            }
        }
    }
}

/// The journal being appended to.
pub(crate) struct Journal {
    dir: PathBuf,
    file: Mutex<Option<File>>,
    lock: Mutex<Option<File>>,
    failed: AtomicBool,
}

impl Journal {
    /// Appends `line` in one write (see "Durability").
    pub fn append(&self, line: &Line) {
        let mut buf = match serde_json::to_vec(line) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "imagegen-sim: cannot encode a journal line");
                return;
            }
        };
        buf.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut()
            && let Err(e) = f.write_all(&buf)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                dir = %self.dir.display(),
                error = %e,
                "imagegen-sim: cannot write to the state dir; what follows is not kept"
            );
        }
    }

    /// Syncs and closes the journal and releases the lock; later lines are
    /// dropped.
    pub fn close(&self) {
        if let Some(f) = self.file.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = f.sync_all();
        }
        if let Some(l) = self.lock.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = fs4::FileExt::unlock(&l);
        }
    }

    /// The state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// A state dir whose lock this simulator holds.
pub(crate) struct LockedDir {
    dir: PathBuf,
    lock: File,
}

/// Creates `dir` if needed and takes its lock; refuses a folder in use.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<LockedDir> {
    let context = |e: io::Error, what: &str| {
        io::Error::new(
            e.kind(),
            format!("state dir {}: {what}: {e}", dir.display()),
        )
    };
    fs::create_dir_all(dir).map_err(|e| context(e, "cannot create it"))?;
    let path = dir.join(LOCK_FILE);
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| context(e, "cannot open its lock file"))?;
    match fs4::FileExt::try_lock(&lock) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = holder.trim();
            let by = if holder.is_empty() {
                String::new()
            } else {
                format!(" ({holder})")
            };
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "state dir {} is in use by another imagegen-sim{by}; stop it, or give another state dir",
                    dir.display()
                ),
            ));
        }
        Err(fs4::TryLockError::Error(e)) => return Err(context(e, "cannot lock it")),
    }
    // Who holds it, for the message above (best effort).
    let _ = lock.set_len(0).and_then(|()| {
        lock.rewind()?;
        writeln!(lock, "pid {}", std::process::id())
    });
    Ok(LockedDir {
        dir: dir.to_path_buf(),
        lock,
    })
}

fn skip(report: &mut Restored, line_no: usize, why: &str) {
    report.lines_skipped += 1;
    tracing::warn!(
        dir = %report.dir.display(),
        line = line_no,
        "imagegen-sim: skipping a journal line that cannot be read: {why}"
    );
}

/// Replays `reader` into `state`; returns the counters it says are used up.
fn replay(
    state: &AppState,
    reader: impl BufRead,
    report: &mut Restored,
    clock: &Clock,
) -> io::Result<(u64, u64)> {
    let (mut next_id, mut next_request) = (0u64, 0u64);
    for (i, raw) in reader.split(b'\n').enumerate() {
        let raw = raw?;
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        report.lines_read += 1;
        let line: Line = match serde_json::from_slice(text) {
            Ok(l) => l,
            Err(e) => {
                skip(report, i + 1, &e.to_string());
                continue;
            }
        };
        match line {
            Line::Header { format, .. } if format > FORMAT => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "state dir {}: the journal is in format {format}, written by a newer imagegen-sim (this one reads up to {FORMAT})",
                        report.dir.display()
                    ),
                ));
            }
            Line::Header { .. } => {}
            Line::Counters {
                next_id: a,
                next_request: b,
            } => {
                next_id = next_id.max(a);
                next_request = next_request.max(b);
            }
            l @ (Line::Account { .. } | Line::Ledger { .. }) => match state.ledger.replay(&l) {
                Ok(Some((provider, id))) => {
                    state.tasks.with(provider, &id, |t| t.refunded = true);
                }
                Ok(None) => {}
                Err(e) => skip(report, i + 1, &e),
            },
            Line::Task(record) => match Task::from_record(*record, clock) {
                Some(task) => state.tasks.restore(task),
                None => skip(
                    report,
                    i + 1,
                    "a task with an unknown provider, size or format",
                ),
            },
            Line::Reset => {
                state.tasks.reset();
                state.ledger.reset();
            }
        }
    }
    Ok((next_id, next_request))
}

/// Writes the state as a fresh journal (header, counters, accounts, tasks)
/// next to the old one, syncs it and renames it over the old one.
fn compact(state: &AppState, dir: &Path, counters: &Line) -> io::Result<()> {
    let path = dir.join(JOURNAL_FILE);
    let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
    {
        let mut out = BufWriter::new(File::create(&tmp)?);
        let mut put = |l: &Line| -> io::Result<()> {
            serde_json::to_writer(&mut out, l)?;
            out.write_all(b"\n")
        };
        put(&Line::Header {
            format: FORMAT,
            written_at: wall_to_string(OffsetDateTime::now_utc()),
            pid: std::process::id(),
        })?;
        put(counters)?;
        for account in state.ledger.accounts() {
            put(&account)?;
        }
        let mut tasks = Vec::new();
        state.tasks.each(|t| tasks.push(t.record()));
        tasks.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        for t in tasks {
            put(&Line::Task(Box::new(t)))?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    // The rename itself is durable once the folder is synced (Unix).
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads the journal of `locked` into `state` (just built, not yet
/// serving), compacts it, and from then on journals every change there.
pub(crate) fn restore(state: &Arc<AppState>, locked: LockedDir) -> io::Result<Restored> {
    let LockedDir { dir, lock } = locked;
    let context = |e: io::Error, what: &str| {
        io::Error::new(
            e.kind(),
            format!("state dir {}: {what}: {e}", dir.display()),
        )
    };
    let mut report = Restored {
        dir: dir.clone(),
        ..Default::default()
    };
    let clock = Clock::now();
    let path = dir.join(JOURNAL_FILE);
    let (next_id, next_request) = match File::open(&path) {
        Ok(f) => replay(state, BufReader::new(f), &mut report, &clock)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => (0, 0),
        Err(e) => return Err(context(e, "cannot read the journal")),
    };
    state.tasks.sweep_all();
    let counters = state.restore_counters(next_id, next_request);
    state.restore_queues(clock.instant);
    compact(state, &dir, &counters).map_err(|e| context(e, "cannot write the journal"))?;
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| context(e, "cannot open the journal"))?;
    let journal = Arc::new(Journal {
        dir: dir.clone(),
        file: Mutex::new(Some(file)),
        lock: Mutex::new(Some(lock)),
        failed: AtomicBool::new(false),
    });
    state.attach(journal);
    report.tasks = state.tasks.len();
    report.accounts = state.ledger.accounts().len();
    // Webhooks and callbacks the last simulator had not sent yet.
    let mut pending = Vec::new();
    state.tasks.each(|t| {
        if !t.more.notified && (t.more.webhook.is_some() || t.provider == Provider::Gptimage15) {
            pending.push(t.clone());
        }
    });
    for task in pending {
        crate::providers::rearm(state, &task);
    }
    if report.lines_skipped > 0 {
        tracing::warn!(
            dir = %dir.display(),
            skipped = report.lines_skipped,
            "imagegen-sim: some journal lines could not be read"
        );
    }
    Ok(report)
}
