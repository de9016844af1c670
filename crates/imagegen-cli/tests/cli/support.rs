//! Shared helpers: a simulator on its own runtime, and a clean `imagegen` command.

use std::path::Path;

use assert_cmd::Command;
use imagegen_sim::{Sim, SimConfig, SimHandle};

/// A simulator served by a runtime of its own, so the test thread is free
/// to run the CLI process.
pub struct TestSim {
    pub handle: Option<SimHandle>,
    rt: tokio::runtime::Runtime,
}

impl TestSim {
    pub fn start(config: SimConfig) -> TestSim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.block_on(Sim::start(config)).expect("sim starts");
        TestSim {
            handle: Some(handle),
            rt,
        }
    }

    pub fn fast() -> TestSim {
        TestSim::start(SimConfig::fast())
    }

    pub fn sim(&self) -> &SimHandle {
        self.handle.as_ref().unwrap()
    }

    /// The base URL of `provider` at this sim (from the registry).
    pub fn url(&self, provider: &str) -> String {
        let spec = imagegen::registration(provider).unwrap().spec;
        format!("{}{}", self.sim().base_url(), spec.sim_path)
    }

    /// `imagegen` with every key set to `sim-key` and every base URL at this sim.
    pub fn cmd(&self, dir: &Path) -> Command {
        Command::from_std(self.std_cmd(dir))
    }

    /// The same as a `std::process::Command` (to spawn and kill).
    pub fn std_cmd(&self, dir: &Path) -> std::process::Command {
        let mut cmd = std_imagegen(dir);
        for spec in imagegen::providers().iter().map(|p| p.spec) {
            cmd.env(spec.api_key_var, imagegen_sim::DEFAULT_API_KEY)
                .env(spec.base_url_var, self.url(spec.name));
        }
        cmd.env("IMAGEGEN_POLL_INTERVAL", "20ms")
            .env("IMAGEGEN_RATE_LIMIT", "1000/1s");
        cmd
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        drop(self.handle.take());
    }
}

/// `imagegen` in `dir` with no keys, base URLs or provider from the outer environment.
pub fn imagegen(dir: &Path) -> Command {
    Command::from_std(std_imagegen(dir))
}

/// [`imagegen`] as a `std` command, to spawn and kill.
pub fn std_imagegen(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("imagegen"));
    cmd.current_dir(dir);
    for spec in imagegen::providers().iter().map(|p| p.spec) {
        cmd.env_remove(spec.api_key_var)
            .env_remove(spec.base_url_var);
        for setting in spec.settings {
            cmd.env_remove(setting.var);
        }
    }
    for var in [
        "IMAGEGEN_PROVIDER",
        "IMAGEGEN_RATE_LIMIT",
        "IMAGEGEN_POLL_INTERVAL",
        "IMAGEGEN_LOG",
        "IMAGEGEN_STORE",
        "IMAGEGEN_STORE_LEASE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    cmd
}

/// stdout and stderr as strings.
pub fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must fail and returns (exit code, stderr); nothing
/// may reach stdout.
pub fn fails(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(stdout.is_empty(), "nothing on stdout on error: {stdout}");
    (out.status.code().unwrap(), stderr)
}

/// Width and height of a PNG file.
pub fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

/// The PNG files in `dir`.
pub fn pngs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Jobs with a task id, and jobs mid-create, in a batch journal (read-only;
/// `None` while it cannot be read).
pub fn journal_counts(path: &Path) -> Option<(i64, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(std::time::Duration::from_secs(2)).ok()?;
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).ok();
    Some((
        count("SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL")?,
        count("SELECT COUNT(*) FROM jobs WHERE state = 'submitting'")?,
    ))
}

/// Runs SQL on a batch journal, as a person editing it by hand would.
pub fn edit_journal(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("imagegen-journal.sqlite")).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Sends `sig` (`-STOP`, `-CONT`, `-KILL`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// Waits (at most a minute) until `ready` says yes, or `child` ends.
pub fn wait_for(child: &mut std::process::Child, mut ready: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ready() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// Writes `n` distinct prompts to `dir/name`.
pub fn prompts(dir: &Path, name: &str, n: usize) {
    let text: String = (1..=n)
        .map(|i| format!("prompt {i}: a ceramic lamp, variation {i}\n"))
        .collect();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns `batch` (an `imagegen batch ... --out out` run in `dir`) and kills
/// it (SIGKILL) once `tasks` jobs have a task id and none is mid-create, so
/// nothing it leaves is ambiguous.
pub fn kill_batch_when_settled(mut batch: std::process::Command, dir: &Path, tasks: i64) {
    let journal = dir.join("out/imagegen-journal.sqlite");
    let log = dir.join("batch.log");
    batch
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = batch.spawn().unwrap();
    let pid = child.id();
    let killed = wait_for(&mut child, || {
        if journal_counts(&journal).is_none_or(|(with_id, _)| with_id < tasks) {
            return false;
        }
        signal(pid, "-STOP");
        if journal_counts(&journal).is_some_and(|(_, submitting)| submitting == 0) {
            return true;
        }
        signal(pid, "-CONT");
        false
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        killed,
        "the batch ended before it could be killed: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
