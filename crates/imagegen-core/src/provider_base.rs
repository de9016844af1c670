//! What every HTTP provider holds, whatever its wire format: an API key, a
//! base URL, a transport, its capabilities and the account id derived from
//! key and host.
//!
//! A provider crate keeps a [`ProviderBase`] in its struct and builds it in
//! its `from_config`; the base resolves the [`ProviderConfig`] against the
//! provider's environment variables, hides the key from `Debug`, and sends
//! one authorized request with the provider's request timeout. Everything
//! that makes a provider itself (paths, headers beyond `Authorization`,
//! bodies, status and error parsing) stays in the provider crate: this module
//! knows no wire format.
//!
//! ```
//! use std::fmt;
//! use imagegen_core::provider_base::{BaseUrl, ProviderBase, ProviderSpec};
//! use imagegen_core::{ApiKey, Capabilities, Error, HttpResponse, ProviderConfig};
//! # fn acme_capabilities() -> Capabilities { imagegen_core::capabilities::tests_support::runbase_like() }
//!
//! const SPEC: ProviderSpec =
//!     ProviderSpec::new("acme", "ACME_API_KEY", "ACME_BASE_URL", "https://api.acme.example/v1");
//!
//! #[derive(Clone)]
//! struct Acme {
//!     base: ProviderBase,
//!     root: BaseUrl,
//! }
//!
//! impl fmt::Debug for Acme {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         self.base.debug_struct(f, "Acme").finish_non_exhaustive()
//!     }
//! }
//!
//! impl Acme {
//!     fn from_config(config: ProviderConfig) -> Result<Self, Error> {
//!         let base = ProviderBase::from_config(SPEC, config, acme_capabilities())?;
//!         let root = base.parse_base_url()?;
//!         Ok(Acme { base, root })
//!     }
//!
//!     /// One `GET {base}/jobs/{id}`: the path is Acme's, the rest is shared.
//!     async fn job(&self, id: &str) -> Result<HttpResponse, Error> {
//!         let url = self.root.endpoint(&["jobs", id]);
//!         self.base.send(self.base.client().get(url)).await
//!     }
//! }
//!
//! let acme = Acme::from_config(
//!     ProviderConfig::new()
//!         .api_key(ApiKey::new("acme-secret"))
//!         .base_url("http://127.0.0.1:9/v1/"),
//! )?;
//! assert_eq!(acme.base.base_url(), "http://127.0.0.1:9/v1");
//! assert_eq!(acme.root.endpoint(&["jobs", "a/b"]).as_str(), "http://127.0.0.1:9/v1/jobs/a%2Fb");
//! assert!(!format!("{acme:?}").contains("acme-secret"));
//! assert!(!acme.base.account_id().contains("acme-secret"));
//! # Ok::<(), Error>(())
//! ```

use std::fmt;

use reqwest::{RequestBuilder, Url};

use crate::capabilities::Capabilities;
use crate::config::ProviderConfig;
use crate::error::Error;
use crate::secret::{self, ApiKey};
use crate::transport::{HttpResponse, HttpTransport};

/// A provider's name and where its key and base URL come from: the values a
/// provider crate publishes as its `NAME`, `API_KEY_VAR`, `BASE_URL_VAR` and
/// `DEFAULT_BASE_URL` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderSpec {
    /// The provider's name, in errors, logs, account ids and task handles.
    pub name: &'static str,
    /// The environment variable holding the API key.
    pub api_key_var: &'static str,
    /// The environment variable that overrides the base URL.
    pub base_url_var: &'static str,
    /// The real API's base URL.
    pub default_base_url: &'static str,
}

impl ProviderSpec {
    /// A spec from its four values, usable in a `const`.
    pub const fn new(
        name: &'static str,
        api_key_var: &'static str,
        base_url_var: &'static str,
        default_base_url: &'static str,
    ) -> Self {
        ProviderSpec {
            name,
            api_key_var,
            base_url_var,
            default_base_url,
        }
    }
}

/// The provider-neutral part of a provider instance: one API key on one base
/// URL, a transport, the provider's [`Capabilities`] and its account id.
///
/// `Debug` shows the name, the base URL and a fingerprint of the key, never
/// the key. See the [module docs](self) for an example.
#[derive(Clone)]
pub struct ProviderBase {
    spec: ProviderSpec,
    key: ApiKey,
    base_url: String,
    transport: HttpTransport,
    capabilities: Capabilities,
    account_id: String,
}

impl fmt::Debug for ProviderBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderBase")
            .field("name", &self.spec.name)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ProviderBase {
    /// Resolves `config` for the provider described by `spec`: unset fields
    /// come from `spec`'s environment variables and default base URL (see
    /// [`ProviderConfig::resolve`]). A missing key is an `Unauthorized` error
    /// naming the key variable; a base URL that is not `http(s)` is an
    /// `InvalidRequest` error.
    pub fn from_config(
        spec: ProviderSpec,
        config: ProviderConfig,
        capabilities: Capabilities,
    ) -> Result<Self, Error> {
        let resolved = config.resolve(
            spec.name,
            spec.api_key_var,
            spec.base_url_var,
            spec.default_base_url,
        )?;
        Ok(ProviderBase {
            account_id: secret::account_id(spec.name, &resolved.base_url, &resolved.api_key),
            spec,
            key: resolved.api_key,
            base_url: resolved.base_url,
            transport: resolved.transport,
            capabilities,
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The base URL in use, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// What the provider offers.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The account id: the provider's name and a fingerprint of base URL and
    /// key (see [`secret::account_id`]), for
    /// [`ImageProvider::account_id`](crate::ImageProvider::account_id).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The API key, for a provider that authenticates other than with
    /// [`authorize`](Self::authorize). Its `Debug` is redacted; only
    /// [`ApiKey::expose`] shows it.
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The HTTP client to build requests with (shared connection pool).
    pub fn client(&self) -> &reqwest::Client {
        self.transport.client()
    }

    /// The base URL parsed once, for providers that append path segments to
    /// it with [`BaseUrl::endpoint`]; called from the provider's constructor,
    /// it refuses an unusable base URL there, with an `InvalidRequest` error
    /// naming the base URL variable. It is not part of
    /// [`from_config`](Self::from_config) so that a provider that formats
    /// its URLs itself keeps reporting a malformed one where it always did:
    /// at the request.
    pub fn parse_base_url(&self) -> Result<BaseUrl, Error> {
        match Url::parse(&self.base_url) {
            Ok(url) if !url.cannot_be_a_base() => Ok(BaseUrl(url)),
            _ => Err(Error::invalid_request(format!(
                "base URL `{}` is not a valid URL",
                self.base_url
            ))
            .with_provider(self.spec.name)
            .with_hint(format!("check {} or --base-url", self.spec.base_url_var))),
        }
    }

    /// `request` with the key as `Authorization: Bearer <key>`, the usual
    /// scheme. A provider that authenticates otherwise builds its header from
    /// [`key`](Self::key) and sends with
    /// [`send_authorized`](Self::send_authorized).
    pub fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(self.key.expose())
    }

    /// Sends `request`, [authorized](Self::authorize), once (see
    /// [`HttpTransport::send`]) within the capabilities' request timeout.
    /// Any HTTP status is an `Ok`: the provider maps error statuses.
    pub async fn send(&self, request: RequestBuilder) -> Result<HttpResponse, Error> {
        self.send_authorized(self.authorize(request)).await
    }

    /// Sends `request` as it is, once, within the capabilities' request
    /// timeout: for a provider that added its credentials itself.
    pub async fn send_authorized(&self, request: RequestBuilder) -> Result<HttpResponse, Error> {
        self.transport
            .send(self.spec.name, request, self.capabilities.request_timeout)
            .await
    }

    /// Starts a provider's `Debug` output: `type_name { base_url, key }`
    /// with the key redacted. Add fields, then finish it.
    pub fn debug_struct<'a, 'b>(
        &self,
        f: &'a mut fmt::Formatter<'b>,
        type_name: &str,
    ) -> fmt::DebugStruct<'a, 'b> {
        let mut debug = f.debug_struct(type_name);
        debug
            .field("base_url", &self.base_url)
            .field("key", &self.key);
        debug
    }
}

/// A provider's base URL, parsed, that endpoint paths are appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// The base URL with `segments` appended, each percent-encoded as one
    /// path segment (so an id holding `/`, `?` or `#` stays one segment).
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::tests_support::runbase_like;
    use crate::error::ErrorKind;

    const SPEC: ProviderSpec = ProviderSpec::new(
        "acme",
        "IMAGEGEN_TEST_ACME_SURELY_UNSET_KEY",
        "IMAGEGEN_TEST_ACME_SURELY_UNSET_URL",
        "https://api.acme.example/v1",
    );

    fn base(url: &str, key: &str) -> Result<ProviderBase, Error> {
        ProviderBase::from_config(
            SPEC,
            ProviderConfig::new()
                .api_key(ApiKey::new(key))
                .base_url(url),
            runbase_like(),
        )
    }

    #[test]
    fn resolves_the_config_and_hides_the_key() {
        let base = base("http://127.0.0.1:9/v1/", "acme-super-secret").unwrap();
        assert_eq!(base.name(), "acme");
        assert_eq!(base.base_url(), "http://127.0.0.1:9/v1");
        assert_eq!(
            base.account_id(),
            secret::account_id("acme", "http://127.0.0.1:9/v1", base.key())
        );
        assert_eq!(base.capabilities(), &runbase_like());
        for shown in [
            format!("{base:?}"),
            format!("{:?}", Wrapper(&base)),
            base.account_id().to_owned(),
        ] {
            assert!(!shown.contains("super-secret"), "{shown}");
        }
        assert!(format!("{:?}", Wrapper(&base)).starts_with("Wrapper { base_url: "));
    }

    struct Wrapper<'a>(&'a ProviderBase);

    impl fmt::Debug for Wrapper<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.debug_struct(f, "Wrapper").finish_non_exhaustive()
        }
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let err =
            ProviderBase::from_config(SPEC, ProviderConfig::new(), runbase_like()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(err.to_string().contains(SPEC.api_key_var), "{err}");
    }

    #[test]
    fn endpoints_are_percent_encoded_segments() {
        let root = base("http://127.0.0.1:9/v1/", "k")
            .unwrap()
            .parse_base_url()
            .unwrap();
        assert_eq!(root.endpoint(&[]).as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(
            root.endpoint(&["runs", "a/b c?d"]).as_str(),
            "http://127.0.0.1:9/v1/runs/a%2Fb%20c%3Fd"
        );
        let root = base("http://127.0.0.1:9", "k")
            .unwrap()
            .parse_base_url()
            .unwrap();
        assert_eq!(
            root.endpoint(&["status"]).as_str(),
            "http://127.0.0.1:9/status"
        );
    }

    #[test]
    fn an_unusable_base_url_is_refused_by_parse_base_url_only() {
        let base = base("http://exa mple.com/v1", "k").expect("resolve only checks the scheme");
        let err = base.parse_base_url().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.provider(), Some("acme"));
        assert!(err.to_string().contains("is not a valid URL"), "{err}");
        assert!(err.hint().unwrap().contains(SPEC.base_url_var), "{err}");
    }
}
