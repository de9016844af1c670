//! Magic API keys: always accepted, each provoking one documented error that
//! has no other natural trigger (decisions; the real services have no such
//! keys).
//!
//! | key | effect |
//! |---|---|
//! | `sim-key-no-credits` | starts with 0 credits everywhere: runbase 402 `insufficient_balance`, gptimage15 402 envelope, OpenAI 429 `insufficient_quota` |
//! | `sim-key-usage-exceeded` | runbase: every request gets 429 `USAGE_EXCEEDED` (no `Retry-After`: retrying is useless) |
//! | `sim-key-spend-limit` | runbase: every request gets 403 `api_key_spend_limit_exceeded` |
//! | `sim-key-ip-not-allowed` | runbase: every request gets 403 `ip_not_allowed` |
//!
//! On the providers where a magic key has no listed effect it behaves like
//! `sim-key`.

/// Starts with zero credits on every provider.
pub const NO_CREDITS: &str = "sim-key-no-credits";
/// Runbase answers 429 `USAGE_EXCEEDED`.
pub const USAGE_EXCEEDED: &str = "sim-key-usage-exceeded";
/// Runbase answers 403 `api_key_spend_limit_exceeded`.
pub const SPEND_LIMIT: &str = "sim-key-spend-limit";
/// Runbase answers 403 `ip_not_allowed`.
pub const IP_NOT_ALLOWED: &str = "sim-key-ip-not-allowed";

/// Every magic key.
pub const ALL: [&str; 4] = [NO_CREDITS, USAGE_EXCEEDED, SPEND_LIMIT, IP_NOT_ALLOWED];

/// Whether `key` is a magic key.
pub fn is_magic(key: &str) -> bool {
    ALL.contains(&key)
}

/// The starting balance of `key`.
pub(crate) fn starting_credits(key: &str, default: u64) -> u64 {
    if key == NO_CREDITS { 0 } else { default }
}
