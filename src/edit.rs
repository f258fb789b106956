//! Text-guided editing ("completion") of a region of an image (CV2: `cogview2_completion.py`,
//! `comp_pipeline/patch_completion.py` `PatchCompletion`), with every size taken from the models (the official
//! 480 px final image, 160 px low-res image and 20×20 / 60×60 grids are the released model's values).
//!
//! The flow, for a final size `S` (hi-res grid × 8) and a low-res size `L` (low-res grid × 8):
//! 1. the image is resized (shorter side → `S`) and centre-cropped to `S × S`; the region becomes an `S × S`
//!    pixel mask;
//! 2. the square crop around the mask (the mask's bounding box fills about 14/20 of it) is resized to `L` and
//!    encoded to low-res codes; the mask, cut to the crop, is resized (nearest) to the low-res grid;
//! 3. CogLM re-draws the masked low-res cells ([`cogview2_core::complete`]);
//! 4. if the crop side is at most `L`, the low-res grid is decoded; otherwise DSR super-resolves it, the hi-res
//!    cells outside the mask are replaced by the codes of the original crop (upsampled to `S` and encoded), and
//!    ITERSR re-draws only the masked hi-res cells; the result is decoded;
//! 5. the decoded crop is resized (nearest) to the crop's side, pasted into the `S × S` image, and the whole
//!    image goes once through the codec (encode + decode at `S`), as officially.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use cogview2_core::edit_geometry::{box_to_pixel_mask, crop_mask, downsample_mask, surrounding_box_crop, PixelBox};
use cogview2_core::{complete_with, CompletionLayout};
use cogview2_sr::LocalAttentionBackend;
use cogview2_vqvae::image_io::resize_bilinear;
use cogview2_vqvae::resize_and_center_crop;
use image::imageops::FilterType;
use image::{GrayImage, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::pipeline::{Pipeline, Progress, Stage, COMPRESS_RATE};
use crate::recipe::{Recipe, Style};

/// The region of an edit.
#[derive(Debug, Clone, PartialEq)]
pub enum EditRegion {
    /// A box in fractions of the (resized, centre-cropped) image, the official input format: rows
    /// `[⌊S·h0⌋, ⌊S·h1⌋)` × columns `[⌊S·w0⌋, ⌊S·w1⌋)`. Every value in `[0, 1]`, `h0 ≤ h1`, `w0 ≤ w1`.
    Box {
        /// Top edge.
        h0: f64,
        /// Left edge.
        w0: f64,
        /// Bottom edge (exclusive).
        h1: f64,
        /// Right edge (exclusive).
        w1: f64,
    },
    /// A grey mask drawn over the input image (≥ 128 = edit). It goes through the same resize and centre crop as
    /// the image, so a mask of the input's size (or of its aspect ratio) lines up with it.
    Mask(GrayImage),
    /// A row-major `S × S` pixel mask over the resized, centre-cropped image (true = edit); `S` is
    /// [`Pipeline::image_size`].
    Pixels(Vec<bool>),
}

/// One editing request: re-draw a region of `image` to fit `prompt`.
#[derive(Debug, Clone, PartialEq)]
pub struct EditRequest {
    /// The image to edit (any size; resized and centre-cropped to the final size).
    pub image: RgbImage,
    /// What to re-draw.
    pub region: EditRegion,
    /// What the region should show.
    pub prompt: String,
    /// Template and recipe; the official completion script defaults to [`Style::None`].
    pub style: Style,
    /// Edited versions to make (the official script hard-codes 4).
    pub batch_size: usize,
    /// Samples run through a model together (memory bound).
    pub max_inference_batch_size: usize,
    /// Seed of every random draw: equal requests give equal images.
    pub seed: u64,
    /// Overrides the model's recipe (`recipe.json`), else the style's (`argmax` makes every stage deterministic).
    pub recipe: Option<Recipe>,
}

impl EditRequest {
    /// A request with the official completion defaults (style none, 4 samples, seed 1234).
    pub fn new(image: RgbImage, region: EditRegion, prompt: impl Into<String>) -> Self {
        Self {
            image,
            region,
            prompt: prompt.into(),
            style: Style::None,
            batch_size: 4,
            max_inference_batch_size: 8,
            seed: 1234,
            recipe: None,
        }
    }
}

/// Where an edit happens, in the `S × S` image.
#[derive(Debug, Clone, PartialEq)]
pub struct EditGeometry {
    /// `S`, the side of the final image.
    pub size: usize,
    /// Row-major `S × S` pixel mask (true = edit).
    pub pixel_mask: Vec<bool>,
    /// The square crop that is re-generated and pasted back.
    pub crop: PixelBox,
    /// The bounding box of the mask.
    pub inner: PixelBox,
    /// The pixel mask cut to the crop, row-major `side × side`.
    pub crop_mask: Vec<bool>,
}

/// The hi-res stages of an edit (crops larger than the low-res image).
#[derive(Debug, Clone)]
pub struct EditHires<B: Backend> {
    /// The crop mask at the hi-res grid (nearest, row-major): the only cells ITERSR re-draws.
    pub mask: Vec<bool>,
    /// Codes of the original crop upsampled (bilinear) to the final size, `[1, hi_rows·hi_cols]`.
    pub original: Tensor<B, 2, Int>,
    /// DSR of the completed low-res grids, `[batch, hi_rows·hi_cols]`.
    pub dsr: Tensor<B, 2, Int>,
    /// `dsr` with every cell outside `mask` replaced by `original`.
    pub replaced: Tensor<B, 2, Int>,
    /// ITERSR of `replaced`, restricted to `mask`: the crop's final codes.
    pub refined: Tensor<B, 2, Int>,
}

/// Every intermediate of an edit up to the crop's final codes.
#[derive(Debug, Clone)]
pub struct EditTokens<B: Backend> {
    /// The input resized and centre-cropped to `S × S`.
    pub image: RgbImage,
    /// Mask and crop.
    pub geometry: EditGeometry,
    /// The crop mask at the low-res grid (nearest, ≥ 0.5 as officially), row-major: the cells CogLM re-draws.
    pub lowres_mask: Vec<bool>,
    /// Codes of the crop resized to the low-res image size, `[1, lo_rows·lo_cols]`.
    pub lowres_original: Tensor<B, 2, Int>,
    /// The completed low-res grids, `[batch, lo_rows·lo_cols]`.
    pub lowres: Tensor<B, 2, Int>,
    /// The hi-res stages, when the crop is larger than the low-res image.
    pub hires: Option<EditHires<B>>,
}

impl<B: LocalAttentionBackend> Pipeline<B> {
    /// Re-draws a region of an image to fit a prompt; one `S × S` image per sample of the batch.
    pub fn edit(&self, request: &EditRequest) -> Result<Vec<RgbImage>> {
        self.edit_with_progress(request, &mut |_| {})
    }

    /// [`edit`](Self::edit), reporting progress per stage.
    pub fn edit_with_progress(
        &self,
        request: &EditRequest,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<RgbImage>> {
        let tokens = self.edit_tokens(request, progress)?;
        let pasted = self.paste_edit(&tokens, progress)?;
        self.round_trip(&pasted)
    }

    /// The square final size `S` and low-res size `L` of an edit; editing needs square grids.
    fn edit_sizes(&self) -> Result<(usize, usize)> {
        let (lo, hi) = (self.lowres_grid(), self.hires_grid());
        if lo[0] != lo[1] || hi[0] != hi[1] {
            return Err(Error::Inconsistent(format!("editing needs square grids, the models have {lo:?} and {hi:?}")));
        }
        let cell = self.vqvae.cell_size(COMPRESS_RATE);
        Ok((hi[0] * cell, lo[0] * cell))
    }

    /// The `S × S` image and the edit's mask and crop.
    pub fn edit_geometry(&self, request: &EditRequest) -> Result<(RgbImage, EditGeometry)> {
        let (size, _) = self.edit_sizes()?;
        let image = resize_and_center_crop(&request.image, size as u32)?;
        let pixel_mask = match &request.region {
            EditRegion::Box { h0, w0, h1, w1 } => box_to_pixel_mask([*h0, *w0, *h1, *w1], size)?,
            EditRegion::Mask(mask) => {
                // Grey → RGB so the mask takes exactly the image's resize and crop; then threshold at half.
                let rgb = RgbImage::from_fn(mask.width(), mask.height(), |x, y| {
                    let v = mask.get_pixel(x, y).0[0];
                    image::Rgb([v, v, v])
                });
                resize_and_center_crop(&rgb, size as u32)?.pixels().map(|p| p.0[0] >= 128).collect()
            }
            EditRegion::Pixels(mask) => {
                if mask.len() != size * size {
                    return Err(Error::InvalidRequest(format!(
                        "the pixel mask has {} cells, the {size}x{size} image needs {}",
                        mask.len(),
                        size * size
                    )));
                }
                mask.clone()
            }
        };
        let crop = surrounding_box_crop(&pixel_mask, size)?;
        let crop_mask = crop_mask(&pixel_mask, [size, size], crop.crop)?;
        Ok((image, EditGeometry { size, pixel_mask, crop: crop.crop, inner: crop.inner, crop_mask }))
    }

    /// Runs an edit up to the crop's final codes, keeping every intermediate (see [`EditTokens`]).
    pub fn edit_tokens(&self, request: &EditRequest, progress: &mut dyn FnMut(Progress)) -> Result<EditTokens<B>> {
        if request.batch_size == 0 || request.max_inference_batch_size == 0 {
            return Err(Error::InvalidRequest("batch_size and max_inference_batch_size must be positive".into()));
        }
        // The official script passes the template with its `<start_of_image>` to completion, DSR and ITERSR alike.
        let mut text = self.encode_prompt(&request.prompt, request.style)?;
        text.push(i64::from(self.tokenizer.start_of_image()));
        let max = self.dsr.config().max_text_len();
        if text.len() > max {
            return Err(Error::PromptTooLong { tokens: text.len(), max, limit: "DSR's text region" });
        }
        let (_, low) = self.edit_sizes()?;
        let (image, geometry) = self.edit_geometry(request)?;
        let _span = tracing::info_span!("edit", batch = request.batch_size, crop = ?geometry.crop).entered();
        let crop = image::imageops::crop_imm(
            &image,
            geometry.crop.left as u32,
            geometry.crop.top as u32,
            geometry.crop.width() as u32,
            geometry.crop.height() as u32,
        )
        .to_image();
        let side = geometry.crop.height();
        let lo_grid = self.lowres_grid();
        let lowres_original = self.encode_image(&resize_and_center_crop(&crop, low as u32)?)?;
        let lowres_mask = downsample_mask(&geometry.crop_mask, [side, side], lo_grid)?;
        let recipe = self.resolve_recipe(request.recipe.as_ref(), request.style);
        let lowres = self.complete_lowres(&text, &lowres_original, &lowres_mask, request, &recipe, progress)?;

        let hires = if side <= low {
            None
        } else {
            let mask = downsample_mask(&geometry.crop_mask, [side, side], self.hires_grid())?;
            // Blurry, but it keeps the unedited part of the crop coherent with the image around it (official).
            let original = self.encode_image(&resize_bilinear(&crop, geometry.size as u32, geometry.size as u32))?;
            Some(self.super_resolve_edit(&text, lowres.clone(), original, mask, request, &recipe, progress)?)
        };
        Ok(EditTokens { image, geometry, lowres_mask, lowres_original, lowres, hires })
    }

    /// CogLM completion of the masked low-res cells for every sample, in chunks.
    fn complete_lowres(
        &self,
        text: &[i64],
        original: &Tensor<B, 2, Int>,
        mask: &[bool],
        request: &EditRequest,
        recipe: &Recipe,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tensor<B, 2, Int>> {
        let grid = self.lowres_grid();
        let cells: Vec<i64> = original
            .clone()
            .into_data()
            .convert::<i64>()
            .to_vec()
            .map_err(|e| Error::Inconsistent(format!("cannot read the encoded crop back: {e:?}")))?;
        let soi = i64::from(self.tokenizer.start_of_image());
        let layout = CompletionLayout::with_attn_plus(text, &cells, mask, grid, soi, recipe.attn_plus)?;
        let sampler = self.stage1_sampler(recipe).to_device::<B>(self.coglm.num_image_tokens, &self.device)?;
        // Stream 0, as stage 1 of text-to-image; DSR and ITERSR draw from streams 1 and 2.
        let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
        let (batch, chunk) = (request.batch_size, request.max_inference_batch_size);
        let per_sample = layout.num_generated();
        let mut parts = Vec::new();
        for start in (0..batch).step_by(chunk) {
            let end = (start + chunk).min(batch);
            let mut drawn = 0;
            parts.push(complete_with(&self.coglm, &layout, original.clone(), end - start, &mut |logits| {
                drawn += 1;
                progress(Progress {
                    stage: Stage::Completion,
                    done: start * per_sample + drawn * (end - start),
                    total: batch * per_sample,
                });
                sampler.sample(logits, &mut rng)
            })?);
        }
        Ok(Tensor::cat(parts, 0))
    }

    /// DSR, replacement of the unmasked hi-res cells by the original crop's, and ITERSR inside the mask.
    #[allow(clippy::too_many_arguments)]
    fn super_resolve_edit(
        &self,
        text: &[i64],
        lowres: Tensor<B, 2, Int>,
        original: Tensor<B, 2, Int>,
        mask: Vec<bool>,
        request: &EditRequest,
        recipe: &Recipe,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<EditHires<B>> {
        let [batch, n_lo] = lowres.dims();
        let [_, n_hi] = original.dims();
        let dsr_sampler = self.dsr_sampler(recipe)?;
        let schedule = self.lopar_schedule(recipe)?;
        let mut dsr_rng = ChaCha8Rng::seed_from_u64(request.seed);
        dsr_rng.set_stream(1);
        let mut itersr_rng = ChaCha8Rng::seed_from_u64(request.seed);
        itersr_rng.set_stream(2);
        let keep: Vec<bool> = mask.iter().map(|&m| !m).collect();
        let chunk = request.max_inference_batch_size;
        let (mut dsr, mut replaced, mut refined) = (Vec::new(), Vec::new(), Vec::new());
        for start in (0..batch).step_by(chunk) {
            let end = (start + chunk).min(batch);
            let part = lowres.clone().slice([start..end, 0..n_lo]);
            let hires = {
                let _span = tracing::info_span!("dsr", samples = end - start).entered();
                self.dsr.sample(text, part, &dsr_sampler, &mut dsr_rng)?
            };
            progress(Progress { stage: Stage::DirectSuperResolution, done: end, total: batch });
            let outside = Tensor::<B, 2, Bool>::from_data(TensorData::new(keep.clone(), [1, n_hi]), &self.device)
                .expand([end - start, n_hi]);
            let swapped = hires.clone().mask_where(outside, original.clone().expand([end - start, n_hi]));
            let done = self.iterative_super_resolve(
                text,
                swapped.clone(),
                schedule.as_ref(),
                Some(&mask),
                &mut itersr_rng,
                |step| {
                    progress(Progress {
                        stage: Stage::IterativeSuperResolution,
                        done: start * step.iterations + step.iteration * (end - start),
                        total: batch * step.iterations,
                    })
                },
            )?;
            dsr.push(hires);
            replaced.push(swapped);
            refined.push(done);
        }
        Ok(EditHires {
            mask,
            original,
            dsr: Tensor::cat(dsr, 0),
            replaced: Tensor::cat(replaced, 0),
            refined: Tensor::cat(refined, 0),
        })
    }

    /// Decodes each sample's crop, resizes it (nearest) to the crop's side and pastes it into the `S × S` image:
    /// the edited images before the final codec round trip.
    pub fn paste_edit(&self, tokens: &EditTokens<B>, progress: &mut dyn FnMut(Progress)) -> Result<Vec<RgbImage>> {
        let crops = match &tokens.hires {
            Some(hires) => self.decode(hires.refined.clone(), self.hires_grid(), progress)?,
            None => self.decode(tokens.lowres.clone(), self.lowres_grid(), progress)?,
        };
        let crop = tokens.geometry.crop;
        let side = crop.height() as u32;
        Ok(crops
            .iter()
            .map(|decoded| {
                let mut image = tokens.image.clone();
                let resized = image::imageops::resize(decoded, side, side, FilterType::Nearest);
                image::imageops::replace(&mut image, &resized, crop.left as i64, crop.top as i64);
                image
            })
            .collect())
    }

    /// Encodes and decodes `S × S` images at the final grid (the official last step of an edit).
    pub fn round_trip(&self, images: &[RgbImage]) -> Result<Vec<RgbImage>> {
        let (size, _) = self.edit_sizes()?;
        let mut out = Vec::with_capacity(images.len());
        for image in images {
            if image.dimensions() != (size as u32, size as u32) {
                return Err(Error::InvalidRequest(format!(
                    "round trip of a {}x{} image: the codec round trip works at {size}x{size}",
                    image.width(),
                    image.height()
                )));
            }
            let codes = self.encode_image(image)?;
            out.extend(self.decode(codes, self.hires_grid(), &mut |_| {})?);
        }
        Ok(out)
    }
}
