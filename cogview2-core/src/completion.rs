//! Text-guided completion of a masked region of a token grid (CV2: `comp_pipeline/base_completion.py`
//! `BaseCompletion`, `get_masks_and_position_ids_comp`, decoded by SAT `filling_sequence`).
//!
//! The grid is re-ordered so that every kept cell comes first ("context", seen bidirectionally), followed by the
//! cells to regenerate in raster order. Each masked run is preceded by its left neighbour, given rather than
//! generated, which reproduces the local autoregressive infilling that CogLM was pretrained on.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::RngCore;

use crate::attention::AttentionBias;
use crate::cache::KvCache;
use crate::error::{CoreError, Result};
use crate::layout::{DEFAULT_ATTN_PLUS, IMAGE_POSITION_OFFSET};
use crate::sampling::DeviceSampler;
use crate::transformer::CogLm;

/// What a slot of the image part of a [`CompletionLayout`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompletionSlot {
    /// A kept cell in the context block (fed in the prefill).
    Context,
    /// A kept cell left of a masked cell, in the generation part: fed, never sampled.
    Forced,
    /// A masked cell: sampled.
    Generated,
}

/// The official `BaseCompletion` sequence for one grid, mask and prompt.
///
/// `prompt ++ <start_of_image> ++ context cells ++ generation part`, where
/// - the prompt is passed whole (the official pipeline passes the encoded template *with* its trailing
///   `<start_of_image>`, so the sequence holds two of them); `txt_len` = prompt length;
/// - the context cells are the kept cells (raster order) except those immediately left of a masked cell in the
///   same row;
/// - the generation part lists, in raster order, the masked cells (−1 in [`seq`](Self::seq)) and those
///   left neighbours (with their tokens);
/// - positions: prompt `0..txt_len`, `<start_of_image>` 512, cell `(i, j)` at `513 + i·cols + j`;
/// - mask: lower-triangular, then rows `> txt_len` see the context columns `(txt_len, context_length)`, rows
///   `> context_length` see the prompt columns, and prompt rows see each other (`context_length` = start of the
///   generation part);
/// - log-attention bias `attn_plus` (1.4) on the prompt columns of every row.
///
/// ```
/// use cogview2_core::{CompletionLayout, CompletionSlot};
/// // 2×3 grid, the top-right cell masked.
/// let mask = [false, false, true, false, false, false];
/// let l = CompletionLayout::new(&[40, 41], &[0, 1, 2, 3, 4, 5], &mask, [2, 3], 99).unwrap();
/// assert_eq!(l.seq, vec![40, 41, 99, 0, 3, 4, 5, 1, -1]);
/// assert_eq!(l.position_ids, vec![0, 1, 512, 513, 516, 517, 518, 514, 515]);
/// assert_eq!(l.slots[4], CompletionSlot::Forced);
/// assert_eq!((l.context_length, l.first_generated()), (7, 8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionLayout {
    /// Prompt tokens (including the template's `<start_of_image>`).
    pub txt_len: usize,
    /// `[rows, cols]` of the grid.
    pub grid: [usize; 2],
    /// The id sequence, −1 at the cells to generate.
    pub seq: Vec<i64>,
    /// Position id of every slot.
    pub position_ids: Vec<i64>,
    /// Grid cell (raster index) of each image slot, i.e. of slot `txt_len + 1 + k`.
    pub cells: Vec<usize>,
    /// Kind of each image slot (same indexing as `cells`).
    pub slots: Vec<CompletionSlot>,
    /// Start of the generation part (the official mask function's `context_length`).
    pub context_length: usize,
    /// Row-major `[len, len]`, 1 = may attend.
    pub attention_mask: Vec<f32>,
    /// Row-major `[len, len]`: the bias on the prompt columns.
    pub log_attention_weights: Vec<f32>,
    /// The cell mask, row-major `[rows, cols]`, true = regenerate.
    pub mask: Vec<bool>,
    /// The grid the layout was built from.
    pub image_tokens: Vec<i64>,
}

impl CompletionLayout {
    /// Builds the layout with the official bias 1.4; see [`with_attn_plus`](Self::with_attn_plus).
    ///
    /// `image_tokens` and `mask` are row-major `[rows, cols]` (`grid`); a true cell is regenerated.
    pub fn new(prompt: &[i64], image_tokens: &[i64], mask: &[bool], grid: [usize; 2], start_of_image_id: i64) -> Result<Self> {
        Self::with_attn_plus(prompt, image_tokens, mask, grid, start_of_image_id, DEFAULT_ATTN_PLUS)
    }

    /// Builds the layout with log-attention bias `attn_plus` on the prompt columns.
    pub fn with_attn_plus(
        prompt: &[i64],
        image_tokens: &[i64],
        mask: &[bool],
        grid: [usize; 2],
        start_of_image_id: i64,
        attn_plus: f32,
    ) -> Result<Self> {
        let [rows, cols] = grid;
        let n = rows * cols;
        if n == 0 {
            return Err(CoreError::Shape(format!("grid {rows}x{cols} has no cells")));
        }
        if image_tokens.len() != n || mask.len() != n {
            return Err(CoreError::Shape(format!(
                "grid {rows}x{cols} needs {n} tokens and mask cells, got {} and {}",
                image_tokens.len(),
                mask.len()
            )));
        }
        if !mask.iter().any(|&m| m) {
            return Err(CoreError::EmptyMask { what: format!("{rows}x{cols} completion mask") });
        }
        let txt_len = prompt.len();
        if txt_len == 0 {
            return Err(CoreError::InvalidPrompt("the completion prompt has no tokens".into()));
        }
        if txt_len > IMAGE_POSITION_OFFSET {
            return Err(CoreError::InvalidPrompt(format!(
                "{txt_len} prompt tokens do not fit before the image positions (at most {IMAGE_POSITION_OFFSET})"
            )));
        }
        // −1 marks the cells to generate, so a given token must be non-negative.
        let given = prompt.iter().chain([&start_of_image_id]).enumerate().map(|(i, &id)| (format!("prompt slot {i}"), id));
        let kept = image_tokens.iter().enumerate().filter(|(i, _)| !mask[*i]).map(|(i, &id)| (format!("kept cell {i}"), id));
        if let Some((what, id)) = given.chain(kept).find(|(_, id)| *id < 0) {
            return Err(CoreError::InvalidPrompt(format!("token id {id} at {what} is negative")));
        }

        let mut context = Vec::new();
        let mut generation = Vec::new();
        for cell in 0..n {
            let col = cell % cols;
            if mask[cell] {
                generation.push((cell, CompletionSlot::Generated));
            } else if col + 1 < cols && mask[cell + 1] {
                // Left neighbour of a masked cell: it opens the run, so it is re-fed just before it.
                generation.push((cell, CompletionSlot::Forced));
            } else {
                context.push((cell, CompletionSlot::Context));
            }
        }
        let image: Vec<(usize, CompletionSlot)> = context.into_iter().chain(generation).collect();
        let len = txt_len + 1 + image.len();
        let context_length = txt_len + 1 + image.iter().filter(|(_, s)| *s == CompletionSlot::Context).count();

        let seq: Vec<i64> = prompt
            .iter()
            .copied()
            .chain([start_of_image_id])
            .chain(image.iter().map(|&(c, s)| if s == CompletionSlot::Generated { -1 } else { image_tokens[c] }))
            .collect();
        let position_ids: Vec<i64> = (0..txt_len)
            .chain([IMAGE_POSITION_OFFSET])
            .chain(image.iter().map(|&(c, _)| IMAGE_POSITION_OFFSET + 1 + c))
            .map(|p| p as i64)
            .collect();

        let mut attention_mask = vec![0.0; len * len];
        let mut log_attention_weights = vec![0.0; len * len];
        for row in 0..len {
            for col in 0..len {
                // The official construction, in its order: tril, then three overrides.
                let visible = col <= row
                    || (row > txt_len && col > txt_len && col < context_length)
                    || (row > context_length && col < txt_len)
                    || (row < txt_len && col < txt_len);
                if visible {
                    attention_mask[row * len + col] = 1.0;
                }
                if col < txt_len {
                    log_attention_weights[row * len + col] = attn_plus;
                }
            }
        }
        Ok(Self {
            txt_len,
            grid,
            seq,
            position_ids,
            cells: image.iter().map(|&(c, _)| c).collect(),
            slots: image.iter().map(|&(_, s)| s).collect(),
            context_length,
            attention_mask,
            log_attention_weights,
            mask: mask.to_vec(),
            image_tokens: image_tokens.to_vec(),
        })
    }

    /// Sequence length.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Never empty (the prompt and `<start_of_image>` are always there).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Cells to generate.
    pub fn num_generated(&self) -> usize {
        self.slots.iter().filter(|&&s| s == CompletionSlot::Generated).count()
    }

    /// Index of the first slot to generate: everything before it is the prefill (SAT's `context_length`).
    pub fn first_generated(&self) -> usize {
        self.seq.iter().position(|&t| t < 0).unwrap_or(self.len())
    }

    /// Mask entry (1 = row may attend to column).
    pub fn mask_at(&self, row: usize, col: usize) -> f32 {
        self.attention_mask[row * self.len() + col]
    }

    /// Log-attention bias entry.
    pub fn log_weight_at(&self, row: usize, col: usize) -> f32 {
        self.log_attention_weights[row * self.len() + col]
    }

    /// Mask and bias of rows `rows` over columns `0..rows.end` (one cached forward of those rows).
    fn bias_for_rows<B: Backend>(&self, rows: std::ops::Range<usize>, device: &B::Device) -> AttentionBias<B> {
        let len = self.len();
        let cols = rows.end;
        let pick = |full: &[f32]| {
            rows.clone()
                .flat_map(|r| full[r * len..r * len + cols].iter().copied())
                .collect::<Vec<f32>>()
        };
        let n = rows.len();
        AttentionBias {
            mask: Some(Tensor::from_data(TensorData::new(pick(&self.attention_mask), [1, 1, n, cols]), device)),
            log_weights: Some(Tensor::from_data(TensorData::new(pick(&self.log_attention_weights), [n, cols]), device)),
        }
    }

    /// For each grid cell, where its completed token comes from in `[original grid ++ generated tokens]`: itself
    /// when kept, `cells + k` for the `k`-th generated cell.
    fn scatter_map(&self) -> Vec<i64> {
        let n = self.mask.len();
        let mut map: Vec<i64> = (0..n as i64).collect();
        let generated = self.cells.iter().zip(&self.slots).filter(|(_, &s)| s == CompletionSlot::Generated);
        for (k, (&cell, _)) in generated.enumerate() {
            map[cell] = (n + k) as i64;
        }
        map
    }
}

/// Completes the masked cells of `image_tokens`, drawing each with `sampler`; returns `[batch, rows·cols]`.
///
/// `image_tokens` is the grid the layout was built from, `[1, rows·cols]` or `[batch, rows·cols]`. The official
/// `filling_sequence` order: one prefill up to the first masked cell (batch 1), then one cached forward per
/// masked cell, of the tokens appended since the previous one (forced left neighbours are appended without
/// sampling). Kept cells are copied from `image_tokens`, so they are unchanged by construction.
pub fn complete<B: Backend>(
    model: &CogLm<B>,
    layout: &CompletionLayout,
    image_tokens: Tensor<B, 2, Int>,
    sampler: &DeviceSampler<B>,
    rng: &mut dyn RngCore,
    batch: usize,
) -> Result<Tensor<B, 2, Int>> {
    complete_with(model, layout, image_tokens, batch, &mut |logits| sampler.sample(logits, &mut *rng))
}

/// [`complete`] with a caller-chosen token rule: `choose(logits [batch, num_image_tokens]) → [batch]` is called
/// once per masked cell, in sequence order (e.g. to record the logits, or to force tokens).
pub fn complete_with<B: Backend>(
    model: &CogLm<B>,
    layout: &CompletionLayout,
    image_tokens: Tensor<B, 2, Int>,
    batch: usize,
    choose: &mut dyn FnMut(Tensor<B, 2>) -> Tensor<B, 1, Int>,
) -> Result<Tensor<B, 2, Int>> {
    let device = image_tokens.device();
    let n = layout.mask.len();
    let grid = check_grid(layout, image_tokens, batch)?;
    let len = layout.len();
    let last_position = layout.position_ids.iter().copied().max().unwrap_or(0);
    if last_position as u64 >= model.max_sequence_length() as u64 {
        return Err(CoreError::PositionOutOfRange { id: last_position, rows: model.max_sequence_length() });
    }
    let vocab = model.vocab_size();
    if let Some((index, &id)) = layout.seq.iter().enumerate().find(|(_, &id)| id >= 0 && id as u64 >= vocab as u64) {
        return Err(CoreError::TokenOutOfRange { id, index, vocab_size: vocab });
    }

    let _span = tracing::info_span!("completion", batch, generated = layout.num_generated()).entered();
    let mut cache = KvCache::new(model.num_layers());
    let start = layout.first_generated();
    let positions = |rows: std::ops::Range<usize>, b: usize| {
        Tensor::<B, 2, Int>::from_data(TensorData::new(layout.position_ids[rows.clone()].to_vec(), [1, rows.len()]), &device)
            .expand([b, rows.len()])
    };

    // Prefill (batch 1, as the official loop): everything before the first masked cell.
    let prompt = Tensor::<B, 2, Int>::from_data(TensorData::new(layout.seq[..start].to_vec(), [1, start]), &device);
    let x = model.embed(prompt, positions(0..start, 1));
    let (x, _) = model.run_layers(x, &layout.bias_for_rows(0..start, &device), Some(&mut cache), false);
    let token = choose(last_image_logits(model, x).repeat_dim(0, batch));
    cache.expand_batch(batch);

    let mut generated = vec![token.clone()];
    let mut pending = vec![token];
    let mut fed = start;
    for slot in start + 1..len {
        let id = layout.seq[slot];
        if id >= 0 {
            pending.push(Tensor::full([batch], id, &device));
            continue;
        }
        let rows = fed..slot;
        let tokens = Tensor::stack::<2>(std::mem::take(&mut pending), 1);
        let x = model.embed(tokens, positions(rows.clone(), batch));
        let (x, _) = model.run_layers(x, &layout.bias_for_rows(rows, &device), Some(&mut cache), false);
        let token = choose(last_image_logits(model, x));
        generated.push(token.clone());
        pending.push(token);
        fed = slot;
    }

    // Gather, not scatter: kept cells read their own token, masked cells their generated one.
    let generated = Tensor::stack::<2>(generated, 1);
    let map = Tensor::<B, 2, Int>::from_data(TensorData::new(layout.scatter_map(), [1, n]), &device).expand([batch, n]);
    Ok(Tensor::cat(vec![grid, generated], 1).gather(1, map))
}

/// Image logits of the last row of a layer-stack output, `[batch, num_image_tokens]`.
fn last_image_logits<B: Backend>(model: &CogLm<B>, x: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, s, h] = x.dims();
    let hidden = model.transformer.final_layernorm.forward(x.slice([0..b, s - 1..s, 0..h]));
    model.image_logits(hidden).reshape([b, model.num_image_tokens])
}

/// Checks `image_tokens` against the layout (shape, and the kept cells' values: one small read-back) and returns it
/// as `[batch, cells]`.
fn check_grid<B: Backend>(layout: &CompletionLayout, image_tokens: Tensor<B, 2, Int>, batch: usize) -> Result<Tensor<B, 2, Int>> {
    let n = layout.mask.len();
    let [b, cells] = image_tokens.dims();
    if batch == 0 {
        return Err(CoreError::InvalidPrompt("batch must be positive".into()));
    }
    if cells != n || (b != 1 && b != batch) {
        return Err(CoreError::Shape(format!(
            "image tokens {:?}, the completion layout needs [1 or {batch}, {n}]",
            [b, cells]
        )));
    }
    let values: Vec<i64> = image_tokens
        .clone()
        .into_data()
        .convert::<i64>()
        .to_vec()
        .map_err(|e| CoreError::Shape(format!("cannot read the image tokens back: {e:?}")))?;
    for (i, &v) in values.iter().enumerate() {
        let cell = i % n;
        if !layout.mask[cell] && v != layout.image_tokens[cell] {
            return Err(CoreError::Shape(format!(
                "image token {v} at row {}, cell {cell} differs from the layout's {}: build the layout from this grid",
                i / n,
                layout.image_tokens[cell]
            )));
        }
    }
    Ok(if b == batch { image_tokens } else { image_tokens.expand([batch, n]) })
}
