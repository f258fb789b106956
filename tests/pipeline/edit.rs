//! Text-guided editing on the tiny model set of `common`: final size S = 96 px (12×12 codes), low-res size 32 px
//! (4×4 codes).

use cogview2::core::edit_geometry::box_to_pixel_mask;
use cogview2::core::CoreError;
use cogview2::vqvae::resize_and_center_crop;
use cogview2::{CpuBackend as B, EditRegion, EditRequest, EditTokens, Error, Progress, Stage};
use crate::common::{pipeline, token_vec};
use image::{GrayImage, Luma, Rgb, RgbImage};

/// A 120×100 picture with structure everywhere (not square, so the resize and centre crop matter).
fn picture() -> RgbImage {
    RgbImage::from_fn(120, 100, |x, y| Rgb([(x * 2) as u8, (y * 2 + x) as u8, ((x ^ y) * 3) as u8]))
}

fn edit_request(region: EditRegion, batch_size: usize) -> EditRequest {
    EditRequest {
        batch_size,
        max_inference_batch_size: 2,
        seed: 5,
        ..EditRequest::new(picture(), region, "a red circle")
    }
}

fn boxed(h0: f64, w0: f64, h1: f64, w1: f64) -> EditRegion {
    EditRegion::Box { h0, w0, h1, w1 }
}

/// Every sample's cells outside `mask` equal `original`'s.
fn assert_unchanged_outside(what: &str, tokens: &[i64], original: &[i64], mask: &[bool]) {
    let n = mask.len();
    assert_eq!(tokens.len() % n, 0);
    for (s, sample) in tokens.chunks(n).enumerate() {
        for (c, (&t, &o)) in sample.iter().zip(original).enumerate() {
            if !mask[c] {
                assert_eq!(t, o, "{what}: sample {s}, cell {c} outside the mask changed");
            }
        }
    }
}

/// Pixels outside the crop of each pasted image equal the prepared input's.
fn assert_pasted_only_in_crop(tokens: &EditTokens<B>, pasted: &[RgbImage]) {
    let crop = tokens.geometry.crop;
    for image in pasted {
        assert_eq!(image.dimensions(), tokens.image.dimensions());
        for (x, y, p) in image.enumerate_pixels() {
            let inside =
                (crop.top..crop.bottom).contains(&(y as usize)) && (crop.left..crop.right).contains(&(x as usize));
            if !inside {
                assert_eq!(p, tokens.image.get_pixel(x, y), "pixel ({x}, {y}) outside the crop changed");
            }
        }
    }
}

#[test]
fn edit_changes_only_the_masked_region_through_every_stage() {
    let pipeline = pipeline();
    let size = pipeline.image_size()[0];
    // Rows 28..57, columns 24..52 of 96: crop side ⌊29·20/14⌋ = 41 > 32, so DSR and ITERSR run.
    let req = edit_request(boxed(0.3, 0.25, 0.6, 0.55), 3);
    let mut stages = Vec::new();
    let tokens = pipeline.edit_tokens(&req, &mut |p: Progress| stages.push(p)).unwrap();
    assert_eq!(tokens.image, resize_and_center_crop(&picture(), size as u32).unwrap());
    let g = &tokens.geometry;
    assert_eq!((g.inner.top, g.inner.left, g.inner.bottom, g.inner.right), (28, 24, 57, 52));
    assert_eq!(g.crop.height(), 41);
    assert!(g.crop.top <= g.inner.top && g.crop.bottom >= g.inner.bottom);
    assert!(g.crop.left <= g.inner.left && g.crop.right >= g.inner.right);

    // Low res: CogLM re-draws only the masked cells.
    let n_lo = pipeline.lowres_grid().iter().product::<usize>();
    assert_eq!(tokens.lowres.dims(), [3, n_lo]);
    assert!(tokens.lowres_mask.iter().any(|&m| m) && !tokens.lowres_mask.iter().all(|&m| m));
    let lo_original = token_vec(tokens.lowres_original.clone());
    let lowres = token_vec(tokens.lowres.clone());
    assert_unchanged_outside("completion", &lowres, &lo_original, &tokens.lowres_mask);
    // And it does re-draw: some masked cell of some sample differs from the original crop.
    let redrawn = lowres.chunks(n_lo).any(|s| (0..n_lo).any(|c| tokens.lowres_mask[c] && s[c] != lo_original[c]));
    assert!(redrawn, "completion left every masked cell as it was");

    // Hi res: outside the hi-res mask the original crop's codes survive the replacement and ITERSR.
    let hires = tokens.hires.as_ref().expect("a crop larger than the low-res image is super-resolved");
    let n_hi = pipeline.hires_grid().iter().product::<usize>();
    assert_eq!(hires.mask.len(), n_hi);
    assert!(hires.mask.iter().any(|&m| m) && !hires.mask.iter().all(|&m| m));
    let original = token_vec(hires.original.clone());
    let (dsr, replaced, refined) =
        (token_vec(hires.dsr.clone()), token_vec(hires.replaced.clone()), token_vec(hires.refined.clone()));
    assert_unchanged_outside("replacement", &replaced, &original, &hires.mask);
    assert_unchanged_outside("ITERSR", &refined, &original, &hires.mask);
    // Inside the mask the replacement keeps DSR's codes.
    for (r, d) in replaced.chunks(n_hi).zip(dsr.chunks(n_hi)) {
        assert!(hires.mask.iter().zip(r.iter().zip(d)).all(|(&m, (r, d))| !m || r == d));
    }
    for stage in [Stage::Completion, Stage::DirectSuperResolution, Stage::IterativeSuperResolution] {
        let p = stages.iter().rev().find(|p| p.stage == stage).copied().unwrap();
        assert_eq!(p.done, p.total, "{stage:?} finished");
    }

    // Pixels: the pasted images differ from the input only inside the crop, and the result is their codec round
    // trip. (Outside the crop the result is not the plain round trip of the input: the codec's mid-block attention
    // sees the whole image, so the pasted crop moves every code a little.)
    let pasted = pipeline.paste_edit(&tokens, &mut |_| {}).unwrap();
    assert_eq!(pasted.len(), 3);
    assert_pasted_only_in_crop(&tokens, &pasted);
    let images = pipeline.edit(&req).unwrap();
    assert_eq!(images, pipeline.round_trip(&pasted).unwrap());
    assert!(images.iter().all(|im| im.dimensions() == (size as u32, size as u32)));
    // Seeded: the same request gives the same images.
    assert_eq!(pipeline.edit(&req).unwrap(), images);
}

#[test]
fn small_crops_are_decoded_at_low_res_and_masks_of_every_kind_agree() {
    let pipeline = pipeline();
    let size = pipeline.image_size()[0];
    // Rows and columns 38..48 of 96: crop side 14 ≤ 32, no super-resolution.
    let req = edit_request(boxed(0.4, 0.4, 0.5, 0.5), 2);
    let tokens = pipeline.edit_tokens(&req, &mut |_| {}).unwrap();
    assert!(tokens.hires.is_none());
    assert_eq!(tokens.geometry.crop.height(), 14);
    let lo_original = token_vec(tokens.lowres_original.clone());
    assert_unchanged_outside("completion", &token_vec(tokens.lowres.clone()), &lo_original, &tokens.lowres_mask);
    let pasted = pipeline.paste_edit(&tokens, &mut |_| {}).unwrap();
    assert_pasted_only_in_crop(&tokens, &pasted);
    assert_eq!(pipeline.edit(&req).unwrap(), pipeline.round_trip(&pasted).unwrap());

    // The same region as a pixel mask, and as a grey mask drawn on an S×S input, edits identically.
    let pixels = box_to_pixel_mask([0.4, 0.4, 0.5, 0.5], size).unwrap();
    let as_pixels = pipeline.edit_tokens(&edit_request(EditRegion::Pixels(pixels.clone()), 2), &mut |_| {}).unwrap();
    assert_eq!(as_pixels.geometry, tokens.geometry);
    assert_eq!(token_vec(as_pixels.lowres), token_vec(tokens.lowres.clone()));
    let grey = GrayImage::from_fn(size as u32, size as u32, |x, y| {
        Luma([if pixels[y as usize * size + x as usize] { 255 } else { 0 }])
    });
    let square = EditRequest { image: tokens.image.clone(), ..edit_request(EditRegion::Mask(grey), 2) };
    let (_, geometry) = pipeline.edit_geometry(&square).unwrap();
    assert_eq!(geometry, tokens.geometry);
    // A grey mask of the input's own size follows the image's resize and crop: 120×100 → 115×96, 10 px cut left.
    let drawn = GrayImage::from_fn(120, 100, |x, _| Luma([if (60..80).contains(&x) { 255 } else { 0 }]));
    let (_, geometry) = pipeline.edit_geometry(&edit_request(EditRegion::Mask(drawn), 1)).unwrap();
    let columns: Vec<usize> = (0..size).filter(|&c| geometry.pixel_mask[c]).collect();
    assert!(geometry.pixel_mask.chunks(size).all(|row| row == &geometry.pixel_mask[..size]), "every row alike");
    let (first, last) = (columns[0], *columns.last().unwrap());
    assert!((47..=50).contains(&first) && (64..=67).contains(&last), "{first}..={last}");
}

#[test]
fn bad_edit_requests_are_typed_errors() {
    let pipeline = pipeline();
    let size = pipeline.image_size()[0];
    let edit = |region, batch| pipeline.edit(&edit_request(region, batch));
    for b in
        [boxed(-0.1, 0.0, 0.5, 0.5), boxed(0.0, 0.0, 1.2, 0.5), boxed(0.6, 0.0, 0.5, 0.5), boxed(0.0, 0.6, 0.5, 0.5)]
    {
        assert!(matches!(edit(b.clone(), 1), Err(Error::Core(CoreError::InvalidBox { .. }))), "{b:?}");
    }
    assert!(matches!(edit(boxed(0.5, 0.0, 0.5, 1.0), 1), Err(Error::Core(CoreError::EmptyMask { .. }))));
    assert!(matches!(
        edit(EditRegion::Pixels(vec![false; size * size]), 1),
        Err(Error::Core(CoreError::EmptyMask { .. }))
    ));
    assert!(matches!(
        edit(EditRegion::Mask(GrayImage::new(120, 100)), 1),
        Err(Error::Core(CoreError::EmptyMask { .. }))
    ));
    assert!(matches!(edit(EditRegion::Pixels(vec![true; 10]), 1), Err(Error::InvalidRequest(_))));
    assert!(matches!(edit(boxed(0.2, 0.2, 0.6, 0.6), 0), Err(Error::InvalidRequest(_))));
    let empty_prompt = EditRequest { prompt: " ".into(), ..edit_request(boxed(0.2, 0.2, 0.6, 0.6), 1) };
    assert!(matches!(pipeline.edit(&empty_prompt), Err(Error::EmptyPrompt)));
    let empty_image = EditRequest { image: RgbImage::new(0, 0), ..edit_request(boxed(0.2, 0.2, 0.6, 0.6), 1) };
    assert!(matches!(pipeline.edit(&empty_image), Err(Error::Vqvae(_))));
}
