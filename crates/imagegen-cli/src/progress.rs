//! Progress: a live bar on a terminal, one line per event otherwise.
//!
//! Human output always goes to stderr; stdout is kept for `--json` records.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// One line per event (logs, CI, tests).
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
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Reports the progress of a set of jobs.
pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
}

impl Progress {
    /// Progress over `total` jobs.
    pub fn new(mode: Mode, total: u64) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            mode,
            bar,
            total,
            started: Instant::now(),
        }
    }

    /// How long since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A message about one job that is worth a line in logs (submitted,
    /// retried, ...). Hidden under the bar.
    pub fn event(&self, line: impl AsRef<str>) {
        if self.mode == Mode::Lines {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A message that must be seen even under the bar (warnings, failures).
    pub fn warn(&self, line: impl AsRef<str>) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line.as_ref()),
            (None, Mode::Quiet) => {}
            (None, _) => eprintln!("{}", line.as_ref()),
        }
    }

    /// One job finished (done, failed or given up on).
    pub fn finished(&self, done: u64, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
            }
            None => {
                if self.mode == Mode::Lines {
                    let width = self.total.to_string().len();
                    eprintln!("[{done:>width$}/{}] {}", self.total, line.as_ref());
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Prints a message unless quiet (summaries, notes).
    pub fn say(&self, text: impl AsRef<str>) {
        if self.mode != Mode::Quiet {
            match &self.bar {
                Some(bar) => bar.println(text.as_ref()),
                None => eprintln!("{}", text.as_ref()),
            }
        }
    }
}

/// `1m 05s`, `12.3s`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
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
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 02m");
    }
}
