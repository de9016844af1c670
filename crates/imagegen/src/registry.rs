//! Providers by name, for programs (like the `imagegen` CLI) that choose the
//! provider at run time.
//!
//! Only the providers whose cargo feature is on are listed.
//! `cargo xtask new-provider NAME` adds an entry here.

use std::sync::Arc;

use imagegen_core::{Capabilities, Error, ImageProvider, ProviderConfig};

/// What a program needs to know about a provider before it has a key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The provider's name (`runbase`).
    pub name: &'static str,
    /// The environment variable holding its API key.
    pub api_key_var: &'static str,
    /// The environment variable that overrides its base URL.
    pub base_url_var: &'static str,
    /// The real host's base URL.
    pub default_base_url: &'static str,
    /// What it offers.
    pub capabilities: Capabilities,
}

/// Every provider compiled in, in a stable order.
///
/// ```
/// let names: Vec<_> = imagegen::providers().into_iter().map(|p| p.name).collect();
/// assert!(names.contains(&"runbase"));
/// ```
// One `push` per provider feature, so each entry can be compiled out.
#[allow(clippy::vec_init_then_push)]
pub fn providers() -> Vec<ProviderInfo> {
    #[allow(unused_mut)]
    let mut list = Vec::new();
    #[cfg(feature = "runbase")]
    list.push(ProviderInfo {
        name: crate::runbase::Runbase::NAME,
        api_key_var: crate::runbase::Runbase::API_KEY_VAR,
        base_url_var: crate::runbase::Runbase::BASE_URL_VAR,
        default_base_url: crate::runbase::Runbase::DEFAULT_BASE_URL,
        capabilities: crate::runbase::Runbase::default_capabilities(),
    });
    #[cfg(feature = "gptimage15")]
    list.push(ProviderInfo {
        name: crate::gptimage15::Gptimage15::NAME,
        api_key_var: crate::gptimage15::Gptimage15::API_KEY_VAR,
        base_url_var: crate::gptimage15::Gptimage15::BASE_URL_VAR,
        default_base_url: crate::gptimage15::Gptimage15::DEFAULT_BASE_URL,
        capabilities: crate::gptimage15::Gptimage15::default_capabilities(),
    });
    #[cfg(feature = "openai")]
    list.push(ProviderInfo {
        name: crate::openai::OpenAi::NAME,
        api_key_var: crate::openai::OpenAi::API_KEY_VAR,
        base_url_var: crate::openai::OpenAi::BASE_URL_VAR,
        default_base_url: crate::openai::OpenAi::DEFAULT_BASE_URL,
        capabilities: crate::openai::OpenAi::default_capabilities(),
    });
    // xtask new-provider: provider entries above this line
    list
}

/// The provider called `name`, if it is compiled in.
pub fn provider_info(name: &str) -> Option<ProviderInfo> {
    providers().into_iter().find(|p| p.name == name)
}

/// Builds the provider called `name` from `config` (unset fields come from
/// its environment variables).
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
    let _ = &config;
    match name {
        #[cfg(feature = "runbase")]
        crate::runbase::Runbase::NAME => {
            Ok(Arc::new(crate::runbase::Runbase::from_config(config)?))
        }
        #[cfg(feature = "gptimage15")]
        crate::gptimage15::Gptimage15::NAME => Ok(Arc::new(
            crate::gptimage15::Gptimage15::from_config(config)?,
        )),
        #[cfg(feature = "openai")]
        crate::openai::OpenAi::NAME => Ok(Arc::new(crate::openai::OpenAi::from_config(config)?)),
        // xtask new-provider: provider arms above this line
        other => {
            let known: Vec<_> = providers().into_iter().map(|p| p.name).collect();
            Err(Error::invalid_request(format!(
                "unknown provider `{other}`; available: {}",
                known.join(", ")
            )))
        }
    }
}
