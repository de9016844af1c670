//! Fault injection: which faults exist, and the seeded dice that decide them.
//!
//! Every provider request (not `/files` nor `/_sim`) draws a request number
//! from one counter; each fault kind then rolls `hash(seed, number, kind)`
//! against its probability. So the same seed and the same order of requests
//! give the same faults, whatever else is configured.
//!
//! Where each fault strikes (decisions):
//! - `burst_429`: before anything else is done with an authenticated request;
//!   the burst covers this request and the next `burst_len - 1` ones of the
//!   same key on the same provider (`burst_len` 0 means 3). Runbase answers
//!   `RATE_LIMITED`, OpenAI `rate_limit_exceeded`, gptimage15 an envelope
//!   with code 429; all with `Retry-After: 1`.
//! - `create_500` / `status_500`: a 500 before any validation; nothing recorded.
//! - `drop_before_accept`: creates only; the connection is closed once the
//!   body is read; nothing is recorded or charged.
//! - `drop_after_accept`: creates only; the task is created and charged (an
//!   OpenAI image is generated and charged), then the connection is closed
//!   without a response.
//! - `slow_response`: a successful answer is held for `slow_response_delay_ms`
//!   (5000 ms when 0) after the work is done (a create is already recorded).
//! - `malformed_json`: a successful answer's body is cut in half (still
//!   `content-type: application/json`); the work is done and recorded. This
//!   strikes creates too, so a charged task's id can be lost.
//! - `malformed_status_json`: the same, on successful status answers only
//!   (runbase `GET /runs/{id}`, gptimage15 `/status` and `/v2/status`): the
//!   poll is counted (and an undocumented first status used up) as usual,
//!   and creates are never cut, so no charged task's id is lost. Rolled
//!   independently of `malformed_json`.
//! - `generation_failure`: decided at create; the task ends `failed` /
//!   `FAILED` with a content-policy message; OpenAI answers 400
//!   `moderation_blocked` (not charged).
//! - `gptimage15_numeric_status`, `gptimage15_string_encoded`: per status answer.
//! - `unknown_status`: decided at create; the task's first poll shows an
//!   undocumented status (runbase `warming_up`, gptimage15 `RUNNING_SLOWLY`,
//!   `2` on `/v2/status`), then it follows its normal course.

use serde::{Deserialize, Serialize};

/// Probabilities (0.0 ..= 1.0, default 0) of each injected fault.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    /// A create answers 500 (nothing recorded).
    pub create_500: f64,
    /// A status poll answers 500.
    pub status_500: f64,
    /// A request starts a burst of 429s (`RATE_LIMITED` with `Retry-After`).
    pub burst_429: f64,
    /// Length of a 429 burst, in requests (0 means 3).
    pub burst_len: u32,
    /// A create's connection is closed before anything is recorded.
    pub drop_before_accept: f64,
    /// A create is accepted and charged, then its connection is dropped.
    pub drop_after_accept: f64,
    /// A successful answer is delayed by `slow_response_delay_ms`.
    pub slow_response: f64,
    /// Delay of a slow answer in milliseconds (0 means 5000).
    pub slow_response_delay_ms: u64,
    /// A successful answer's JSON body is truncated (creates included).
    pub malformed_json: f64,
    /// A successful status (poll) answer's JSON body is truncated; creates
    /// are left whole.
    pub malformed_status_json: f64,
    /// A task ends `FAILED` / `failed` with a content-policy message.
    pub generation_failure: f64,
    /// gptimage15 `/status` answers a numeric status (0 / 1 / -1).
    pub gptimage15_numeric_status: f64,
    /// gptimage15 `/status` answers `response` and `request` as JSON strings,
    /// spells `consumed_credit`, and dates `YYYY-MM-DD HH:MM:SS`.
    pub gptimage15_string_encoded: f64,
    /// A task first shows an undocumented status before moving on.
    pub unknown_status: f64,
}

impl FaultConfig {
    /// The burst length actually used.
    pub(crate) fn effective_burst_len(&self) -> u32 {
        if self.burst_len == 0 {
            3
        } else {
            self.burst_len
        }
    }

    /// The slow-answer delay actually used.
    pub(crate) fn effective_slow_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(if self.slow_response_delay_ms == 0 {
            5_000
        } else {
            self.slow_response_delay_ms
        })
    }
}

/// Each fault kind, as a salt for the dice.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    Create500 = 1,
    Status500,
    Burst429,
    DropBeforeAccept,
    DropAfterAccept,
    SlowResponse,
    MalformedJson,
    GenerationFailure,
    NumericStatus,
    StringEncoded,
    UnknownStatus,
    // New kinds go last: the discriminant salts the dice, so inserting one
    // would change which requests every later kind strikes for a seed.
    MalformedStatusJson,
}

/// SplitMix64 finalizer: a cheap, good 64-bit mix.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The dice of one request: its number, the seed, and the faults in force.
#[derive(Clone, Debug)]
pub(crate) struct Dice {
    pub seed: u64,
    pub request_no: u64,
    pub faults: FaultConfig,
}

impl Dice {
    /// A uniform value in [0, 1) for `salt`.
    fn unit(&self, salt: u64) -> f64 {
        let h = mix(mix(self.seed ^ mix(self.request_no)) ^ salt);
        (h >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether `fault` strikes this request.
    pub fn roll(&self, fault: Fault) -> bool {
        let p = match fault {
            Fault::Create500 => self.faults.create_500,
            Fault::Status500 => self.faults.status_500,
            Fault::Burst429 => self.faults.burst_429,
            Fault::DropBeforeAccept => self.faults.drop_before_accept,
            Fault::DropAfterAccept => self.faults.drop_after_accept,
            Fault::SlowResponse => self.faults.slow_response,
            Fault::MalformedJson => self.faults.malformed_json,
            Fault::GenerationFailure => self.faults.generation_failure,
            Fault::NumericStatus => self.faults.gptimage15_numeric_status,
            Fault::StringEncoded => self.faults.gptimage15_string_encoded,
            Fault::UnknownStatus => self.faults.unknown_status,
            Fault::MalformedStatusJson => self.faults.malformed_status_json,
        };
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit(fault as u64) < p
    }

    /// A random 64-bit value for `salt` (ids, jitter).
    pub fn value(&self, salt: u64) -> u64 {
        mix(mix(self.seed ^ mix(self.request_no)) ^ salt.wrapping_mul(0x100_0000_01B3))
    }
}

/// Closes the client's connection without an answer.
///
/// The handler unwinds with `resume_unwind` (which skips the panic hook, so
/// nothing is logged); the connection task spawned by axum dies with it and
/// the socket is closed. The client sees a transport error (connection closed
/// or reset before a response), never an HTTP status.
pub(crate) fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("imagegen-sim: connection dropped on purpose"))
}
