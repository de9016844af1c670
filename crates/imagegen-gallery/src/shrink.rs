//! Shrinking a full-size image to thumbnail size, fast.
//!
//! `image`'s own `thumbnail` samples every source pixel through a generic
//! per-pixel path: for a 1536x1024 image it costs more than decoding the PNG
//! (measured in `benches/benches/gallery.rs`). Averaging whole `k`x`k` blocks
//! over the raw bytes first (a box filter, the area average that
//! downscaling by an integer factor calls for) takes the image to between
//! one and two times the thumbnail size in one pass over memory; `image`'s
//! `thumbnail` then does the last, small step.

use image::{DynamicImage, ImageBuffer, Pixel};

/// `image` shrunk to fit in `max` x `max` pixels, keeping its aspect; a
/// smaller image is kept as it is.
pub(crate) fn fit(image: DynamicImage, max: u32) -> DynamicImage {
    let longest = image.width().max(image.height());
    if longest <= max {
        return image;
    }
    let k = longest / max.max(1);
    if k < 2 {
        return image.thumbnail(max, max);
    }
    let coarse = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(average_blocks(&image.into_rgba8(), k))
    } else {
        DynamicImage::ImageRgb8(average_blocks(&image.into_rgb8(), k))
    };
    coarse.thumbnail(max, max)
}

/// Each `k`x`k` block of `image` averaged into one pixel; the last
/// `width % k` columns and `height % k` rows (under `k` pixels, a sliver
/// of a full-size image) are left out.
fn average_blocks<P>(image: &ImageBuffer<P, Vec<u8>>, k: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8>,
{
    let channels = usize::from(P::CHANNEL_COUNT);
    let (width, height) = (image.width() / k, image.height() / k);
    let (k, source_width) = (k as usize, image.width() as usize);
    let area = (k * k) as u32;
    let source = image.as_raw();
    let mut sums = vec![0u32; width as usize * channels];
    let mut out = Vec::with_capacity(width as usize * height as usize * channels);
    for block_row in 0..height as usize {
        sums.fill(0);
        for row in block_row * k..(block_row + 1) * k {
            let start = row * source_width * channels;
            let pixels = &source[start..start + width as usize * k * channels];
            for (i, pixel) in pixels.chunks_exact(channels).enumerate() {
                let sum = &mut sums[i / k * channels..][..channels];
                for (s, &v) in sum.iter_mut().zip(pixel) {
                    *s += u32::from(v);
                }
            }
        }
        out.extend(sums.iter().map(|s| ((s + area / 2) / area) as u8));
    }
    // The buffer has exactly width x height pixels of `channels` bytes.
    ImageBuffer::from_raw(width, height, out).unwrap_or_else(|| ImageBuffer::new(width, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn blocks_are_averaged_and_the_remainder_dropped() {
        // 5x3 image, k = 2: one row of two blocks; column 4 and row 2 fall off.
        let image = RgbImage::from_fn(5, 3, |x, y| Rgb([(x * 10 + y) as u8, 100, 255]));
        let shrunk = average_blocks(&image, 2);
        assert_eq!(shrunk.dimensions(), (2, 1));
        // Block (0,0): x in 0..2, y in 0..2: (0+1+10+11)/4 = 5.5, rounded 6.
        assert_eq!(shrunk.get_pixel(0, 0).0, [6, 100, 255]);
        assert_eq!(shrunk.get_pixel(1, 0).0, [26, 100, 255]);
    }

    #[test]
    fn images_fit_the_box_and_keep_their_aspect() {
        for (w, h, expect) in [
            (1536, 1024, (320, 213)),
            (1024, 1536, (213, 320)),
            (1024, 1024, (320, 320)),
            (500, 100, (320, 64)),
            (64, 48, (64, 48)),
        ] {
            let image = DynamicImage::ImageRgb8(RgbImage::new(w, h));
            let fitted = fit(image, 320);
            let (fw, fh) = (fitted.width(), fitted.height());
            assert!(
                fw.abs_diff(expect.0) <= 1 && fh.abs_diff(expect.1) <= 1,
                "{w}x{h} -> {fw}x{fh}"
            );
        }
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::new(1536, 1024));
        assert!(fit(rgba, 320).color().has_alpha());
    }
}
