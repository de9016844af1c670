//! Sample batches for tests, benchmarks and demos (the `fixture` feature):
//! jobs as a journal records them, with real PNG images of different
//! colours and shapes, and their sidecars, in a folder.
//!
//! The mix of job `i` (1-based) is fixed, so a test can count on it: every
//! 10th from the 3rd failed (refused by moderation), every 25th from the
//! 7th invalid, every 25th from the 12th ambiguous, every 50th from the
//! 20th timed out, the rest done; every 17th done job has two images, and
//! the image of every 50th from the 45th was never written (missing).

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use imagegen_jobs::{JobRow, JobState, OutputRow, Summary};

/// What to build.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// How many jobs.
    pub jobs: usize,
    /// `None`: each image its own file; `Some(n)`: the images are `n`
    /// files shared by all jobs (quick to build for 10,000 jobs).
    pub distinct_images: Option<usize>,
    /// The longest side of each image, in pixels (GPT Image's own is 1536;
    /// smaller builds faster). Sizes cycle through 1:1, 3:2 and 2:3.
    pub longest_side: u32,
}

impl Options {
    /// `jobs` jobs, each image its own 512-pixel file.
    pub fn new(jobs: usize) -> Options {
        Options {
            jobs,
            distinct_images: None,
            longest_side: 512,
        }
    }

    /// Shares `n` image files among all jobs.
    pub fn distinct_images(mut self, n: usize) -> Options {
        self.distinct_images = Some(n.max(1));
        self
    }

    /// Sets the longest side of the images.
    pub fn longest_side(mut self, pixels: u32) -> Options {
        self.longest_side = pixels.max(8);
        self
    }
}

/// A built sample batch.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The jobs, in order.
    pub jobs: Vec<JobRow>,
    /// Their totals, as a journal would sum them.
    pub summary: Summary,
}

const PROMPTS: [&str; 12] = [
    "A cinematic product photo of a ceramic lamp on a wooden table",
    "Watercolour of a lighthouse at dawn, soft pastel sky",
    "Isometric pixel-art city block with neon signs at night",
    "Macro photograph of a dew drop on a fern leaf",
    "A red fox curled up in fresh snow, golden hour",
    "Minimalist poster: a single blue circle over a sand-coloured field",
    "Cross-section diagram of a sourdough loaf, labelled",
    "An astronaut reading a newspaper in a 1950s diner",
    "Stained-glass window of a tree with orange leaves",
    "Top-down photo of a bowl of ramen with a soft egg",
    "Low-poly mountain landscape with a winding river",
    "Charcoal sketch of an old fishing boat in the harbour",
];

const PROVIDERS: [&str; 3] = ["runbase", "gptimage15", "openai"];

/// The state of job `i` (see the module docs).
pub fn state_of(i: usize) -> JobState {
    if i % 25 == 7 {
        JobState::Invalid
    } else if i % 25 == 12 {
        JobState::Ambiguous
    } else if i % 50 == 20 {
        JobState::TimedOut
    } else if i % 10 == 3 {
        JobState::Failed
    } else {
        JobState::Done
    }
}

/// Builds the batch of `options` in `dir` (which must exist): images,
/// sidecars, and the jobs that record them. Even jobs record absolute
/// paths, odd ones paths relative to `dir`.
pub fn build(dir: &Path, options: &Options) -> std::io::Result<Fixture> {
    let mut jobs = Vec::with_capacity(options.jobs);
    for i in 1..=options.jobs {
        let state = state_of(i);
        let provider = PROVIDERS[i % PROVIDERS.len()];
        let mut job = job(i as i64, &prompt(i), state);
        if state != JobState::Invalid {
            job.provider = Some(provider.to_owned());
            job.est_credits = Some(price(provider));
        }
        match state {
            JobState::Invalid => {
                job.error_kind = Some("invalid_request".into());
                job.error = Some(format!(
                    "line {i}: unknown aspect \"5:4\"; the aspects are 1:1, 2:3 and 3:2"
                ));
            }
            JobState::Ambiguous => {
                job.error_kind = Some("network".into());
                job.error = Some(
                    "the connection was reset after the create was sent: it may have been \
                     accepted and paid for"
                        .into(),
                );
            }
            JobState::Failed => {
                job.task_id = Some(task_id(provider, i));
                job.error_kind = Some("generation_failed".into());
                job.error =
                    Some("the provider refused the prompt: moderation_blocked (violence)".into());
            }
            JobState::TimedOut => job.task_id = Some(task_id(provider, i)),
            _ => {
                job.task_id = Some(task_id(provider, i));
                job.credits = Some(price(provider));
                let count = if i.is_multiple_of(17) { 2 } else { 1 };
                for idx in 0..count {
                    job.outputs.push(output(dir, options, &job, i, idx)?);
                }
            }
        }
        jobs.push(job);
    }
    let summary = summarize(&jobs);
    Ok(Fixture { jobs, summary })
}

/// A job with nothing but an id, a line, a prompt and a state.
pub fn job(id: i64, prompt: &str, state: JobState) -> JobRow {
    JobRow {
        id,
        line: id,
        copy: 0,
        name: None,
        prompt: prompt.to_owned(),
        providers: PROVIDERS.iter().map(|p| (*p).to_owned()).collect(),
        request: None,
        strictness: "strict".into(),
        state,
        provider: None,
        endpoint: None,
        task_id: None,
        handle: None,
        error_kind: None,
        error: None,
        credits: None,
        est_credits: None,
        attempts: if state == JobState::Invalid { 0 } else { 1 },
        outputs: Vec::new(),
    }
}

/// The totals of `jobs`, summed the way the journal sums them.
pub fn summarize(jobs: &[JobRow]) -> Summary {
    let mut summary = Summary::default();
    for job in jobs {
        *summary
            .by_state
            .entry(job.state.as_str().to_owned())
            .or_default() += 1;
        summary.total += 1;
        summary.images += job.outputs.len() as u64;
        match (job.credits, job.est_credits) {
            (Some(reported), _) => summary.credits_reported += reported,
            (None, Some(estimate)) if job.attempts > 0 => summary.credits_estimated += estimate,
            _ => {}
        }
    }
    summary
}

/// Draws a picture from `seed`: a two-colour gradient, three discs and a
/// band of stripes, so that thumbnails differ visibly.
pub fn picture(seed: u64, width: u32, height: u32) -> RgbImage {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // SplitMix64: deterministic and enough for colours and positions.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let colour = |v: u64| [v as u8, (v >> 8) as u8, (v >> 16) as u8];
    let (top, bottom) = (colour(next()), colour(next()));
    let discs: Vec<(f32, f32, f32, [u8; 3])> = (0..3)
        .map(|_| {
            let v = next();
            let x = (v & 0xffff) as f32 / 65535.0 * width as f32;
            let y = ((v >> 16) & 0xffff) as f32 / 65535.0 * height as f32;
            let r = (0.12 + ((v >> 32) & 0xff) as f32 / 255.0 * 0.2) * width.min(height) as f32;
            (x, y, r, colour(next()))
        })
        .collect();
    let stripe = colour(next());
    let band = (next() % u64::from(height.max(1))) as u32;
    RgbImage::from_fn(width, height, |x, y| {
        for &(cx, cy, r, c) in &discs {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            if dx * dx + dy * dy <= r * r {
                return Rgb(c);
            }
        }
        if y.abs_diff(band) < height / 10 && ((x + y) / 12).is_multiple_of(2) {
            return Rgb(stripe);
        }
        let t = y as f32 / height.max(1) as f32;
        let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
        Rgb([
            mix(top[0], bottom[0]),
            mix(top[1], bottom[1]),
            mix(top[2], bottom[2]),
        ])
    })
}

fn prompt(i: usize) -> String {
    let base = PROMPTS[i % PROMPTS.len()];
    match i / PROMPTS.len() {
        0 => base.to_owned(),
        round => format!("{base}, variation {round}"),
    }
}

fn price(provider: &str) -> f64 {
    match provider {
        "runbase" => 2.0,
        "gptimage15" => 1.5,
        _ => 4.0,
    }
}

fn task_id(provider: &str, i: usize) -> String {
    format!(
        "{}_{:016x}",
        &provider[..3],
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

fn dims(i: usize, longest: u32) -> (u32, u32) {
    let short = longest * 2 / 3;
    match i % 3 {
        0 => (longest, longest),
        1 => (longest, short),
        _ => (short, longest),
    }
}

/// Writes (unless shared and already written) the image and sidecar of
/// job `i`'s image `idx`, and records it.
fn output(
    dir: &Path,
    options: &Options,
    job: &JobRow,
    i: usize,
    idx: i64,
) -> std::io::Result<OutputRow> {
    let (picture_number, name) = match options.distinct_images {
        Some(n) => {
            let k = (i + idx as usize) % n;
            (k, format!("shared-{k}.png"))
        }
        None => (i * 2 + idx as usize, format!("job-{i}-{idx}.png")),
    };
    let (width, height) = dims(picture_number, options.longest_side);
    let path: PathBuf = dir.join(&name);
    let missing = i % 50 == 45;
    if !missing && !path.exists() {
        picture(picture_number as u64, width, height)
            .save(&path)
            .map_err(std::io::Error::other)?;
        let sidecar = serde_json::json!({
            "prompt": job.prompt,
            "provider": job.provider,
            "task_id": job.task_id,
            "index": idx,
            "credits": job.credits,
            "media_type": "image/png",
            "job": job.id,
        });
        let text = serde_json::to_string_pretty(&sidecar).map_err(std::io::Error::other)?;
        std::fs::write(path.with_extension("json"), text)?;
    }
    Ok(OutputRow {
        idx,
        path: if i.is_multiple_of(2) {
            path.display().to_string()
        } else {
            name
        },
        sha256: String::new(),
        bytes: None,
        width: Some(i64::from(width)),
        height: Some(i64::from(height)),
        url: None,
        host: None,
    })
}
