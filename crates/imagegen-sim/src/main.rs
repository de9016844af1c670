//! `imagegen-sim`: serves the simulated provider APIs until Ctrl-C.

use clap::Parser;
use imagegen_sim::SimArgs;

/// Local simulator of the Runbase, gptimage15.ai and OpenAI image APIs.
#[derive(Parser, Debug)]
#[command(name = "imagegen-sim", version, about)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match imagegen_sim::serve(cli.sim).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imagegen-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
