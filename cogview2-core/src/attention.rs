//! Multi-head self-attention as SwissArmyTransformer v0.2 computes it (`standard_attention`).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::cache::KvCache;
use crate::error::Result;
use crate::mlp::zero_bias;
use crate::weights::SafetensorsWeights;

/// Score given to masked-out keys: SAT masks as `s·m − 10000·(1 − m)`, not with −∞.
pub const MASKED_SCORE: f64 = -10_000.0;

/// Fused-QKV self-attention with an output projection.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    /// `[hidden] → [3·hidden]`: Q, K, V as three contiguous column blocks, heads contiguous inside each.
    pub query_key_value: Linear<B>,
    /// `[hidden] → [hidden]` after the heads are concatenated.
    pub dense: Linear<B>,
    /// Dropout on the attention probabilities (training only).
    pub attention_dropout: Dropout,
    /// Dropout on the output (training only).
    pub output_dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// PB-relax α, if enabled.
    pub pb_relax_alpha: Option<f64>,
}

/// Optional inputs of one attention call.
#[derive(Debug, Clone, Default)]
pub struct AttentionBias<B: Backend> {
    /// 1 = may attend, 0 = masked; broadcastable to `[batch, heads, q_len, k_len]`. `None` skips masking (as SAT does
    /// for incremental steps, whose single row sees everything).
    pub mask: Option<Tensor<B, 4>>,
    /// Additive `log_attention_weights`, `[q_len, k_len]`, added to the scaled scores before masking.
    pub log_weights: Option<Tensor<B, 2>>,
}

impl<B: Backend> SelfAttention<B> {
    /// Randomly initialised, N(0, `std`) weights, zero biases.
    pub fn new(hidden: usize, num_heads: usize, dropout: (f64, f64), std: f64, pb: Option<f64>, device: &B::Device) -> Self {
        let init = |d_in, d_out| {
            let mut l: Linear<B> = LinearConfig::new(d_in, d_out)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device);
            zero_bias(&mut l);
            l
        };
        Self {
            query_key_value: init(hidden, 3 * hidden),
            dense: init(hidden, hidden),
            attention_dropout: DropoutConfig::new(dropout.0).init(),
            output_dropout: DropoutConfig::new(dropout.1).init(),
            num_heads,
            pb_relax_alpha: pb,
        }
    }

    /// Takes `<prefix>.query_key_value.*` and `<prefix>.dense.*`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        weights: &mut SafetensorsWeights,
        prefix: &str,
        hidden: usize,
        num_heads: usize,
        dropout: (f64, f64),
        pb: Option<f64>,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            query_key_value: weights.take_linear(&format!("{prefix}.query_key_value"), hidden, 3 * hidden, device)?,
            dense: weights.take_linear(&format!("{prefix}.dense"), hidden, hidden, device)?,
            attention_dropout: DropoutConfig::new(dropout.0).init(),
            output_dropout: DropoutConfig::new(dropout.1).init(),
            num_heads,
            pb_relax_alpha: pb,
        })
    }

    /// Projects and splits into per-head Q, K, V.
    ///
    /// # Shapes
    /// - input `[batch, seq, hidden]` → three `[batch, heads, seq, head_dim]`.
    pub fn qkv(&self, x: Tensor<B, 3>) -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) {
        split_qkv(self.query_key_value.forward(x), self.num_heads)
    }

    /// Full attention of `x` over itself (plus the cached positions when `cache` is given, which is then extended).
    ///
    /// # Shapes
    /// - input `[batch, seq, hidden]`, mask/log-weights over `[seq, cached + seq]` → `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        bias: &AttentionBias<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        let (q, k, v) = self.qkv(x);
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };
        let probs = attention_probs(q, k, bias, self.pb_relax_alpha);
        let context = self.attention_dropout.forward(probs).matmul(v);
        self.output_dropout.forward(self.dense.forward(merge_heads(context)))
    }
}

/// Splits a fused `[batch, seq, 3·hidden]` projection into Q, K, V, each `[batch, heads, seq, head_dim]`.
pub fn split_qkv<B: Backend>(qkv: Tensor<B, 3>, num_heads: usize) -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) {
    let [b, s, three_h] = qkv.dims();
    let hidden = three_h / 3;
    let head = |i: usize| {
        qkv.clone()
            .slice([0..b, 0..s, i * hidden..(i + 1) * hidden])
            .reshape([b, s, num_heads, hidden / num_heads])
            .swap_dims(1, 2)
    };
    (head(0), head(1), head(2))
}

/// `[batch, heads, seq, head_dim]` → `[batch, seq, heads·head_dim]`, heads concatenated in order.
pub fn merge_heads<B: Backend>(context: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, h, s, d] = context.dims();
    context.swap_dims(1, 2).reshape([b, s, h * d])
}

/// Attention probabilities `softmax(mask(q/√d · kᵀ + log_weights))`.
///
/// `q` is divided by √d *before* the product (SAT's order). With PB-relax (α) the scores are computed as
/// `(q/(α√d)·kᵀ − max)·α`, equal in exact arithmetic (softmax is shift invariant) but bounded by α times a
/// much smaller number, so half precision does not overflow.
///
/// # Shapes
/// - q `[batch, heads, q_len, d]`, k `[batch, heads, k_len, d]` → `[batch, heads, q_len, k_len]`.
pub fn attention_probs<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    bias: &AttentionBias<B>,
    pb_relax_alpha: Option<f64>,
) -> Tensor<B, 4> {
    let d = q.dims()[3] as f64;
    let kt = k.swap_dims(2, 3);
    let mut scores = match pb_relax_alpha {
        None => q.div_scalar(d.sqrt()).matmul(kt),
        Some(alpha) => {
            let s = q.div_scalar(alpha * d.sqrt()).matmul(kt);
            let max = s.clone().max_dim(3).detach();
            (s - max).mul_scalar(alpha)
        }
    };
    if let Some(w) = &bias.log_weights {
        scores = scores + w.clone().unsqueeze::<4>();
    }
    if let Some(mask) = &bias.mask {
        scores = scores * mask.clone() + (mask.clone() - 1.0).mul_scalar(-MASKED_SCORE);
    }
    softmax(scores, 3)
}
