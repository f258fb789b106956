//! What DSR and ITERSR share on top of CogLM: the extra (hi-res) position table, the split embedding rule, and the
//! layer stack with a replaced attention.

use burn::module::Module;
use burn::nn::Embedding;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use cogview2_core::{CogLm, SafetensorsWeights, SelfAttention};

use crate::error::{Result, SrError};

/// SAT's `extra_position_embedding` mixin: one learned row per hi-res position (official prefix
/// `mixins.extra_position_embedding.`).
#[derive(Module, Debug)]
pub struct ExtraPositionEmbedding<B: Backend> {
    /// `[hi-res tokens, hidden]`, row `pos − max_sequence_length`.
    pub position_embeddings: Embedding<B>,
}

impl<B: Backend> ExtraPositionEmbedding<B> {
    /// Takes `mixins.extra_position_embedding.position_embeddings.weight`.
    pub fn load(weights: &mut SafetensorsWeights, rows: usize, hidden: usize, device: &B::Device) -> Result<Self> {
        Ok(Self {
            position_embeddings: weights.take_embedding(
                "mixins.extra_position_embedding.position_embeddings",
                rows,
                hidden,
                device,
            )?,
        })
    }
}

/// `position_embedding_forward` of DSR / ITERSR: the first `n_base` slots use CogLM's table, the rest the extra
/// table at `pos − max_sequence_length`.
///
/// # Shapes
/// - tokens `[batch, len]`, positions `len` (shared by the batch) → `[batch, len, hidden]`.
pub(crate) fn embed<B: Backend>(
    coglm: &CogLm<B>,
    extra: &ExtraPositionEmbedding<B>,
    tokens: Tensor<B, 2, Int>,
    positions: &[i64],
    n_base: usize,
) -> Tensor<B, 3> {
    let device = tokens.device();
    let [b, len] = tokens.dims();
    let t = &coglm.transformer;
    let msl = coglm.max_sequence_length() as i64;
    let base = Tensor::<B, 2, Int>::from_data(TensorData::new(positions[..n_base].to_vec(), [1, n_base]), &device);
    let hires: Vec<i64> = positions[n_base..].iter().map(|p| p - msl).collect();
    let hires = Tensor::<B, 2, Int>::from_data(TensorData::new(hires, [1, len - n_base]), &device);
    let pos = Tensor::cat(
        vec![t.position_embeddings.forward(base), extra.position_embeddings.forward(hires)],
        1,
    );
    let [_, _, h] = pos.dims();
    t.embedding_dropout.forward(t.word_embeddings.forward(tokens) + pos.expand([b, len, h]))
}

/// The layer stack with `attend(layer, base attention, normed)` in place of each layer's attention. Returns the
/// output after the final LayerNorm and, when `keep_hidden`, every layer's output (before it).
pub(crate) fn run_layers<B: Backend>(
    coglm: &CogLm<B>,
    mut x: Tensor<B, 3>,
    keep_hidden: bool,
    mut attend: impl FnMut(usize, &SelfAttention<B>, Tensor<B, 3>) -> Result<Tensor<B, 3>>,
) -> Result<(Tensor<B, 3>, Vec<Tensor<B, 3>>)> {
    let mut hidden = Vec::new();
    for (i, layer) in coglm.transformer.layers.iter().enumerate() {
        let _span = tracing::trace_span!("sr_layer", layer = i).entered();
        x = layer.try_forward_with_attention(x, |attention, normed| attend(i, attention, normed))?;
        if keep_hidden {
            hidden.push(x.clone());
        }
    }
    Ok((coglm.transformer.final_layernorm.forward(x), hidden))
}

/// Fails on the first id of `ids` outside `[0, bound)`.
pub(crate) fn check_ids(what: &'static str, ids: &[i64], bound: usize) -> Result<()> {
    match ids.iter().enumerate().find(|(_, &id)| id < 0 || id as u64 >= bound as u64) {
        Some((index, &id)) => Err(SrError::TokenOutOfRange { what, id, index, bound }),
        None => Ok(()),
    }
}

/// Checks a `[batch, n]` id tensor: batch non-empty, `n == expected`, ids in `[0, bound)` (reads back the ids).
pub(crate) fn check_grid_tokens<B: Backend>(
    what: &'static str,
    tokens: &Tensor<B, 2, Int>,
    grid: [usize; 2],
    bound: usize,
) -> Result<()> {
    let [b, n] = tokens.dims();
    if b == 0 {
        return Err(SrError::EmptyBatch(what));
    }
    if n != grid[0] * grid[1] {
        return Err(SrError::GridMismatch {
            what,
            grid,
            expected: grid[0] * grid[1],
            found: n,
        });
    }
    // Two scalars read back instead of every id.
    let flat = tokens.clone().flatten::<1>(0, 1);
    let scalar = |t: Tensor<B, 1, Int>| t.into_scalar().elem::<i64>();
    let (min, argmin) = flat.clone().min_dim_with_indices(0);
    let (max, argmax) = flat.max_dim_with_indices(0);
    let (min, max) = (scalar(min), scalar(max));
    if min < 0 {
        return Err(SrError::TokenOutOfRange { what, id: min, index: scalar(argmin) as usize, bound });
    }
    if max as u64 >= bound as u64 {
        return Err(SrError::TokenOutOfRange { what, id: max, index: scalar(argmax) as usize, bound });
    }
    Ok(())
}

/// A `[batch, len]` id tensor: `prefix` (shared by the batch), then `middle` rows, then `fill` repeated `tail` times.
pub(crate) fn assemble_tokens<B: Backend>(
    prefix: &[i64],
    middle: Tensor<B, 2, Int>,
    fill: Option<(i64, usize)>,
) -> Tensor<B, 2, Int> {
    let device = middle.device();
    let [b, _] = middle.dims();
    let mut parts = Vec::with_capacity(3);
    if !prefix.is_empty() {
        let p = Tensor::<B, 2, Int>::from_data(TensorData::new(prefix.to_vec(), [1, prefix.len()]), &device);
        parts.push(p.expand([b, prefix.len()]));
    }
    parts.push(middle);
    if let Some((id, n)) = fill {
        parts.push(Tensor::full([b, n], id, &device));
    }
    Tensor::cat(parts, 1)
}
