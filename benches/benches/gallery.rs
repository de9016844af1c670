//! The batch gallery (`imagegen-gallery`): writing the page of 10,000 jobs
//! whose thumbnails exist already (what every `resume` costs), and making
//! thumbnails of GPT Image-sized PNGs (what a new batch costs), on all cores
//! and on one.
//!
//! Criterion's wall times move with the machine's load; after them each
//! group prints CPU time per unit of work (all threads, `getrusage`), which
//! does not, beside its floor: decoding the same PNGs and nothing else.
//! Figures and how to read them are in docs/PERFORMANCE.md ("Gallery").

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use imagegen_benches::procstat;
use imagegen_gallery::fixture::{self, Fixture, Options};
use imagegen_gallery::{Gallery, THUMBNAIL_FOLDER, write};

/// Images per thumbnail run, at 1536 pixels on the longest side.
const THUMBNAIL_JOBS: usize = 40;

fn build(dir: &Path, options: &Options) -> Fixture {
    fixture::build(dir, options).expect("the fixture is written")
}

/// CPU time (user + system, all threads) of `work`, per unit, over
/// `rounds` rounds of `units` units each.
fn cpu_per_unit(units: u64, rounds: u32, mut work: impl FnMut()) -> Duration {
    let start = procstat::cpu_time();
    for _ in 0..rounds {
        work();
    }
    (procstat::cpu_time() - start) / (rounds * units.max(1) as u32)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn page_of_10k_jobs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("scratch folder");
    // One small image per done job: 10,000 cards, ~8,000 files to find
    // and check, and their thumbnails made once before timing.
    let batch = build(dir.path(), &Options::new(10_000).longest_side(32));
    let gallery = Gallery::new(dir.path(), &batch.jobs, &batch.summary);
    let first = write(&gallery).expect("the first page");
    assert_eq!(first.cards, 10_000);
    let mut group = c.benchmark_group("gallery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("page_10k_jobs_thumbnails_fresh", |b| {
        b.iter(|| {
            let written = write(black_box(&gallery)).expect("the page");
            assert_eq!(written.thumbnails_made, 0);
            written
        })
    });
    group.finish();
    let cpu = cpu_per_unit(1, 5, || {
        black_box(write(&gallery).expect("the page"));
    });
    println!(
        "gallery page of 10,000 jobs, thumbnails fresh: CPU {} per write",
        ms(cpu)
    );
}

fn thumbnails(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("scratch folder");
    let batch = build(dir.path(), &Options::new(THUMBNAIL_JOBS).longest_side(1536));
    let images = batch.summary.images;
    let mut group = c.benchmark_group("gallery_thumbnails_1536");
    group.sample_size(10);
    group.throughput(Throughput::Elements(images));
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    for (name, threads) in [("all_cores", cores), ("one_thread", NonZeroUsize::MIN)] {
        let gallery = Gallery::new(dir.path(), &batch.jobs, &batch.summary).threads(threads);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_dir_all(dir.path().join(THUMBNAIL_FOLDER));
                },
                |()| {
                    let written = write(black_box(&gallery)).expect("the page");
                    assert_eq!(written.thumbnails_made as u64, images);
                    written
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    let one = Gallery::new(dir.path(), &batch.jobs, &batch.summary).threads(NonZeroUsize::MIN);
    let cpu = cpu_per_unit(images, 3, || {
        let _ = std::fs::remove_dir_all(dir.path().join(THUMBNAIL_FOLDER));
        black_box(write(&one).expect("the page"));
    });
    let pngs: Vec<_> = batch
        .jobs
        .iter()
        .flat_map(|job| &job.outputs)
        .map(|output| {
            dir.path()
                .join(Path::new(&output.path).file_name().expect("a file"))
        })
        .collect();
    let floor = cpu_per_unit(images, 3, || {
        for png in &pngs {
            black_box(image::open(png).expect("a PNG"));
        }
    });
    println!(
        "gallery thumbnails of {images} PNGs up to 1536 px: CPU {} per image; decoding alone {} ({:.2}x the floor)",
        ms(cpu),
        ms(floor),
        cpu.as_secs_f64() / floor.as_secs_f64()
    );
}

criterion_group!(benches, page_of_10k_jobs, thumbnails);
criterion_main!(benches);
