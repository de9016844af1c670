//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;
use crate::providers;

/// The environment variables, from the registry: every provider's key,
/// base URL and settings, and imagegen's own.
fn env_help() -> String {
    let mut out = String::from("Environment:\n");
    for p in providers::all() {
        let spec = p.spec;
        out.push_str(&format!(
            "  {:<23} {}: API key\n",
            spec.api_key_var, spec.name
        ));
        out.push_str(&format!(
            "  {:<23} {}: base URL (default {})\n",
            spec.base_url_var, spec.name, spec.default_base_url
        ));
        for setting in spec.settings {
            out.push_str(&format!(
                "  {:<23} {}: {}\n",
                setting.var, spec.name, setting.about
            ));
        }
    }
    out.push_str(&format!(
        "  {:<24}default --provider (else {})\n",
        "IMAGEGEN_PROVIDER",
        default_provider()
    ));
    out.push_str(&format!(
        "  {:<24}log filter, e.g. imagegen_core=debug",
        "IMAGEGEN_LOG"
    ));
    out
}

/// The first provider of the registry: the default `--provider`.
fn default_provider() -> &'static str {
    providers::all().first().map_or("none", |p| p.spec.name)
}

/// `Provider: a, b or c.`
fn provider_help() -> String {
    let names: Vec<&str> = providers::all().iter().map(|p| p.spec.name).collect();
    format!("Provider: one of {}", names.join(", "))
}

/// An example command for the second registered provider (the first is
/// the default).
fn example_provider() -> &'static str {
    let all = providers::all();
    all.get(1).or(all.first()).map_or("none", |p| p.spec.name)
}

/// Generate images with GPT Image 1.5 through any API that sells it.
#[derive(Debug, Parser)]
#[command(
    name = "imagegen",
    version,
    about = "Generate images with GPT Image 1.5 through any API that sells it",
    long_about = None,
    after_help = format!("{}\n\n{EXIT_CODES_HELP}", env_help()),
    after_long_help = format!("Try it without an API key:\n  imagegen generate \"A cinematic product photo of a ceramic lamp\" --sim\n\n{}\n\n{EXIT_CODES_HELP}", env_help()),
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

    /// A webhook the provider calls when the task ends (providers with webhooks).
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
    after_help = format!("Examples:\n  imagegen generate \"A ceramic lamp\" --sim\n  imagegen generate \"A ceramic lamp\" --provider {} --aspect 2:3 --quality high -n 2", example_provider())
)]
pub struct GenerateArgs {
    /// What to draw.
    pub prompt: String,

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), help = provider_help())]
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
    after_help = format!("Each line of FILE is a prompt, or a JSON object with `prompt` and any of:\n  provider, aspect, size, quality, refs, fidelity, n, name, callback_url.\nBlank lines and lines starting with # are skipped.\n\nExamples:\n  imagegen batch prompts.txt --out dataset --concurrency 16\n  imagegen batch prompts.jsonl --provider {},{} --max-credits 5000", example_provider(), default_provider())
)]
pub struct BatchArgs {
    /// The batch file (JSONL or one prompt a line).
    pub file: PathBuf,

    /// Providers in fallback order, comma-separated.
    #[arg(
        long,
        short,
        env = "IMAGEGEN_PROVIDER",
        default_value = default_provider(),
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

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), help = provider_help())]
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

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), help = provider_help())]
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

/// The longest duration any option takes: a year (and a day). Longer
/// values are refused, so no deadline can overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a humane duration: `90s`, `10m`, `1h30m`, `500ms`, or bare seconds,
/// at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let duration = parse_any_duration(s)?;
    if duration > MAX_DURATION {
        return Err(format!(
            "duration `{}` is too long; the most allowed is 366 days (8784h)",
            s.trim()
        ));
    }
    Ok(duration)
}

fn parse_any_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{s}`; write e.g. 90s, 10m, 1h30m or 500ms");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    // Anything too large for a `Duration` is over the limit: report it as such.
    let seconds = |secs: f64| match Duration::try_from_secs_f64(secs) {
        Ok(d) => Ok(d),
        Err(_) if secs.is_finite() && secs > 0.0 => Ok(Duration::MAX),
        Err(_) => Err(bad()),
    };
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs);
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
        total = total.saturating_add(seconds(secs)?);
    }
    Ok(total)
}

/// Parses a rate budget `N/DURATION` (`20/10s`, `20/200ms`).
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate limit `{s}`; write REQUESTS/DURATION, e.g. 20/10s");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = parse_duration(per).map_err(|e| format!("invalid rate limit `{s}`: {e}"))?;
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
        for huge in [
            "3000000000000000h",
            "1e300",
            "8785h",
            "99999999999999999999999h",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(err.contains("too long"), "{huge}: {err}");
        }
        for bad in ["NaN", "inf", "-1", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(
            parse_rate("1/1e300")
                .unwrap_err()
                .contains("invalid rate limit")
        );
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
