//! Gradient clipping by the global L2 norm over ALL parameters, as SAT does (`clip_grad_norm_` over the model's
//! parameters): burn's `GradientClippingConfig::Norm` clips each tensor separately, which changes the direction
//! of the update, while global clipping only rescales it.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

/// Sums the squared gradients of every float parameter.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every float parameter's gradient by `scale`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    scale: f32,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.scale));
        }
    }
}

/// The global L2 norm of `grads` over `model`'s parameters (0 when there are none).
pub fn global_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M, grads: &GradientsParams) -> f32 {
    let mut visitor = SquaredNorm::<B> { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map_or(0.0, |t| t.into_scalar().elem::<f32>().sqrt())
}

/// Rescales `grads` so that their global norm is at most `max_norm` (SAT's coefficient `max_norm / (norm + 1e-6)`,
/// applied only when below 1); returns the norm before clipping.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    let norm = global_grad_norm::<B, M>(model, grads);
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let mut visitor = Scale { grads, scale: coef };
        <M as burn::module::Module<B>>::visit(model, &mut visitor);
    }
    norm
}
