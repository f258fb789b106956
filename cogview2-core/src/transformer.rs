//! The CogLM model: embeddings, the layer stack, the final LayerNorm and the tied output heads.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::ElementConversion;
use burn::nn::{Dropout, DropoutConfig, Embedding};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};

use crate::attention::AttentionBias;
use crate::cache::KvCache;
use crate::config::CogLmConfig;
use crate::error::{CoreError, Result};
use crate::layer::TransformerLayer;
use crate::layernorm::LayerNorm;
use crate::weights::SafetensorsWeights;

/// SAT's `BaseTransformer`: parameter paths are the official `transformer.*` names.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// Token embedding `[vocab_size, hidden]`, also the (tied) output projection.
    pub word_embeddings: Embedding<B>,
    /// Learned 1-D positions `[max_sequence_length, hidden]`.
    pub position_embeddings: Embedding<B>,
    /// The layers.
    pub layers: Vec<TransformerLayer<B>>,
    /// LN after the last layer.
    pub final_layernorm: LayerNorm<B>,
    /// Dropout on the summed embeddings (training only).
    pub embedding_dropout: Dropout,
}

/// CogLM, the CogView2 stage-1 transformer.
#[derive(Module, Debug)]
pub struct CogLm<B: Backend> {
    /// The transformer (official prefix `transformer.`).
    pub transformer: Transformer<B>,
    /// Image codes are ids `[0, num_image_tokens)`.
    pub num_image_tokens: usize,
}

fn normal_embedding<B: Backend>(rows: usize, dim: usize, device: &B::Device) -> Embedding<B> {
    Embedding {
        weight: Param::from_tensor(Tensor::random([rows, dim], Distribution::Normal(0.0, 0.02), device)),
    }
}

impl<B: Backend> CogLm<B> {
    /// A randomly initialised model (SAT init), for training.
    pub fn new(config: &CogLmConfig, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let h = config.hidden_size;
        Ok(Self {
            transformer: Transformer {
                word_embeddings: normal_embedding(config.vocab_size, h, device),
                position_embeddings: normal_embedding(config.max_sequence_length, h, device),
                layers: (0..config.num_layers).map(|_| TransformerLayer::new(config, device)).collect(),
                final_layernorm: LayerNorm::new(h, config.layernorm_epsilon, config.pb_relax.map(|p| p.alpha), device),
                embedding_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            },
            num_image_tokens: config.num_image_tokens,
        })
    }

    /// Takes the `transformer.*` tensors. Does not check for left-over tensors, so that models built on CogLM
    /// (DSR, ITERSR) can take their own; call [`SafetensorsWeights::finish`] afterwards.
    pub fn load(config: &CogLmConfig, weights: &mut SafetensorsWeights, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let h = config.hidden_size;
        let pb = config.pb_relax.map(|p| p.alpha);
        let word_embeddings = weights.take_embedding("transformer.word_embeddings", config.vocab_size, h, device)?;
        let position_embeddings =
            weights.take_embedding("transformer.position_embeddings", config.max_sequence_length, h, device)?;
        let layers = (0..config.num_layers)
            .map(|i| TransformerLayer::load(config, weights, &format!("transformer.layers.{i}"), device))
            .collect::<Result<Vec<_>>>()?;
        let final_layernorm =
            LayerNorm::load(weights, "transformer.final_layernorm", h, config.layernorm_epsilon, pb, device)?;
        Ok(Self {
            transformer: Transformer {
                word_embeddings,
                position_embeddings,
                layers,
                final_layernorm,
                embedding_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            },
            num_image_tokens: config.num_image_tokens,
        })
    }

    /// Builds the model from weights that must hold exactly its tensors.
    pub fn from_weights(config: &CogLmConfig, mut weights: SafetensorsWeights, device: &B::Device) -> Result<Self> {
        let model = Self::load(config, &mut weights, device)?;
        weights.finish()?;
        Ok(model)
    }

    /// Loads a safetensors file that must hold exactly this model's tensors.
    pub fn from_safetensors(config: &CogLmConfig, path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        Self::from_weights(config, SafetensorsWeights::open(path)?, device)
    }

    /// Loads a model directory: `config.json` (or SAT's `model_config.json`) and `weights.safetensors`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<(CogLmConfig, Self)> {
        let dir = dir.as_ref();
        let config_path = ["config.json", "model_config.json"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| dir.join("config.json"));
        let config = CogLmConfig::from_json_file(config_path)?;
        let model = Self::from_safetensors(&config, dir.join("weights.safetensors"), device)?;
        Ok((config, model))
    }

    /// Rows of the word embedding.
    pub fn vocab_size(&self) -> usize {
        self.transformer.word_embeddings.weight.dims()[0]
    }

    /// Rows of the position table.
    pub fn max_sequence_length(&self) -> usize {
        self.transformer.position_embeddings.weight.dims()[0]
    }

    /// Model width.
    pub fn hidden_size(&self) -> usize {
        self.transformer.word_embeddings.weight.dims()[1]
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.transformer.layers.len()
    }

    /// Checks token ids against the vocabulary and positions against the position table (reads two scalars each
    /// back from the device).
    pub fn check_inputs(&self, tokens: &Tensor<B, 2, Int>, positions: &Tensor<B, 2, Int>) -> Result<()> {
        if tokens.dims() != positions.dims() {
            return Err(CoreError::Shape(format!(
                "tokens {:?} and position ids {:?} differ in shape",
                tokens.dims(),
                positions.dims()
            )));
        }
        check_range(tokens, self.vocab_size(), |id, index| CoreError::TokenOutOfRange {
            id,
            index,
            vocab_size: self.vocab_size(),
        })?;
        check_range(positions, self.max_sequence_length(), |id, _| CoreError::PositionOutOfRange {
            id,
            rows: self.max_sequence_length(),
        })
    }

    /// Word + position embeddings (unchecked ids: see [`check_inputs`](Self::check_inputs)).
    ///
    /// # Shapes
    /// - tokens, positions `[batch, seq]` → `[batch, seq, hidden]`.
    pub fn embed(&self, tokens: Tensor<B, 2, Int>, positions: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let t = &self.transformer;
        t.embedding_dropout
            .forward(t.word_embeddings.forward(tokens) + t.position_embeddings.forward(positions))
    }

    /// Runs the layer stack on embedded inputs; returns the last layer's output (before the final LN) and,
    /// when `keep_hidden`, every layer's output.
    pub fn run_layers(
        &self,
        mut x: Tensor<B, 3>,
        bias: &AttentionBias<B>,
        mut cache: Option<&mut KvCache<B>>,
        keep_hidden: bool,
    ) -> (Tensor<B, 3>, Vec<Tensor<B, 3>>) {
        let mut hidden = Vec::new();
        for (i, layer) in self.transformer.layers.iter().enumerate() {
            let _span = tracing::trace_span!("coglm_layer", layer = i).entered();
            x = layer.forward(x, bias, cache.as_deref_mut().map(|c| (c, i)));
            if keep_hidden {
                hidden.push(x.clone());
            }
        }
        (x, hidden)
    }

    /// Embeddings → layers → final LN, with ids checked first.
    ///
    /// # Shapes
    /// - tokens, positions `[batch, seq]`; mask `[1|batch, 1, seq, cached+seq]`; log weights `[seq, cached+seq]`
    ///   → `[batch, seq, hidden]`.
    pub fn forward_hidden(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: Tensor<B, 2, Int>,
        bias: &AttentionBias<B>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        self.check_inputs(&tokens, &positions)?;
        let (x, _) = self.run_layers(self.embed(tokens, positions), bias, cache, false);
        Ok(self.transformer.final_layernorm.forward(x))
    }

    /// Image logits: `hidden · word_embeddings[:num_image_tokens]ᵀ` (no bias), as CogView2's `final_forward`.
    ///
    /// # Shapes
    /// - `[batch, seq, hidden]` → `[batch, seq, num_image_tokens]`.
    pub fn image_logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, h] = self.transformer.word_embeddings.weight.dims();
        let w = self.transformer.word_embeddings.weight.val().slice([0..self.num_image_tokens, 0..h]);
        tied_projection(hidden, w)
    }

    /// Logits over the whole vocabulary (SAT's default `final_forward`, used for text scoring).
    ///
    /// # Shapes
    /// - `[batch, seq, hidden]` → `[batch, seq, vocab_size]`.
    pub fn vocab_logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        tied_projection(hidden, self.transformer.word_embeddings.weight.val())
    }

    /// Full forward to image logits.
    ///
    /// # Shapes
    /// - tokens, positions `[batch, seq]` → `[batch, seq, num_image_tokens]`.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, positions: Tensor<B, 2, Int>, bias: &AttentionBias<B>) -> Result<Tensor<B, 3>> {
        Ok(self.image_logits(self.forward_hidden(tokens, positions, bias, None)?))
    }

    /// Like [`forward`](Self::forward) but also returns each layer's output (before the final LN).
    pub fn forward_with_hidden_states(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: Tensor<B, 2, Int>,
        bias: &AttentionBias<B>,
    ) -> Result<(Tensor<B, 3>, Vec<Tensor<B, 3>>)> {
        self.check_inputs(&tokens, &positions)?;
        let (x, hidden) = self.run_layers(self.embed(tokens, positions), bias, None, true);
        Ok((self.image_logits(self.transformer.final_layernorm.forward(x)), hidden))
    }
}

/// `hidden · wᵀ` for a table `w` `[rows, hidden]`, computed as `(w · hiddenᵀ)ᵀ`: the table is used in its stored
/// row-major layout, so backends that need contiguous operands copy only the small hidden states, never the
/// 20 000-row table (which a transposed view of it would cost on every generated token).
fn tied_projection<B: Backend>(hidden: Tensor<B, 3>, w: Tensor<B, 2>) -> Tensor<B, 3> {
    let [b, s, h] = hidden.dims();
    let [rows, _] = w.dims();
    w.matmul(hidden.reshape([b * s, h]).transpose()).transpose().reshape([b, s, rows])
}

fn check_range<B: Backend>(
    ids: &Tensor<B, 2, Int>,
    bound: usize,
    err: impl Fn(i64, usize) -> CoreError,
) -> Result<()> {
    if ids.dims().iter().product::<usize>() == 0 {
        return Ok(());
    }
    let flat = ids.clone().flatten::<1>(0, 1);
    let (min, argmin) = flat.clone().min_dim_with_indices(0);
    let (max, argmax) = flat.max_dim_with_indices(0);
    let scalar = |t: Tensor<B, 1, Int>| t.into_scalar().elem::<i64>();
    let (min, max) = (scalar(min), scalar(max));
    if min < 0 {
        return Err(err(min, scalar(argmin) as usize));
    }
    if max as u64 >= bound as u64 {
        return Err(err(max, scalar(argmax) as usize));
    }
    Ok(())
}

