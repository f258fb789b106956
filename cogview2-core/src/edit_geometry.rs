//! Pixel and grid geometry of text-guided editing (CV2: `comp_pipeline/__init__.py` `cord2mask`,
//! `comp_pipeline/patch_completion.py` `_surrounding_box_crop` and its mask resizing).
//!
//! Plain index arithmetic on row-major `bool` masks, with no tensors, so the pipeline can prepare an edit
//! before anything is uploaded. Rectangles are half-open: rows `top..bottom`, columns `left..right`.

use crate::error::{CoreError, Result};

/// An axis-aligned half-open rectangle of a raster: rows `top..bottom`, columns `left..right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// One past the last row.
    pub bottom: usize,
    /// One past the last column.
    pub right: usize,
}

impl PixelBox {
    /// Rows covered.
    pub fn height(&self) -> usize {
        self.bottom - self.top
    }

    /// Columns covered.
    pub fn width(&self) -> usize {
        self.right - self.left
    }
}

/// The square crop that [`surrounding_box_crop`] cuts around an edit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SurroundingCrop {
    /// The square crop, inside the image.
    pub crop: PixelBox,
    /// The bounding box of the mask (the official `inner_box`), in image coordinates.
    pub inner: PixelBox,
}

impl SurroundingCrop {
    /// Side of the (square) crop.
    pub fn side(&self) -> usize {
        self.crop.height()
    }
}

/// The official `cord2mask`: a `size × size` row-major mask, true on rows `[⌊size·h0⌋, ⌊size·h1⌋)` × columns
/// `[⌊size·w0⌋, ⌊size·w1⌋)`.
///
/// The box is `[h0, w0, h1, w1]` as fractions of the height and width (the completion input line's four numbers,
/// in that order). Stricter than the official code, which only asserts `0 ≤ h0 ≤ 1`: every coordinate must be in
/// `[0, 1]` and `h0 ≤ h1`, `w0 ≤ w1`, else [`CoreError::InvalidBox`]; a box that covers no pixel is
/// [`CoreError::EmptyMask`].
///
/// ```
/// use cogview2_core::edit_geometry::box_to_pixel_mask;
/// let mask = box_to_pixel_mask([0.25, 0.5, 0.75, 1.0], 4).unwrap();
/// let rows: Vec<String> = mask.chunks(4).map(|r| r.iter().map(|&m| if m { '#' } else { '.' }).collect()).collect();
/// assert_eq!(rows, ["....", "..##", "..##", "...."]);
/// ```
pub fn box_to_pixel_mask(bbox: [f64; 4], size: usize) -> Result<Vec<bool>> {
    let [h0, w0, h1, w1] = bbox;
    let invalid = |reason: &str| CoreError::InvalidBox { h0, w0, h1, w1, reason: reason.to_string() };
    if bbox.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(invalid("every coordinate must be a fraction in [0, 1]"));
    }
    if h1 < h0 || w1 < w0 {
        return Err(invalid("corners are swapped: need h0 <= h1 and w0 <= w1 (order h0, w0, h1, w1)"));
    }
    // Python's int() of a non-negative float: truncation = floor.
    let px = |v: f64| ((size as f64 * v) as usize).min(size);
    let (top, bottom, left, right) = (px(h0), px(h1), px(w0), px(w1));
    if top >= bottom || left >= right {
        return Err(CoreError::EmptyMask { what: format!("box covers no pixel of the {size}x{size} image") });
    }
    let mut mask = vec![false; size * size];
    for row in mask.chunks_mut(size.max(1)).take(bottom).skip(top) {
        row[left..right].fill(true);
    }
    Ok(mask)
}

/// Bounding box of the true cells of a row-major `[rows, cols]` mask.
pub fn mask_bounding_box(mask: &[bool], shape: [usize; 2]) -> Result<PixelBox> {
    check_len(mask, shape)?;
    let [rows, cols] = shape;
    let mut found: Option<PixelBox> = None;
    for r in 0..rows {
        for c in (0..cols).filter(|&c| mask[r * cols + c]) {
            let b = found.get_or_insert(PixelBox { top: r, left: c, bottom: r + 1, right: c + 1 });
            b.left = b.left.min(c);
            b.right = b.right.max(c + 1);
            b.bottom = r + 1;
        }
    }
    found.ok_or_else(|| CoreError::EmptyMask { what: format!("{rows}x{cols} mask") })
}

/// The official `_surrounding_box_crop` of a `size × size` mask: the square crop that holds the mask's bounding
/// box with margin, so the box fills about 14/20 of the 20×20 grid the crop is encoded to.
///
/// Side `L = max(⌊bh·20/14⌋, ⌊bw·20/14⌋)` for a bounding box of `bh × bw`; the square is centred on the box
/// centre (top-left corner truncated) and shifted inside the image where it would cross an edge. If `L ≥ size`
/// the crop is the whole image.
///
/// Official quirk, kept for parity: the truncations can shift the square off a box only a few pixels wide (a
/// 1-pixel mask at row 100 gets the crop row 99), so very small masks may fall partly outside their crop.
///
/// ```
/// use cogview2_core::edit_geometry::{box_to_pixel_mask, surrounding_box_crop};
/// let mask = box_to_pixel_mask([0.25, 0.25, 0.5, 0.5], 480).unwrap(); // 120×120 at (120, 120)
/// let c = surrounding_box_crop(&mask, 480).unwrap();
/// assert_eq!(c.side(), 171); // ⌊120·20/14⌋
/// assert_eq!((c.crop.top, c.crop.left), (94, 94)); // ⌊179.5 − 85.5⌋
/// ```
pub fn surrounding_box_crop(mask: &[bool], size: usize) -> Result<SurroundingCrop> {
    let inner = mask_bounding_box(mask, [size, size])?;
    // Integer part of n·20/14, as Python's int() of the float product.
    let side_of = |n: usize| (n as f64 * 20.0 / 14.0) as usize;
    let side = side_of(inner.height()).max(side_of(inner.width()));
    if side >= size {
        return Ok(SurroundingCrop { crop: PixelBox { top: 0, left: 0, bottom: size, right: size }, inner });
    }
    // Centre of the inclusive box (h0 + h1) / 2, with h1 the last covered row.
    let corner = |first: usize, end: usize| {
        let centre = (first + end - 1) as f64 / 2.0;
        let half = side as f64 / 2.0;
        // The official code truncates centre ± half and moves the square back inside the image: first clamp at 0,
        // then, if the far edge reaches the border, flush with it.
        let mut start = (centre - half).max(0.0) as usize;
        if (centre + half) as usize >= size {
            start = size - side;
        }
        start
    };
    let top = corner(inner.top, inner.bottom);
    let left = corner(inner.left, inner.right);
    Ok(SurroundingCrop { crop: PixelBox { top, left, bottom: top + side, right: left + side }, inner })
}

/// The cells of a row-major `[rows, cols]` mask inside `region`, row-major `[region.height(), region.width()]`.
pub fn crop_mask(mask: &[bool], shape: [usize; 2], region: PixelBox) -> Result<Vec<bool>> {
    check_len(mask, shape)?;
    let [rows, cols] = shape;
    if region.top > region.bottom || region.left > region.right || region.bottom > rows || region.right > cols {
        return Err(CoreError::Shape(format!("crop {region:?} is not inside the {rows}x{cols} mask")));
    }
    Ok((region.top..region.bottom)
        .flat_map(|r| mask[r * cols + region.left..r * cols + region.right].iter().copied())
        .collect())
}

/// PyTorch's `F.interpolate(mask, size=out, mode="nearest") ≥ 0.5` of a 0/1 mask: output cell `(i, j)` takes the
/// input cell `(⌊i·in_h/out_h⌋, ⌊j·in_w/out_w⌋)` (scales in f32, as PyTorch computes them).
///
/// ```
/// use cogview2_core::edit_geometry::downsample_mask;
/// let mask = [true, true, false, false,
///             true, true, false, false,
///             false, false, false, false,
///             false, false, false, true];
/// assert_eq!(downsample_mask(&mask, [4, 4], [2, 2]).unwrap(), [true, false, false, false]);
/// ```
pub fn downsample_mask(mask: &[bool], input: [usize; 2], output: [usize; 2]) -> Result<Vec<bool>> {
    check_len(mask, input)?;
    let [in_h, in_w] = input;
    let [out_h, out_w] = output;
    if out_h == 0 || out_w == 0 || in_h == 0 || in_w == 0 {
        return Err(CoreError::Shape(format!("cannot resize a {in_h}x{in_w} mask to {out_h}x{out_w}")));
    }
    let rows: Vec<usize> = (0..out_h).map(|i| nearest_source(i, in_h, out_h)).collect();
    let cols: Vec<usize> = (0..out_w).map(|j| nearest_source(j, in_w, out_w)).collect();
    Ok(rows.iter().flat_map(|&r| cols.iter().map(move |&c| mask[r * in_w + c])).collect())
}

/// PyTorch's nearest source index (`nearest_idx`): identity for equal sizes, halving for a 2× upscale, otherwise
/// `min(⌊dst · (in/out)⌋, in − 1)` with the scale and product in f32.
fn nearest_source(dst: usize, input: usize, output: usize) -> usize {
    if input == output {
        dst
    } else if output == 2 * input {
        dst / 2
    } else {
        let scale = input as f32 / output as f32;
        ((dst as f32 * scale).floor() as usize).min(input - 1)
    }
}

fn check_len(mask: &[bool], [rows, cols]: [usize; 2]) -> Result<()> {
    if mask.len() != rows * cols {
        return Err(CoreError::Shape(format!("mask has {} cells, shape {rows}x{cols} needs {}", mask.len(), rows * cols)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(mask: &[bool]) -> usize {
        mask.iter().filter(|&&m| m).count()
    }

    #[test]
    fn cord2mask_floors_both_edges() {
        // 480·0.1 = 48, 480·0.3333 = 159.98 → 159, 480·0.5 = 240, 480·0.999 = 479.52 → 479.
        let mask = box_to_pixel_mask([0.1, 0.5, 0.3333, 0.999], 480).unwrap();
        let b = mask_bounding_box(&mask, [480, 480]).unwrap();
        assert_eq!(b, PixelBox { top: 48, left: 240, bottom: 159, right: 479 });
        assert_eq!(count(&mask), 111 * 239);
        let full = box_to_pixel_mask([0.0, 0.0, 1.0, 1.0], 480).unwrap();
        assert_eq!(count(&full), 480 * 480);
    }

    #[test]
    fn bad_boxes_are_typed_errors() {
        for b in [[-0.1, 0.0, 0.5, 0.5], [0.0, 0.0, 1.5, 0.5], [0.0, f64::NAN, 0.5, 0.5]] {
            assert!(matches!(box_to_pixel_mask(b, 480), Err(CoreError::InvalidBox { .. })), "{b:?}");
        }
        assert!(matches!(box_to_pixel_mask([0.6, 0.0, 0.5, 0.5], 480), Err(CoreError::InvalidBox { .. })));
        assert!(matches!(box_to_pixel_mask([0.0, 0.6, 0.5, 0.5], 480), Err(CoreError::InvalidBox { .. })));
        // Degenerate: same edge, or thinner than a pixel.
        assert!(matches!(box_to_pixel_mask([0.5, 0.0, 0.5, 1.0], 480), Err(CoreError::EmptyMask { .. })));
        assert!(matches!(box_to_pixel_mask([0.5, 0.0, 0.501, 1.0], 480), Err(CoreError::EmptyMask { .. })));
        assert!(matches!(surrounding_box_crop(&[false; 16], 4), Err(CoreError::EmptyMask { .. })));
        assert!(matches!(surrounding_box_crop(&[true; 15], 4), Err(CoreError::Shape(_))));
    }

    /// The official arithmetic written out with floats, to cross-check the integer implementation.
    fn official_crop(h0: usize, w0: usize, h1: usize, w1: usize, size: usize) -> (usize, usize, usize) {
        let (hc, wc) = ((h0 + h1) as f64 / 2.0, (w0 + w1) as f64 / 2.0);
        let lenh = ((h1 - h0 + 1) as f64 * 20.0 / 14.0) as i64;
        let lenw = ((w1 - w0 + 1) as f64 * 20.0 / 14.0) as i64;
        let len = lenh.max(lenw);
        if len >= size as i64 {
            return (0, 0, size);
        }
        let place = |c: f64| {
            let mut s = (c - len as f64 / 2.0) as i64; // int() truncates toward zero
            if s < 0 {
                s = 0;
            }
            if (c + len as f64 / 2.0) as i64 >= size as i64 {
                s = size as i64 - len;
            }
            s as usize
        };
        (place(hc), place(wc), len as usize)
    }

    #[test]
    fn surrounding_crop_matches_the_official_arithmetic() {
        let size = 480;
        // Boxes in the middle, at every edge and corner, tiny and large (inclusive last row/col).
        let boxes = [
            (120, 120, 239, 239),
            (0, 0, 9, 9),
            (470, 470, 479, 479),
            (0, 200, 99, 259),
            (400, 0, 479, 50),
            (100, 100, 100, 100),
            (10, 300, 340, 310),
            (0, 0, 335, 10),
            (0, 0, 336, 10),
            (1, 2, 478, 477),
            (240, 240, 240, 479),
        ];
        for (h0, w0, h1, w1) in boxes {
            let mut mask = vec![false; size * size];
            // A ring, not a filled box: the bounding box must come from the extremes only.
            for r in h0..=h1 {
                for c in w0..=w1 {
                    mask[r * size + c] = r == h0 || r == h1 || c == w0 || c == w1;
                }
            }
            let got = surrounding_box_crop(&mask, size).unwrap();
            assert_eq!(got.inner, PixelBox { top: h0, left: w0, bottom: h1 + 1, right: w1 + 1 });
            let (top, left, side) = official_crop(h0, w0, h1, w1, size);
            assert_eq!((got.crop.top, got.crop.left, got.side()), (top, left, side), "box {h0} {w0} {h1} {w1}");
            assert_eq!(got.crop.width(), got.crop.height());
            assert!(got.crop.bottom <= size && got.crop.right <= size);
            // Boxes that are not tiny always lie inside their crop (see the quirk test for tiny ones).
            if h1 - h0 >= 9 && w1 - w0 >= 9 {
                assert!(got.crop.top <= h0 && got.crop.left <= w0 && got.crop.bottom > h1 && got.crop.right > w1);
            }
        }
    }

    #[test]
    fn tiny_masks_can_fall_outside_their_crop_as_officially() {
        // One pixel at (100, 100): side ⌊20/14⌋ = 1, corner ⌊100 − 0.5⌋ = 99, so the crop is pixel (99, 99).
        let mut mask = vec![false; 480 * 480];
        mask[100 * 480 + 100] = true;
        let c = surrounding_box_crop(&mask, 480).unwrap();
        assert_eq!(c.crop, PixelBox { top: 99, left: 99, bottom: 100, right: 100 });
    }

    #[test]
    fn large_masks_use_the_whole_image() {
        let mask = box_to_pixel_mask([0.0, 0.0, 0.75, 0.1], 480).unwrap(); // 360 rows → ⌊514.3⌋ ≥ 480
        let c = surrounding_box_crop(&mask, 480).unwrap();
        assert_eq!(c.crop, PixelBox { top: 0, left: 0, bottom: 480, right: 480 });
        assert_eq!(c.inner, PixelBox { top: 0, left: 0, bottom: 360, right: 48 });
    }

    #[test]
    fn crop_mask_cuts_the_region() {
        let mask: Vec<bool> = (0..16).map(|i| i % 5 == 0).collect(); // the diagonal of 4×4
        let region = PixelBox { top: 1, left: 1, bottom: 3, right: 4 };
        assert_eq!(crop_mask(&mask, [4, 4], region).unwrap(), [true, false, false, false, true, false]);
        assert!(crop_mask(&mask, [4, 4], PixelBox { top: 0, left: 0, bottom: 5, right: 1 }).is_err());
    }

    #[test]
    fn downsample_picks_the_floor_source_cell() {
        // 171 → 20: scale 8.55, sources 0, 8, 17, 25, …, 162.
        let src: Vec<usize> = (0..20).map(|i| nearest_source(i, 171, 20)).collect();
        assert_eq!(&src[..4], &[0, 8, 17, 25]);
        assert_eq!(src[19], 162);
        // Identity and exact 2× cases.
        assert_eq!((0..5).map(|i| nearest_source(i, 5, 5)).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!((0..6).map(|i| nearest_source(i, 3, 6)).collect::<Vec<_>>(), [0, 0, 1, 1, 2, 2]);
        // A mask whose true cells are exactly the sampled rows/cols survives; one off them disappears.
        let mut mask = vec![false; 171 * 171];
        mask[17 * 171 + 25] = true;
        mask[18 * 171 + 25] = true;
        let small = downsample_mask(&mask, [171, 171], [20, 20]).unwrap();
        assert_eq!(small.iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| i).collect::<Vec<_>>(), [2 * 20 + 3]);
        // 480 → 60 is an exact 8× reduction: cell (i, j) reads pixel (8i, 8j).
        let big = box_to_pixel_mask([0.25, 0.25, 0.5, 0.5], 480).unwrap();
        let grid = downsample_mask(&big, [480, 480], [60, 60]).unwrap();
        assert_eq!(mask_bounding_box(&grid, [60, 60]).unwrap(), PixelBox { top: 15, left: 15, bottom: 30, right: 30 });
        assert!(downsample_mask(&big, [480, 480], [0, 60]).is_err());
        assert!(downsample_mask(&big, [48, 48], [6, 6]).is_err());
    }
}
