//! The one list of compiled-in providers, for programs (like the `imagegen`
//! CLI) that choose the provider at run time.
//!
//! Each entry is a [`Registration`]: the provider's [`ProviderSpec`]
//! (name, key and base-URL variables, default base URL, simulator path,
//! settings, price estimate) and capabilities (among them the advised poll
//! interval), and how to build it. The CLI, the simulator wiring and the
//! docs read these facts from here; nothing else lists providers. Only the
//! providers whose cargo feature is on are listed. `cargo xtask
//! new-provider NAME` adds an entry.
//!
//! [`ProviderSpec`]: imagegen_core::ProviderSpec

use std::sync::Arc;

use imagegen_core::{Error, ImageProvider, ProviderConfig, Registration};

/// Every provider compiled in, in a stable order.
///
/// ```
/// let names: Vec<_> = imagegen::providers().iter().map(|p| p.spec.name).collect();
/// assert!(names.contains(&"runbase"));
/// ```
pub fn providers() -> Vec<Registration> {
    vec![
        #[cfg(feature = "runbase")]
        Registration::of::<crate::runbase::RunbaseCodec>(),
        #[cfg(feature = "gptimage15")]
        Registration::of::<crate::gptimage15::Gptimage15Codec>(),
        #[cfg(feature = "openai")]
        Registration::of::<crate::openai::OpenAiCodec>(),
        #[cfg(feature = "fal")]
        Registration::of::<crate::fal::FalCodec>(),
        #[cfg(feature = "replicate")]
        Registration::of::<crate::replicate::ReplicateCodec>(),
        // xtask new-provider: registrations above this line
    ]
}

/// The provider called `name`, if it is compiled in.
pub fn registration(name: &str) -> Option<Registration> {
    providers().into_iter().find(|p| p.spec.name == name)
}

/// Builds the provider called `name` from `config` (unset fields come from
/// its environment variables). An unknown name is an `InvalidRequest` error
/// listing the providers compiled in.
///
/// ```
/// use imagegen::{ApiKey, ProviderConfig};
/// let provider = imagegen::provider(
///     "runbase",
///     ProviderConfig::new().api_key(ApiKey::new("sim-key")).base_url("http://127.0.0.1:8787/runbase/api/v1"),
/// ).unwrap();
/// assert_eq!(provider.name(), "runbase");
/// assert!(imagegen::provider("dalle", ProviderConfig::new()).is_err());
/// ```
pub fn provider(name: &str, config: ProviderConfig) -> Result<Arc<dyn ImageProvider>, Error> {
    match registration(name) {
        Some(registration) => registration.build(config),
        None => {
            let known: Vec<_> = providers().iter().map(|p| p.spec.name).collect();
            Err(Error::invalid_request(format!(
                "unknown provider `{name}`; available: {}",
                known.join(", ")
            )))
        }
    }
}
