//! How a provider instance is configured: key, base URL, settings, HTTP
//! transport.
//!
//! Every provider is built from a [`ProviderConfig`] so that the facade,
//! the CLI and applications build any provider the same way. Anything left
//! unset is read from the environment variables its
//! [`ProviderSpec`](crate::codec::ProviderSpec) names, then from the spec's
//! defaults.

use std::collections::BTreeMap;

use crate::codec::{ProviderSpec, Settings};
use crate::error::Error;
use crate::secret::ApiKey;
use crate::transport::HttpTransport;

/// Settings for one provider instance; anything left `None` is read from
/// the environment (or the provider's default).
///
/// ```
/// use imagegen_core::{ApiKey, ProviderConfig};
/// let config = ProviderConfig::new()
///     .api_key(ApiKey::new("sim-key"))
///     .base_url("http://127.0.0.1:8787/acme/v1")
///     .setting("model", "gpt-image-1.5");
/// assert_eq!(config.base_url.as_deref(), Some("http://127.0.0.1:8787/acme/v1"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The API key; `None` reads the provider's key variable.
    pub api_key: Option<ApiKey>,
    /// The base URL; `None` reads the base-URL variable, else the real host.
    pub base_url: Option<String>,
    /// Provider settings by name (see [`ProviderSpec::settings`]); those
    /// not given are read from their variables or defaults.
    pub settings: BTreeMap<String, String>,
    /// The HTTP transport; share one to share the connection pool.
    pub transport: Option<HttpTransport>,
}

/// A [`ProviderConfig`] with every field decided.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolvedConfig {
    /// The API key.
    pub api_key: ApiKey,
    /// The base URL, without a trailing slash.
    pub base_url: String,
    /// Every setting the spec names that has a value.
    pub settings: Settings,
    /// The transport.
    pub transport: HttpTransport,
}

impl ProviderConfig {
    /// Everything from the environment.
    pub fn new() -> Self {
        ProviderConfig::default()
    }
    /// Uses this key instead of the environment's.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }
    /// Uses this base URL (a gateway, the simulator) instead of the real host.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Sets provider setting `name` (a model, an API version).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }
    /// Uses this transport.
    pub fn transport(mut self, transport: HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Fills the gaps from `spec`'s environment variables and defaults. A
    /// missing key is an `Unauthorized` error naming the key variable; a
    /// setting the spec does not name is an `InvalidRequest` error listing
    /// the ones it does.
    pub fn resolve(self, spec: &ProviderSpec) -> Result<ResolvedConfig, Error> {
        let api_key = match self.api_key {
            Some(key) => key,
            None => ApiKey::from_env(spec.api_key_var, spec.name)?,
        };
        let base_url = self
            .base_url
            .or_else(|| env(spec.base_url_var))
            .unwrap_or_else(|| spec.default_base_url.to_owned())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let mut settings = Settings::default();
        for (name, value) in self.settings {
            if !spec.settings.iter().any(|s| s.name == name) {
                let known: Vec<&str> = spec.settings.iter().map(|s| s.name).collect();
                return Err(Error::invalid_request(format!(
                    "{} has no setting `{name}`; it has: {}",
                    spec.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
                .with_provider(spec.name));
            }
            settings.set(name, value);
        }
        for setting in spec.settings {
            if settings.get(setting.name).is_none()
                && let Some(value) = env(setting.var).or(setting.default.map(str::to_owned))
            {
                settings.set(setting.name, value);
            }
        }
        Ok(ResolvedConfig {
            api_key,
            base_url,
            settings,
            transport: self.transport.unwrap_or_default(),
        })
    }
}

/// The trimmed value of environment variable `var`, if set and not blank.
fn env(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
