//! Image files ↔ tensors, following the official preprocessing (ICE: icetk/ice_tokenizer.py: PIL open →
//! `pil_to_tensor` → torchvision `Resize(size)` + `CenterCrop(size)` → `/255`) and CogView2's saving
//! (`save_image`: `x·255 + 0.5`, clamp to [0, 255], truncate to u8).

use std::io::Cursor;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::{ImageReader, RgbImage};

use crate::error::{Result, VqvaeError};

/// Reads a PNG or JPEG file of any colour type (grey, alpha, 16-bit, palette) as 8-bit RGB.
pub fn load_image(path: impl AsRef<Path>) -> Result<RgbImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| VqvaeError::Io { path: path.into(), source })?;
    let decode_error = |source| VqvaeError::ImageDecode { path: path.into(), source };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(image::ImageError::IoError(e)))?;
    let rgb = reader.decode().map_err(decode_error)?.to_rgb8();
    check_not_empty(&rgb, &path.display().to_string())?;
    Ok(rgb)
}

/// Writes an RGB image as PNG.
pub fn save_png(image: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| VqvaeError::ImageWrite { path: path.into(), source })
}

fn check_not_empty(image: &RgbImage, what: &str) -> Result<()> {
    if image.width() == 0 || image.height() == 0 {
        return Err(VqvaeError::EmptyImage { what: what.to_string(), width: image.width(), height: image.height() });
    }
    Ok(())
}

/// torchvision `Resize(size)` then `CenterCrop(size)`: the shorter side becomes `size` (the longer one
/// `⌊size·long/short⌋`), antialiased bilinear, then the centre `size × size` square.
pub fn resize_and_center_crop(image: &RgbImage, size: u32) -> Result<RgbImage> {
    check_not_empty(image, "to resize")?;
    if size == 0 {
        return Err(VqvaeError::EmptyImage { what: "requested size".into(), width: 0, height: 0 });
    }
    let (w, h) = image.dimensions();
    let (short, long) = (w.min(h) as u64, w.max(h) as u64);
    let new_long = (size as u64 * long / short) as u32;
    let (new_w, new_h) = if w <= h { (size, new_long) } else { (new_long, size) };
    let resized = resize_bilinear(image, new_w, new_h);
    center_crop(&resized, size, size)
}

/// torchvision `CenterCrop`: offsets `round((side − crop) / 2)` with Python's round-half-to-even.
pub fn center_crop(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage> {
    check_not_empty(image, "to crop")?;
    let (w, h) = image.dimensions();
    if width == 0 || height == 0 || width > w || height > h {
        return Err(VqvaeError::BadShape {
            what: format!("crop {width}x{height} of a {w}x{h} image"),
            found: vec![width as usize, height as usize],
            expected: format!("a non-empty crop within {w}x{h}"),
        });
    }
    let offset = |excess: u32| {
        let half = excess / 2;
        // An odd excess puts the centre on .5: Python rounds that to the even neighbour.
        if excess % 2 == 1 && half % 2 == 1 {
            half + 1
        } else {
            half
        }
    };
    let (left, top) = (offset(w - width), offset(h - height));
    Ok(image::imageops::crop_imm(image, left, top, width, height).to_image())
}

/// Antialiased bilinear resize as torch's `interpolate(..., antialias=True)` / PIL on u8 images: a triangle
/// filter widened by the downscale factor, pixel-centre aligned, width pass then height pass, each rounded to u8.
pub fn resize_bilinear(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if (w, h) == (width, height) {
        return image.clone();
    }
    let horizontal = if w == width {
        image.clone()
    } else {
        let taps = filter_taps(w as usize, width as usize);
        RgbImage::from_fn(width, h, |x, y| {
            let t = &taps[x as usize];
            blend(t, |j| image.get_pixel(j as u32, y).0)
        })
    };
    if h == height {
        return horizontal;
    }
    let taps = filter_taps(h as usize, height as usize);
    RgbImage::from_fn(width, height, |x, y| {
        let t = &taps[y as usize];
        blend(t, |j| horizontal.get_pixel(x, j as u32).0)
    })
}

/// Source range start and normalised weights of one output sample.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

fn filter_taps(input: usize, output: usize) -> Vec<Taps> {
    let scale = input as f64 / output as f64;
    let stretch = scale.max(1.0);
    let support = stretch;
    (0..output)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let start = ((centre - support + 0.5).floor().max(0.0)) as usize;
            let end = ((centre + support + 0.5).floor() as usize).min(input);
            let raw: Vec<f64> = (start..end)
                .map(|j| (1.0 - ((j as f64 - centre + 0.5) / stretch).abs()).max(0.0))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw.iter().map(|w| if total > 0.0 { (w / total) as f32 } else { 0.0 }).collect();
            Taps { start, weights }
        })
        .collect()
}

fn blend(taps: &Taps, pixel: impl Fn(usize) -> [u8; 3]) -> image::Rgb<u8> {
    let mut acc = [0f32; 3];
    for (k, weight) in taps.weights.iter().enumerate() {
        let p = pixel(taps.start + k);
        for c in 0..3 {
            acc[c] += weight * p[c] as f32;
        }
    }
    image::Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8))
}

/// Stacks same-sized RGB images into `[B, 3, H, W]` floats in [0, 1] (`pil_to_tensor` then `/255`).
pub fn images_to_tensor<B: Backend>(images: &[RgbImage], device: &B::Device) -> Result<Tensor<B, 4>> {
    let first = images.first().ok_or(VqvaeError::EmptyBatch)?;
    let (w, h) = first.dimensions();
    check_not_empty(first, "0 of the batch")?;
    let plane = (w * h) as usize;
    let mut values = Vec::with_capacity(images.len() * 3 * plane);
    for (index, image) in images.iter().enumerate() {
        if image.dimensions() != (w, h) {
            return Err(VqvaeError::BatchSizeMismatch { index, found: image.dimensions(), expected: (w, h) });
        }
        // Interleaved HWC bytes → planar CHW.
        for c in 0..3 {
            values.extend(image.as_raw().iter().skip(c).step_by(3).map(|&v| v as f32 / 255.0));
        }
    }
    let data = TensorData::new(values, [images.len(), 3, h as usize, w as usize]);
    Ok(Tensor::from_data(data, device))
}

/// `[B, 3, H, W]` de-normalised images → RGB: `clamp(x·255 + 0.5, 0, 255)` truncated to u8, as `save_image`.
pub fn tensor_to_images<B: Backend>(images: Tensor<B, 4>) -> Result<Vec<RgbImage>> {
    let [b, c, h, w] = images.dims();
    if c != 3 || h == 0 || w == 0 {
        return Err(VqvaeError::BadShape {
            what: "image tensor".into(),
            found: vec![b, c, h, w],
            expected: "[B, 3, H ≥ 1, W ≥ 1]".into(),
        });
    }
    let bytes = (images * 255.0 + 0.5).clamp(0.0, 255.0).into_data().convert::<f32>();
    let values = bytes.as_slice::<f32>().map_err(|e| VqvaeError::BadShape {
        what: format!("image tensor data ({e:?})"),
        found: vec![b, c, h, w],
        expected: "float data".into(),
    })?;
    let plane = h * w;
    Ok((0..b)
        .map(|i| {
            let base = i * 3 * plane;
            RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let at = y as usize * w + x as usize;
                image::Rgb([0, 1, 2].map(|ch| values[base + ch * plane + at] as u8))
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_offsets_round_half_to_even_like_python() {
        let img = RgbImage::from_fn(10, 10, |x, y| image::Rgb([x as u8, y as u8, 0]));
        // excess 1 → round(0.5) = 0; excess 3 → round(1.5) = 2; excess 5 → round(2.5) = 2.
        for (crop, expected) in [(9, 0), (7, 2), (5, 2), (6, 2)] {
            let out = center_crop(&img, crop, crop).unwrap();
            assert_eq!(out.get_pixel(0, 0).0[0], expected, "crop {crop}");
        }
    }

    #[test]
    fn resize_keeps_aspect_and_constant_images() {
        let img = RgbImage::from_pixel(300, 200, image::Rgb([10, 200, 77]));
        let out = resize_and_center_crop(&img, 64).unwrap();
        assert_eq!(out.dimensions(), (64, 64));
        assert!(out.pixels().all(|p| p.0 == [10, 200, 77]));
    }

    #[test]
    fn bilinear_upscale_interpolates_between_pixel_centres() {
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 0 } else { 200 }; 3]));
        let out = resize_bilinear(&img, 4, 1);
        // Output centres at 0.25, 0.75, 1.25, 1.75 of input pixels: 0, 50, 150, 200.
        let row: Vec<u8> = out.pixels().map(|p| p.0[0]).collect();
        assert_eq!(row, vec![0, 50, 150, 200]);
    }

    #[test]
    fn zero_sized_image_is_an_error() {
        let img = RgbImage::new(0, 5);
        assert!(matches!(resize_and_center_crop(&img, 8), Err(VqvaeError::EmptyImage { .. })));
    }
}
