//! The command line: `imagegen-sim --port N ...`, reusable by the `imagegen`
//! CLI as `imagegen sim` through [`SimArgs`] and [`serve`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::{LatencyProfile, SimConfig};
use crate::faults::FaultConfig;
use crate::{Sim, SimHandle};

/// Latency profiles selectable on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Milliseconds (tests).
    Fast,
    /// Seconds, like the real services (demos).
    Realistic,
    /// No latency at all (benchmarks).
    Instant,
}

/// Options of the simulator's command line.
#[derive(Args, Clone, Debug)]
pub struct SimArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// An accepted API key, besides `sim-key` (repeatable).
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Latency profile.
    #[arg(long, value_enum, default_value_t = Profile::Fast)]
    pub profile: Profile,
    /// Seed of the fault dice (and of ids, with --seeded-ids).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Draw ids from the seed, so the same seed gives the same ids in every
    /// run (for tests). By default every simulator hands out ids of its own.
    #[arg(long)]
    pub seeded_ids: bool,
    /// Keep tasks, ledger and counters in DIR (created if missing), so a
    /// simulator restarted on DIR answers the earlier one's tasks and goes
    /// on with its ledger. One simulator at a time per DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Fault injection as JSON, e.g. '{"create_500": 0.1, "burst_429": 0.05}'.
    ///
    /// Each fault is a probability from 0 to 1 (default 0): create_500,
    /// status_500, burst_429 (burst_len requests long), drop_before_accept,
    /// drop_after_accept, slow_response (held slow_response_delay_ms),
    /// malformed_json (any successful answer's JSON cut in half, creates
    /// included), malformed_status_json (the same on status polls only, so no
    /// charged task's id is lost), generation_failure,
    /// gptimage15_numeric_status, gptimage15_string_encoded, unknown_status.
    /// PUT /_sim/config changes them at run time; see the imagegen-sim README.
    #[arg(long, value_name = "JSON")]
    pub faults: Option<String>,
    /// Starting credits of every key on every provider.
    #[arg(long)]
    pub credits: Option<u64>,
    /// Runbase requests allowed per key per window (0 disables the limit).
    #[arg(long, default_value_t = 20)]
    pub runbase_rate_limit: u32,
    /// Runbase rate-limit window in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub runbase_rate_window_ms: u64,
    /// fal requests IN_PROGRESS at once per key (0 lifts it) [default: 2].
    #[arg(long, value_name = "N")]
    pub fal_concurrency: Option<u32>,
    /// Seed (64 hex digits) of the ED25519 key that signs fal webhooks.
    #[arg(long, value_name = "HEX")]
    pub fal_webhook_seed: Option<String>,
    /// Replicate creates per key per window (0 lifts it) [default: 600].
    #[arg(long, value_name = "N")]
    pub replicate_rate_limit: Option<u32>,
    /// Replicate create window in ms [default: the profile's minute: 60000 realistic, 1000 fast].
    #[arg(long, value_name = "MS")]
    pub replicate_rate_window_ms: Option<u64>,
    /// Replicate: longest `Prefer: wait` hold in ms [default: 60000 realistic, 1000 fast].
    #[arg(long, value_name = "MS")]
    pub replicate_max_wait_ms: Option<u64>,
    /// Replicate webhook signing secret (`whsec_<base64>`).
    #[arg(long, value_name = "SECRET")]
    pub replicate_webhook_secret: Option<String>,
    /// Azure requests per key and deployment per window (0 lifts it) [default: 9].
    #[arg(long, value_name = "N")]
    pub azure_rate_limit: Option<u32>,
    /// Azure quota window in ms [default: 60000 realistic, 1000 fast].
    #[arg(long, value_name = "MS")]
    pub azure_rate_window_ms: Option<u64>,
    /// An Azure deployment name, besides gpt-image-1.5 (repeatable).
    #[arg(long = "azure-deployment", value_name = "NAME")]
    pub azure_deployments: Vec<String>,
    /// WaveSpeed images per key per window (0 lifts it) [default: 2].
    #[arg(long, value_name = "N")]
    pub wavespeed_rate_limit: Option<u32>,
    /// WaveSpeed image window in ms [default: 60000 realistic, 1000 fast].
    #[arg(long, value_name = "MS")]
    pub wavespeed_rate_window_ms: Option<u64>,
    /// WaveSpeed tasks running at once per key (0 lifts it) [default: 2].
    #[arg(long, value_name = "N")]
    pub wavespeed_concurrency: Option<u32>,
    /// WaveSpeed sync-mode gateway limit in ms [default: 60000 realistic, 1000 fast].
    #[arg(long, value_name = "MS")]
    pub wavespeed_sync_timeout_ms: Option<u64>,
    /// WaveSpeed webhook secret (`whsec_<key>`).
    #[arg(long, value_name = "SECRET")]
    pub wavespeed_webhook_secret: Option<String>,
}

impl SimArgs {
    /// The [`SimConfig`] these options describe.
    pub fn to_config(&self) -> Result<SimConfig, String> {
        let mut config = match self.profile {
            Profile::Fast => SimConfig::fast(),
            Profile::Realistic => SimConfig::realistic(),
            Profile::Instant => SimConfig::instant(),
        }
        .host(self.host)
        .port(self.port)
        .runbase_rate_limit(
            self.runbase_rate_limit,
            Duration::from_millis(self.runbase_rate_window_ms),
        );
        for key in &self.api_keys {
            config = config.api_key(key.clone());
        }
        if let Some(seed) = self.seed {
            config = config.seed(seed);
        }
        if self.seeded_ids {
            config = config.seeded_ids();
        }
        if let Some(dir) = &self.state_dir {
            config = config.state_dir(dir.clone());
        }
        if let Some(credits) = self.credits {
            config = config.credits(credits);
        }
        config = self.sellers(config)?;
        if let Some(json) = &self.faults {
            let faults: FaultConfig =
                serde_json::from_str(json).map_err(|e| format!("--faults: {e}"))?;
            crate::providers::admin::check_faults(&faults).map_err(|e| format!("--faults: {e}"))?;
            config = config.faults(faults);
        }
        Ok(config)
    }
}

impl SimArgs {
    /// Applies the newer sellers' options over the profile's defaults.
    fn sellers(&self, mut c: SimConfig) -> Result<SimConfig, String> {
        let ms = Duration::from_millis;
        if let Some(n) = self.fal_concurrency {
            c = c.fal_concurrency(n);
        }
        if let Some(hex) = &self.fal_webhook_seed {
            let bytes = hex::decode(hex.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or("--fal-webhook-seed: expected 64 hex digits")?;
            c = c.fal_webhook_seed(bytes);
        }
        let r = c.replicate_rate_limit;
        c = c.replicate_rate_limit(
            self.replicate_rate_limit.unwrap_or(r.requests),
            self.replicate_rate_window_ms.map_or(r.window, ms),
        );
        if let Some(w) = self.replicate_max_wait_ms {
            c = c.replicate_max_wait(ms(w));
        }
        if let Some(s) = &self.replicate_webhook_secret {
            c = c.replicate_webhook_secret(s.clone());
        }
        let a = c.azure_rate_limit;
        c = c.azure_rate_limit(
            self.azure_rate_limit.unwrap_or(a.requests),
            self.azure_rate_window_ms.map_or(a.window, ms),
        );
        for d in &self.azure_deployments {
            c = c.azure_deployment(d.clone());
        }
        let w = c.wavespeed_rate_limit;
        c = c.wavespeed_rate_limit(
            self.wavespeed_rate_limit.unwrap_or(w.requests),
            self.wavespeed_rate_window_ms.map_or(w.window, ms),
        );
        if let Some(n) = self.wavespeed_concurrency {
            c = c.wavespeed_concurrency(n);
        }
        if let Some(t) = self.wavespeed_sync_timeout_ms {
            c = c.wavespeed_sync_timeout(ms(t));
        }
        if let Some(s) = &self.wavespeed_webhook_secret {
            c = c.wavespeed_webhook_secret(s.clone());
        }
        Ok(c)
    }
}

/// The lines printed at start: base URLs and accepted keys.
pub fn banner(sim: &SimHandle, config: &SimConfig) -> String {
    let latency = match config.latency {
        LatencyProfile::Instant => "instant".to_string(),
        LatencyProfile::Fast => "fast".to_string(),
        LatencyProfile::Realistic => "realistic".to_string(),
        LatencyProfile::Fixed {
            queue_ms,
            generate_ms,
        } => format!("fixed ({queue_ms} ms queue, {generate_ms} ms generation)"),
    };
    format!(
        "imagegen-sim listening on {}\n  runbase:    {}\n  gptimage15: {}\n  openai:     {}\n  fal:        {}\n  replicate:  {}\n  azure:      {}\n  wavespeed:  {}\n  ledger:     {}/_sim/ledger\n  accepted keys: {}\n  magic keys:    {}\n  latency: {latency}, seed {}, {} credits per key per provider\n",
        sim.base_url(),
        sim.runbase_url(),
        sim.gptimage15_url(),
        sim.openai_url(),
        sim.fal_url(),
        sim.replicate_url(),
        sim.azure_url(),
        sim.wavespeed_url(),
        sim.base_url(),
        config.api_keys.join(", "),
        crate::magic::ALL.join(", "),
        config.seed,
        config.credits,
    ) + &state_line(sim)
}

/// `  state dir: DIR (N tasks restored)`, or nothing.
fn state_line(sim: &SimHandle) -> String {
    match sim.restored() {
        Some(r) => {
            let skipped = if r.lines_skipped > 0 {
                format!(", {} unreadable journal lines skipped", r.lines_skipped)
            } else {
                String::new()
            };
            format!(
                "  state dir: {} ({} task{} restored{skipped})\n",
                r.dir.display(),
                r.tasks,
                if r.tasks == 1 { "" } else { "s" }
            )
        }
        None => String::new(),
    }
}

/// Runs the simulator until Ctrl-C, printing its URLs and keys first.
pub async fn serve(args: SimArgs) -> std::io::Result<()> {
    let config = args
        .to_config()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let sim = Sim::start(config.clone()).await?;
    print!("{}", banner(&sim, &config));
    tokio::signal::ctrl_c().await?;
    println!("imagegen-sim: shutting down");
    sim.shutdown().await;
    Ok(())
}
