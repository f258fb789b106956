//! Synthetic captioned scenes (`cogview2-scenes`) → the token data of every trained stage.
//!
//! Each scene is rendered twice, at the low-res and the hi-res pixel sizes (`grid × compress_rate`, grids from the
//! DSR config), both renderings are encoded by a caller-supplied [`ImageEncoder`] (in practice `Hvqvae::encode`;
//! this crate needs no VQ-VAE code) and both captions are tokenized with an [`IceTokenizer`]. A [`SceneTokens`]
//! then lays out:
//! - a CogLM row in the official text–image format `text_zh <pad> text_en <pad> <pad>* lo-grid image` (spec
//!   §8.1): both languages, so the masking strategy picks one. `<start_of_image>` is not stored: the text→image
//!   construction writes it over the pad before the image, as the official code does;
//! - a DSR sample (caption, low-res codes → hi-res codes) and an ITERSR sample (caption, hi-res codes).

use cogview2_icetk::IceTokenizer;
use cogview2_scenes::{caption_with, lexicon, render, CaptionDetail, Language, SamplerConfig, SceneSampler};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::RowSource;
use crate::error::{Result, TrainError};
use crate::tokens::SpecialTokens;

/// Turns images into row-major grids of image codes (one `Vec` per image).
pub trait ImageEncoder {
    /// Codes of each image, row-major over its token grid.
    fn encode(&self, images: &[RgbImage]) -> Result<Vec<Vec<i64>>>;
}

impl<F: Fn(&[RgbImage]) -> Result<Vec<Vec<i64>>>> ImageEncoder for F {
    fn encode(&self, images: &[RgbImage]) -> Result<Vec<Vec<i64>>> {
        self(images)
    }
}

/// What to render and at which grids.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneDataConfig {
    /// Scene sampler settings (its `size` is ignored: the sizes follow the grids).
    pub sampler: SamplerConfig,
    /// Number of scenes.
    pub count: usize,
    /// Stage-1 / DSR input grid `[rows, cols]` (DSR config `lo_grid`).
    pub lo_grid: [usize; 2],
    /// Final grid `[rows, cols]` (DSR / ITERSR config `hi_grid`).
    pub hi_grid: [usize; 2],
    /// Pixels per token side of the VQ-VAE (8 for the released codec).
    pub compress_rate: usize,
    /// Images per encoder call.
    pub encode_batch: usize,
    /// Share of scenes whose captions leave out the positions, the background or both (a third each), so that a
    /// model trained on them draws prompts such as `a red circle`; 0 keeps every caption complete.
    pub partial_captions: f64,
    /// Share of scenes whose captions leave out the objects' colours (drawn apart from `partial_captions`), so that
    /// shape words are also learnt apart from any colour; 0 keeps every colour.
    pub colourless_captions: f64,
}

impl SceneDataConfig {
    /// Grids from a DSR config (which holds both), the codec's compress rate 8 and 16 images per encoder call.
    pub fn from_dsr(dsr: &cogview2_sr::DsrConfig, sampler: SamplerConfig, count: usize) -> Self {
        Self {
            sampler,
            count,
            lo_grid: dsr.lo_grid,
            hi_grid: dsr.hi_grid,
            compress_rate: 8,
            encode_batch: 16,
            partial_captions: 0.0,
            colourless_captions: 0.0,
        }
    }

    /// Pixel side of a square grid's rendering.
    fn pixels(&self, grid: [usize; 2], name: &str) -> Result<u32> {
        if grid[0] != grid[1] || grid[0] == 0 {
            return Err(TrainError::InvalidConfig(format!("{name} {grid:?}: scenes are square, the grid must be too")));
        }
        u32::try_from(grid[0] * self.compress_rate)
            .map_err(|_| TrainError::InvalidConfig(format!("{name} {grid:?} × {} pixels overflow", self.compress_rate)))
    }
}

/// The tokens of one scene.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneTokens {
    /// English caption ids.
    pub english: Vec<i64>,
    /// Chinese caption ids.
    pub chinese: Vec<i64>,
    /// Low-res codes, row-major.
    pub lowres: Vec<i64>,
    /// Hi-res codes, row-major.
    pub hires: Vec<i64>,
}

impl SceneTokens {
    /// The caption in `language`.
    pub fn text(&self, language: Language) -> &[i64] {
        match language {
            Language::English => &self.english,
            Language::Chinese => &self.chinese,
        }
    }

    /// The CogLM row `text_zh <pad> text_en <pad> <pad>* lowres` of `len` tokens.
    pub fn coglm_row(&self, len: usize, pad: i64) -> Result<Vec<i64>> {
        let text = self.chinese.len() + self.english.len() + 2;
        if text + self.lowres.len() > len {
            return Err(TrainError::InvalidRow(format!(
                "captions ({text} tokens with pads) and {} image codes do not fit a row of {len}",
                self.lowres.len()
            )));
        }
        let mut row = Vec::with_capacity(len);
        row.extend(&self.chinese);
        row.push(pad);
        row.extend(&self.english);
        row.push(pad);
        row.resize(len - self.lowres.len(), pad);
        row.extend(&self.lowres);
        Ok(row)
    }
}

/// Renders, encodes and tokenizes `config.count` seeded scenes.
///
/// Checks every grid the encoder returns against the configured sizes and `tokenizer`'s image-code range, and that
/// no caption encodes to an unknown piece.
pub fn encode_scenes(
    config: &SceneDataConfig,
    tokenizer: &IceTokenizer,
    encoder: &impl ImageEncoder,
) -> Result<Vec<SceneTokens>> {
    let lo_px = config.pixels(config.lo_grid, "lo_grid")?;
    let hi_px = config.pixels(config.hi_grid, "hi_grid")?;
    if config.encode_batch == 0 {
        return Err(TrainError::InvalidConfig("encode_batch must be positive".into()));
    }
    let unk = unknown_id(tokenizer);
    let mut sampler = SceneSampler::new(SamplerConfig {
        size: lo_px,
        ..config.sampler
    })?;
    let shares = [("partial_captions", config.partial_captions), ("colourless_captions", config.colourless_captions)];
    for (name, share) in shares {
        if !(0.0..=1.0).contains(&share) {
            return Err(TrainError::InvalidConfig(format!("{name} {share} is not in [0, 1]")));
        }
    }
    // Own streams: the scenes do not depend on the caption draws, nor the partial captions on the colourless ones.
    let mut detail_rng = ChaCha8Rng::seed_from_u64(config.sampler.seed);
    detail_rng.set_stream(1);
    let mut colour_rng = ChaCha8Rng::seed_from_u64(config.sampler.seed);
    colour_rng.set_stream(2);
    let num_codes = i64::from(tokenizer.num_image_tokens());
    let mut out = Vec::with_capacity(config.count);
    while out.len() < config.count {
        let n = config.encode_batch.min(config.count - out.len());
        let scenes = (0..n).map(|_| sampler.sample_scene()).collect::<cogview2_scenes::Result<Vec<_>>>()?;
        let render_all = |px: u32| scenes.iter().map(|s| render(s, px)).collect::<cogview2_scenes::Result<Vec<_>>>();
        let lowres = checked_codes(encoder.encode(&render_all(lo_px)?)?, n, config.lo_grid, num_codes, "low-res")?;
        // Stage-1-only rows ask for the same grid twice: encode it once.
        let hires = if hi_px == lo_px {
            lowres.clone()
        } else {
            checked_codes(encoder.encode(&render_all(hi_px)?)?, n, config.hi_grid, num_codes, "hi-res")?
        };
        for ((scene, lowres), hires) in scenes.iter().zip(lowres).zip(hires) {
            let mut detail = caption_detail(&mut detail_rng, config.partial_captions);
            // A draw in [0, 1) keeps the colours always at share 0; the stream is the colourless draws' own.
            detail.colours = colour_rng.random::<f64>() >= config.colourless_captions;
            let [english, chinese] = [Language::English, Language::Chinese].map(|language| {
                let text = caption_with(scene, language, detail);
                let ids: Vec<i64> = tokenizer.encode(&text).into_iter().map(i64::from).collect();
                (text, ids)
            });
            for (text, ids) in [&english, &chinese] {
                if ids.is_empty() || unk.is_some_and(|u| ids.contains(&u)) {
                    return Err(TrainError::InvalidRow(format!("caption {text:?} encodes to {ids:?} (empty or <unk>)")));
                }
            }
            out.push(SceneTokens {
                english: english.1,
                chinese: chinese.1,
                lowres,
                hires,
            });
        }
        // Encoding takes minutes on a CPU; a line per tenth shows progress in logs where no bar is drawn.
        if (out.len() - n) * 10 / config.count != out.len() * 10 / config.count {
            tracing::info!(done = out.len(), of = config.count, "encoding scenes");
        }
    }
    tracing::info!(scenes = out.len(), lo = ?config.lo_grid, hi = ?config.hi_grid, "scenes encoded");
    Ok(out)
}

/// A full caption, or with probability `partial` one without positions, background or both (equally likely).
fn caption_detail(rng: &mut ChaCha8Rng, partial: f64) -> CaptionDetail {
    if partial == 0.0 || rng.random::<f64>() >= partial {
        return CaptionDetail::FULL;
    }
    match rng.random_range(0..3) {
        0 => CaptionDetail { positions: false, ..CaptionDetail::FULL },
        1 => CaptionDetail { background: false, ..CaptionDetail::FULL },
        _ => CaptionDetail::OBJECTS_ONLY,
    }
}

fn unknown_id(tokenizer: &IceTokenizer) -> Option<i64> {
    tokenizer.token_to_id("<unk>").ok().map(i64::from)
}

fn checked_codes(codes: Vec<Vec<i64>>, n: usize, grid: [usize; 2], num_codes: i64, what: &str) -> Result<Vec<Vec<i64>>> {
    if codes.len() != n {
        return Err(TrainError::Encoder(format!("{} {what} grids for {n} images", codes.len())));
    }
    let cells = grid[0] * grid[1];
    for c in &codes {
        if c.len() != cells {
            return Err(TrainError::Encoder(format!("{what} grid of {} codes, expected {grid:?} = {cells}", c.len())));
        }
        if let Some(bad) = c.iter().find(|&&v| !(0..num_codes).contains(&v)) {
            return Err(TrainError::Encoder(format!("{what} code {bad} outside [0, {num_codes})")));
        }
    }
    Ok(codes)
}

/// Special ids for rows made with `tokenizer` (one built by [`crate::caption_vocab`]): `<pad>` and the start
/// tokens from the tokenizer, stage-1 images on `lo_grid`.
///
/// The language ranges only steer the image→text start token (`all ids < first_chinese_id` ⇒ English) and the
/// per-modality log. A word-level caption vocabulary interleaves English and Chinese pieces, so
/// `first_chinese_id` is set to the smallest id of a Chinese lexicon piece: English captions whose words all rank
/// below it are tagged English, the others (and every Chinese caption) Chinese.
pub fn scene_special_tokens(tokenizer: &IceTokenizer, lo_grid: [usize; 2], image_position_offset: i64) -> Result<SpecialTokens> {
    if lo_grid[0] != lo_grid[1] {
        return Err(TrainError::InvalidConfig(format!("stage-1 grid {lo_grid:?} must be square")));
    }
    let id = |t: &str| tokenizer.token_to_id(t).map(i64::from);
    let num_image_tokens = i64::from(tokenizer.num_image_tokens());
    let start_of_image = i64::from(tokenizer.start_of_image());
    let first_chinese_id = lexicon(Language::Chinese)
        .into_iter()
        .filter_map(|w| id(w).ok())
        .min()
        .unwrap_or(start_of_image);
    let tokens = SpecialTokens {
        pad: id("<pad>")?,
        start_of_image,
        start_of_english: i64::from(tokenizer.start_of_english()),
        start_of_chinese: i64::from(tokenizer.start_of_chinese()),
        num_image_tokens,
        first_english_id: num_image_tokens,
        first_chinese_id,
        end_chinese_id: start_of_image,
        image_grid: lo_grid[0],
        image_position_offset,
    };
    tokens.validate()?;
    Ok(tokens)
}

/// CogLM rows of encoded scenes, built on demand.
#[derive(Debug, Clone)]
pub struct SceneRows {
    scenes: Vec<SceneTokens>,
    len: usize,
    pad: i64,
}

impl SceneRows {
    /// Rows of `len` tokens; checks that every scene fits and that the image is `tokens.image_grid²` codes.
    pub fn new(scenes: Vec<SceneTokens>, len: usize, tokens: &SpecialTokens) -> Result<Self> {
        for (i, s) in scenes.iter().enumerate() {
            if s.lowres.len() != tokens.image_len() {
                return Err(TrainError::InvalidRow(format!(
                    "scene {i} has {} low-res codes, the stage-1 image is {}²",
                    s.lowres.len(),
                    tokens.image_grid
                )));
            }
            s.coglm_row(len, tokens.pad)?;
        }
        Ok(Self {
            scenes,
            len,
            pad: tokens.pad,
        })
    }

    /// The shortest row length that holds every scene.
    pub fn min_len(scenes: &[SceneTokens]) -> usize {
        scenes
            .iter()
            .map(|s| s.chinese.len() + s.english.len() + 2 + s.lowres.len())
            .max()
            .unwrap_or(0)
    }

    /// The scenes.
    pub fn scenes(&self) -> &[SceneTokens] {
        &self.scenes
    }
}

impl RowSource for SceneRows {
    fn len(&self) -> usize {
        self.scenes.len()
    }

    fn row(&self, index: usize) -> Result<Vec<i64>> {
        self.scenes
            .get(index)
            .ok_or_else(|| TrainError::InvalidRow(format!("row {index} of {}", self.scenes.len())))?
            .coglm_row(self.len, self.pad)
    }
}

/// Writes rows as the int64 `[rows, len]` tensor `rows` that [`crate::data::safetensors_rows`] reads.
pub fn write_safetensors_rows(rows: &dyn RowSource, path: impl AsRef<std::path::Path>) -> Result<()> {
    let path = path.as_ref();
    let all = (0..rows.len()).map(|i| rows.row(i)).collect::<Result<Vec<_>>>()?;
    let len = all.first().map_or(0, Vec::len);
    let bytes: Vec<u8> = all.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    let fail = |reason: String| TrainError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![all.len(), len], &bytes)
        .map_err(|e| fail(format!("{e:?}")))?;
    let out = safetensors::serialize([("rows", view)], &None).map_err(|e| fail(format!("{e:?}")))?;
    std::fs::write(path, out).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}
