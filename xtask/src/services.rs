//! `cargo xtask test` and `cargo xtask db`: the services the tests need,
//! set up on a bare Debian machine.
//!
//! * **PostgreSQL**: a private cluster under the target directory
//!   (`target/services/pg`), on its own loopback port and socket directory,
//!   never the system's 5432 or `/var/run/postgresql`. The binaries come
//!   from `PATH` or Debian's `/usr/lib/postgresql/<version>/bin`, installed
//!   with `apt-get install -y postgresql` when missing (as root). `initdb`
//!   refuses to run as root, so as root the cluster belongs to the
//!   `postgres` user (or `nobody`) and its commands run through `runuser`.
//!   It is a throwaway: trust authentication on loopback only, no fsync.
//! * **Chromium**, for the gallery's browser tests: found on `PATH`, or
//!   Debian's `chromium` installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// The variable the PostgreSQL tests read their server's URL from.
pub const DATABASE_URL_VAR: &str = "IMAGEGEN_TEST_DATABASE_URL";

/// The variable the browser tests read Chromium's path from.
pub const CHROMIUM_VAR: &str = "IMAGEGEN_CHROMIUM";

/// The cluster's superuser (the tests create and drop databases).
const SUPERUSER: &str = "postgres";

fn say(message: impl std::fmt::Display) {
    eprintln!("xtask: {message}");
}

/// The target directory cargo builds into (`CARGO_TARGET_DIR`, else
/// `target` in the workspace).
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn is_root() -> bool {
    // The effective uid, without a libc binding: /proc is always there on
    // the Linux machines this runs on; elsewhere, not root.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Installs a Debian package with apt-get (refreshing the package lists
/// once when the first try fails), or says which command to run.
fn apt_install(package: &str, why: &str) -> Result<()> {
    if !is_root() {
        bail!(
            "{why}, and it is not installed: run `sudo apt-get install -y {package}`, then this command again"
        );
    }
    if on_path(&["apt-get"]).is_none() {
        bail!(
            "{why}, and it is not installed; this machine has no apt-get: install {package} with its package manager"
        );
    }
    let started = Instant::now();
    say(format!(
        "{why}: installing Debian's `{package}` package (apt-get install -y {package}); this takes a minute or two"
    ));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("running apt-get")
    };
    if !install()?.success() {
        say(
            "apt-get install failed; refreshing the package lists (apt-get update) and trying again",
        );
        let update = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status()
            .context("running apt-get update")?;
        if !update.success() || !install()?.success() {
            bail!("`apt-get install -y {package}` failed (see its output above)");
        }
    }
    say(format!(
        "installed {package} in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `PATH` first,
/// then Debian's newest `/usr/lib/postgresql/<version>/bin`.
fn find_postgres_bin() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(initdb) = on_path(&["initdb"]) {
        // Debian links only some tools into PATH: follow initdb to its
        // directory, where the others are.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent().filter(|d| has_all(d)) {
            return Some(dir.to_owned());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The PostgreSQL binaries, installed when missing.
pub fn ensure_postgres_bin() -> Result<PathBuf> {
    if let Some(bin) = find_postgres_bin() {
        return Ok(bin);
    }
    apt_install(
        "postgresql",
        "the PostgreSQL store's tests need a PostgreSQL server",
    )?;
    find_postgres_bin().context(
        "apt-get installed postgresql, but initdb, pg_ctl and postgres are still not found (looked on PATH and in /usr/lib/postgresql/*/bin)",
    )
}

/// Chromium for the browser tests: `IMAGEGEN_CHROMIUM` if it names a
/// file, else the first browser on `PATH`, installed when missing.
pub fn ensure_chromium() -> Result<PathBuf> {
    const NAMES: &[&str] = &[
        "chromium",
        "chromium-headless-shell",
        "google-chrome",
        "google-chrome-stable",
        "chromium-browser",
    ];
    if let Some(path) = std::env::var_os(CHROMIUM_VAR).map(PathBuf::from) {
        if path.is_file() {
            return Ok(path);
        }
        say(format!(
            "{CHROMIUM_VAR}={} is not a file; looking for Chromium on PATH",
            path.display()
        ));
    }
    if let Some(path) = on_path(NAMES) {
        return Ok(path);
    }
    apt_install("chromium", "the gallery's browser tests need Chromium")?;
    on_path(NAMES).context("apt-get installed chromium, but no chromium is on PATH")
}

/// A private PostgreSQL cluster, running. Dropping it stops the server.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    /// The OS user the server runs as when this process is root.
    run_as: Option<String>,
    port: u16,
    stopped: bool,
}

impl Postgres {
    /// Starts the cluster in `dir` (created with `initdb` the first time),
    /// stopping a server a killed run left behind first.
    pub fn start(bin: &Path, dir: &Path) -> Result<Postgres> {
        let started = Instant::now();
        let run_as = if is_root() {
            Some(service_user()?)
        } else {
            None
        };
        let dir = usable_dir(dir, run_as.as_deref())?;
        let data = dir.join("data");
        let mut cluster = Postgres {
            bin: bin.to_owned(),
            data: data.clone(),
            run_as,
            port: 0,
            // Until the server runs, there is nothing to stop on drop.
            stopped: true,
        };
        if data.join("postmaster.pid").exists() {
            say("stopping a PostgreSQL server an earlier run left behind");
            // It may be gone already: its outcome does not matter.
            let _ = cluster.pg_ctl(&["stop", "-m", "immediate", "-w"]).status();
        }
        if !cluster.initialised()? {
            cluster.initdb()?;
        }
        let socket = socket_dir(&dir, cluster.run_as.as_deref())?;
        // A free port now may be taken before the server binds it: try a
        // few.
        let log = dir.join("postgres.log");
        for _ in 0..3 {
            cluster.port = free_port()?;
            let options = format!(
                "-p {} -k '{}' -c listen_addresses=127.0.0.1 -c max_connections=300 \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                cluster.port,
                socket.display()
            );
            let status = cluster
                .pg_ctl(&["start", "-w", "-t", "60", "-l"])
                .arg(&log)
                .args(["-o", &options])
                .stdout(Stdio::null())
                .status()
                .context("running pg_ctl start")?;
            if status.success() {
                cluster.stopped = false;
                say(format!(
                    "PostgreSQL on 127.0.0.1:{} (socket in {}, data in {}) ready in {:.1} s",
                    cluster.port,
                    socket.display(),
                    data.display(),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(cluster);
            }
        }
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(15).collect();
        bail!(
            "PostgreSQL did not start; the end of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// The URL tests connect with: the superuser, over loopback TCP.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let status = self
            .pg_ctl(&["stop", "-m", "fast", "-w"])
            .stdout(Stdio::null())
            .status()
            .context("running pg_ctl stop")?;
        if !status.success() {
            bail!("pg_ctl stop failed for {}", self.data.display());
        }
        Ok(())
    }

    /// Leaves the server running when this value is dropped (`cargo xtask
    /// db start`).
    pub fn keep_running(mut self) {
        self.stopped = true;
    }

    /// Stops the server of the cluster in `dir`, if one runs.
    pub fn stop_in(bin: &Path, dir: &Path) -> Result<bool> {
        let run_as = if is_root() {
            Some(service_user()?)
        } else {
            None
        };
        for dir in [dir.to_owned(), fallback_dir(dir)] {
            let data = dir.join("data");
            if !data.join("postmaster.pid").exists() {
                continue;
            }
            let mut cluster = Postgres {
                bin: bin.to_owned(),
                data,
                run_as: run_as.clone(),
                port: 0,
                stopped: false,
            };
            cluster.stop()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A command of the cluster's, run as its owner.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.data).args(args);
        command
    }

    /// Whether `data` holds a cluster of these binaries' major version; a
    /// cluster of another version is removed (it is a throwaway).
    fn initialised(&self) -> Result<bool> {
        let Ok(version) = std::fs::read_to_string(self.data.join("PG_VERSION")) else {
            return Ok(false);
        };
        let output = self
            .command("postgres")
            .arg("--version")
            .output()
            .context("running postgres --version")?;
        let ours = String::from_utf8_lossy(&output.stdout);
        let major = ours
            .split_whitespace()
            .last()
            .and_then(|v| v.split('.').next())
            .unwrap_or_default();
        if major == version.trim() {
            return Ok(true);
        }
        say(format!(
            "the test cluster in {} is of PostgreSQL {}, the binaries are {major}: creating it again",
            self.data.display(),
            version.trim()
        ));
        std::fs::remove_dir_all(&self.data)
            .with_context(|| format!("removing {}", self.data.display()))?;
        Ok(false)
    }

    fn initdb(&self) -> Result<()> {
        say(format!(
            "creating a PostgreSQL cluster in {}",
            self.data.display()
        ));
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            say(format!("could not stop PostgreSQL: {e:#}"));
        }
    }
}

/// The non-root user a root process runs the cluster as.
fn service_user() -> Result<String> {
    for user in [SUPERUSER, "nobody"] {
        let known = Command::new("id")
            .arg("-u")
            .arg(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if known {
            return Ok(user.to_owned());
        }
    }
    bail!(
        "running as root, and there is neither a `postgres` nor a `nobody` user to run PostgreSQL as (initdb refuses root)"
    )
}

/// The cluster's directory, created and owned by `user`; a temporary one
/// when `user` cannot reach `dir` (a checkout under a private home).
fn usable_dir(dir: &Path, user: Option<&str>) -> Result<PathBuf> {
    let Some(user) = user else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        return Ok(dir.to_owned());
    };
    for candidate in [dir.to_owned(), fallback_dir(dir)] {
        std::fs::create_dir_all(&candidate)
            .with_context(|| format!("creating {}", candidate.display()))?;
        let owned = Command::new("chown")
            .args(["-R", &format!("{user}:")])
            .arg(&candidate)
            .status()
            .context("running chown")?;
        let reachable = owned.success()
            && Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(&candidate)
                .status()
                .is_ok_and(|s| s.success());
        if reachable {
            return Ok(candidate);
        }
        say(format!(
            "{} cannot be reached by the `{user}` user; trying a temporary directory",
            candidate.display()
        ));
    }
    bail!("no directory the `{user}` user can write the PostgreSQL cluster to")
}

/// Where the cluster goes when the target directory is out of the service
/// user's reach: one per target directory, under the system's temp dir.
fn fallback_dir(dir: &Path) -> PathBuf {
    std::env::temp_dir().join(format!("imagegen-services-{:016x}", path_hash(dir)))
}

/// A name for `dir` that stays the same from run to run.
fn path_hash(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    hasher.finish()
}

/// The socket directory: in the cluster's directory when the path fits a
/// Unix socket name (about 100 bytes), else a short one under /tmp.
fn socket_dir(dir: &Path, user: Option<&str>) -> Result<PathBuf> {
    let inside = dir.join("socket");
    let socket = if inside.as_os_str().len() + "/.s.PGSQL.65535".len() < 100 {
        inside
    } else {
        PathBuf::from(format!("/tmp/imagegen-pg-{:016x}", path_hash(dir)))
    };
    std::fs::create_dir_all(&socket).with_context(|| format!("creating {}", socket.display()))?;
    if let Some(user) = user {
        let owned = Command::new("chown")
            .arg(format!("{user}:"))
            .arg(&socket)
            .status()
            .context("running chown")?;
        if !owned.success() {
            bail!("cannot give {} to the `{user}` user", socket.display());
        }
    }
    Ok(socket)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// `cargo xtask test`: PostgreSQL and Chromium, then every test of the
/// workspace with `extra` passed on; the tests' exit status.
pub fn run_tests(root: &Path, extra: &[String]) -> Result<ExitStatus> {
    let bin = ensure_postgres_bin()?;
    let mut postgres = Postgres::start(&bin, &pg_dir(root))?;
    let chromium = ensure_chromium()?;
    say(format!("Chromium: {}", chromium.display()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        // The store's PostgreSQL tests are behind the `postgres` feature.
        .args([
            "test",
            "--workspace",
            "--locked",
            "--features",
            "imagegen-jobs/postgres",
        ])
        .args(extra)
        .env(DATABASE_URL_VAR, postgres.url())
        .env(CHROMIUM_VAR, &chromium);
    say(format!(
        "running cargo test --workspace --locked --features imagegen-jobs/postgres {} with {DATABASE_URL_VAR}={} {CHROMIUM_VAR}={}",
        extra.join(" "),
        postgres.url(),
        chromium.display()
    ));
    let status = command.status().context("running cargo test")?;
    postgres.stop()?;
    Ok(status)
}

/// Where `cargo xtask test` and `cargo xtask db` keep the cluster.
pub fn pg_dir(root: &Path) -> PathBuf {
    target_dir(root).join("services").join("pg")
}
