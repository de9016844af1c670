//! Deterministic images, cheap to serve by the thousand.
//!
//! An image is one of [`VARIANTS`] patterns (two colours, a linear or radial
//! gradient and a band) at one of the three sizes. The variant is chosen by
//! hashing the prompt and the task id, so different prompts usually give
//! visibly different images and the same task always gives the same one.
//! Each (size, variant, format, transparency) is encoded once, lazily, with
//! fast compression, then served from memory: at most a few dozen encodings
//! ever happen, whatever the number of tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use bytes::Bytes;

/// Number of distinct patterns per size.
pub const VARIANTS: u32 = 16;

/// The three sizes the providers offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageSize {
    /// 1024x1024.
    Square,
    /// 1024x1536 (2:3).
    Portrait,
    /// 1536x1024 (3:2).
    Landscape,
}

impl ImageSize {
    /// Width and height in pixels.
    pub fn dims(self) -> (u32, u32) {
        match self {
            ImageSize::Square => (1024, 1024),
            ImageSize::Portrait => (1024, 1536),
            ImageSize::Landscape => (1536, 1024),
        }
    }

    /// From `WIDTHxHEIGHT`.
    pub fn from_wxh(s: &str) -> Option<Self> {
        match s {
            "1024x1024" => Some(ImageSize::Square),
            "1024x1536" => Some(ImageSize::Portrait),
            "1536x1024" => Some(ImageSize::Landscape),
            _ => None,
        }
    }

    /// As `WIDTHxHEIGHT`.
    pub fn wxh(self) -> &'static str {
        match self {
            ImageSize::Square => "1024x1024",
            ImageSize::Portrait => "1024x1536",
            ImageSize::Landscape => "1536x1024",
        }
    }
}

/// Encodings the sim produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG (RGB, or RGBA when transparent).
    Png,
    /// Baseline JPEG, quality 85.
    Jpeg,
    /// Lossless WebP.
    Webp,
}

/// The variant of an image for `prompt` in task `task_id`, image `index`.
pub fn variant_for(prompt: &str, task_id: &str, index: usize) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prompt.hash(&mut h);
    task_id.hash(&mut h);
    index.hash(&mut h);
    (crate::faults::mix(h.finish()) % VARIANTS as u64) as u32
}

type Key = (ImageSize, u32, ImageFormat, bool);

/// One cached encoding.
pub struct Encoded {
    /// The file's bytes.
    pub bytes: Bytes,
    b64: OnceLock<Arc<str>>,
}

impl Encoded {
    /// The bytes in standard base64 (computed once).
    pub fn b64(&self) -> Arc<str> {
        self.b64
            .get_or_init(|| {
                base64::engine::general_purpose::STANDARD
                    .encode(&self.bytes)
                    .into()
            })
            .clone()
    }
}

/// The lazily filled cache of encoded images.
#[derive(Default)]
pub struct ImageCache {
    slots: Mutex<HashMap<Key, Arc<OnceLock<Arc<Encoded>>>>>,
}

impl ImageCache {
    /// The encoded image, computing it on a blocking thread the first time.
    pub async fn get(
        &self,
        size: ImageSize,
        variant: u32,
        format: ImageFormat,
        transparent: bool,
    ) -> Arc<Encoded> {
        let key = (size, variant % VARIANTS, format, transparent);
        let slot = {
            let mut map = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key).or_default().clone()
        };
        if let Some(done) = slot.get() {
            return done.clone();
        }
        let slot2 = slot.clone();
        let computed = tokio::task::spawn_blocking(move || {
            slot2
                .get_or_init(|| {
                    Arc::new(Encoded {
                        bytes: Bytes::from(encode(key.0, key.1, key.2, key.3)),
                        b64: OnceLock::new(),
                    })
                })
                .clone()
        })
        .await;
        match computed {
            Ok(e) => e,
            // The blocking pool is gone (runtime shutting down): do it here.
            Err(_) => slot
                .get_or_init(|| {
                    Arc::new(Encoded {
                        bytes: Bytes::from(encode(key.0, key.1, key.2, key.3)),
                        b64: OnceLock::new(),
                    })
                })
                .clone(),
        }
    }
}

const PALETTE: [[u8; 3]; 8] = [
    [231, 76, 60],
    [46, 134, 222],
    [39, 174, 96],
    [241, 196, 15],
    [142, 68, 173],
    [26, 188, 156],
    [230, 126, 34],
    [52, 73, 94],
];

fn lerp(a: u8, b: u8, t: u32) -> u8 {
    // t in 0..=256
    ((a as u32 * (256 - t) + b as u32 * t) >> 8) as u8
}

/// Raw pixels of a variant: RGB, or RGBA when `transparent`.
pub fn pixels(size: ImageSize, variant: u32, transparent: bool) -> Vec<u8> {
    let (w, h) = size.dims();
    let v = variant % VARIANTS;
    let c1 = PALETTE[(v % 8) as usize];
    let c2 = PALETTE[((v * 5 + 3) % 8) as usize];
    let radial = v >= 8;
    let channels = if transparent { 4 } else { 3 };
    let mut out = Vec::with_capacity((w * h) as usize * channels);
    let (cx, cy) = (w as i64 / 2, h as i64 / 2);
    let max_r2 = (cx * cx + cy * cy) as u64;
    let band_lo = h / 8 * (1 + v % 5);
    let band_hi = band_lo + h / 16;
    for y in 0..h {
        let in_band = y >= band_lo && y < band_hi;
        for x in 0..w {
            let dx = x as i64 - cx;
            let dy = y as i64 - cy;
            let r2 = (dx * dx + dy * dy) as u64;
            let t = if radial {
                (r2 * 256 / max_r2) as u32
            } else {
                (x + y) * 256 / (w + h)
            };
            let (a, b) = if in_band { (c2, c1) } else { (c1, c2) };
            out.push(lerp(a[0], b[0], t));
            out.push(lerp(a[1], b[1], t));
            out.push(lerp(a[2], b[2], t));
            if transparent {
                out.push(255 - (r2 * 255 / max_r2) as u8);
            }
        }
    }
    out
}

/// Encodes a variant.
pub fn encode(size: ImageSize, variant: u32, format: ImageFormat, transparent: bool) -> Vec<u8> {
    let (w, h) = size.dims();
    let transparent = transparent && format != ImageFormat::Jpeg;
    let px = pixels(size, variant, transparent);
    let color = if transparent {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut buf = Vec::new();
    match format {
        ImageFormat::Png => {
            let mut enc = png::Encoder::new(&mut buf, w, h);
            enc.set_color(if transparent {
                png::ColorType::Rgba
            } else {
                png::ColorType::Rgb
            });
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            enc.set_filter(png::FilterType::Sub);
            let mut writer = enc.write_header().expect("png header to memory");
            writer.write_image_data(&px).expect("png data to memory");
            writer.finish().expect("png finish to memory");
        }
        ImageFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
                .encode(&px, w, h, color)
                .expect("jpeg to memory");
        }
        ImageFormat::Webp => {
            image::codecs::webp::WebPEncoder::new_lossless(&mut buf)
                .encode(&px, w, h, color)
                .expect("webp to memory");
        }
    }
    buf
}
