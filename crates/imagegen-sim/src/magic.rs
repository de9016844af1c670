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
//! On the four newer sellers `sim-key-no-credits` gives each one's own
//! out-of-credit answer (fal 403 `User is locked. Reason: Exhausted
//! balance...`, Replicate 402 `Insufficient credit`, Azure 403 `Out of call
//! volume quota...`, WaveSpeed HTTP 402 envelope `code: 402`) and
//! `sim-key-ip-not-allowed` gives Azure's 403 `Access denied due to Virtual
//! Network/Firewall rules.`. On the providers where a magic key has no listed
//! effect it behaves like `sim-key`.
//!
//! ## Magic prompts
//!
//! A prompt that *contains* one of these markers (anywhere, case-sensitive)
//! fails in a fixed way, so tests need no dice:
//!
//! | marker | effect |
//! |---|---|
//! | `sim:content-policy` | the provider's content-policy refusal: runbase run `failed`, gptimage15 task `FAILED` (refunded), OpenAI 400 `moderation_blocked`, fal result 422 `content_policy_violation`, Replicate prediction `failed` (refunded), Azure 400 `contentFilter`, WaveSpeed task `failed` (refunded) |
//! | `sim:server-error` | (the four newer sellers only) the model run fails with a server error: fal result 500 (refunded: "5xx are not billed"), Replicate `failed` with an internal error (refunded), Azure 500 (not charged), WaveSpeed `failed` (refunded) |

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

/// A prompt containing this fails with the provider's content-policy refusal.
pub const CONTENT_POLICY_PROMPT: &str = "sim:content-policy";
/// A prompt containing this fails with a server error (newer sellers only).
pub const SERVER_ERROR_PROMPT: &str = "sim:server-error";

/// How a magic prompt makes a task fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PromptFailure {
    /// Refused by the safety system.
    ContentPolicy,
    /// The model run broke (a 5xx on the providers that show one).
    ServerError,
}

/// The failure a magic prompt asks for, if any.
pub(crate) fn prompt_failure(prompt: &str) -> Option<PromptFailure> {
    if prompt.contains(CONTENT_POLICY_PROMPT) {
        Some(PromptFailure::ContentPolicy)
    } else if prompt.contains(SERVER_ERROR_PROMPT) {
        Some(PromptFailure::ServerError)
    } else {
        None
    }
}

/// Whether `prompt` asks for a content-policy refusal.
pub(crate) fn blocked(prompt: &str) -> bool {
    prompt_failure(prompt) == Some(PromptFailure::ContentPolicy)
}
