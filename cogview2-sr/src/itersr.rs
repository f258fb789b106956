//! The iterative super-resolution model and its LoPAR refinement (CogView2 `sr_pipeline/itersr_model.py`,
//! `itersr_sampling.py`, `iterative_sr.py`).

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, IndexingUpdateOp, Int, Tensor, TensorData};
use cogview2_core::attention::merge_heads;
use cogview2_core::{CogLm, SafetensorsWeights};
use cogview2_kernels::LocalAttentionBackend;
use rand::RngCore;

use crate::attention::{itersr_attention, LocalGeometry};
use crate::config::ItersrConfig;
use crate::error::Result;
use crate::layout::ItersrLayout;
use crate::lopar::LoparSchedule;
use crate::trunk::{assemble_tokens, check_grid_tokens, check_ids, embed, run_layers, ExtraPositionEmbedding};

/// ITERSR's mixins (official prefix `mixins.`): only the hi-res position table; the base attention serves all tokens.
#[derive(Module, Debug)]
pub struct ItersrMixins<B: Backend> {
    /// Hi-res position table.
    pub extra_position_embedding: ExtraPositionEmbedding<B>,
}

/// The ITERSR model: CogLM trunk + the extra position table.
#[derive(Module, Debug)]
pub struct ItersrModel<B: Backend> {
    /// The transformer (official prefix `transformer.`).
    pub coglm: CogLm<B>,
    /// The mixins (official prefix `mixins.`).
    pub mixins: ItersrMixins<B>,
    #[module(skip)]
    config: ItersrConfig,
}

/// What one LoPAR iteration did, handed to the observer of [`ItersrModel::refine`].
#[derive(Debug)]
pub struct LoparStep<'a, B: Backend> {
    /// 1-based iteration.
    pub iteration: usize,
    /// Number of iterations.
    pub iterations: usize,
    /// Cells re-sampled in this iteration (row-major over the hi-res grid).
    pub mask: &'a [bool],
    /// The model input: the tokens with the re-sampled cells set to `<start_of_image>`, `[batch, hi-res]`.
    pub masked_input: &'a Tensor<B, 2, Int>,
    /// The tokens after this iteration, `[batch, hi-res]`.
    pub tokens: &'a Tensor<B, 2, Int>,
}

impl<B: Backend> ItersrModel<B> {
    /// Takes `transformer.*` and the extra position table from `weights` (call [`SafetensorsWeights::finish`]
    /// afterwards, or use [`from_safetensors`](Self::from_safetensors)).
    pub fn load(config: &ItersrConfig, weights: &mut SafetensorsWeights, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let coglm = CogLm::load(&config.base, weights, device)?;
        let extra = ExtraPositionEmbedding::load(weights, config.num_hires(), config.base.hidden_size, device)?;
        Ok(Self {
            coglm,
            mixins: ItersrMixins {
                extra_position_embedding: extra,
            },
            config: config.clone(),
        })
    }

    /// Loads a safetensors file that must hold exactly this model's tensors.
    pub fn from_safetensors(config: &ItersrConfig, path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let mut weights = SafetensorsWeights::open(path)?;
        let model = Self::load(config, &mut weights, device)?;
        weights.finish()?;
        Ok(model)
    }

    /// Loads a model directory: `config.json` and `weights.safetensors`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let config = ItersrConfig::from_json_file(dir.join("config.json"))?;
        Self::from_safetensors(&config, dir.join("weights.safetensors"), device)
    }

    /// The configuration.
    pub fn config(&self) -> &ItersrConfig {
        &self.config
    }

    /// The input layout for a prompt of `txt_len` text tokens (only the first `layout[0]` are read).
    pub fn layout(&self, txt_len: usize) -> ItersrLayout {
        ItersrLayout::new(self.config(), txt_len)
    }
}

/// The forward passes, on a backend that runs the local attention.
impl<B: LocalAttentionBackend> ItersrModel<B> {
    /// Image logits of hi-res cells `rows` (all cells when `None`) for an input whose cells to re-sample already
    /// hold `<start_of_image>`. Text beyond `layout[0]` tokens is ignored, as officially.
    ///
    /// # Shapes
    /// - `hires`: `[batch, hi_rows·hi_cols]` → `[batch, rows, num_image_tokens]`
    pub fn logits(&self, text: &[i64], hires: Tensor<B, 2, Int>, rows: Option<&[usize]>) -> Result<Tensor<B, 3>> {
        let config = self.config();
        check_ids("text", text, config.base.vocab_size)?;
        // The placeholder is the one non-image id allowed in the grid.
        check_grid_tokens("hi-res image", &hires, config.hi_grid, config.base.vocab_size)?;
        if let Some(rows) = rows {
            check_ids(
                "hi-res row",
                &rows.iter().map(|&r| r as i64).collect::<Vec<_>>(),
                config.num_hires(),
            )?;
        }
        self.logits_unchecked(text, hires, rows)
    }

    fn logits_unchecked(&self, text: &[i64], hires: Tensor<B, 2, Int>, rows: Option<&[usize]>) -> Result<Tensor<B, 3>> {
        let config = self.config();
        let layout = self.layout(text.len());
        let tokens = assemble_tokens(&layout.text_slots(text), hires, None);
        let [b, len] = tokens.dims();
        let _span = tracing::debug_span!("itersr_forward", batch = b, len).entered();
        let device = tokens.device();
        let t0 = layout.text_region;
        let x = embed(&self.coglm, &self.mixins.extra_position_embedding, tokens, &layout.position_ids, t0);
        let key_mask = Tensor::<B, 4>::from_data(TensorData::new(layout.text_key_mask.clone(), [1, 1, 1, t0]), &device);
        let local = LocalGeometry {
            hi_grid: config.hi_grid,
            self_window: config.self_window(),
        };
        let (hidden, _) = run_layers(&self.coglm, x, false, |_, attention, normed| {
            let context = itersr_attention(attention.qkv(normed), &key_mask, local)?;
            Ok(attention.dense.forward(merge_heads(context)))
        })?;
        let [_, _, h] = hidden.dims();
        let image = match rows {
            None => hidden.slice([0..b, t0..len, 0..h]),
            Some(rows) => {
                let index: Vec<i64> = rows.iter().map(|&r| (t0 + r) as i64).collect();
                hidden.select(1, Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows.len()]), &device))
            }
        };
        Ok(self.coglm.image_logits(image))
    }

    /// Refines hi-res tokens with LoPAR: iteration `k` sets the cells of `schedule.masks(..)[k − 1]` to
    /// `<start_of_image>`, runs one forward and draws those cells with the iteration's sampler; the other cells keep
    /// their tokens. `input_mask` (row-major over the grid) restricts re-sampling to a region (completion).
    /// `on_step` sees every iteration. Every sample of the batch is returned.
    ///
    /// # Shapes
    /// - `hires`: `[batch, hi_rows·hi_cols]` image tokens → `[batch, hi_rows·hi_cols]`
    #[allow(clippy::too_many_arguments)]
    pub fn refine(
        &self,
        text: &[i64],
        hires: Tensor<B, 2, Int>,
        schedule: &LoparSchedule,
        input_mask: Option<&[bool]>,
        rng: &mut dyn RngCore,
        on_step: &mut dyn FnMut(&LoparStep<'_, B>),
    ) -> Result<Tensor<B, 2, Int>> {
        let config = self.config();
        check_ids("text", text, config.base.vocab_size)?;
        check_grid_tokens("hi-res image", &hires, config.hi_grid, config.base.num_image_tokens)?;
        let masks = schedule.masks(config.hi_grid, input_mask)?;
        let samplers = schedule
            .samplers()
            .iter()
            .map(|s| s.to_device::<B>(config.base.num_image_tokens, &hires.device()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let device = hires.device();
        let [b, n] = hires.dims();
        let mut tokens = hires;
        for (k, (mask, sampler)) in masks.iter().zip(&samplers).enumerate() {
            let _span = tracing::info_span!("lopar_iteration", iteration = k + 1).entered();
            let cells: Vec<usize> = mask.iter().enumerate().filter_map(|(i, &m)| m.then_some(i)).collect();
            let fill = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask.clone(), [1, n]), &device).expand([b, n]);
            let masked = tokens.mask_fill(fill.clone(), config.start_of_image_id);
            tokens = if cells.is_empty() {
                masked.clone()
            } else {
                let logits = self.logits_unchecked(text, masked.clone(), Some(&cells))?;
                let [_, m, v] = logits.dims();
                let drawn = sampler.sample(logits.reshape([b * m, v]), rng).reshape([b, m]);
                let index: Vec<i64> = cells.iter().map(|&c| c as i64).collect();
                let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [m]), &device)
                    .unsqueeze::<2>()
                    .expand([b, m]);
                // Zero the placeholders, then add the drawn ids in their place.
                masked.clone().mask_fill(fill, 0).scatter(1, index, drawn, IndexingUpdateOp::Add)
            };
            on_step(&LoparStep {
                iteration: k + 1,
                iterations: masks.len(),
                mask,
                masked_input: &masked,
                tokens: &tokens,
            });
        }
        Ok(tokens)
    }
}
