//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

const ENV_HELP: &str = "\
Environment:
  RUNBASE_API_KEY, GPTIMAGE15_API_KEY, OPENAI_API_KEY   API keys
  RUNBASE_BASE_URL, GPTIMAGE15_BASE_URL, OPENAI_BASE_URL  other hosts (gateways, simulators)
  IMAGEGEN_PROVIDER   default provider (else runbase)";

/// Generate images with GPT Image 1.5 from Runbase, gptimage15.ai or OpenAI.
#[derive(Debug, Parser)]
#[command(
    name = "imagegen",
    version,
    about = "Generate images with GPT Image 1.5 from Runbase, gptimage15.ai or OpenAI",
    long_about = None,
    after_help = format!("{ENV_HELP}\n\n{EXIT_CODES_HELP}"),
    after_long_help = format!("Try it without an API key:\n  imagegen generate \"A cinematic product photo of a ceramic lamp\" --sim\n\n{ENV_HELP}\n\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Print only errors and results.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate images from one prompt.
    Generate(GenerateArgs),
    /// Generate images for every line of a file, with a crash-safe journal.
    Batch(BatchArgs),
    /// Continue a batch after a crash or kill, without paying twice.
    Resume(ResumeArgs),
    /// Show a batch's journal: counts by state, failures, ambiguous jobs, credits.
    Jobs(JobsArgs),
    /// Print the status of one task.
    Status(TaskArgs),
    /// Wait for one task to finish and download its images.
    Wait(WaitArgs),
    /// List the providers and what each offers.
    Providers(ProvidersArgs),
    /// Run the local simulator of the three APIs (no key, no cost).
    Sim(imagegen_sim::SimArgs),
}

/// Latency profile of the in-process simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimProfile {
    /// Milliseconds.
    Fast,
    /// Seconds, like the real services.
    Realistic,
}

/// Where requests go: provider, host, simulator, and testing overrides.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Use the built-in simulator on a loopback port (no key needed, nothing paid).
    #[arg(long, help_heading = "Connection")]
    pub sim: bool,

    /// Latency of the simulator started by --sim.
    #[arg(
        long,
        value_enum,
        default_value_t = SimProfile::Fast,
        requires = "sim",
        help_heading = "Connection"
    )]
    pub sim_profile: SimProfile,

    /// Send requests to this base URL instead of the provider's (one provider only).
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "sim",
        help_heading = "Connection"
    )]
    pub base_url: Option<String>,

    /// Client rate budget override, e.g. `20/200ms` (for testing against simulators).
    #[arg(
        long,
        env = "IMAGEGEN_RATE_LIMIT",
        value_name = "N/DURATION",
        hide = true
    )]
    pub rate_limit: Option<String>,

    /// Poll interval override, e.g. `50ms` (for testing against simulators).
    #[arg(
        long,
        env = "IMAGEGEN_POLL_INTERVAL",
        value_name = "DURATION",
        hide = true
    )]
    pub poll_interval: Option<String>,
}

/// Settings of the request itself.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Shape: 1:1 (square), 2:3 (portrait) or 3:2 (landscape).
    #[arg(
        long,
        value_name = "RATIO",
        conflicts_with = "size",
        help_heading = "Request"
    )]
    pub aspect: Option<String>,

    /// Pixel size: 1024x1024, 1024x1536 or 1536x1024.
    #[arg(long, value_name = "WxH", help_heading = "Request")]
    pub size: Option<String>,

    /// Quality: low, medium, high or auto (what each provider offers: `imagegen providers`).
    #[arg(long, help_heading = "Request")]
    pub quality: Option<String>,

    /// A reference image, URL or local file (repeatable).
    #[arg(long = "ref", value_name = "URL_OR_FILE", help_heading = "Request")]
    pub refs: Vec<String>,

    /// How closely to follow the reference images: low or high.
    #[arg(long, help_heading = "Request")]
    pub fidelity: Option<String>,

    /// A webhook the provider calls when the task ends (gptimage15).
    #[arg(long, value_name = "URL", help_heading = "Request")]
    pub callback_url: Option<String>,

    /// Adjust or drop settings the provider does not offer, with a warning, instead of failing.
    #[arg(long, help_heading = "Request")]
    pub best_effort: bool,
}

/// Options shared by the commands that save images.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Folder for the images (and a batch's journal).
    #[arg(long, short, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,

    /// Print one JSON record per image on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,

    /// Give up waiting after this long, e.g. 90s or 10m (the task keeps running).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
}

/// `imagegen generate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  imagegen generate \"A ceramic lamp\" --sim\n  imagegen generate \"A ceramic lamp\" --provider gptimage15 --aspect 2:3 --quality high -n 2"
)]
pub struct GenerateArgs {
    /// What to draw.
    pub prompt: String,

    /// Provider: runbase, gptimage15 or openai.
    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = "runbase")]
    pub provider: String,

    /// How many images.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1)]
    pub n: u32,

    /// Wait for the images but print their URLs instead of saving them.
    #[arg(long)]
    pub no_download: bool,

    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen batch`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each line of FILE is a prompt, or a JSON object with `prompt` and any of:\n  provider, aspect, size, quality, refs, fidelity, n, name, callback_url.\nBlank lines and lines starting with # are skipped.\n\nExamples:\n  imagegen batch prompts.txt --out dataset --concurrency 16\n  imagegen batch prompts.jsonl --provider gptimage15,runbase --max-credits 5000"
)]
pub struct BatchArgs {
    /// The batch file (JSONL or one prompt a line).
    pub file: PathBuf,

    /// Providers in fallback order, e.g. `gptimage15,runbase`.
    #[arg(
        long,
        short,
        env = "IMAGEGEN_PROVIDER",
        default_value = "runbase",
        value_delimiter = ','
    )]
    pub provider: Vec<String>,

    /// Default number of images per line.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1)]
    pub n: u32,

    /// Jobs in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Stop submitting new jobs once reported plus estimated credits would pass N.
    #[arg(long, value_name = "N")]
    pub max_credits: Option<f64>,

    /// Resend creates that failed in a way that may have reached the server.
    #[arg(long)]
    pub retry_ambiguous: bool,

    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen resume`.
#[derive(Debug, Args)]
#[command(
    after_help = "Jobs with a task id are polled, never submitted again. Jobs whose create may\nhave reached the server without us learning its task id are ambiguous: they\nare listed, and resubmitted only with --retry-ambiguous (which may pay twice).\nJobs never started are submitted; finished jobs and saved images are left alone."
)]
pub struct ResumeArgs {
    /// The output folder of the batch (holds imagegen-journal.sqlite).
    pub dir: PathBuf,

    /// Resubmit ambiguous jobs (their first create may have been paid for).
    #[arg(long)]
    pub retry_ambiguous: bool,

    /// Jobs in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Stop submitting new jobs once reported plus estimated credits would pass N.
    #[arg(long, value_name = "N")]
    pub max_credits: Option<f64>,

    /// Print one JSON record per image on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,

    /// Give up waiting on a task after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The output folder of the batch.
    pub dir: PathBuf,

    /// Print the journal as JSON.
    #[arg(long)]
    pub json: bool,

    /// List every job, not only failed and ambiguous ones.
    #[arg(long)]
    pub all: bool,
}

/// `imagegen status`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// The task id the provider gave.
    pub task_id: String,

    /// The provider the task belongs to.
    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = "runbase")]
    pub provider: String,

    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The task id the provider gave.
    pub task_id: String,

    /// The provider the task belongs to.
    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = "runbase")]
    pub provider: String,

    /// Wait, but do not download the images.
    #[arg(long)]
    pub no_download: bool,

    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen providers`.
#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Print the capabilities as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a humane duration: `90s`, `10m`, `1h30m`, `500ms`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{s}`; write e.g. 90s, 10m, 1h30m or 500ms");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(bad())
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit.trim() {
            "ms" => value / 1000.0,
            "s" | "sec" | "secs" => value,
            "m" | "min" | "mins" => value * 60.0,
            "h" | "hr" | "hrs" => value * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(secs);
    }
    Ok(total)
}

/// Parses a rate budget `N/DURATION` (`20/10s`, `20/200ms`).
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate limit `{s}`; write REQUESTS/DURATION, e.g. 20/10s");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = parse_duration(per).map_err(|_| bad())?;
    if n == 0 || per.is_zero() {
        return Err(bad());
    }
    Ok((n, per))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn humane_durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10 parsecs").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("20/200ms").unwrap(),
            (20, Duration::from_millis(200))
        );
        assert!(parse_rate("20").is_err());
        assert!(parse_rate("0/1s").is_err());
    }
}
