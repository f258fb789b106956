//! One transformer layer with Sandwich LayerNorm (SAT `BaseTransformerLayer`, `layernorm_order='sandwich'`).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::attention::{AttentionBias, SelfAttention};
use crate::cache::KvCache;
use crate::config::{CogLmConfig, LayerNormOrder};
use crate::error::Result;
use crate::layernorm::LayerNorm;
use crate::mlp::Mlp;
use crate::weights::SafetensorsWeights;

/// Attention → (third LN) → residual → post-attention LN → MLP → (fourth LN) → residual.
///
/// With sandwich order, the sub-layer *outputs* are normalised again (`third_layernorm`, `fourth_layernorm`) before
/// the residual add, while the residual itself stays un-normalised.
#[derive(Module, Debug)]
pub struct TransformerLayer<B: Backend> {
    /// LN before attention.
    pub input_layernorm: LayerNorm<B>,
    /// Self-attention.
    pub attention: SelfAttention<B>,
    /// Sandwich LN on the attention output.
    pub third_layernorm: Option<LayerNorm<B>>,
    /// LN before the MLP.
    pub post_attention_layernorm: LayerNorm<B>,
    /// MLP.
    pub mlp: Mlp<B>,
    /// Sandwich LN on the MLP output.
    pub fourth_layernorm: Option<LayerNorm<B>>,
}

impl<B: Backend> TransformerLayer<B> {
    /// A randomly initialised layer (SAT init: N(0, 0.02) weights, zero biases, unit LayerNorms).
    pub fn new(config: &CogLmConfig, device: &B::Device) -> Self {
        let h = config.hidden_size;
        let pb = config.pb_relax.map(|p| p.alpha);
        let ln = || LayerNorm::new(h, config.layernorm_epsilon, pb, device);
        let sandwich = config.layernorm_order == LayerNormOrder::Sandwich;
        Self {
            input_layernorm: ln(),
            attention: SelfAttention::new(
                h,
                config.num_attention_heads,
                (config.attention_dropout_prob, config.hidden_dropout_prob),
                0.02,
                pb,
                device,
            ),
            third_layernorm: sandwich.then(ln),
            post_attention_layernorm: ln(),
            mlp: Mlp::new(h, config.inner_size(), config.hidden_dropout_prob, 0.02, device),
            fourth_layernorm: sandwich.then(ln),
        }
    }

    /// Takes the tensors of `<prefix>.*` (e.g. `transformer.layers.3`).
    pub fn load(config: &CogLmConfig, weights: &mut SafetensorsWeights, prefix: &str, device: &B::Device) -> Result<Self> {
        let h = config.hidden_size;
        let pb = config.pb_relax.map(|p| p.alpha);
        let eps = config.layernorm_epsilon;
        let sandwich = config.layernorm_order == LayerNormOrder::Sandwich;
        let mut ln = |name: &str| LayerNorm::load(weights, &format!("{prefix}.{name}"), h, eps, pb, device);
        let input_layernorm = ln("input_layernorm")?;
        let third_layernorm = if sandwich { Some(ln("third_layernorm")?) } else { None };
        let post_attention_layernorm = ln("post_attention_layernorm")?;
        let fourth_layernorm = if sandwich { Some(ln("fourth_layernorm")?) } else { None };
        Ok(Self {
            input_layernorm,
            attention: SelfAttention::load(
                weights,
                &format!("{prefix}.attention"),
                h,
                config.num_attention_heads,
                (config.attention_dropout_prob, config.hidden_dropout_prob),
                pb,
                device,
            )?,
            third_layernorm,
            post_attention_layernorm,
            mlp: Mlp::load(weights, &format!("{prefix}.mlp"), h, config.inner_size(), config.hidden_dropout_prob, device)?,
            fourth_layernorm,
        })
    }

    /// The layer with standard (dense) self-attention.
    ///
    /// # Shapes
    /// - input `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>, bias: &AttentionBias<B>, cache: Option<(&mut KvCache<B>, usize)>) -> Tensor<B, 3> {
        self.forward_with_attention(x, |attention, normed| attention.forward(normed, bias, cache))
    }

    /// The layer with a caller-supplied attention (DSR and ITERSR replace only the attention; norms and MLP stay).
    /// `attend` receives this layer's attention module and the input-normalised hidden states.
    pub fn forward_with_attention(
        &self,
        x: Tensor<B, 3>,
        attend: impl FnOnce(&SelfAttention<B>, Tensor<B, 3>) -> Tensor<B, 3>,
    ) -> Tensor<B, 3> {
        match self.try_forward_with_attention(x, |attention, normed| {
            Ok::<_, std::convert::Infallible>(attend(attention, normed))
        }) {
            Ok(x) => x,
            Err(never) => match never {},
        }
    }

    /// [`forward_with_attention`](Self::forward_with_attention) with a fallible attention (e.g. a kernel call that
    /// checks its shapes); the layer stops at the first error.
    pub fn try_forward_with_attention<E>(
        &self,
        x: Tensor<B, 3>,
        attend: impl FnOnce(&SelfAttention<B>, Tensor<B, 3>) -> std::result::Result<Tensor<B, 3>, E>,
    ) -> std::result::Result<Tensor<B, 3>, E> {
        let mut attended = attend(&self.attention, self.input_layernorm.forward(x.clone()))?;
        if let Some(ln) = &self.third_layernorm {
            attended = ln.forward(attended);
        }
        let x = x + attended;
        let mut mlp_out = self.mlp.forward(self.post_attention_layernorm.forward(x.clone()));
        if let Some(ln) = &self.fourth_layernorm {
            mlp_out = ln.forward(mlp_out);
        }
        Ok(x + mlp_out)
    }
}
