//! The position-wise MLP: `dense_4h_to_h(gelu(dense_h_to_4h(x)))` with SAT's tanh GELU.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::Result;
use crate::weights::SafetensorsWeights;

/// SAT `gelu_impl`: `0.5·x·(1 + tanh(0.7978845608028654·x·(1 + 0.044715·x²)))`.
///
/// Computed as `x·σ(2u)`, the same function since `(1 + tanh u) / 2 = σ(2u)`: burn's NdArray evaluates `tanh` in
/// scalar f64, which took a fifth of a CPU training step, while `sigmoid` stays in f32 and its backward reuses
/// the output. The exact-erf GELU differs by ≈1e-3 on logits, enough to miss the fixtures: keep this form.
pub fn gelu_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let inner = x.clone() * (x.clone().powi_scalar(2).mul_scalar(0.044715).add_scalar(1.0));
    x * sigmoid(inner.mul_scalar(2.0 * 0.797_884_560_802_865_4))
}

/// Two linears around a tanh GELU.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `[hidden] → [inner]`.
    pub dense_h_to_4h: Linear<B>,
    /// `[inner] → [hidden]`.
    pub dense_4h_to_h: Linear<B>,
    /// Dropout on the output (training only).
    pub dropout: Dropout,
}

impl<B: Backend> Mlp<B> {
    /// Randomly initialised, N(0, `std`) weights and zero biases (SAT init).
    pub fn new(hidden: usize, inner: usize, dropout: f64, std: f64, device: &B::Device) -> Self {
        let init = |d_in, d_out| {
            LinearConfig::new(d_in, d_out)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device)
        };
        let mut dense_h_to_4h: Linear<B> = init(hidden, inner);
        let mut dense_4h_to_h: Linear<B> = init(inner, hidden);
        zero_bias(&mut dense_h_to_4h);
        zero_bias(&mut dense_4h_to_h);
        Self {
            dense_h_to_4h,
            dense_4h_to_h,
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// Takes `<prefix>.dense_h_to_4h.*` and `<prefix>.dense_4h_to_h.*`.
    pub fn load(
        weights: &mut SafetensorsWeights,
        prefix: &str,
        hidden: usize,
        inner: usize,
        dropout: f64,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            dense_h_to_4h: weights.take_linear(&format!("{prefix}.dense_h_to_4h"), hidden, inner, device)?,
            dense_4h_to_h: weights.take_linear(&format!("{prefix}.dense_4h_to_h"), inner, hidden, device)?,
            dropout: DropoutConfig::new(dropout).init(),
        })
    }

    /// # Shapes
    /// - input `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = gelu_tanh(self.dense_h_to_4h.forward(x));
        self.dropout.forward(self.dense_4h_to_h.forward(h))
    }
}

/// SAT initialises biases to zero.
pub(crate) fn zero_bias<B: Backend>(linear: &mut Linear<B>) {
    if let Some(bias) = linear.bias.take() {
        let zeros = bias.val().zeros_like();
        linear.bias = Some(burn::module::Param::from_tensor(zeros));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    /// Inputs from the saturated tails (±100, ±12) through the curved middle.
    const XS: [f32; 9] = [-100.0, -12.0, -3.0, -0.5, 0.0, 0.7, 2.5, 12.0, 100.0];

    #[test]
    fn gelu_matches_the_sat_formula() {
        let device = Default::default();
        let out = gelu_tanh(Tensor::<NdArray, 1>::from_floats(XS, &device)).into_data();
        for (x, y) in XS.iter().zip(out.as_slice::<f32>().unwrap()) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + (0.7978845608028654 * x * (1.0 + 0.044715 * x * x)).tanh());
            assert!((*y as f64 - want).abs() < 1e-6 * want.abs().max(1.0), "gelu({x}) = {y}, want {want}");
        }
    }

    #[test]
    fn gelu_gradient_is_finite_and_matches_the_derivative() {
        type Ad = burn::backend::Autodiff<NdArray>;
        let device = Default::default();
        let x = Tensor::<Ad, 1>::from_floats(XS, &device).require_grad();
        let grads = gelu_tanh(x.clone()).sum().backward();
        let dx = x.grad(&grads).unwrap().into_data();
        for (x, g) in XS.iter().zip(dx.as_slice::<f32>().unwrap()) {
            let x = *x as f64;
            let c = 0.7978845608028654;
            let u = c * x * (1.0 + 0.044715 * x * x);
            let t = u.tanh();
            let want = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
            assert!(g.is_finite() && (*g as f64 - want).abs() < 1e-5, "gelu'({x}) = {g}, want {want}");
        }
    }
}
