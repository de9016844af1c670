//! What a person watching sees: a live display on a terminal (indicatif),
//! one plain line per event otherwise, nothing but errors with `--quiet`.
//!
//! Human output always goes to stderr; stdout is kept for results (paths,
//! `--json` records).
//!
//! The batch display is two lines of at most 80 columns:
//!
//! ```text
//! ⠹ 00:00:12 ████████████░░░░░░░░ 40/200 jobs · 3.4/s · eta 47s
//!   8 in flight · 2 failed · 38 images · 38 credits
//! ```
//!
//! The rate is jobs finished over the whole run, so the ETA does not swing
//! with each burst. Failures and waits (rate budget, `Retry-After`) get a
//! line of their own above it.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imagegen_core::{ClientObserver, Error, Wait};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live display (stderr is a terminal).
    Live,
    /// One line per event (logs, CI, pipes).
    Lines,
    /// Only errors (`--quiet`).
    Quiet,
}

impl Mode {
    /// The mode for this process.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

/// The counts the display shows, shared with its render closures.
#[derive(Debug, Default)]
struct Counts {
    total: AtomicU64,
    finished: AtomicU64,
    in_flight: AtomicU64,
    failed: AtomicU64,
    images: AtomicU64,
    /// Credits, in thousandths.
    millicredits: AtomicU64,
}

impl Counts {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How one job ended in this run.
#[derive(Debug, Clone)]
pub enum Ended {
    /// Its images are saved.
    Done {
        /// Images saved.
        images: u64,
        /// Credits reported or estimated.
        credits: f64,
    },
    /// It failed (or was refused, or is ambiguous): a line says why.
    Failed(String),
    /// Left for later (interrupted, timed out, retryable): a line says why.
    Unfinished(String),
}

/// Reports progress.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    counts: Arc<Counts>,
    started: Instant,
    /// When each kind of wait was last reported, per provider.
    waits_shown: Mutex<HashMap<(String, &'static str), Instant>>,
}

/// How often the same kind of wait is reported for one provider.
const WAIT_LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// Progress over `total` jobs (a batch).
    pub fn jobs(mode: Mode, total: u64) -> Progress {
        let counts = Arc::new(Counts::default());
        counts.total.store(total, Ordering::Relaxed);
        let bar = (mode == Mode::Live).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(batch_style(counts.clone()));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            mode,
            bar,
            counts,
            started: Instant::now(),
            waits_shown: Mutex::default(),
        }
    }

    /// A spinner for one command's work (`generate`, `wait`).
    pub fn spinner(mode: Mode) -> Progress {
        let bar = (mode == Mode::Live).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            mode,
            bar,
            counts: Arc::default(),
            started: Instant::now(),
            waits_shown: Mutex::default(),
        }
    }

    /// How long since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// What the spinner says now (live display only: plain logs get
    /// [`event`](Self::event) lines for what is worth keeping).
    pub fn status(&self, text: impl AsRef<str>) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.as_ref().to_owned());
        }
    }

    /// A job went in flight.
    pub fn started(&self) {
        self.counts.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Job `id` ended this way; `was_in_flight` if [`started`](Self::started)
    /// was called for it.
    pub fn ended(&self, id: i64, ended: &Ended, was_in_flight: bool) {
        let c = &self.counts;
        if was_in_flight {
            c.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        let finished = c.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let line = match ended {
            Ended::Done { images, credits } => {
                c.images.fetch_add(*images, Ordering::Relaxed);
                c.millicredits.fetch_add(
                    (credits * 1000.0).round().max(0.0) as u64,
                    Ordering::Relaxed,
                );
                let s = if *images == 1 { "" } else { "s" };
                format!("job {id}: done, {images} image{s}")
            }
            Ended::Failed(why) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                format!("job {id}: {why}")
            }
            Ended::Unfinished(why) => format!("job {id}: {why}"),
        };
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                bar.set_position(finished);
                if !matches!(ended, Ended::Done { .. }) {
                    bar.println(line);
                }
            }
            (None, Mode::Lines) => {
                let total = Counts::get(&c.total);
                let width = total.to_string().len();
                eprintln!("[{finished:>width$}/{total}] {line}");
            }
            _ => {}
        }
    }

    /// An event worth a line in logs (submitted, a provider skipped);
    /// hidden under the live display.
    pub fn event(&self, line: impl AsRef<str>) {
        if self.mode == Mode::Lines {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A line that must be seen even under the live display (warnings).
    pub fn warn(&self, line: impl AsRef<str>) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line.as_ref()),
            (None, Mode::Quiet) => {}
            (None, _) => eprintln!("{}", line.as_ref()),
        }
    }

    /// A message unless quiet (summaries, notes).
    pub fn say(&self, text: impl AsRef<str>) {
        self.warn(text);
    }

    /// Removes the live display.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ClientObserver for Progress {
    fn waiting(&self, provider: &str, why: Wait, error: Option<&Error>) {
        let kind = match why {
            Wait::RateBudget => "rate",
            Wait::RetryAfter(_) => "retry-after",
            _ => "backoff",
        };
        {
            let mut shown = self.waits_shown.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match shown.get(&(provider.to_owned(), kind)) {
                Some(at) if now.duration_since(*at) < WAIT_LINE_EVERY => return,
                _ => {
                    shown.insert((provider.to_owned(), kind), now);
                }
            }
        }
        let line = match why {
            Wait::RateBudget => format!("{provider}: waiting for the rate budget"),
            Wait::RetryAfter(d) => {
                format!(
                    "{provider}: the server asked to wait {} (Retry-After)",
                    human_duration(d)
                )
            }
            Wait::Backoff(d) => match error {
                Some(e) => format!(
                    "{provider}: retrying in {} after: {}",
                    human_duration(d),
                    e.message()
                ),
                None => format!("{provider}: retrying in {}", human_duration(d)),
            },
            _ => format!("{provider}: waiting"),
        };
        self.warn(line);
    }
}

/// The two-line batch display.
fn batch_style(counts: Arc<Counts>) -> ProgressStyle {
    let rate_counts = counts.clone();
    let detail_counts = counts;
    ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {bar:20} {pos}/{len} jobs · {rate_eta}\n  {detail}",
    )
    .expect("a valid template")
    .progress_chars("█▉░")
    .with_key(
        "rate_eta",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let finished = Counts::get(&rate_counts.finished);
            let total = Counts::get(&rate_counts.total);
            let _ = w.write_str(&rate_and_eta(finished, total, state.elapsed()));
        },
    )
    .with_key(
        "detail",
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let c = &detail_counts;
            let _ = write!(
                w,
                "{} in flight · {} failed · {} images · {} credits",
                Counts::get(&c.in_flight),
                Counts::get(&c.failed),
                Counts::get(&c.images),
                significant(Counts::get(&c.millicredits) as f64 / 1000.0)
            );
        },
    )
}

/// `3.4/s · eta 47s`: jobs finished over the whole run, so the estimate
/// moves smoothly.
pub fn rate_and_eta(finished: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if finished == 0 || secs <= 0.0 {
        return "eta --".to_owned();
    }
    let rate = finished as f64 / secs;
    let left = total.saturating_sub(finished) as f64;
    let eta = Duration::try_from_secs_f64(left / rate).unwrap_or(Duration::MAX);
    let per = if rate >= 1.0 {
        format!("{}/s", significant(rate))
    } else {
        format!("{}/min", significant(rate * 60.0))
    };
    format!("{per} · eta {}", human_duration(eta))
}

/// A number with two significant digits (no more than the integer part
/// for numbers of 100 and over): `39`, `3.4`, `0.39`, `1200`.
pub fn significant(x: f64) -> String {
    if !x.is_finite() {
        return "?".to_owned();
    }
    let magnitude = x.abs();
    if magnitude >= 10.0 || magnitude == 0.0 {
        format!("{x:.0}")
    } else if magnitude >= 1.0 {
        trim_zeros(format!("{x:.1}"))
    } else {
        let decimals = (-magnitude.log10().floor()) as usize + 1;
        trim_zeros(format!("{x:.decimals$}"))
    }
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `1m 05s`, `12.3s`, `1h 02m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{secs:.0}s")
    } else {
        let s = d.as_secs();
        if s < 3600 {
            format!("{}m {:02}s", s / 60, s % 60)
        } else {
            format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(2_340)), "2.3s");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12s");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn rates_have_two_significant_digits() {
        assert_eq!(significant(39.1161), "39");
        assert_eq!(significant(3.4567), "3.5");
        assert_eq!(significant(0.3912), "0.39");
        assert_eq!(significant(0.0412), "0.041");
        assert_eq!(significant(1234.5), "1234");
        assert_eq!(significant(2.0), "2");
        assert_eq!(significant(0.0), "0");
    }

    #[test]
    fn the_eta_follows_the_whole_run() {
        assert_eq!(rate_and_eta(0, 10, Duration::from_secs(3)), "eta --");
        assert_eq!(
            rate_and_eta(40, 200, Duration::from_secs(10)),
            "4/s · eta 40s"
        );
        assert_eq!(
            rate_and_eta(1, 11, Duration::from_secs(30)),
            "2/min · eta 5m 00s"
        );
    }

    #[test]
    fn the_display_fits_80_columns() {
        let worst = format!(
            "⠹ 00:00:12 {} {}/{} jobs · {}",
            "█".repeat(20),
            999_999,
            1_000_000,
            rate_and_eta(999_999, 1_000_000, Duration::from_secs(99_999))
        );
        assert!(
            worst.chars().count() <= 80,
            "{} columns: {worst}",
            worst.chars().count()
        );
        let detail = format!(
            "  {} in flight · {} failed · {} images · {} credits",
            1000,
            999_999,
            999_999,
            significant(99_999_999.0)
        );
        assert!(detail.chars().count() <= 80, "{detail}");
    }
}
