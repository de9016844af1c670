//! Generate one image and save it, the way an application would.
//!
//! Runs offline against an in-process `imagegen-sim`:
//!
//! ```sh
//! cargo run -p imagegen --example quickstart
//! ```
//!
//! Against the real Runbase API, build the provider from the environment
//! instead (`RUNBASE_API_KEY`): `imagegen::runbase::Runbase::from_env()?`.

use imagegen::runbase::Runbase;
use imagegen::{ApiKey, Aspect, Client, ImageRequest, ProviderConfig, Quality};
use imagegen_sim::{Sim, SimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A local copy of the provider APIs; with a real key, skip this and use
    // `Runbase::from_env()`.
    let sim = Sim::start(SimConfig::fast()).await?;
    let provider = Runbase::from_config(
        ProviderConfig::new()
            .api_key(ApiKey::new("sim-key"))
            .base_url(sim.runbase_url()),
    )?;

    let client = Client::builder().provider(provider).build()?;
    let request = ImageRequest::new("A cinematic product photo of a ceramic lamp")
        .aspect(Aspect::Landscape)
        .quality(Quality::High);
    let generation = client.generate(request).await?;
    for warning in &generation.warnings {
        eprintln!("warning: {}", warning.message);
    }

    let dir = std::env::temp_dir().join("imagegen-quickstart");
    for saved in client.download(&generation, &dir).await? {
        println!(
            "saved {} ({} bytes, sha256 {}) from {} task {}",
            saved.path.display(),
            saved.bytes,
            saved.sha256,
            generation.provider,
            saved.task_id
        );
    }
    Ok(())
}
