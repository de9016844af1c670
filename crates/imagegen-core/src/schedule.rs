//! When to poll next: a pure function of the latency estimate, the time
//! since the create, the polls so far, the interval and the policy.
//!
//! The aimed schedule ([`PollSchedule::Aimed`], the default) polls on a grid
//! of the interval `f` that **ends at the estimate's `high` quantile**,
//! starting at the first grid point at or after `low`, where `f` is the
//! fastest the provider's advice allows (Runbase: "every 1-2 s", so 1 s;
//! most providers advise one interval `a`, and `f = a`): the first poll
//! comes shortly before the likely finish, the next ones `f` apart, so a
//! task is seen done at most `f` after it finished and usually about
//! `f / 2`, and a task that finishes by `high` is seen there at the latest.
//! When the likely range is narrower than one interval, that is a single
//! poll at `high`. Polls stay `f` apart until the task is probably done
//! (`high` plus a quarter of the likely range, where the rate budget also
//! puts its polls ahead of creates), then the advised `a` apart until the
//! task has run far beyond the estimate (`high + (high - low) + a`); only
//! then does the interval grow, by the policy's multiplier per interval, to
//! its ceiling. The fast polls are spent only where tasks finish, so a
//! task costs fewer polls than a fixed poller at `a` would make.
//!
//! Without learned data (only the provider's seed), a task is polled every
//! interval from the create until far beyond the seed: a seed is a guess
//! (a simulator's tasks take milliseconds, a gateway's may take minutes),
//! and trusting one that is too long would cost a late result, where
//! polling costs a few requests of the first tasks only. The first task to
//! finish replaces the seed.
//!
//! [`PollSchedule::Backoff`] is the schedule before: start at the interval,
//! grow by the multiplier after each poll, with jitter.

use std::time::Duration;

use crate::latency::LatencyEstimate;
use crate::waiter::{PollPolicy, PollSchedule};

/// Everything the next poll time depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScheduleInput<'a> {
    /// The latency estimate of the task's key.
    pub estimate: LatencyEstimate,
    /// The time between two polls (the provider's advice, or the policy's
    /// override).
    pub interval: Duration,
    /// The shortest time between two polls while the task is likely
    /// finishing: at most `interval` (the fastest the provider's advice
    /// allows, or `interval`).
    pub fastest: Duration,
    /// The client's poll policy.
    pub policy: &'a PollPolicy,
    /// Polls made so far.
    pub polls: u32,
    /// When the last poll was made, as time since the create.
    pub last_poll: Option<Duration>,
    /// A uniform random draw in `[0, 1)` for jitter.
    pub draw: f64,
}

/// `value` within `[low, high]`, or `low` when it is not a number.
pub(crate) fn finite_within(value: f64, low: f64, high: f64) -> f64 {
    if value.is_nan() {
        low
    } else {
        value.clamp(low, high)
    }
}

/// The first aimed poll, as time since the create: the first point at or
/// after `low` of the grid of `interval` that ends at `high`, and never after
/// `typical` when the likely range is an interval wide or more.
pub(crate) fn first_aim(estimate: &LatencyEstimate, interval: Duration) -> Duration {
    let (low, typical, high) = (estimate.low, estimate.typical, estimate.high);
    let a = interval.as_secs_f64();
    let span = high.saturating_sub(low).as_secs_f64();
    let steps = (span / a).floor();
    let mut first = high.saturating_sub(Duration::from_secs_f64((steps * a).min(1e9)));
    if steps >= 1.0 && first > typical {
        first = first.saturating_sub(interval);
    }
    first
}

/// Past this (time since the create), a task has run far beyond the
/// estimate and the interval starts to grow.
pub(crate) fn far_beyond(estimate: &LatencyEstimate, interval: Duration) -> Duration {
    let spread = estimate.high.saturating_sub(estimate.low);
    estimate
        .high
        .saturating_add(spread)
        .saturating_add(interval)
}

/// When to poll next, as time since the create. The caller polls at once if
/// that time has passed, and never after its deadline.
pub(crate) fn next_poll(input: &ScheduleInput<'_>) -> Duration {
    let a = input.interval.max(Duration::from_millis(1));
    let policy = input.policy;
    let spread = finite_within(policy.jitter, 0.0, 1.0);
    let draw = finite_within(input.draw, 0.0, 1.0);
    let multiplier = finite_within(policy.multiplier, 1.0, 1e6);
    let ceiling = policy.max_interval.max(a).min(crate::clock::FAR_FUTURE);
    match policy.schedule {
        PollSchedule::Backoff => {
            let Some(last) = input.last_poll else {
                return a;
            };
            // The interval after `polls` polls: a * multiplier^polls, capped.
            let grown = a.as_secs_f64() * multiplier.powf(f64::from(input.polls.min(1000)));
            let interval = Duration::from_secs_f64(grown.min(ceiling.as_secs_f64()));
            let jittered = interval.mul_f64(1.0 - spread + 2.0 * spread * draw).max(a);
            last.saturating_add(jittered)
        }
        PollSchedule::Aimed => {
            let estimate = &input.estimate;
            let fast = input.fastest.clamp(Duration::from_millis(1), a);
            // Unlearned: every interval from the create (see the module docs).
            let aim = if estimate.is_learned() {
                first_aim(estimate, fast)
            } else {
                a
            };
            let Some(last) = input.last_poll else {
                return aim;
            };
            if estimate.is_learned() && last < crate::waiter::probably_done(estimate) {
                return last.saturating_add(fast).max(aim);
            }
            let far = far_beyond(estimate, a);
            if last < far {
                return last.saturating_add(a).max(aim);
            }
            // Far beyond: grow like `a * multiplier^k` per interval, i.e. an
            // interval of `a + (multiplier - 1) * (time past far)`, capped.
            let past = last.saturating_sub(far).as_secs_f64();
            let grown = a.as_secs_f64() + (multiplier - 1.0) * past;
            let interval = Duration::from_secs_f64(grown.min(ceiling.as_secs_f64()));
            // Jitter only stretches, so it never polls faster than `a`.
            last.saturating_add(interval.mul_f64(1.0 + spread * draw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn learned(low: f64, typical: f64, high: f64) -> LatencyEstimate {
        LatencyEstimate {
            low: s(low),
            typical: s(typical),
            high: s(high),
            samples: 10,
        }
    }

    /// Every poll time of a task that never finishes, until `until`.
    fn polls(
        estimate: LatencyEstimate,
        interval: f64,
        policy: &PollPolicy,
        until: f64,
    ) -> Vec<f64> {
        polls_within(estimate, interval, interval, policy, until)
    }

    /// [`polls`], for a provider whose advice allows `fastest` at best.
    fn polls_within(
        estimate: LatencyEstimate,
        interval: f64,
        fastest: f64,
        policy: &PollPolicy,
        until: f64,
    ) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut at = Vec::new();
        let mut last = None;
        loop {
            let input = ScheduleInput {
                estimate,
                interval: s(interval),
                fastest: s(fastest),
                policy,
                polls: at.len() as u32,
                last_poll: last,
                draw: rng.r#gen(),
            };
            let next = next_poll(&input);
            if next.as_secs_f64() > until {
                return at;
            }
            at.push(next.as_secs_f64());
            last = Some(next);
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn the_grid_ends_at_high_and_starts_at_low() {
        let policy = PollPolicy::default();
        let at = polls(learned(7.5, 9.0, 10.5), 2.0, &policy, 13.0);
        // 10.5 - 2 * floor(3 / 2) = 8.5, then every 2 s.
        let expected = [8.5, 10.5, 12.5];
        assert_eq!(at.len(), 3, "{at:?}");
        for (got, want) in at.iter().zip(expected) {
            assert!(close(*got, want), "{at:?}");
        }
    }

    #[test]
    fn an_advised_range_polls_at_its_fastest_only_while_the_task_is_likely_finishing() {
        let policy = PollPolicy::default();
        // Runbase: 2 s advised, 1 s allowed; likely done between 7.5 and 10.5 s.
        let at = polls_within(learned(7.5, 9.0, 10.5), 2.0, 1.0, &policy, 15.0);
        // Every 1 s until probably done (10.5 + 3 / 4), then every 2 s.
        let expected = [7.5, 8.5, 9.5, 10.5, 11.5, 13.5];
        assert_eq!(at.len(), expected.len(), "{at:?}");
        for (got, want) in at.iter().zip(expected) {
            assert!(close(*got, want), "{at:?}");
        }
        // Fewer polls up to `high + a` than a fixed poller at 2 s (6),
        // each finish in the likely range seen within 1 s.
        assert!(at.iter().filter(|t| **t <= 12.5).count() <= 5);
        // A seed is not trusted with the fast polls.
        let seed = polls_within(LatencyEstimate::seed(s(10.0)), 2.0, 1.0, &policy, 10.0);
        assert!(seed.windows(2).all(|p| close(p[1] - p[0], 2.0)), "{seed:?}");
    }

    #[test]
    fn a_range_narrower_than_the_interval_is_one_poll_at_high() {
        let policy = PollPolicy::default();
        let at = polls(learned(8.0, 9.0, 10.0), 5.0, &policy, 15.0);
        assert!(close(at[0], 10.0), "{at:?}");
        assert!(close(at[1], 15.0), "{at:?}");
    }

    #[test]
    fn without_data_it_polls_every_interval_until_far_beyond_the_seed() {
        let policy = PollPolicy::default();
        let seed = LatencyEstimate::seed(s(10.0));
        // low 5, high 15: far beyond at 15 + 10 + 2 = 27 s.
        let at = polls(seed, 2.0, &policy, 40.0);
        for (i, t) in at.iter().take(14).enumerate() {
            assert!(close(*t, 2.0 * (i + 1) as f64), "{at:?}");
        }
        assert!(at[14] - at[13] > 2.0, "then it grows: {at:?}");
        // A fast simulator under a 10 ms interval stays fast.
        let fast = polls(seed, 0.01, &policy, 0.05);
        assert_eq!(fast.len(), 5, "{fast:?}");
    }

    #[test]
    fn it_grows_only_far_beyond_the_estimate() {
        let policy = PollPolicy::default();
        let estimate = learned(7.5, 9.0, 10.5);
        let far = far_beyond(&estimate, s(2.0)).as_secs_f64();
        assert!(close(far, 15.5));
        let at = polls(estimate, 2.0, &policy, 600.0);
        for pair in at.windows(2) {
            let gap = pair[1] - pair[0];
            if pair[0] < far {
                assert!(close(gap, 2.0), "{pair:?} in {at:?}");
            }
        }
        let gaps: Vec<f64> = at.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(
            gaps.last().unwrap() > &14.0,
            "it reaches the ceiling: {gaps:?}"
        );
        assert!(at.len() < 60, "{} polls in 10 minutes", at.len());
    }

    #[test]
    fn backoff_is_the_old_schedule() {
        let policy = PollPolicy::default()
            .with_schedule(PollSchedule::Backoff)
            .with_jitter(0.0);
        let at = polls(learned(1.0, 2.0, 3.0), 2.0, &policy, 40.0);
        let expected = [2.0, 5.0, 9.5, 16.25, 26.375];
        assert_eq!(at.len(), expected.len(), "{at:?}");
        for (got, want) in at.iter().zip(expected) {
            assert!(close(*got, want), "{at:?}");
        }
        let fixed = PollPolicy::fixed(s(0.5));
        let at = polls(learned(1.0, 2.0, 3.0), 0.5, &fixed, 3.0);
        assert_eq!(at.len(), 6);
        assert!(at.windows(2).all(|p| close(p[1] - p[0], 0.5)), "{at:?}");
    }

    /// The invariants, over random estimates, intervals and policies.
    #[test]
    fn invariants_hold_for_random_inputs() {
        let mut rng = SmallRng::seed_from_u64(11);
        for case in 0..2000 {
            let low = rng.gen_range(0.001..60.0);
            let typical = low * rng.gen_range(1.0..3.0);
            let high = typical * rng.gen_range(1.0..3.0);
            let mut estimate = learned(low, typical, high);
            if case % 5 == 0 {
                estimate.samples = 0;
            }
            let interval = rng.gen_range(0.001..20.0);
            let fastest = interval * rng.gen_range(0.3..1.0);
            let policy = PollPolicy::default()
                .with_max_interval(s(rng.gen_range(0.0..60.0)))
                .with_multiplier(rng.gen_range(1.0..3.0))
                .with_jitter(rng.gen_range(0.0..1.0));
            let ceiling = policy.max_interval.as_secs_f64().max(interval);
            let at = polls_within(estimate, interval, fastest, &policy, 1200.0);
            assert!(!at.is_empty());
            let first = at[0];
            // The first poll is not after the estimate: not after `typical`
            // when the likely range is an interval wide or more, never after
            // `high`, and a probe after one interval without data.
            if estimate.is_learned() {
                assert!(first <= high + 1e-6, "case {case}: {first} > {high}");
                if high - low >= fastest {
                    assert!(first <= typical + 1e-6, "case {case}: {first} > {typical}");
                }
            } else {
                assert!(close(first, interval), "case {case}: {first}");
            }
            let far = far_beyond(&estimate, s(interval)).as_secs_f64();
            let aim = if estimate.is_learned() {
                first_aim(&estimate, s(fastest)).as_secs_f64()
            } else {
                interval
            };
            for pair in at.windows(2) {
                let gap = pair[1] - pair[0];
                // Never faster than the advice allows...
                assert!(gap >= fastest - 1e-6, "case {case}: {gap} < {fastest}");
                // ...the fastest only while the task is likely finishing, the
                // interval from then until far beyond the estimate...
                let fast_until = crate::waiter::probably_done(&estimate).as_secs_f64();
                if estimate.is_learned() && pair[0] >= aim && pair[0] < fast_until {
                    assert!((gap - fastest).abs() < 1e-6, "case {case}: {pair:?}");
                } else if pair[0] < far && pair[0] >= aim {
                    assert!((gap - interval).abs() < 1e-6, "case {case}: {pair:?}");
                }
                // ...and bounded growth: never beyond the ceiling plus jitter.
                assert!(
                    gap <= ceiling * (1.0 + policy.jitter) + 1e-6 || pair[0] < far,
                    "case {case}: {gap} > {ceiling}"
                );
            }
        }
    }
}
