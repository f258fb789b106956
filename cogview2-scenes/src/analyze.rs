//! A deterministic analyzer for single-object scenes, for scoring generated images against their prompts.
//!
//! Background: the most frequent border colour. Object colour: the palette colour that best explains the
//! non-background pixels as blends between background and object (so anti-aliased fringes and tiny objects
//! with no fully covered pixel still resolve). Coverage of each pixel: its projection on the
//! background→object segment. Shape: area divided by the bounding box area, where the box sides are sums of
//! per-column and per-row maximum coverage (sub-pixel extents): circle π/4, square 1, triangle 1/2.
//! Position: the coverage-weighted centroid's 3×3 cell.

use std::collections::HashMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::caption::Mention;
use crate::error::{Result, ScenesError};
use crate::palette::{distance2, Colour};
use crate::position::Position;
use crate::scene::Combo;
use crate::shape::Shape;

/// Pixels closer than this (squared RGB distance) to the background are background.
const BACKGROUND_TOLERANCE2: u32 = 24 * 24;
/// Fill ratio below which a shape is a triangle (between 1/2 and π/4). Above the midpoint because the
/// sub-pixel box of a small triangle comes out short (its apex and base corners cover little of their
/// pixels), which raises its ratio: measured on 3 000 scenes at 48 px, triangles ≤ 0.65 and circles ≥ 0.76.
const TRIANGLE_BELOW: f64 = 0.70;
/// Fill ratio above which a shape is a square (between π/4 and 1; measured at 48 px: circles ≤ 0.83,
/// squares ≥ 0.99).
const SQUARE_ABOVE: f64 = 0.91;

/// What the analyzer read from an image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Nearest palette colour of the border mode.
    pub background: Colour,
    /// Object colour.
    pub colour: Colour,
    /// Object shape.
    pub shape: Shape,
    /// Cell of the object's centroid.
    pub position: Position,
    /// Object area over bounding-box area.
    pub fill_ratio: f64,
    /// Coverage-weighted centroid `(x, y)` in pixels.
    pub centroid: [f64; 2],
    /// Object area in pixels (sum of coverage).
    pub area: f64,
}

impl Analysis {
    /// The (colour, shape, position) read from the image.
    pub fn combo(&self) -> Combo {
        Combo {
            colour: self.colour,
            shape: self.shape,
            position: self.position,
        }
    }

    /// Whether the image agrees with every attribute `mention` names (unnamed attributes always agree).
    pub fn agrees_with(&self, mention: &Mention) -> bool {
        mention.colour.is_none_or(|c| c == self.colour)
            && mention.shape.is_none_or(|s| s == self.shape)
            && mention.position.is_none_or(|p| p == self.position)
    }
}

/// Analyses an image holding one object on a solid background.
pub fn analyze(image: &RgbImage) -> Result<Analysis> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(ScenesError::ZeroSize);
    }
    let bg = border_mode(image);
    let foreground: Vec<[u8; 3]> = image
        .pixels()
        .map(|p| p.0)
        .filter(|&p| distance2(p, bg) > BACKGROUND_TOLERANCE2)
        .collect();
    let no_object = ScenesError::NoObject { width, height };
    if foreground.is_empty() {
        return Err(no_object);
    }
    let background = Colour::nearest(bg);
    let colour = Colour::ALL
        .into_iter()
        .filter(|&c| c != background)
        .map(|c| {
            let residual: f64 = foreground
                .iter()
                .map(|&p| blend_fit(p, bg, c.rgb()).1)
                .sum();
            (c, residual)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
        .ok_or(no_object.clone())?;

    let fg = colour.rgb();
    let (w, h) = (width as usize, height as usize);
    let mut column_max = vec![0f64; w];
    let mut row_max = vec![0f64; h];
    let (mut area, mut sx, mut sy) = (0f64, 0f64, 0f64);
    for (x, y, p) in image.enumerate_pixels() {
        if distance2(p.0, bg) <= BACKGROUND_TOLERANCE2 {
            continue;
        }
        let alpha = blend_fit(p.0, bg, fg).0;
        area += alpha;
        sx += alpha * (f64::from(x) + 0.5);
        sy += alpha * (f64::from(y) + 0.5);
        column_max[x as usize] = column_max[x as usize].max(alpha);
        row_max[y as usize] = row_max[y as usize].max(alpha);
    }
    if area <= 0.0 {
        return Err(no_object);
    }
    let box_w: f64 = column_max.iter().sum();
    let box_h: f64 = row_max.iter().sum();
    let fill_ratio = area / (box_w * box_h);
    let shape = if fill_ratio < TRIANGLE_BELOW {
        Shape::Triangle
    } else if fill_ratio > SQUARE_ABOVE {
        Shape::Square
    } else {
        Shape::Circle
    };
    let centroid = [sx / area, sy / area];
    let cell = |v: f64, side: u32| ((v / f64::from(side) * 3.0).floor().clamp(0.0, 2.0)) as usize;
    let position = Position::from_cell(cell(centroid[1], height), cell(centroid[0], width))
        .ok_or(no_object)?;
    Ok(Analysis {
        background,
        colour,
        shape,
        position,
        fill_ratio,
        centroid,
        area,
    })
}

/// Most frequent colour along the image border (ties: the smallest RGB value, for determinism).
fn border_mode(image: &RgbImage) -> [u8; 3] {
    let (width, height) = image.dimensions();
    let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
    for x in 0..width {
        for y in [0, height - 1] {
            *counts.entry(image.get_pixel(x, y).0).or_default() += 1;
        }
    }
    for y in 0..height {
        for x in [0, width - 1] {
            *counts.entry(image.get_pixel(x, y).0).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or([0, 0, 0], |(rgb, _)| rgb)
}

/// Best blend weight `t` in [0, 1] with `p ≈ bg + t·(fg − bg)`, and the squared residual of that fit.
fn blend_fit(p: [u8; 3], bg: [u8; 3], fg: [u8; 3]) -> (f64, f64) {
    let d: [f64; 3] = std::array::from_fn(|i| f64::from(fg[i]) - f64::from(bg[i]));
    let q: [f64; 3] = std::array::from_fn(|i| f64::from(p[i]) - f64::from(bg[i]));
    let norm2: f64 = d.iter().map(|v| v * v).sum();
    let t = if norm2 > 0.0 {
        (d.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>() / norm2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let residual = d.iter().zip(&q).map(|(a, b)| (b - t * a).powi(2)).sum();
    (t, residual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_images_are_errors() {
        let blank = RgbImage::from_pixel(16, 16, image::Rgb(Colour::Blue.rgb()));
        assert!(matches!(analyze(&blank), Err(ScenesError::NoObject { .. })));
        assert!(matches!(
            analyze(&RgbImage::new(0, 0)),
            Err(ScenesError::ZeroSize)
        ));
    }
}
