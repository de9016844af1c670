//! How a provider instance is configured: key, base URL, HTTP transport.
//!
//! Every provider crate takes a [`ProviderConfig`] so that the facade, the
//! CLI and applications can build any provider the same way. Unset fields
//! come from the provider's documented environment variables.

use crate::error::Error;
use crate::secret::{ApiKey, base_url_from_env};
use crate::transport::HttpTransport;

/// Settings for one provider instance; anything left `None` is read from
/// the environment (or the provider's default base URL).
///
/// ```
/// use imagegen_core::{ApiKey, ProviderConfig};
/// let config = ProviderConfig::new()
///     .api_key(ApiKey::new("sim-key"))
///     .base_url("http://127.0.0.1:8787/runbase/api/v1");
/// let env = config.resolve("runbase", "RUNBASE_API_KEY", "RUNBASE_BASE_URL", "https://runbase.net/api/v1").unwrap();
/// assert_eq!(env.base_url, "http://127.0.0.1:8787/runbase/api/v1");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    /// The API key; `None` reads the provider's `*_API_KEY` variable.
    pub api_key: Option<ApiKey>,
    /// The base URL; `None` reads `*_BASE_URL`, else the real host.
    pub base_url: Option<String>,
    /// The HTTP transport; share one to share the connection pool.
    pub transport: Option<HttpTransport>,
}

/// A [`ProviderConfig`] with every field decided.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The API key.
    pub api_key: ApiKey,
    /// The base URL, without a trailing slash.
    pub base_url: String,
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
    /// Uses this transport.
    pub fn transport(mut self, transport: HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Fills the gaps from `key_var`, `base_url_var` and `default_base_url`.
    /// A missing key is an error naming `key_var`.
    pub fn resolve(
        self,
        provider: &str,
        key_var: &str,
        base_url_var: &str,
        default_base_url: &str,
    ) -> Result<ResolvedConfig, Error> {
        let api_key = match self.api_key {
            Some(key) => key,
            None => ApiKey::from_env(key_var, provider)?,
        };
        let base_url = match self.base_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => base_url_from_env(base_url_var, default_base_url),
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::invalid_request(format!(
                "base URL `{base_url}` must start with http:// or https://"
            ))
            .with_provider(provider)
            .with_hint(format!("check {base_url_var} or --base-url")));
        }
        Ok(ResolvedConfig {
            api_key,
            base_url,
            transport: self.transport.unwrap_or_default(),
        })
    }
}
