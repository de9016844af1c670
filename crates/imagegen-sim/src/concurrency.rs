//! Per-key concurrency of the sellers that queue rather than refuse (fal,
//! WaveSpeed): at most `limit` tasks of a key generate at once; the others
//! wait in the queue, first come first served, and are never rejected.
//!
//! Like the rest of the sim, no timer runs: when a task is created its start
//! is booked at once on the key's earliest free slot (`max(ready, slot free)`,
//! where `ready` is the creation instant plus the latency profile's queue
//! time), and the task's queue duration is stretched to that start. A task
//! cancelled before its end gives its slot back from that instant, for
//! creates that come after (decision: tasks already booked keep the start
//! they were given, so a cancel never makes an earlier booking move).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Provider;

#[derive(Default)]
struct KeySlots {
    /// When each slot is free again (at most `limit` entries).
    free_at: Vec<Instant>,
    /// Booked starts still in the future at the last look, by creation order.
    starts: VecDeque<(u64, Instant)>,
    next_seq: u64,
}

/// One booking.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Booking {
    /// When generation starts.
    pub start: Instant,
    /// Creation order among the key's tasks.
    pub seq: u64,
    /// Tasks of the key created earlier and still waiting, now.
    pub ahead: u32,
}

/// Slots per (provider, key).
#[derive(Default)]
pub(crate) struct Slots {
    keys: Mutex<HashMap<(Provider, String), KeySlots>>,
}

impl Slots {
    /// Books the start of a task of `key` that is ready at `ready` and
    /// generates for `generate`; `limit == 0` means no limit.
    pub fn book(
        &self,
        provider: Provider,
        key: &str,
        limit: u32,
        now: Instant,
        ready: Instant,
        generate: Duration,
    ) -> Booking {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let k = map.entry((provider, key.to_string())).or_default();
        let seq = k.next_seq;
        k.next_seq += 1;
        k.starts.retain(|&(_, s)| s > now);
        let ahead = k.starts.len() as u32;
        if limit == 0 {
            return Booking {
                start: ready,
                seq,
                ahead: 0,
            };
        }
        let start = if (k.free_at.len() as u32) < limit {
            k.free_at.push(ready + generate);
            ready
        } else {
            let (i, free) = k
                .free_at
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| **t)
                .map(|(i, t)| (i, *t))
                .unwrap_or((0, ready));
            let start = ready.max(free);
            k.free_at[i] = start + generate;
            start
        };
        if start > now {
            k.starts.push_back((seq, start));
        }
        Booking { start, seq, ahead }
    }

    /// Tasks of `key` created before `seq` that have not started at `now`.
    pub fn position(&self, provider: Provider, key: &str, seq: u64, now: Instant) -> u32 {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(k) = map.get_mut(&(provider, key.to_string())) else {
            return 0;
        };
        k.starts.retain(|&(_, s)| s > now);
        k.starts.iter().filter(|(s, _)| *s < seq).count() as u32
    }

    /// A task of `key` booked to end at `end` was stopped at `now`: its slot
    /// is free from now on, and it no longer waits.
    pub fn release(&self, provider: Provider, key: &str, seq: u64, end: Instant, now: Instant) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(k) = map.get_mut(&(provider, key.to_string())) else {
            return;
        };
        k.starts.retain(|&(s, _)| s != seq);
        if end > now
            && let Some(slot) = k.free_at.iter_mut().find(|t| **t == end)
        {
            *slot = now;
        }
    }

    /// Puts back the bookings of `key`'s restored tasks, as `(seq, start,
    /// end)`: its slots are busy until the latest `limit` ends still to
    /// come (booked greedily, those are each slot's last task), tasks not
    /// started at `now` wait in creation order, and creation numbers go on
    /// after theirs.
    pub fn restore(
        &self,
        provider: Provider,
        key: &str,
        limit: u32,
        mut tasks: Vec<(u64, Instant, Instant)>,
        now: Instant,
    ) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let k = map.entry((provider, key.to_string())).or_default();
        k.next_seq = tasks
            .iter()
            .map(|&(seq, _, _)| seq + 1)
            .fold(k.next_seq, u64::max);
        if limit > 0 {
            let mut ends: Vec<Instant> = tasks
                .iter()
                .map(|&(_, _, end)| end)
                .filter(|&end| end > now)
                .collect();
            ends.sort_unstable_by(|a, b| b.cmp(a));
            ends.truncate(limit as usize);
            k.free_at = ends;
        }
        tasks.sort_unstable_by_key(|&(seq, _, _)| seq);
        k.starts = tasks
            .into_iter()
            .filter(|&(_, start, _)| start > now)
            .map(|(seq, start, _)| (seq, start))
            .collect();
    }

    pub fn reset(&self) {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_task_waits_for_the_first_slot() {
        let slots = Slots::default();
        let t0 = Instant::now();
        let g = Duration::from_millis(100);
        let a = slots.book(Provider::Fal, "k", 2, t0, t0, g);
        let b = slots.book(Provider::Fal, "k", 2, t0, t0, g);
        let c = slots.book(Provider::Fal, "k", 2, t0, t0, g);
        assert_eq!((a.start, b.start, c.start), (t0, t0, t0 + g));
        assert_eq!(c.ahead, 0);
        let d = slots.book(Provider::Fal, "k", 2, t0, t0, g);
        assert_eq!((d.start, d.ahead), (t0 + g, 1));
        assert_eq!(slots.position(Provider::Fal, "k", d.seq, t0), 1);
        // Another key has its own slots.
        let other = slots.book(Provider::Fal, "j", 2, t0, t0, g);
        assert_eq!(other.start, t0);
        // Unlimited: no wait.
        let free = slots.book(Provider::Wavespeed, "k", 0, t0, t0, g);
        assert_eq!(free.start, t0);
    }

    #[test]
    fn restored_bookings_keep_later_tasks_waiting() {
        let slots = Slots::default();
        let t0 = Instant::now();
        let g = Duration::from_millis(100);
        // Two running until t0 + g, one waiting to start at t0 + g.
        let restored = vec![(0, t0, t0 + g), (1, t0, t0 + g), (2, t0 + g, t0 + 2 * g)];
        slots.restore(Provider::Fal, "k", 2, restored, t0);
        assert_eq!(slots.position(Provider::Fal, "k", 3, t0), 1);
        let next = slots.book(Provider::Fal, "k", 2, t0, t0, g);
        assert_eq!((next.seq, next.start, next.ahead), (3, t0 + g, 1));
    }

    #[test]
    fn a_cancel_frees_its_slot_for_later_creates() {
        let slots = Slots::default();
        let t0 = Instant::now();
        let g = Duration::from_millis(100);
        let a = slots.book(Provider::Fal, "k", 1, t0, t0, g);
        slots.release(Provider::Fal, "k", a.seq, a.start + g, t0);
        let b = slots.book(Provider::Fal, "k", 1, t0, t0, g);
        assert_eq!(b.start, t0);
    }
}
