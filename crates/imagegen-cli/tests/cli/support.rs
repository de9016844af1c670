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

    pub fn url(&self, provider: &str) -> String {
        match provider {
            "runbase" => self.sim().runbase_url(),
            "gptimage15" => self.sim().gptimage15_url(),
            _ => self.sim().openai_url(),
        }
    }

    /// `imagegen` with every key set to `sim-key` and every base URL at this sim.
    pub fn cmd(&self, dir: &Path) -> Command {
        Command::from_std(self.std_cmd(dir))
    }

    /// The same as a `std::process::Command` (to spawn and kill).
    pub fn std_cmd(&self, dir: &Path) -> std::process::Command {
        let mut cmd = std_imagegen(dir);
        for (p, key, url) in [
            ("runbase", "RUNBASE_API_KEY", "RUNBASE_BASE_URL"),
            ("gptimage15", "GPTIMAGE15_API_KEY", "GPTIMAGE15_BASE_URL"),
            ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
        ] {
            cmd.env(key, "sim-key").env(url, self.url(p));
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

fn std_imagegen(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("imagegen"));
    cmd.current_dir(dir);
    for var in [
        "RUNBASE_API_KEY",
        "GPTIMAGE15_API_KEY",
        "OPENAI_API_KEY",
        "RUNBASE_BASE_URL",
        "GPTIMAGE15_BASE_URL",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "OPENAI_API_VERSION",
        "WAVESPEED_API_KEY",
        "WAVESPEED_BASE_URL",
        "WAVESPEED_WEBHOOK_SECRET",
        "IMAGEGEN_PROVIDER",
        "IMAGEGEN_RATE_LIMIT",
        "IMAGEGEN_POLL_INTERVAL",
        "IMAGEGEN_LOG",
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
