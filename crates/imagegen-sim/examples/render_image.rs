//! Draws one simulated image to a file, as the sim would serve it.
//!
//! `cargo run -p imagegen-sim --example render_image -- OUT.png "PROMPT" [PROVIDER] [TASK_ID] [WxH] [QUALITY]`
//!
//! The format follows OUT's extension (`.png`, `.jpg`, `.webp`).

use imagegen_sim::images::{ImageFormat, ImageSize, ImageSpec, render};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: render_image OUT.png PROMPT [PROVIDER] [TASK_ID] [WxH] [QUALITY]");
        std::process::exit(2);
    };
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let size = ImageSize::from_wxh(&arg(4, "1536x1024")).unwrap_or_else(|| {
        eprintln!("size must be 1024x1024, 1024x1536 or 1536x1024");
        std::process::exit(2);
    });
    let format = match out.rsplit('.').next() {
        Some("jpg" | "jpeg") => ImageFormat::Jpeg,
        Some("webp") => ImageFormat::Webp,
        _ => ImageFormat::Png,
    };
    let spec = ImageSpec::new(
        &arg(2, "runbase"),
        &arg(3, "run_5f0c2a9e41b7d3c8"),
        &arg(1, "A ceramic lamp on a wooden table"),
        size,
    )
    .quality(&arg(5, "medium"))
    .format(format);
    let t0 = std::time::Instant::now();
    let bytes = render(&spec);
    let took = t0.elapsed();
    std::fs::write(out, &bytes).expect("write the image");
    println!("{out}: {} bytes in {took:?}", bytes.len());
}
