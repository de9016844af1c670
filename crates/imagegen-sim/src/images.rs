//! Simulated images that say what they answer.
//!
//! Each image is drawn at the exact size asked and shows a "SIMULATED"
//! banner, the prompt (wrapped, cut with an ellipsis when long), and the
//! provider, task id, size, quality, format, image number and reference
//! count, over a background derived from a hash of the prompt, task id and
//! image number ([`ImageSpec::seed`]). Two tasks never give the same file;
//! the same [`ImageSpec`] always gives the same bytes.
//!
//! A 1536x1024 PNG takes a few milliseconds (see the `images` bench): the
//! background is copied row by row from precomputed tiles, glyphs are
//! rasterized once per process, PNG uses fast compression. [`ImageCache`]
//! keeps the last few encodings (per task, image, format), so repeated
//! downloads of a task are served from memory, and caps how many renders run
//! at once.
//!
//! The sellers' file URLs name the task ([`file_path`]): the file handler
//! looks the task up and draws that task's image.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use bytes::Bytes;

mod canvas;
mod layout;
mod text;

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

impl ImageFormat {
    /// `png`, `jpeg` or `webp` (also the file extension).
    pub fn label(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Webp => "webp",
        }
    }

    /// From `png`, `jpeg` or `webp`.
    pub fn from_label(s: &str) -> Option<Self> {
        match s {
            "png" => Some(ImageFormat::Png),
            "jpeg" => Some(ImageFormat::Jpeg),
            "webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }

    /// `image/png`, `image/jpeg` or `image/webp`.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// Everything an image shows, and how it is encoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// Provider name (`runbase`, ...).
    pub provider: String,
    /// Task (or request) id.
    pub task_id: String,
    /// The prompt as received.
    pub prompt: String,
    /// Pixel size.
    pub size: ImageSize,
    /// Quality as the provider names it (`medium`, ...).
    pub quality: String,
    /// Which image of the task, from 0.
    pub index: usize,
    /// How many images the task made.
    pub count: usize,
    /// How many reference images the request had.
    pub references: usize,
    /// Encoding.
    pub format: ImageFormat,
    /// Transparent background (ignored for JPEG).
    pub transparent: bool,
}

impl ImageSpec {
    /// Image 1 of 1 of `task_id`, quality `medium`, no reference, opaque PNG.
    pub fn new(provider: &str, task_id: &str, prompt: &str, size: ImageSize) -> Self {
        ImageSpec {
            provider: provider.to_string(),
            task_id: task_id.to_string(),
            prompt: prompt.to_string(),
            size,
            quality: "medium".to_string(),
            index: 0,
            count: 1,
            references: 0,
            format: ImageFormat::Png,
            transparent: false,
        }
    }

    /// Sets the quality label.
    pub fn quality(mut self, quality: &str) -> Self {
        self.quality = quality.to_string();
        self
    }

    /// Image `index` (from 0) of `count`.
    pub fn index(mut self, index: usize, count: usize) -> Self {
        self.index = index;
        self.count = count.max(index + 1);
        self
    }

    /// Sets the number of reference images.
    pub fn references(mut self, references: usize) -> Self {
        self.references = references;
        self
    }

    /// Sets the encoding.
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }

    /// Asks for a transparent background (PNG and WebP).
    pub fn transparent(mut self, transparent: bool) -> Self {
        self.transparent = transparent;
        self
    }

    /// Where the sim serves this image: [`file_path`] of its provider, task,
    /// index and format.
    pub fn file_path(&self) -> String {
        file_path(&self.provider, &self.task_id, self.index, self.format)
    }

    /// Whether the encoded image has an alpha channel.
    pub fn has_alpha(&self) -> bool {
        self.transparent && self.format != ImageFormat::Jpeg
    }

    /// The hash the background is drawn from: prompt, task id and image
    /// index (FNV-1a, then SplitMix64; stable across Rust versions).
    pub fn seed(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes.iter().chain(&[0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(self.prompt.as_bytes());
        feed(self.task_id.as_bytes());
        feed(&(self.index as u64).to_le_bytes());
        crate::faults::mix(h)
    }
}

/// Raw pixels of the image: RGB, or RGBA when [`ImageSpec::has_alpha`].
pub fn pixels(spec: &ImageSpec) -> Vec<u8> {
    layout::draw(spec).px
}

/// The image, drawn and encoded.
pub fn render(spec: &ImageSpec) -> Vec<u8> {
    let (w, h) = spec.size.dims();
    let alpha = spec.has_alpha();
    let px = pixels(spec);
    let color = if alpha {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut buf = Vec::new();
    match spec.format {
        ImageFormat::Png => {
            let mut enc = png::Encoder::new(&mut buf, w, h);
            enc.set_color(if alpha {
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

/// The prompt's lines as the image shows them, top to bottom, each in
/// visual (left-to-right drawing) order; when the prompt was cut, the last
/// line ends with `…`.
pub fn prompt_lines(spec: &ImageSpec) -> Vec<String> {
    layout::prompt_text(spec)
}

/// The path of image `index` (from 0) of a task, in `format`:
/// `/files/{provider}/{task_id}/{index}.{png|jpeg|webp}`.
pub fn file_path(provider: &str, task_id: &str, index: usize, format: ImageFormat) -> String {
    format!("/files/{provider}/{task_id}/{index}.{}", format.label())
}

/// The image index and format in a file name made by [`file_path`]
/// (`0.png` → (0, PNG), `2.webp` → (2, WebP)).
pub fn parse_file_name(name: &str) -> Option<(usize, ImageFormat)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let format = ImageFormat::from_label(ext)?;
    if stem.is_empty() || stem.len() > 3 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, format))
}

/// One encoded image.
pub struct Encoded {
    /// The file's bytes.
    pub bytes: Bytes,
    b64: OnceLock<Arc<str>>,
}

impl Encoded {
    fn new(bytes: Vec<u8>) -> Self {
        Encoded {
            bytes: Bytes::from(bytes),
            b64: OnceLock::new(),
        }
    }

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

type Slot = Arc<tokio::sync::OnceCell<Arc<Encoded>>>;

struct Lru {
    tick: u64,
    slots: HashMap<ImageSpec, (u64, Slot)>,
}

/// Renders on blocking threads, at most a few at once, and keeps the last
/// [`ImageCache::DEFAULT_CAPACITY`] encodings (least recently used out).
/// Concurrent requests for one image wait for a single render.
pub struct ImageCache {
    capacity: usize,
    lru: Mutex<Lru>,
    renders: tokio::sync::Semaphore,
}

impl Default for ImageCache {
    fn default() -> Self {
        ImageCache::new(ImageCache::DEFAULT_CAPACITY)
    }
}

impl ImageCache {
    /// Encodings kept by default (a 1536x1024 PNG is about 0.2 to 0.5 MB).
    pub const DEFAULT_CAPACITY: usize = 64;

    /// A cache keeping at most `capacity` encodings (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        ImageCache {
            capacity,
            lru: Mutex::new(Lru {
                tick: 0,
                slots: HashMap::new(),
            }),
            renders: tokio::sync::Semaphore::new(parallel.clamp(2, 8)),
        }
    }

    /// The image, from the cache or rendered (and kept).
    pub async fn get(&self, spec: ImageSpec) -> Arc<Encoded> {
        if self.capacity == 0 {
            return self.render(spec).await;
        }
        let slot = {
            let mut lru = self.lru.lock().unwrap_or_else(|e| e.into_inner());
            lru.tick += 1;
            let tick = lru.tick;
            let slot = match lru.slots.get_mut(&spec) {
                Some((used, slot)) => {
                    *used = tick;
                    slot.clone()
                }
                None => {
                    let slot = Slot::default();
                    lru.slots.insert(spec.clone(), (tick, slot.clone()));
                    slot
                }
            };
            while lru.slots.len() > self.capacity {
                let oldest = lru
                    .slots
                    .iter()
                    .min_by_key(|(_, (used, _))| *used)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => lru.slots.remove(&k),
                    None => break,
                };
            }
            slot
        };
        slot.get_or_init(|| self.render(spec)).await.clone()
    }

    /// The image rendered now, not kept (OpenAI answers, each new).
    pub async fn render(&self, spec: ImageSpec) -> Arc<Encoded> {
        // The semaphore is never closed.
        let _permit = self.renders.acquire().await.ok();
        let for_thread = spec.clone();
        match tokio::task::spawn_blocking(move || render(&for_thread)).await {
            Ok(bytes) => Arc::new(Encoded::new(bytes)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The blocking pool is gone (runtime shutting down): do it here.
            Err(_) => Arc::new(Encoded::new(render(&spec))),
        }
    }

    /// Number of encodings held (renders in progress included).
    pub fn len(&self) -> usize {
        self.lru
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slots
            .len()
    }

    /// Whether no encoding is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        for (index, format) in [
            (0, ImageFormat::Png),
            (3, ImageFormat::Jpeg),
            (9, ImageFormat::Webp),
        ] {
            let path = file_path("fal", "req_1", index, format);
            let name = path.rsplit('/').next().unwrap();
            assert_eq!(parse_file_name(name), Some((index, format)), "{path}");
        }
        assert_eq!(
            file_path("runbase", "run_1", 0, ImageFormat::Png),
            "/files/runbase/run_1/0.png"
        );
        for bad in [
            "0.jpg",
            "0.gif",
            ".png",
            "0",
            "1234.png",
            "-1.png",
            "1536x1024-3.png",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
