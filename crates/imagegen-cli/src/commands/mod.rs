//! The subcommands, and what they share: connecting (keys, base URLs,
//! `--sim`) and building requests from options.

mod batch;
mod generate;
mod jobs;
mod providers;
mod resume;
mod runner;
mod sim;
mod status;

use std::sync::Arc;
use std::time::Duration;

use imagegen_core::{ApiKey, ImageRequest, ReferenceImage, Strictness};
use imagegen_sim::{Sim, SimConfig, SimHandle};

use crate::args::{Cli, Command, ConnArgs, RequestArgs, SimProfile, parse_duration, parse_rate};
use crate::engine::{Engine, Settings};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::Mode;
use crate::providers::Endpoint;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult<Exit> {
    let mode = Mode::detect(cli.quiet);
    match cli.command {
        Command::Generate(args) => generate::run(args, mode).await,
        Command::Batch(args) => batch::run(args, mode).await,
        Command::Resume(args) => resume::run(args, mode).await,
        Command::Jobs(args) => jobs::run(args),
        Command::Status(args) => status::status(args).await,
        Command::Wait(args) => status::wait(args, mode).await,
        Command::Providers(args) => providers::run(args),
        Command::Sim(args) => sim::run(args).await,
    }
}

/// A connected engine, and the in-process simulator it talks to, if any
/// (kept alive as long as the session).
pub struct Session {
    /// The client over the providers in use.
    pub engine: Arc<Engine>,
    _sim: Option<SimHandle>,
}

/// The simulator's runbase rate limit and the client's matching budget for
/// `--sim --sim-profile fast`: the real 20 per 10 s, ten times faster.
const FAST_SIM_RATE: (u32, Duration) = (20, Duration::from_secs(1));

/// Connects to `names` (already checked) as `conn` says.
pub async fn connect(
    conn: &ConnArgs,
    names: &[&'static str],
    strictness: Strictness,
    retry_ambiguous: bool,
) -> CliResult<Session> {
    let mut settings = Settings {
        strictness,
        retry_ambiguous,
        rate_limit: conn
            .rate_limit
            .as_deref()
            .map(parse_rate)
            .transpose()
            .map_err(|e| CliError::new(Exit::Usage, e))?,
        poll_interval: conn
            .poll_interval
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| CliError::new(Exit::Usage, e))?,
    };
    if conn.base_url.is_some() && names.len() > 1 {
        return Err(CliError::new(
            Exit::Usage,
            "--base-url applies to one provider, but several were given",
        )
        .hint(format!(
            "set the providers' base-URL variables instead ({})",
            crate::providers::base_url_vars()
        )));
    }
    let mut sim = None;
    let mut endpoints: Vec<(&'static str, Endpoint)> = Vec::new();
    if conn.sim {
        let config = match conn.sim_profile {
            SimProfile::Fast => {
                settings.rate_limit.get_or_insert(FAST_SIM_RATE);
                settings
                    .poll_interval
                    .get_or_insert(Duration::from_millis(50));
                SimConfig::fast().runbase_rate_limit(FAST_SIM_RATE.0, FAST_SIM_RATE.1)
            }
            SimProfile::Realistic => SimConfig::realistic(),
        };
        let handle = Sim::start(config).await.map_err(|e| {
            CliError::new(Exit::Network, format!("cannot start the simulator: {e}"))
        })?;
        for name in names {
            let spec = crate::providers::registration(name)?.spec;
            let url = format!("{}{}", handle.base_url(), spec.sim_path);
            endpoints.push((
                name,
                Endpoint {
                    key: Some(ApiKey::new(imagegen_sim::DEFAULT_API_KEY)),
                    base_url: Some(url),
                },
            ));
        }
        sim = Some(handle);
    } else {
        for name in names {
            endpoints.push((
                name,
                Endpoint {
                    key: None,
                    base_url: conn.base_url.clone(),
                },
            ));
        }
    }
    let mut built = Vec::new();
    for (name, endpoint) in &endpoints {
        built.push(crate::providers::build(name, endpoint)?);
    }
    let engine = Engine::new(built, settings)?;
    Ok(Session {
        engine: Arc::new(engine),
        _sim: sim,
    })
}

/// Parsed request settings shared by `generate` and `batch` (defaults of each line).
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults {
    pub aspect: Option<imagegen_core::Aspect>,
    pub size: Option<imagegen_core::ImageSize>,
    pub quality: Option<imagegen_core::Quality>,
    pub refs: Vec<ReferenceImage>,
    pub fidelity: Option<imagegen_core::Fidelity>,
    pub callback_url: Option<String>,
}

fn invalid(err: imagegen_core::Error, flag: &str) -> CliError {
    CliError::invalid(format!("{flag}: {}", err.message()))
}

impl RequestDefaults {
    /// Parses the request options of the command line.
    pub fn parse(args: &RequestArgs) -> CliResult<RequestDefaults> {
        Ok(RequestDefaults {
            aspect: args
                .aspect
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| invalid(e, "--aspect"))?,
            size: args
                .size
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| invalid(e, "--size"))?,
            quality: args
                .quality
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| invalid(e, "--quality"))?,
            refs: args.refs.iter().map(|r| ReferenceImage::parse(r)).collect(),
            fidelity: args
                .fidelity
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| invalid(e, "--fidelity"))?,
            callback_url: args.callback_url.clone(),
        })
    }

    /// The request for `prompt` with these settings.
    pub fn request(&self, prompt: &str, count: u32) -> ImageRequest {
        let mut r = ImageRequest::new(prompt).count(count);
        r.aspect = self.aspect;
        r.size = self.size;
        r.quality = self.quality;
        r.references = self.refs.clone();
        r.input_fidelity = self.fidelity;
        r.callback_url = self.callback_url.clone();
        r
    }
}

/// Strict or best-effort, from `--best-effort`.
pub fn strictness(best_effort: bool) -> Strictness {
    if best_effort {
        Strictness::BestEffort
    } else {
        Strictness::Strict
    }
}

/// Checks that local reference files exist and are readable, before anything is sent.
pub fn check_ref_files(refs: &[ReferenceImage]) -> CliResult<()> {
    for r in refs {
        if let ReferenceImage::File(path) = r
            && let Err(e) = std::fs::metadata(path)
        {
            return Err(CliError::invalid(format!(
                "cannot read reference image {}: {e}",
                path.display()
            ))
            .hint("pass an http(s) URL or the path of an existing image file"));
        }
    }
    Ok(())
}
