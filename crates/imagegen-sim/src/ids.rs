//! The ids the sim hands out: task ids, request ids, prediction ids.
//!
//! Every id is drawn from two numbers: the simulator's **instance tag** (64
//! bits) and a **counter** that grows by one per id. The pair goes through
//! a keyed permutation (a four-round Feistel network over as many bits as the
//! seller's id style holds, keyed by the seed and the seller) and the result
//! is written in the seller's style:
//!
//! | seller | id | bits |
//! |---|---|---|
//! | Runbase | `run_` + 24 hex digits | 96: tag 64, counter 32 |
//! | gptimage15 | `n` + 2 digits (counter mod 100) + 24 hex digits + `gptimg` (the page's `n36abc123def456gptimg`, longer) | 96: tag 64, counter 32 |
//! | OpenAI | `x-request-id: req_` + 32 hex digits | 128: tag 64, counter 64 |
//! | fal | UUID v4 `request_id` | 122: tag 64, counter 58 |
//! | Replicate | 26 characters of `[0-9a-z]` (no `i`, `l`, `o`, `u`) | 128: tag 64, counter 64 |
//! | Azure | UUID v4 `apim-request-id` / `x-request-id` | 122: tag 64, counter 58 |
//! | WaveSpeed | 32 hex digits | 128: tag 64, counter 64 |
//!
//! Since a permutation never maps two inputs to one output, two ids of one
//! instance never collide (the counter differs), and two instances never
//! hand out the same id unless their tags are equal.
//!
//! - [`IdMode::Unique`] (the default): the tag is random (the OS's random
//!   source mixed with the clock and the process id), drawn at each start, so
//!   two simulators, one after the other or side by side, never hand out the
//!   same id (one chance in 2^64). A client that kept an id from a previous
//!   simulator gets a 404 for it, never another task's answer.
//! - [`IdMode::Seeded`]: the tag comes from the seed, so the same seed and
//!   the same order of requests give the same ids (and so the same images).
//!   For tests that need fixed ids; two such simulators with one seed hand
//!   out the same ids.
//!
//! With a state dir ([`crate::SimConfig::state_dir`]) the counter is
//! persisted too (in blocks, see [`crate::persist`]): a restarted simulator
//! goes on counting where the last one stopped, so its ids differ from the
//! earlier ones in both modes, even if the tags were equal.

use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::faults::mix;

/// How the sim draws the ids it hands out (see [`crate::ids`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IdMode {
    /// Ids unique to this simulator instance: a random tag drawn at start
    /// is mixed into every id. The default.
    #[default]
    Unique,
    /// Ids derived from the seed and the order of creation only: the same
    /// seed gives the same ids in every simulator. For tests.
    Seeded,
}

impl IdMode {
    /// `unique` or `seeded`.
    pub fn label(self) -> &'static str {
        match self {
            IdMode::Unique => "unique",
            IdMode::Seeded => "seeded",
        }
    }
}

/// Makes ids from the instance tag and a counter value.
#[derive(Clone, Debug)]
pub(crate) struct IdMint {
    tag: u64,
    seed: u64,
}

/// A fresh random tag: the OS's random source, the clock and the process id.
fn random_tag() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let r: u64 = rand::random();
    mix(r ^ mix(nanos ^ mix(u64::from(std::process::id()))))
}

/// A four-round Feistel permutation of the `2 * half` low bits of `x`
/// (`half` <= 64), keyed by `key`.
fn permute(x: u128, half: u32, key: u64) -> u128 {
    let mask: u64 = if half >= 64 {
        u64::MAX
    } else {
        (1u64 << half) - 1
    };
    let mut l = ((x >> half) as u64) & mask;
    let mut r = (x as u64) & mask;
    for round in 0..4u64 {
        let f = mix(r ^ mix(key ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15))) & mask;
        (l, r) = (r, l ^ f);
    }
    (u128::from(l) << half) | u128::from(r)
}

impl IdMint {
    pub fn new(mode: IdMode, seed: u64) -> Self {
        let tag = match mode {
            IdMode::Unique => random_tag(),
            IdMode::Seeded => mix(seed ^ 0x5EED_1D5E_ED1D_5EED),
        };
        IdMint { tag, seed }
    }

    /// The instance tag.
    #[cfg(test)]
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// `bits` bits (2 * half) holding the tag above `counter_bits` bits of `n`,
    /// permuted with the key of `provider`.
    fn draw(&self, provider: Provider, n: u64, half: u32, counter_bits: u32) -> u128 {
        let total = 2 * half;
        let counter_mask: u128 = (1u128 << counter_bits) - 1;
        let tag_bits = total - counter_bits;
        let tag = if tag_bits >= 64 {
            u128::from(self.tag)
        } else {
            u128::from(self.tag) & ((1u128 << tag_bits) - 1)
        };
        let x = (tag << counter_bits) | (u128::from(n) & counter_mask);
        let key = mix(self.seed ^ mix((provider as u64 + 1) << 56));
        permute(x, half, key)
    }

    /// Id number `n` of `provider`, in the seller's style.
    pub fn id(&self, provider: Provider, n: u64) -> String {
        match provider {
            Provider::Runbase => {
                let x = self.draw(provider, n, 48, 32);
                format!("run_{x:024x}")
            }
            Provider::Gptimage15 => {
                let x = self.draw(provider, n, 48, 32);
                format!("n{:02}{x:024x}gptimg", n % 100)
            }
            Provider::Openai => {
                let x = self.draw(provider, n, 64, 64);
                format!("req_{x:032x}")
            }
            // A UUID v4, like fal's request ids and Azure's request ids:
            // 122 free bits around the version and variant.
            Provider::Fal | Provider::Azure => {
                let x = self.draw(provider, n, 61, 58);
                let a = (x >> 74) as u64; // 48 bits
                let b = ((x >> 62) & 0xfff) as u64; // 12 bits
                let c = (x & ((1u128 << 62) - 1)) as u64; // 62 bits
                format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    a >> 16,
                    a & 0xffff,
                    b,
                    0x8000 | (c >> 48),
                    c & 0xffff_ffff_ffff
                )
            }
            // 26 characters of [0-9a-z], like Replicate's prediction ids.
            Provider::Replicate => {
                const DIGITS: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
                let mut x = self.draw(provider, n, 64, 64);
                let mut id = String::with_capacity(26);
                for _ in 0..26 {
                    id.push(DIGITS[(x % 32) as usize] as char);
                    x /= 32;
                }
                id
            }
            // 32 hex digits, like WaveSpeed's task ids.
            Provider::Wavespeed => {
                let x = self.draw(provider, n, 64, 64);
                format!("{x:032x}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn permute_is_a_bijection_on_small_widths() {
        for half in [3u32, 5] {
            let n = 1u128 << (2 * half);
            let seen: HashSet<u128> = (0..n).map(|x| permute(x, half, 42)).collect();
            assert_eq!(seen.len() as u128, n);
            assert!(seen.iter().all(|&y| y < n));
        }
    }

    #[test]
    fn ids_are_unique_per_instance_and_across_instances() {
        for provider in Provider::ALL {
            let a = IdMint::new(IdMode::Unique, 1);
            let b = IdMint::new(IdMode::Unique, 1);
            assert_ne!(a.tag(), b.tag());
            let mut seen = HashSet::new();
            for n in 0..2000 {
                assert!(seen.insert(a.id(provider, n)), "{provider:?} {n}");
                assert!(seen.insert(b.id(provider, n)), "{provider:?} {n}");
            }
        }
    }

    #[test]
    fn seeded_ids_repeat_for_a_seed() {
        let a = IdMint::new(IdMode::Seeded, 7);
        let b = IdMint::new(IdMode::Seeded, 7);
        let c = IdMint::new(IdMode::Seeded, 8);
        for provider in Provider::ALL {
            assert_eq!(a.id(provider, 3), b.id(provider, 3));
            assert_ne!(a.id(provider, 3), c.id(provider, 3));
        }
    }

    #[test]
    fn ids_have_each_sellers_shape() {
        let m = IdMint::new(IdMode::Unique, 0);
        let hex = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        };
        for n in [0, 1, 99, 12345, u64::from(u32::MAX)] {
            let r = m.id(Provider::Runbase, n);
            assert!(
                r.starts_with("run_") && r.len() == 28 && hex(&r[4..]),
                "{r}"
            );
            let g = m.id(Provider::Gptimage15, n);
            assert!(
                g.starts_with('n') && g.ends_with("gptimg") && g.len() == 33,
                "{g}"
            );
            assert!(
                g[1..3].chars().all(|c| c.is_ascii_digit()) && hex(&g[3..27]),
                "{g}"
            );
            let o = m.id(Provider::Openai, n);
            assert!(
                o.starts_with("req_") && o.len() == 36 && hex(&o[4..]),
                "{o}"
            );
            for p in [Provider::Fal, Provider::Azure] {
                let u = m.id(p, n);
                let parts: Vec<&str> = u.split('-').collect();
                let lens: Vec<usize> = parts.iter().map(|s| s.len()).collect();
                assert_eq!(lens, [8, 4, 4, 4, 12], "{u}");
                assert!(parts.iter().all(|s| hex(s)), "{u}");
                assert!(parts[2].starts_with('4'), "{u}");
                assert!("89ab".contains(&parts[3][..1]), "{u}");
            }
            let rep = m.id(Provider::Replicate, n);
            assert_eq!(rep.len(), 26);
            assert!(
                rep.chars()
                    .all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)),
                "{rep}"
            );
            let w = m.id(Provider::Wavespeed, n);
            assert!(w.len() == 32 && hex(&w), "{w}");
        }
    }
}
