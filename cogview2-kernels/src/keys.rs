//! The key sets of fused local attention: what DSR and ITERSR hand to one softmax.
//!
//! A hi-res query of CogView2's super-resolution models attends to its local self window (9×5 over the 60×60
//! grid) and to ONE second key set, concatenated before a single softmax:
//! - DSR (`dsr_model.sparse_attention_2d_light`, reference-spec §5.3): a 5×5 window of the 20×20 low-res grid,
//!   centred on the query's low-res cell → [`ExtraKeys::Window`];
//! - ITERSR (`itersr_model.sparse_attention_2d_text`, §6.3): the 16 text keys, seen by every query, with an additive
//!   bias and a 0/1 key mask → [`ExtraKeys::Dense`].
//!
//! The logits are ordered `[extra | local]` as the official code concatenates them (only matters for splitting).

use burn::tensor::{backend::Backend, Tensor};

use crate::error::{KernelError, Result};
use crate::geometry::{Geometry, Window};

/// Keys and values on a grid, seen through a window around each query's cell.
#[derive(Debug, Clone)]
pub struct WindowKeys<B: Backend> {
    /// Keys `[B or 1, C, h, w]` (the query grid must be a multiple of `h × w`).
    pub k: Tensor<B, 4>,
    /// Values, same shape as `k`.
    pub v: Tensor<B, 4>,
    /// The window.
    pub window: Window,
}

/// Keys every query sees (ITERSR's text tokens).
#[derive(Debug, Clone)]
pub struct DenseKeys<B: Backend> {
    /// Keys `[B, T, C]`.
    pub k: Tensor<B, 3>,
    /// Values `[B, T, C]`.
    pub v: Tensor<B, 3>,
    /// Added to the scores before masking (`log_attention_weights`), `[B or 1, T]`.
    pub bias: Option<Tensor<B, 2>>,
    /// 1 = visible, 0 = hidden key (`s·m − 10000·(1 − m)`, the official masking), `[B or 1, T]`.
    pub mask: Option<Tensor<B, 2>>,
}

/// The second key set of fused local attention; its scores come first in the softmax.
#[derive(Debug, Clone)]
pub enum ExtraKeys<B: Backend> {
    /// DSR: a window of a (lower-resolution) grid.
    Window(WindowKeys<B>),
    /// ITERSR: keys every query sees.
    Dense(DenseKeys<B>),
}

impl<B: Backend> WindowKeys<B> {
    /// Keys and values with a `kh × kw` non-causal window.
    pub fn new(k: Tensor<B, 4>, v: Tensor<B, 4>, kh: usize, kw: usize) -> Self {
        Self { k, v, window: Window::new(kh, kw, false) }
    }

    /// Checks keys and values against the query shape.
    pub(crate) fn geometry(&self, op: &'static str, query: [usize; 4]) -> Result<Geometry> {
        let g = Geometry::new(op, query, self.k.dims(), "k", self.window)?;
        if self.v.dims() != self.k.dims() {
            return Err(KernelError::Shape { op, what: "v", got: self.v.dims().to_vec(), want: format!("{:?} (the keys' shape)", self.k.dims()) });
        }
        Ok(g)
    }
}

impl<B: Backend> DenseKeys<B> {
    /// Checks keys, values, bias and mask against the query shape; returns the number of keys.
    pub(crate) fn check(&self, op: &'static str, query: [usize; 4]) -> Result<usize> {
        let [batch, channels, _, _] = query;
        let [kb, t, kc] = self.k.dims();
        if kb != batch || kc != channels || t == 0 {
            return Err(KernelError::Shape { op, what: "dense k", got: self.k.dims().to_vec(), want: format!("[{batch}, T ≥ 1, {channels}]") });
        }
        if self.v.dims() != self.k.dims() {
            return Err(KernelError::Shape { op, what: "dense v", got: self.v.dims().to_vec(), want: format!("{:?} (the keys' shape)", self.k.dims()) });
        }
        for (what, row) in [("dense bias", &self.bias), ("dense mask", &self.mask)] {
            if let Some(row) = row {
                let [rb, rt] = row.dims();
                if (rb != 1 && rb != batch) || rt != t {
                    return Err(KernelError::Shape { op, what, got: row.dims().to_vec(), want: format!("[1 or {batch}, {t}]") });
                }
            }
        }
        Ok(t)
    }
}
