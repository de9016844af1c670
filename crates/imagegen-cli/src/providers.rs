//! Building providers by name: keys from the environment (or the simulator's
//! `sim-key`), base URLs from `--base-url`, `*_BASE_URL` or `--sim`.
//!
//! This is the only module that builds providers (through the facade's
//! by-name constructor).

use std::sync::Arc;

use imagegen_core::{ApiKey, Capabilities, Error, ImageProvider, ProviderConfig};

use crate::exit::{CliError, Exit};

/// The providers imagegen knows, in the order `imagegen providers` lists them.
pub const NAMES: [&str; 3] = ["runbase", "gptimage15", "openai"];

/// The environment variable holding `provider`'s API key.
pub fn key_var(provider: &str) -> &'static str {
    match provider {
        "gptimage15" => "GPTIMAGE15_API_KEY",
        "openai" => "OPENAI_API_KEY",
        _ => "RUNBASE_API_KEY",
    }
}

/// Checks a provider name, with a suggestion for a near miss.
pub fn check_name(name: &str) -> Result<&'static str, CliError> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(known) = NAMES.iter().find(|n| **n == lower) {
        return Ok(known);
    }
    let alias = match lower.as_str() {
        "gptimage" | "gpt-image-15" | "gptimage1.5" | "gptimage15.ai" | "gpt-image" => {
            Some("gptimage15")
        }
        "runbase.net" | "run-base" => Some("runbase"),
        "open-ai" | "openai.com" => Some("openai"),
        _ => None,
    };
    let hint = match alias {
        Some(a) => format!("did you mean `{a}`?"),
        None => format!("choose one of: {}", NAMES.join(", ")),
    };
    Err(CliError::new(Exit::Usage, format!("unknown provider `{name}`")).hint(hint))
}

/// How to reach a provider.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The key; `None` reads the provider's env var.
    pub key: Option<ApiKey>,
    /// The base URL; `None` reads `*_BASE_URL`, else the real host.
    pub base_url: Option<String>,
}

/// Builds provider `name` (already checked by [`check_name`]). Unset key
/// and base URL come from the provider's environment variables.
pub fn build(name: &str, endpoint: &Endpoint) -> Result<Arc<dyn ImageProvider>, Error> {
    let mut config = ProviderConfig::new();
    if let Some(key) = &endpoint.key {
        config = config.api_key(key.clone());
    }
    if let Some(url) = &endpoint.base_url {
        config = config.base_url(url.clone());
    }
    imagegen::provider(name, config)
}

/// The capabilities of provider `name`, without a key.
pub fn capabilities(name: &str) -> Result<Capabilities, Error> {
    let endpoint = Endpoint {
        key: Some(ApiKey::new("capabilities-only")),
        base_url: Some("http://127.0.0.1:9".into()),
    };
    Ok(build(name, &endpoint)?.capabilities().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_a_suggestion() {
        assert_eq!(check_name("RunBase").unwrap(), "runbase");
        let err = check_name("gptimage").unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `gptimage15`?"));
        let err = check_name("dalle").unwrap_err();
        assert_eq!(err.message, "unknown provider `dalle`");
        assert_eq!(err.exit, Exit::Usage);
    }
}
