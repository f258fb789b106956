//! The direct super-resolution model (CogView2 `sr_pipeline/dsr_model.py`, `dsr_sampling.py`, `direct_sr.py`):
//! the whole hi-res grid predicted in place from `[pad + text | low-res | hi-res placeholders]` in ONE forward.

use std::path::Path;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::attention::merge_heads;
use cogview2_core::attention::split_qkv;
use cogview2_core::{ClusterTable, CogLm, DeviceSampler, SafetensorsWeights, Sampler};
use cogview2_kernels::LocalAttentionBackend;
use rand::RngCore;

use crate::attention::{dsr_attention, LocalGeometry};
use crate::config::DsrConfig;
use crate::error::Result;
use crate::layout::DsrLayout;
use crate::trunk::{assemble_tokens, check_grid_tokens, check_ids, embed, run_layers, ExtraPositionEmbedding};

/// Clusters kept by the official DSR sampling (`topk_dsr`; 5 for the flat / comics recipes).
pub const DSR_TOP_K_CLUSTERS: usize = 100;
/// In-cluster temperature of the official DSR sampling (`temp_cluster_dsr`; 0.4 for flat / comics).
pub const DSR_CLUSTER_TEMPERATURE: f64 = 0.89;

/// DSR's cluster sampler: temperature 1 (hard-coded `real_temp`; the recipes' `temp_all_dsr` is never used), keep
/// `top_k_clusters` clusters, then `cluster_temperature` inside the chosen cluster.
pub fn dsr_sampler(table: ClusterTable, top_k_clusters: usize, cluster_temperature: f64) -> Sampler {
    Sampler::Cluster {
        temperature: 1.0,
        top_k_clusters,
        cluster_temperature,
        table,
    }
}

/// SAT's `attention_plus` mixin: a second QKV and output projection per layer, for the hi-res tokens (official
/// prefix `mixins.attention_plus.`).
#[derive(Module, Debug)]
pub struct AttentionPlus<B: Backend> {
    /// `query_key_value.{layer}`: `[hidden] → [3·hidden]`.
    pub query_key_value: Vec<Linear<B>>,
    /// `dense.{layer}`: `[hidden] → [hidden]`.
    pub dense: Vec<Linear<B>>,
}

/// DSR's mixins (official prefix `mixins.`).
#[derive(Module, Debug)]
pub struct DsrMixins<B: Backend> {
    /// Hi-res position table.
    pub extra_position_embedding: ExtraPositionEmbedding<B>,
    /// Hi-res attention projections.
    pub attention_plus: AttentionPlus<B>,
}

/// The DSR model: CogLM trunk (shared LayerNorms and MLPs) + the two mixins.
#[derive(Module, Debug)]
pub struct DsrModel<B: Backend> {
    /// The transformer (official prefix `transformer.`).
    pub coglm: CogLm<B>,
    /// The mixins (official prefix `mixins.`).
    pub mixins: DsrMixins<B>,
    #[module(skip)]
    config: DsrConfig,
}

impl<B: Backend> DsrModel<B> {
    /// Takes `transformer.*` and the mixins from `weights` (call [`SafetensorsWeights::finish`] afterwards, or use
    /// [`from_safetensors`](Self::from_safetensors)).
    pub fn load(config: &DsrConfig, weights: &mut SafetensorsWeights, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let coglm = CogLm::load(&config.base, weights, device)?;
        let h = config.base.hidden_size;
        let extra_position_embedding = ExtraPositionEmbedding::load(weights, config.num_hires(), h, device)?;
        let layers = config.base.num_layers;
        let query_key_value = (0..layers)
            .map(|i| weights.take_linear(&format!("mixins.attention_plus.query_key_value.{i}"), h, 3 * h, device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let dense = (0..layers)
            .map(|i| weights.take_linear(&format!("mixins.attention_plus.dense.{i}"), h, h, device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self {
            coglm,
            mixins: DsrMixins {
                extra_position_embedding,
                attention_plus: AttentionPlus { query_key_value, dense },
            },
            config: config.clone(),
        })
    }

    /// Loads a safetensors file that must hold exactly this model's tensors.
    pub fn from_safetensors(config: &DsrConfig, path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let mut weights = SafetensorsWeights::open(path)?;
        let model = Self::load(config, &mut weights, device)?;
        weights.finish()?;
        Ok(model)
    }

    /// Loads a model directory: `config.json` and `weights.safetensors`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let config = DsrConfig::from_json_file(dir.join("config.json"))?;
        Self::from_safetensors(&config, dir.join("weights.safetensors"), device)
    }

    /// The configuration.
    pub fn config(&self) -> &DsrConfig {
        &self.config
    }

    /// The input layout for a prompt of `txt_len` text tokens.
    pub fn layout(&self, txt_len: usize) -> Result<DsrLayout> {
        DsrLayout::new(self.config(), txt_len)
    }

    /// The input ids `[pad + text | low-res | <start_of_image> × hi-res]`, after checking every input.
    ///
    /// # Shapes
    /// - `lowres`: `[batch, lo_rows·lo_cols]` → `[batch, layout[2]]`
    pub fn input_tokens(&self, text: &[i64], lowres: Tensor<B, 2, Int>) -> Result<(DsrLayout, Tensor<B, 2, Int>)> {
        let config = self.config();
        let layout = self.layout(text.len())?;
        check_ids("text", text, config.base.vocab_size)?;
        check_grid_tokens("low-res image", &lowres, config.lo_grid, config.base.num_image_tokens)?;
        let tokens = assemble_tokens(
            &layout.text_slots(text),
            lowres,
            Some((config.start_of_image_id, config.num_hires())),
        );
        Ok((layout, tokens))
    }
}

/// The forward passes, on a backend that runs the local attention.
impl<B: LocalAttentionBackend> DsrModel<B> {
    /// Hidden states after the final LayerNorm of every slot and, when `keep_layers`, each layer's output.
    ///
    /// # Shapes
    /// - `lowres`: `[batch, lo_rows·lo_cols]` → `[batch, layout[2], hidden]`
    pub fn hidden_states(
        &self,
        text: &[i64],
        lowres: Tensor<B, 2, Int>,
        keep_layers: bool,
    ) -> Result<(Tensor<B, 3>, Vec<Tensor<B, 3>>)> {
        let (layout, tokens) = self.input_tokens(text, lowres)?;
        let _span = tracing::debug_span!("dsr_forward", batch = tokens.dims()[0], len = layout.len).entered();
        let device = tokens.device();
        let config = self.config();
        let t1 = layout.level0_len;
        let x = embed(&self.coglm, &self.mixins.extra_position_embedding, tokens, &layout.position_ids, t1);
        let mask0 = Tensor::<B, 4>::from_data(TensorData::new(layout.level0_mask.clone(), [1, 1, t1, t1]), &device);
        let local = LocalGeometry {
            hi_grid: config.hi_grid,
            self_window: config.self_window(),
        };
        let heads = config.base.num_attention_heads;
        let plus = &self.mixins.attention_plus;
        run_layers(&self.coglm, x, keep_layers, |i, attention, normed| {
            let [b, len, h] = normed.dims();
            let h0 = normed.clone().slice([0..b, 0..t1, 0..h]);
            let h1 = normed.slice([0..b, t1..len, 0..h]);
            let level0 = attention.qkv(h0);
            let level1 = split_qkv(plus.query_key_value[i].forward(h1), heads);
            let (c0, c1) = dsr_attention(level0, level1, &mask0, config.lo_grid, config.cross_window(), local)?;
            Ok(Tensor::cat(
                vec![attention.dense.forward(merge_heads(c0)), plus.dense[i].forward(merge_heads(c1))],
                1,
            ))
        })
    }

    /// Image logits of every slot plus each layer's output (for parity checks; [`hires_logits`](Self::hires_logits)
    /// computes only the rows that are sampled).
    ///
    /// # Shapes
    /// - `lowres`: `[batch, lo_rows·lo_cols]` → `[batch, layout[2], num_image_tokens]`
    pub fn forward_all(&self, text: &[i64], lowres: Tensor<B, 2, Int>) -> Result<(Tensor<B, 3>, Vec<Tensor<B, 3>>)> {
        let (hidden, layers) = self.hidden_states(text, lowres, true)?;
        Ok((self.coglm.image_logits(hidden), layers))
    }

    /// Logits of the hi-res tokens: token `i` (raster order) is predicted in place, at slot `layout[1] + i`.
    ///
    /// # Shapes
    /// - `lowres`: `[batch, lo_rows·lo_cols]` → `[batch, hi_rows·hi_cols, num_image_tokens]`
    pub fn hires_logits(&self, text: &[i64], lowres: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        let (hidden, _) = self.hidden_states(text, lowres, false)?;
        let [b, len, h] = hidden.dims();
        let t1 = self.config().layout[1];
        Ok(self.coglm.image_logits(hidden.slice([0..b, t1..len, 0..h])))
    }

    /// The hi-res tokens: one forward, then every position drawn independently (all in parallel) by `sampler`
    /// (officially [`dsr_sampler`] with the recipe's cluster settings; `Sampler::Argmax` for deterministic output).
    /// Every sample of the batch is returned (the official loop drops a remainder past a multiple of 4).
    ///
    /// # Shapes
    /// - `lowres`: `[batch, lo_rows·lo_cols]` → `[batch, hi_rows·hi_cols]`
    pub fn sample(
        &self,
        text: &[i64],
        lowres: Tensor<B, 2, Int>,
        sampler: &DeviceSampler<B>,
        rng: &mut dyn RngCore,
    ) -> Result<Tensor<B, 2, Int>> {
        let logits = self.hires_logits(text, lowres)?;
        let [b, n, v] = logits.dims();
        let _span = tracing::debug_span!("dsr_sample", batch = b, positions = n).entered();
        // One image at a time keeps the sampler's [positions, vocab] temporaries at one image's size.
        let rows = (0..b)
            .map(|i| sampler.sample(logits.clone().slice([i..i + 1, 0..n, 0..v]).reshape([n, v]), rng))
            .collect::<Vec<_>>();
        Ok(Tensor::stack(rows, 0))
    }
}
