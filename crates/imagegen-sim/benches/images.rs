//! Simulated image throughput: images per second at 1536x1024.
//!
//! `render/*` draws and encodes a fresh image each iteration (nothing
//! cached: every iteration is another task), the cost of a task's first
//! download or of an OpenAI answer; `render/png_long_prompt` fills the panel
//! with text; `cached` serves one task's image again from the sim's cache.
//!
//! `cargo bench -p imagegen-sim --bench images`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imagegen_sim::images::{ImageCache, ImageFormat, ImageSize, ImageSpec, render};

const PROMPT: &str = "A ceramic lamp on a wooden table";

fn spec(n: u32, prompt: &str) -> ImageSpec {
    ImageSpec::new(
        "runbase",
        &format!("run_{n:016x}"),
        prompt,
        ImageSize::Landscape,
    )
}

fn images(c: &mut Criterion) {
    let mut g = c.benchmark_group("images");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    let mut n = 0u32;
    let mut next = || {
        n = n.wrapping_add(1);
        n
    };
    g.bench_function("render/png_1536x1024", |b| {
        b.iter(|| black_box(render(&spec(next(), PROMPT))))
    });
    g.bench_function("render/png_transparent_1536x1024", |b| {
        b.iter(|| black_box(render(&spec(next(), PROMPT).transparent(true))))
    });
    g.bench_function("render/jpeg_1536x1024", |b| {
        b.iter(|| black_box(render(&spec(next(), PROMPT).format(ImageFormat::Jpeg))))
    });
    g.bench_function("render/webp_1536x1024", |b| {
        b.iter(|| black_box(render(&spec(next(), PROMPT).format(ImageFormat::Webp))))
    });
    let long = format!("{PROMPT}, warm light, linen shade, morning haze. ").repeat(40);
    g.bench_function("render/png_long_prompt_1536x1024", |b| {
        b.iter(|| black_box(render(&spec(next(), &long))))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cache = ImageCache::default();
    rt.block_on(cache.get(spec(0, PROMPT)));
    g.bench_function("cached/png_1536x1024", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.get(spec(0, PROMPT)).await) })
    });
    g.finish();
}

criterion_group!(benches, images);
criterion_main!(benches);
