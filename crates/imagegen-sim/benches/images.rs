//! Simulated image throughput: images per second at 1536x1024.
//!
//! `render/*` draws and encodes a fresh image each iteration (nothing
//! cached), the cost of a task's first download or of an OpenAI answer;
//! `cached` serves one task's image again from the sim's cache.
//!
//! `cargo bench -p imagegen-sim --bench images`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imagegen_sim::images::{ImageCache, ImageFormat, ImageSize, encode};

fn images(c: &mut Criterion) {
    let mut g = c.benchmark_group("images");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    let mut n = 0u32;
    g.bench_function("render/png_1536x1024", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(encode(ImageSize::Landscape, n, ImageFormat::Png, false))
        })
    });
    g.bench_function("render/png_transparent_1536x1024", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(encode(ImageSize::Landscape, n, ImageFormat::Png, true))
        })
    });
    g.bench_function("render/jpeg_1536x1024", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(encode(ImageSize::Landscape, n, ImageFormat::Jpeg, false))
        })
    });
    g.bench_function("render/webp_1536x1024", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(encode(ImageSize::Landscape, n, ImageFormat::Webp, false))
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cache = ImageCache::default();
    rt.block_on(cache.get(ImageSize::Landscape, 3, ImageFormat::Png, false));
    g.bench_function("cached/png_1536x1024", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                cache
                    .get(ImageSize::Landscape, 3, ImageFormat::Png, false)
                    .await,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, images);
criterion_main!(benches);
