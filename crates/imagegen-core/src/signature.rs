//! Verifying signed webhook calls, for codecs.
//!
//! A provider that signs its webhooks tells its codec how: which headers,
//! which message, which key. The cryptography and the checks every scheme
//! shares live here, once: HMAC-SHA256 compared in constant time, ED25519,
//! and a timestamp tolerance against replays. [`standard_webhook`] verifies
//! the [Standard Webhooks](https://www.standardwebhooks.com) scheme
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<sig> ...`,
//! HMAC over `id.timestamp.body`) with a version and digest encoding of the
//! provider's choosing.
//!
//! Every failure is an [`ErrorKind::Unauthorized`] error that says what did
//! not match, never what would have.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind};
use crate::webhook::WebhookCall;

/// The usual tolerance between a webhook's timestamp and its arrival.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

fn refused(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unauthorized, why).with_retryable(false)
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The SHA-256 digest of `bytes` in lower-case hex, as schemes that sign a
/// digest of the body in place of the body write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The value of header `name` of `call`, or a refusal naming the header.
pub fn header<'a>(call: &'a WebhookCall, name: &str) -> Result<&'a str, Error> {
    call.header(name)
        .ok_or_else(|| refused(format!("the webhook call has no `{name}` header")))
}

/// The refusal of every webhook call when nothing to verify them with is
/// configured: the hint names the variable `var` to set.
pub fn unverifiable(var: &str) -> Error {
    refused("webhook calls are refused: no key or secret to verify them with is configured")
        .with_hint(format!("set {var}"))
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`
/// (a secret without the prefix is taken as base64 as a whole). Text that
/// is not base64 is an `InvalidRequest` error.
///
/// ```
/// use imagegen_core::signature::standard_secret;
/// assert_eq!(standard_secret("whsec_aGk=").unwrap(), b"hi");
/// assert!(standard_secret("whsec_%%%").is_err());
/// ```
pub fn standard_secret(secret: &str) -> Result<Vec<u8>, Error> {
    let text = secret.trim();
    let text = text.strip_prefix("whsec_").unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::invalid_request("a webhook secret is `whsec_` and base64"))
}

/// ED25519 public keys from a setting: a comma-separated list of keys,
/// each 32 bytes in hex (blanks ignored). A key that is not is an
/// `InvalidRequest` error naming it.
///
/// ```
/// use imagegen_core::signature::ed25519_keys;
/// let key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// assert_eq!(ed25519_keys(&format!(" {key}, ")).unwrap(), [key]);
/// assert!(ed25519_keys("abc").is_err());
/// assert!(ed25519_keys("").unwrap().is_empty());
/// ```
pub fn ed25519_keys(list: &str) -> Result<Vec<String>, Error> {
    let keys = list.split(',').map(str::trim).filter(|k| !k.is_empty());
    keys.map(|key| match hex::decode(key) {
        Ok(bytes) if bytes.len() == 32 => Ok(key.to_owned()),
        _ => Err(Error::invalid_request(format!(
            "`{key}` is not an ED25519 public key (64 hex digits)"
        ))),
    })
    .collect()
}

/// Whether `a` and `b` are equal, in time that does not depend on where
/// they differ.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks that `timestamp` (Unix seconds, as text) is within `tolerance`
/// of `now`, either way.
pub fn fresh(timestamp: &str, now: SystemTime, tolerance: Duration) -> Result<(), Error> {
    let seconds: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| refused("the webhook's timestamp is not a number of seconds"))?;
    let sent = UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| refused("the webhook's timestamp is out of range"))?;
    let skew = now.duration_since(sent).unwrap_or_else(|e| e.duration());
    if skew > tolerance {
        return Err(refused(format!(
            "the webhook's timestamp is {}s away from now; at most {}s is accepted",
            skew.as_secs(),
            tolerance.as_secs()
        )));
    }
    Ok(())
}

/// How a signature's bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Standard base64.
    Base64,
    /// Lower- or upper-case hex.
    Hex,
}

impl Encoding {
    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok(),
            Encoding::Hex => hex::decode(text.trim()).ok(),
        }
    }
}

/// Verifies a Standard-Webhooks-style call: `webhook-id`,
/// `webhook-timestamp` (within `tolerance` of the call's arrival) and
/// `webhook-signature`, a space-separated list of `version,signature`
/// entries of which one must be the HMAC-SHA256 of
/// `{id}.{timestamp}.{raw body}` under `key`, written in `encoding`.
///
/// ```
/// use imagegen_core::signature::{Encoding, hmac_sha256, standard_webhook};
/// use imagegen_core::WebhookCall;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// let key = b"secret";
/// let sig = hex::encode(hmac_sha256(key, &[b"msg_1.1700000000.", b"{}"]));
/// let mut headers = http::HeaderMap::new();
/// headers.insert("webhook-id", "msg_1".parse().unwrap());
/// headers.insert("webhook-timestamp", "1700000000".parse().unwrap());
/// headers.insert("webhook-signature", format!("v3,{sig}").parse().unwrap());
/// let mut call = WebhookCall::new(headers, "{}", None);
/// call.received_at = UNIX_EPOCH + Duration::from_secs(1_700_000_010);
/// standard_webhook(&call, key, "v3", Encoding::Hex, Duration::from_secs(300)).unwrap();
/// assert!(standard_webhook(&call, b"other", "v3", Encoding::Hex, Duration::from_secs(300)).is_err());
/// ```
pub fn standard_webhook(
    call: &WebhookCall,
    key: &[u8],
    version: &str,
    encoding: Encoding,
    tolerance: Duration,
) -> Result<(), Error> {
    let id = header(call, "webhook-id")?;
    let timestamp = header(call, "webhook-timestamp")?;
    let signatures = header(call, "webhook-signature")?;
    fresh(timestamp, call.received_at, tolerance)?;
    let expected = hmac_sha256(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", &call.body],
    );
    let matches = signatures
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(v, _)| *v == version)
        .filter_map(|(_, signature)| encoding.decode(signature))
        .any(|signature| equal(&signature, &expected));
    if matches {
        Ok(())
    } else {
        Err(refused(format!(
            "no `{version}` signature of the webhook call matches the configured secret"
        )))
    }
}

/// Verifies an ED25519 `signature` (hex) of `message` against any of
/// `public_keys` (each 32 bytes, hex). With no key at all, every call is
/// refused, saying that none is configured.
pub fn ed25519<K: AsRef<str>>(
    public_keys: &[K],
    message: &[u8],
    signature: &str,
) -> Result<(), Error> {
    if public_keys.is_empty() {
        return Err(refused(
            "webhook calls are refused: no public key to verify their signature with is configured",
        ));
    }
    let signature: [u8; 64] = hex::decode(signature.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| refused("the webhook's signature is not 64 bytes of hex"))?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    for key in public_keys {
        let Some(key) = hex::decode(key.as_ref().trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok())
        else {
            continue;
        };
        if key.verify_strict(message, &signature).is_ok() {
            return Ok(());
        }
    }
    Err(refused(
        "the webhook's signature matches none of the configured public keys",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn call(id: &str, ts: &str, signature: &str, body: &str, now: u64) -> WebhookCall {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", ts.parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        let mut call = WebhookCall::new(headers, body.to_owned(), None);
        call.received_at = UNIX_EPOCH + Duration::from_secs(now);
        call
    }

    #[test]
    fn standard_webhooks_accept_one_matching_entry_and_refuse_the_rest() {
        let key = b"0123456789abcdef";
        let sig = base64::engine::general_purpose::STANDARD
            .encode(hmac_sha256(key, &[b"msg_1.1700000000.", br#"{"id":"p1"}"#]));
        let tolerance = DEFAULT_TOLERANCE;
        let good = format!("v1,bm9wZQ== v1,{sig}");
        let ok = call(
            "msg_1",
            "1700000000",
            &good,
            r#"{"id":"p1"}"#,
            1_700_000_060,
        );
        standard_webhook(&ok, key, "v1", Encoding::Base64, tolerance).unwrap();

        for (label, bad) in [
            (
                "wrong secret",
                standard_webhook(&ok, b"another key", "v1", Encoding::Base64, tolerance),
            ),
            (
                "wrong version",
                standard_webhook(&ok, key, "v2", Encoding::Base64, tolerance),
            ),
            (
                "altered body",
                standard_webhook(
                    &call(
                        "msg_1",
                        "1700000000",
                        &good,
                        r#"{"id":"p2"}"#,
                        1_700_000_060,
                    ),
                    key,
                    "v1",
                    Encoding::Base64,
                    tolerance,
                ),
            ),
            (
                "stale timestamp",
                standard_webhook(
                    &call(
                        "msg_1",
                        "1700000000",
                        &good,
                        r#"{"id":"p1"}"#,
                        1_700_000_301,
                    ),
                    key,
                    "v1",
                    Encoding::Base64,
                    tolerance,
                ),
            ),
            (
                "from the future",
                standard_webhook(
                    &call(
                        "msg_1",
                        "1700000000",
                        &good,
                        r#"{"id":"p1"}"#,
                        1_699_999_000,
                    ),
                    key,
                    "v1",
                    Encoding::Base64,
                    tolerance,
                ),
            ),
            (
                "not a number",
                standard_webhook(
                    &call("msg_1", "soon", &good, r#"{"id":"p1"}"#, 1_700_000_060),
                    key,
                    "v1",
                    Encoding::Base64,
                    tolerance,
                ),
            ),
        ] {
            let err = bad.expect_err(label);
            assert_eq!(err.kind(), ErrorKind::Unauthorized, "{label}");
        }
        let missing = WebhookCall::new(HeaderMap::new(), "{}", None);
        let err = standard_webhook(&missing, key, "v1", Encoding::Base64, tolerance).unwrap_err();
        assert!(err.message().contains("webhook-id"), "{err}");
    }

    #[test]
    fn ed25519_signatures_verify_against_any_configured_key() {
        use ed25519_dalek::{Signer, SigningKey};
        let signer = SigningKey::from_bytes(&[7u8; 32]);
        let public = hex::encode(signer.verifying_key().to_bytes());
        let other = hex::encode(
            SigningKey::from_bytes(&[8u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        let signature = hex::encode(signer.sign(b"message").to_bytes());
        ed25519(&[&other, &public], b"message", &signature).unwrap();
        assert!(ed25519(&[&other], b"message", &signature).is_err());
        assert!(ed25519(&[&public], b"massage", &signature).is_err());
        assert!(ed25519(&[&public], b"message", "zz").is_err());
        assert!(ed25519(&["not hex"], b"message", &signature).is_err());
        let none: [&str; 0] = [];
        let err = ed25519(&none, b"message", &signature).unwrap_err();
        assert!(err.message().contains("no public key"), "{err}");
    }

    #[test]
    fn helpers_for_other_schemes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let call = call("msg_1", "1", "v1,x", "{}", 1);
        assert_eq!(header(&call, "webhook-id").unwrap(), "msg_1");
        let err = header(&call, "x-other").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(err.message().contains("`x-other`"), "{err}");
        let err = unverifiable("ACME_WEBHOOK_SECRET");
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(!err.is_retryable());
        assert_eq!(err.hint(), Some("set ACME_WEBHOOK_SECRET"));
        let key = hex::encode([7u8; 32]);
        assert_eq!(ed25519_keys(&format!("{key},{key}")).unwrap().len(), 2);
        let err = ed25519_keys(&format!("{key}, 00ff")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.message().contains("`00ff`"), "{err}");
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
