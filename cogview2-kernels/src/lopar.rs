//! LoPAR, ITERSR's local parallel auto-regressive refinement (reference-spec §6.4, CV2
//! `sr_pipeline/iterative_sr.py` and `itersr_sampling.py`): the order pattern, the per-iteration mask and one
//! sampling step (temperature, top-k, a seeded counter-based draw, tokens written into the grid, next mask), as
//! plain burn ops.
//!
//! The draw uses one uniform number per (batch, position) from a counter-based hash of (seed, iteration,
//! index), so a step is reproducible and independent of how positions are scheduled.

use burn::tensor::{activation::softmax, backend::Backend, Bool, Int, Tensor, TensorData};

use crate::error::{KernelError, Result};

/// The 6×6 order pattern tiled over the hi-res grid: cell value v is re-sampled in iterations 1..=v.
pub const PATTERN: [[i32; 6]; 6] = [
    [-1, 0, 1, 2, 3, 4],
    [0, -1, 2, -1, -2, 5],
    [1, -2, 3, 4, 5, 6],
    [2, 3, 4, 5, -1, 1],
    [3, -1, -2, 0, -1, 2],
    [4, 5, 6, 1, 3, -2],
];

/// `topks` of `IterativeSuperResolution.__call__`; iteration k uses `TOP_K[k]`.
pub const TOP_K: [usize; 7] = [60, 40, 40, 40, 20, 20, 10];

/// Number of LoPAR iterations (forward passes).
pub const ITERATIONS: usize = 6;

/// Pattern value of every cell of a `rows × cols` grid, row-major.
pub fn pattern_values(rows: usize, cols: usize) -> Vec<i32> {
    (0..rows * cols).map(|i| PATTERN[(i / cols) % 6][(i % cols) % 6]).collect()
}

/// Positions re-sampled in `iteration` (1-based): pattern value ≥ iteration. `[rows·cols]`.
pub fn mask<B: Backend>(rows: usize, cols: usize, iteration: usize, device: &B::Device) -> Tensor<B, 1, Bool> {
    let values: Vec<bool> = pattern_values(rows, cols).into_iter().map(|v| v >= iteration as i32).collect();
    Tensor::from_data(TensorData::new(values, [rows * cols]), device)
}

/// One sampling configuration of a LoPAR step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepConfig {
    /// 1-based iteration (selects the counter stream; the pipeline also derives the mask from it).
    pub iteration: usize,
    /// Keep the `top_k` largest logits (ties at the threshold kept); 1 = argmax.
    pub top_k: usize,
    /// Logits are divided by it (the pipeline hard-codes 1.0).
    pub temperature: f32,
    /// Seed of the counter-based generator.
    pub seed: u64,
}

impl StepConfig {
    /// The pipeline's configuration of `iteration` (1..=6): top-k from [`TOP_K`], temperature 1.
    pub fn pipeline(iteration: usize, seed: u64) -> Result<Self> {
        if !(1..=ITERATIONS).contains(&iteration) {
            return Err(KernelError::Parameter { op: "lopar", what: format!("iteration {iteration} is outside 1..={ITERATIONS}") });
        }
        Ok(Self { iteration, top_k: TOP_K[iteration], temperature: 1.0, seed })
    }

    fn check(&self, vocab: usize) -> Result<()> {
        if self.top_k == 0 || self.top_k > vocab {
            return Err(KernelError::Parameter { op: "lopar", what: format!("top_k {} must be in 1..={vocab} (the vocabulary)", self.top_k) });
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(KernelError::Parameter { op: "lopar", what: format!("temperature {} must be positive and finite", self.temperature) });
        }
        Ok(())
    }
}

/// A 32-bit integer hash with good avalanche (the "lowbias32" constants); the device code uses the same one.
pub fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The key of one (seed, iteration) counter stream.
pub fn stream_key(seed: u64, iteration: usize) -> u32 {
    mix32(seed as u32 ^ mix32((seed >> 32) as u32 ^ mix32(iteration as u32)))
}

/// The uniform number in (0, 1] of draw `index` of `iteration` under `seed`.
pub fn uniform(seed: u64, iteration: usize, index: usize) -> f32 {
    let bits = mix32(index as u32 ^ stream_key(seed, iteration));
    // (bits + 1) / 2^32 is never 0, so the inverse-CDF draw never lands on a zero-probability token.
    ((bits as f64 + 1.0) / 4_294_967_296.0) as f32
}

/// Emission probabilities of the ITERSR strategy: `softmax(top_k(logits / T))` along the last dim.
pub fn top_k_probs<B: Backend, const D: usize>(logits: Tensor<B, D>, top_k: usize, temperature: f32) -> Tensor<B, D> {
    let last = D - 1;
    let scaled = logits / temperature as f64;
    let kth = scaled.clone().topk(top_k, last).narrow(last, top_k - 1, 1);
    let dropped = scaled.clone().lower(kth.expand(scaled.dims()));
    softmax(scaled.mask_fill(dropped, f32::NEG_INFINITY), last)
}

/// One LoPAR step: for every position with `mask` set, draw a token from the top-k distribution of its
/// logits; other positions keep their token. Returns the new tokens.
///
/// # Shapes
/// - `logits`: `[B, N, V]` image logits (fp32) at the N grid positions
/// - `tokens`: `[B, N]`; `mask`: `[N]` (the same for every batch row, as the pipeline's pattern)
pub fn step<B: Backend>(logits: Tensor<B, 3>, tokens: Tensor<B, 2, Int>, mask: Tensor<B, 1, Bool>, config: &StepConfig) -> Result<Tensor<B, 2, Int>> {
    check_step(logits.dims(), tokens.dims(), mask.dims(), config)?;
    let [batch, n, vocab] = logits.dims();
    let device = logits.device();
    let probs = top_k_probs(logits, config.top_k, config.temperature);
    let cdf = probs.cumsum(2);
    let total = cdf.clone().narrow(2, vocab - 1, 1);
    let u: Vec<f32> = (0..batch * n).map(|i| uniform(config.seed, config.iteration, i)).collect();
    let u = Tensor::<B, 3>::from_data(TensorData::new(u, [batch, n, 1]), &device) * total;
    // The first token whose cumulative probability reaches u: count the ones below it.
    let drawn: Tensor<B, 2, Int> = cdf.lower(u.expand([batch, n, vocab])).int().sum_dim(2).squeeze_dim(2);
    let drawn = drawn.clamp_max(vocab as i64 - 1);
    Ok(tokens.mask_where(mask.unsqueeze_dim::<2>(0).expand([batch, n]), drawn))
}

/// Checks the shapes and the configuration of a step.
pub(crate) fn check_step(logits: [usize; 3], tokens: [usize; 2], mask: [usize; 1], config: &StepConfig) -> Result<()> {
    let [batch, n, vocab] = logits;
    if tokens != [batch, n] || mask != [n] || vocab == 0 {
        return Err(KernelError::Shape {
            op: "lopar step",
            what: "tokens / mask",
            got: [tokens.to_vec(), mask.to_vec()].concat(),
            want: format!("tokens [{batch}, {n}] and mask [{n}] for logits {logits:?} (vocabulary ≥ 1)"),
        });
    }
    config.check(vocab)
}
