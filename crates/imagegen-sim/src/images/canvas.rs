//! Pixels: the background, painted row by row from a few precomputed tiles
//! (every row is a handful of `copy_from_slice`, so a 1536x1024 background
//! costs about as much as copying it, even in an unoptimized test build),
//! and glyph blending.

use super::text::Bitmap;

/// An RGB (3 channels) or RGBA (4) image, rows top to bottom.
pub(crate) struct Canvas {
    pub w: usize,
    pub h: usize,
    pub channels: usize,
    pub px: Vec<u8>,
}

impl Canvas {
    /// Blends `color` through a glyph's coverage at (`x`, `y`) (its top-left
    /// corner); parts outside the canvas are clipped.
    pub fn blend_glyph(&mut self, x: i32, y: i32, glyph: &Bitmap, color: [u8; 3]) {
        let ch = self.channels;
        for gy in 0..glyph.h {
            let cy = y + gy as i32;
            if cy < 0 || cy as usize >= self.h {
                continue;
            }
            let row = &glyph.coverage[gy * glyph.w..(gy + 1) * glyph.w];
            let base = cy as usize * self.w * ch;
            for (gx, &cov) in row.iter().enumerate() {
                let cx = x + gx as i32;
                if cov == 0 || cx < 0 || cx as usize >= self.w {
                    continue;
                }
                let i = base + cx as usize * ch;
                let a = u32::from(cov);
                let px = &mut self.px[i..i + ch];
                if ch == 3 {
                    for k in 0..3 {
                        px[k] = ((u32::from(px[k]) * (255 - a) + u32::from(color[k]) * a + 127)
                            / 255) as u8;
                    }
                } else {
                    // `color` over the pixel.
                    let da = u32::from(px[3]);
                    let keep = da * (255 - a) / 255;
                    let out_a = a + keep;
                    if out_a == 0 {
                        continue;
                    }
                    for k in 0..3 {
                        px[k] = ((u32::from(color[k]) * a + u32::from(px[k]) * keep + out_a / 2)
                            / out_a) as u8;
                    }
                    px[3] = out_a as u8;
                }
            }
        }
    }
}

/// An RGBA colour.
pub(crate) type Rgba = [u8; 4];

/// The pattern behind the text: stripes over a four-corner gradient.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    /// Top-left, top-right, bottom-left, bottom-right colours.
    pub corners: [[u8; 3]; 4],
    /// Stripe period in pixels.
    pub period: usize,
    /// Width of the lit part of each period.
    pub stripe: usize,
    /// Pixels the stripes shift right per row (negative: left); 0 with
    /// `checker` makes a checkerboard.
    pub slope: i32,
    pub checker: bool,
    /// Alpha of lit and unlit pixels (255 when opaque).
    pub alpha: (u8, u8),
}

impl Pattern {
    fn offset(&self, y: usize) -> usize {
        let p = self.period;
        if self.checker {
            return ((y / self.stripe) % 2) * (p / 2);
        }
        let shift = (y * self.slope.unsigned_abs() as usize) % p;
        if self.slope < 0 {
            (p - shift) % p
        } else {
            shift
        }
    }
}

/// Where a row's pixels come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// The pattern.
    Pattern,
    /// The pattern darkened (text panels).
    Dim,
    /// One colour.
    Solid(Rgba),
    /// Yellow and black hazard stripes.
    Hazard,
}

/// A rectangle of the background filled in one way; later ones win.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    pub x0: usize,
    pub x1: usize,
    pub y0: usize,
    pub y1: usize,
    pub fill: Fill,
}

/// Rows sharing one tile (the vertical gradient moves in steps of this).
const BAND: usize = 32;
/// Pixels sharing one colour of the horizontal gradient.
const STEP: usize = 8;
const DARK: [u8; 3] = [10, 12, 18];
const DIM_KEEP: u32 = 64; // of 256: how much pattern shows through a panel
const DIM_ALPHA: u8 = 235;
const HAZARD_PERIOD: usize = 48;
const HAZARD: ([u8; 3], [u8; 3]) = ([255, 204, 0], [24, 24, 24]);

fn lerp(a: u8, b: u8, t: u32, of: u32) -> u8 {
    ((u32::from(a) * (of - t) + u32::from(b) * t) / of) as u8
}

fn lerp3(a: [u8; 3], b: [u8; 3], t: u32, of: u32) -> [u8; 3] {
    [
        lerp(a[0], b[0], t, of),
        lerp(a[1], b[1], t, of),
        lerp(a[2], b[2], t, of),
    ]
}

/// A tile row of the pattern around row `y`: `w + period` pixels. The
/// horizontal gradient changes every [`STEP`] pixels (too little to see),
/// so colours are worked out per step, not per pixel.
fn tile(p: &Pattern, y: usize, w: usize, h: usize, channels: usize, dim: bool) -> Vec<u8> {
    let len = w + p.period;
    let t = y.min(h - 1) as u32;
    let of = (h.max(2) - 1) as u32;
    let left = lerp3(p.corners[0], p.corners[2], t, of);
    let right = lerp3(p.corners[1], p.corners[3], t, of);
    let wf = (w.max(2) - 1) as u32;
    let (mut lit_a, mut unlit_a) = p.alpha;
    if dim {
        lit_a = lit_a.max(DIM_ALPHA);
        unlit_a = unlit_a.max(DIM_ALPHA);
    }
    let mut out = Vec::with_capacity(len * channels);
    for x0 in (0..len).step_by(STEP) {
        let base = lerp3(left, right, x0.min(w - 1) as u32, wf);
        let mut lit = lerp3(base, [255, 255, 255], 46, 256);
        let mut unlit = base;
        if dim {
            lit = lerp3(DARK, lit, DIM_KEEP, 256);
            unlit = lerp3(DARK, unlit, DIM_KEEP, 256);
        }
        let lit = [lit[0], lit[1], lit[2], lit_a];
        let unlit = [unlit[0], unlit[1], unlit[2], unlit_a];
        for x in x0..(x0 + STEP).min(len) {
            let c = if (x % p.period) < p.stripe {
                &lit
            } else {
                &unlit
            };
            out.extend_from_slice(&c[..channels]);
        }
    }
    out
}

fn hazard_tile(w: usize, channels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((w + HAZARD_PERIOD) * channels);
    for x in 0..w + HAZARD_PERIOD {
        let c = if (x % HAZARD_PERIOD) < HAZARD_PERIOD / 2 {
            HAZARD.0
        } else {
            HAZARD.1
        };
        out.extend_from_slice(&c);
        if channels == 4 {
            out.push(255);
        }
    }
    out
}

/// A canvas painted with `pattern`, then `regions` in order.
pub(crate) fn background(
    w: usize,
    h: usize,
    channels: usize,
    pattern: &Pattern,
    regions: &[Region],
) -> Canvas {
    let row_bytes = w * channels;
    let mut px = vec![0u8; row_bytes * h];
    let hazard = hazard_tile(w, channels);
    let mut solid: Vec<(Rgba, Vec<u8>)> = Vec::new();
    for r in regions {
        if let Fill::Solid(c) = r.fill
            && !solid.iter().any(|(k, _)| *k == c)
        {
            let row: Vec<u8> = (0..w).flat_map(|_| c[..channels].to_vec()).collect();
            solid.push((c, row));
        }
    }
    let mut band_tiles: Option<(usize, Vec<u8>, Option<Vec<u8>>)> = None;
    // The segments of a row: (x0, x1, fill), covering 0..w in order.
    let mut segments: Vec<(usize, usize, Fill)> = Vec::new();
    for (y, row) in px.chunks_exact_mut(row_bytes).enumerate() {
        segments.clear();
        segments.push((0, w, Fill::Pattern));
        for r in regions.iter().filter(|r| r.y0 <= y && y < r.y1) {
            overlay(&mut segments, r.x0.min(w), r.x1.min(w), r.fill);
        }
        let band = y / BAND;
        if band_tiles.as_ref().is_none_or(|(b, _, _)| *b != band) {
            band_tiles = Some((
                band,
                tile(pattern, band * BAND + BAND / 2, w, h, channels, false),
                None,
            ));
        }
        let off = pattern.offset(y);
        for &(x0, x1, fill) in &segments {
            let dst = &mut row[x0 * channels..x1 * channels];
            match fill {
                Fill::Pattern => {
                    let (_, t, _) = band_tiles.as_ref().expect("set above");
                    dst.copy_from_slice(&t[(off + x0) * channels..(off + x1) * channels]);
                }
                Fill::Dim => {
                    let (b, _, dim) = band_tiles.as_mut().expect("set above");
                    let b = *b;
                    let t = dim.get_or_insert_with(|| {
                        tile(pattern, b * BAND + BAND / 2, w, h, channels, true)
                    });
                    dst.copy_from_slice(&t[(off + x0) * channels..(off + x1) * channels]);
                }
                Fill::Solid(c) => {
                    let (_, s) = solid.iter().find(|(k, _)| *k == c).expect("made above");
                    dst.copy_from_slice(&s[x0 * channels..x1 * channels]);
                }
                Fill::Hazard => {
                    let o = y % HAZARD_PERIOD;
                    dst.copy_from_slice(&hazard[(o + x0) * channels..(o + x1) * channels]);
                }
            }
        }
    }
    Canvas { w, h, channels, px }
}

/// Puts `fill` over `x0..x1` of a row's segments.
fn overlay(segments: &mut Vec<(usize, usize, Fill)>, x0: usize, x1: usize, fill: Fill) {
    if x0 >= x1 {
        return;
    }
    let mut out = Vec::with_capacity(segments.len() + 2);
    for &(a, b, f) in segments.iter() {
        if b <= x0 || a >= x1 {
            out.push((a, b, f));
            continue;
        }
        if a < x0 {
            out.push((a, x0, f));
        }
        if b > x1 {
            out.push((x1, b, f));
        }
    }
    out.push((x0, x1, fill));
    out.sort_by_key(|s| s.0);
    *segments = out;
}
