//! The command line: every command, option and environment variable.

mod values;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use imagegen_core::{Aspect, Fidelity, ImageSize, Quality};

pub use values::core_value;
pub use values::{DEFAULT_MAX_COUNT, check_count, parse_credits, parse_rate, parse_timeout};

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
    for (var, about) in [
        (
            "IMAGEGEN_PROVIDER",
            format!("default --provider (else {})", default_provider()),
        ),
        (
            "IMAGEGEN_LOG",
            "log filter for stderr, e.g. imagegen_core=debug (-v sets info, -vv debug)".to_owned(),
        ),
        (
            "IMAGEGEN_STORE",
            "default --store: a shared PostgreSQL job store (unset: the batch journal)".to_owned(),
        ),
        (
            "IMAGEGEN_RATE_LIMIT",
            "client rate budget, e.g. 20/200ms (testing against simulators)".to_owned(),
        ),
        (
            "IMAGEGEN_POLL_INTERVAL",
            "poll interval, e.g. 50ms (testing against simulators)".to_owned(),
        ),
        (
            "NO_COLOR",
            "set to turn colour off (colour is only ever used on a terminal)".to_owned(),
        ),
    ] {
        out.push_str(&format!("  {var:<24}{about}\n"));
    }
    out.trim_end().to_owned()
}

/// The first provider of the registry: the default `--provider`.
fn default_provider() -> &'static str {
    providers::all().first().map_or("none", |p| p.spec.name)
}

/// `Providers in fallback order, comma-separated: a, b or c`.
fn provider_help() -> String {
    let names: Vec<&str> = providers::all().iter().map(|p| p.spec.name).collect();
    format!(
        "Providers in fallback order, comma-separated; from {}",
        names.join(", ")
    )
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
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log what the client does on stderr (-v: requests and retries, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

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
    /// Continue a batch after a crash, kill or outage, without paying twice.
    Resume(ResumeArgs),
    /// Show a batch's journal: counts by state, failures, outputs, credits.
    Jobs(JobsArgs),
    /// Work on a shared PostgreSQL queue (--store) until it is empty, or for good with --follow.
    Worker(WorkerArgs),
    /// Write DIR/index.html, a page of every job of a batch (--open opens it).
    Gallery(GalleryArgs),
    /// Print the status of one task.
    Status(TaskArgs),
    /// Wait for tasks to finish and download their images.
    Wait(WaitArgs),
    /// List the providers and what each offers.
    Providers(ProvidersArgs),
    /// Run the local simulator of every provider's API (no key, no cost).
    Sim(imagegen_sim::SimArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(CompletionsArgs),
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
    #[arg(long, env = "IMAGEGEN_RATE_LIMIT", value_name = "N/DURATION", value_parser = parse_rate, hide = true)]
    pub rate_limit: Option<(u32, Duration)>,

    /// Poll interval override, e.g. `50ms` (for testing against simulators).
    #[arg(long, env = "IMAGEGEN_POLL_INTERVAL", value_name = "DURATION", value_parser = parse_timeout, hide = true)]
    pub poll_interval: Option<Duration>,
}

/// Settings of the request itself: the same rules as a batch line's.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Shape: 1:1 (square), 2:3 (portrait) or 3:2 (landscape).
    #[arg(long, value_name = "RATIO", value_parser = core_value::<Aspect>, conflicts_with = "size", help_heading = "Request")]
    pub aspect: Option<Aspect>,

    /// Pixel size: 1024x1024, 1024x1536 or 1536x1024.
    #[arg(long, value_name = "WxH", value_parser = core_value::<ImageSize>, help_heading = "Request")]
    pub size: Option<ImageSize>,

    /// Quality: low, medium, high or auto (what each provider offers: `imagegen providers`).
    #[arg(long, value_parser = core_value::<Quality>, help_heading = "Request")]
    pub quality: Option<Quality>,

    /// A reference image, URL or local file (repeatable).
    #[arg(long = "ref", value_name = "URL_OR_FILE", help_heading = "Request")]
    pub refs: Vec<String>,

    /// How closely to follow the reference images: low or high.
    #[arg(long, value_parser = core_value::<Fidelity>, help_heading = "Request")]
    pub fidelity: Option<Fidelity>,

    /// A webhook the provider calls when the task ends (providers with webhooks).
    #[arg(long, value_name = "URL", help_heading = "Request")]
    pub callback_url: Option<String>,

    /// Adjust or drop settings the provider does not offer, with a warning, instead of failing.
    #[arg(long, help_heading = "Request")]
    pub best_effort: bool,

    /// The most images -n (or a batch line's `n`) may ask for.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_COUNT, help_heading = "Request")]
    pub max_count: u32,
}

/// `imagegen generate`.
#[derive(Debug, Args)]
#[command(
    after_help = format!("Examples:\n  imagegen generate \"A ceramic lamp\" --sim\n  imagegen generate \"A ceramic lamp\" --provider {} --aspect 2:3 --quality high -n 2\n  echo \"A ceramic lamp\" | imagegen generate - --sim", example_provider())
)]
pub struct GenerateArgs {
    /// What to draw; `-` reads it from standard input.
    pub prompt: String,

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), value_delimiter = ',', help = provider_help())]
    pub provider: Vec<String>,

    /// How many images.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1)]
    pub n: u32,

    #[command(flatten)]
    pub save: SaveArgs,

    /// Give up after this long, e.g. 90s or 10m: the whole command, create to download (the task keeps running).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "10m")]
    pub timeout: Duration,

    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// What `generate` and `wait` share: where and how images are handed over.
#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Print the images' URLs instead of downloading them (images that come inline are saved anyway).
    #[arg(long)]
    pub no_download: bool,

    /// Folder for the images.
    #[arg(long, short, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,

    /// Print one JSON record per image on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,
}

/// The queue every command uses when `--queue` is not given.
pub const DEFAULT_QUEUE: &str = "default";

/// Where jobs are recorded: the batch folder's SQLite journal, or a queue
/// in a PostgreSQL job store that any number of workers share.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// A PostgreSQL job store shared by workers on any machines: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://). Unset: the SQLite journal in the batch folder.
    #[arg(
        long,
        env = "IMAGEGEN_STORE",
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Job store"
    )]
    pub store: Option<String>,

    /// Which queue of the --store ("default" when not given); one database holds many.
    #[arg(long, value_name = "NAME", help_heading = "Job store")]
    pub queue: Option<String>,

    /// How long a worker's claim on a job lasts without a heartbeat, e.g. 30s (for tests).
    #[arg(long, env = "IMAGEGEN_STORE_LEASE", value_name = "DURATION", value_parser = parse_timeout, hide = true)]
    pub lease: Option<Duration>,
}

/// What `batch` and `resume` share: how to run the jobs.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Jobs in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Stop submitting new jobs once reported plus estimated credits would pass N.
    #[arg(long, value_name = "N", value_parser = parse_credits)]
    pub max_credits: Option<f64>,

    /// Resend creates that may have reached the server (they may be paid twice).
    #[arg(long)]
    pub retry_ambiguous: bool,

    /// Print one JSON record per image on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,

    /// Stop the whole run after this long (jobs left are resumable); no limit by default.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Give up waiting on one task after this long (it stays resumable).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "10m")]
    pub task_timeout: Duration,

    /// Do not write DIR/index.html, the batch's gallery, at the end.
    #[arg(long)]
    pub no_gallery: bool,
}

/// `imagegen batch`.
#[derive(Debug, Args)]
#[command(
    after_help = format!("Each line of FILE is a prompt, or a JSON object with `prompt` and any of:\n  provider, aspect, size, quality, refs, fidelity, n, name, callback_url\n(the same rules as the options). Blank lines and lines starting with # are skipped.\n\nExamples:\n  imagegen batch prompts.txt --out dataset --concurrency 16\n  imagegen batch prompts.jsonl --provider {},{} --max-credits 5000\n  generate-prompts | imagegen batch - --out dataset", example_provider(), default_provider())
)]
pub struct BatchArgs {
    /// The batch file (JSONL or one prompt a line); `-` reads standard input.
    pub file: PathBuf,

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), value_delimiter = ',', help = provider_help())]
    pub provider: Vec<String>,

    /// Default number of images per line.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1)]
    pub n: u32,

    /// Folder for the images and the batch journal (must not hold another batch); with --store, for the images this process saves.
    #[arg(long, short, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,

    /// With --store: record the jobs in the queue and stop; `imagegen worker` runs them.
    #[arg(long, help_heading = "Job store")]
    pub enqueue_only: bool,

    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen resume`.
#[derive(Debug, Args)]
#[command(
    after_help = "Jobs with a task id are polled, never submitted again, at the endpoint that\nissued them. Jobs whose create may have reached the server without its task id\nreaching us are ambiguous: listed, and resubmitted only with --retry-ambiguous\n(which may pay twice). Jobs that failed without any charge (host unreachable,\nrate limited, deadline before sending) are retryable and submitted again.\nCreates the provider refused stay failed unless --retry-failed. Finished jobs\nand saved images are left alone."
)]
pub struct ResumeArgs {
    /// The output folder of the batch (holds imagegen-journal.sqlite); with --store, the folder this process saves images into (default images).
    #[arg(required_unless_present = "store")]
    pub dir: Option<PathBuf>,

    /// Submit again the jobs whose create the provider refused (out of credits, bad request).
    #[arg(long)]
    pub retry_failed: bool,

    /// The provider's endpoint moved: poll and submit at the endpoint given now
    /// (--base-url, --sim or the environment), not the one the batch recorded.
    #[arg(long)]
    pub endpoint_moved: bool,

    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `imagegen jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The output folder of the batch (not with --store, which lists its queue).
    #[arg(required_unless_present = "store")]
    pub dir: Option<PathBuf>,

    /// Print the journal as JSON (every job with its output paths).
    #[arg(long)]
    pub json: bool,

    /// List every job, not only failed and ambiguous ones.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `imagegen gallery`.
#[derive(Debug, Args)]
pub struct GalleryArgs {
    /// The output folder of the batch; with --store, where the page of the queue's images on this machine is written.
    pub dir: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Open the page in the default browser once it is written.
    #[arg(long)]
    pub open: bool,
}

/// `imagegen worker`.
#[derive(Debug, Args)]
#[command(
    after_help = "A worker claims jobs of the queue, a few at a time, with leases it renews; if it\ndies, other workers take its jobs over once the leases run out (30 s): a job\nwith a task id is polled, a create it was sending becomes ambiguous, never\nsent again without --retry-ambiguous. Ctrl-C gives its jobs back at once.\nThe providers and endpoints are those the queue recorded when its jobs were\nenqueued, so every worker on every machine runs it the same way.\n\nExamples:\n  imagegen batch prompts.txt --store postgres://imagegen@db/imagegen --enqueue-only\n  imagegen worker --store postgres://imagegen@db/imagegen --out /mnt/shared/images -j 16\n  IMAGEGEN_STORE=postgres://imagegen@db/imagegen imagegen worker --queue app --follow"
)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Folder for the images this worker saves (a shared mount in a multi-machine setup).
    #[arg(long, short, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,

    /// Keep running when the queue is empty, waking as jobs are added (until Ctrl-C).
    #[arg(long)]
    pub follow: bool,

    /// Jobs in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Resend creates that may have reached the server (they may be paid twice).
    #[arg(long)]
    pub retry_ambiguous: bool,

    /// Print one JSON record per image on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,

    /// Give up waiting on one task after this long (it stays resumable).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "10m")]
    pub task_timeout: Duration,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen status`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// The task id the provider gave.
    pub task_id: String,

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), help = "The provider that issued the task")]
    pub provider: String,

    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `imagegen wait`.
#[derive(Debug, Args)]
#[command(
    after_help = "When --out is a batch folder whose journal knows a task, its images are named\nafter the job's prompt and recorded in the journal."
)]
pub struct WaitArgs {
    /// The task ids the provider gave.
    #[arg(required = true, num_args = 1..)]
    pub task_ids: Vec<String>,

    #[arg(long, short, env = "IMAGEGEN_PROVIDER", default_value = default_provider(), help = "The provider that issued the tasks")]
    pub provider: String,

    #[command(flatten)]
    pub save: SaveArgs,

    /// Give up after this long, e.g. 90s or 10m (the tasks keep running).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "10m")]
    pub timeout: Duration,

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

/// `imagegen completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  imagegen completions bash > ~/.local/share/bash-completion/completions/imagegen\n  imagegen completions zsh > \"${fpath[1]}/_imagegen\"\n  imagegen completions fish > ~/.config/fish/completions/imagegen.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
