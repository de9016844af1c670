//! API keys that never show up in logs or `Debug` output.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// An API key. `Debug` and `Display` print `ApiKey(…)` with a short
/// fingerprint, never the key, so keys cannot leak through logs, panics or
/// error messages.
///
/// ```
/// use imagegen_core::ApiKey;
/// let key = ApiKey::new("sk-very-secret");
/// assert!(!format!("{key:?}").contains("secret"));
/// assert_eq!(key.expose(), "sk-very-secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(Arc::from(key.into()))
    }

    /// Reads the key from the environment variable `var`.
    ///
    /// A missing or empty variable is an [`ErrorKind::Unauthorized`] error
    /// whose message names the variable and how to set it.
    pub fn from_env(var: &str, provider: &str) -> Result<Self, Error> {
        match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(ApiKey::new(key.trim())),
            _ => Err(Error::new(
                ErrorKind::Unauthorized,
                format!("no API key: {var} is not set"),
            )
            .with_provider(provider)
            .with_hint(format!("export {var}=<your {provider} API key>"))),
        }
    }

    /// The key itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible fingerprint (12 hex digits of SHA-256), safe to
    /// log and to use as part of an account id.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..6])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(…{})", self.fingerprint())
    }
}

/// The account id for a provider instance: provider name plus a fingerprint
/// of base URL and key. Two instances with the same key on the same host share
/// budgets; the key itself is never part of it.
pub fn account_id(provider: &str, base_url: &str, key: &ApiKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(base_url.trim_end_matches('/').as_bytes());
    hasher.update([0]);
    hasher.update(key.expose().as_bytes());
    format!("{provider}:{}", hex::encode(&hasher.finalize()[..8]))
}

/// The base URL from `var` when it is set, `default` otherwise; a trailing
/// slash is removed so paths can be appended with `format!("{base}/runs")`.
pub fn base_url_from_env(var: &str, default: &str) -> String {
    let url = std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("sk-live-abcdef123456");
        let shown = format!("{key:?}");
        assert!(!shown.contains("abcdef"), "{shown}");
        assert!(shown.starts_with("ApiKey(…"));
    }

    #[test]
    fn account_id_depends_on_key_and_host_but_hides_the_key() {
        let a = account_id("runbase", "http://h/api", &ApiKey::new("k1"));
        let b = account_id("runbase", "http://h/api/", &ApiKey::new("k1"));
        let c = account_id("runbase", "http://h/api", &ApiKey::new("k2"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(!a.contains("k1"));
    }

    #[test]
    fn missing_env_key_names_the_variable() {
        let err = ApiKey::from_env("IMAGEGEN_TEST_SURELY_UNSET_KEY", "runbase").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(
            err.to_string()
                .contains("IMAGEGEN_TEST_SURELY_UNSET_KEY is not set")
        );
        assert!(
            err.to_string()
                .contains("export IMAGEGEN_TEST_SURELY_UNSET_KEY=")
        );
    }
}
