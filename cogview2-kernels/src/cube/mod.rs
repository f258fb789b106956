//! The cubecl kernels (features `wgpu`, `cuda`) and their [`LocalAttentionBackend`] implementation for every
//! `CubeBackend`, following burn 0.21's `examples/custom-cubecl-kernel`: kernel bodies (`*_kernel.rs`), launch
//! glue (`launch.rs`), this public wrapper; the reference lives in [`crate::reference`].
//!
//! burn's `Wgpu` / `Cuda` aliases are `CubeBackend` only without burn's `fusion` feature; the aliases below name
//! the kernel backends explicitly.

mod fused_kernel;
mod launch;
mod lopar_kernel;
mod similar_kernel;
mod weighting_kernel;
mod window;

use burn::tensor::{Bool, Int, Tensor, TensorPrimitive};
use burn_cubecl::{tensor::CubeTensor, BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use crate::backend::{LocalAttentionBackend, LoparBackend};
use crate::error::Result;
use crate::geometry::Window;
use crate::keys::{ExtraKeys, WindowKeys};
use crate::lopar::{self, StepConfig};
use crate::reference;
use fused_kernel::{EXTRA_DENSE, EXTRA_NONE, EXTRA_WINDOW};

/// burn's wgpu backend without fusion: the kernels run on it (lavapipe in CI).
#[cfg(feature = "wgpu")]
pub type WgpuKernels = CubeBackend<cubecl::wgpu::WgpuRuntime, f32, i32, u32>;

/// burn's CUDA backend without fusion.
#[cfg(feature = "cuda")]
pub type CudaKernels = CubeBackend<cubecl::cuda::CudaRuntime, f32, i32, u8>;

fn prim<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement, const D: usize>(
    t: Tensor<CubeBackend<R, F, I, BT>, D>,
) -> CubeTensor<R> {
    t.into_primitive().tensor()
}

fn wrap<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement, const D: usize>(
    t: CubeTensor<R>,
) -> Tensor<CubeBackend<R, F, I, BT>, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> LocalAttentionBackend for CubeBackend<R, F, I, BT> {
    fn local_similar(q: Tensor<Self, 4>, k: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
        let g = reference::similar_geometry(&q, &k, kh, kw, causal)?;
        Ok(wrap(launch::similar(&g, prim(q), prim(k))))
    }

    fn local_weighting(v: Tensor<Self, 4>, weights: Tensor<Self, 4>, kh: usize, kw: usize, causal: bool) -> Result<Tensor<Self, 4>> {
        let g = reference::weighting_geometry(&v, &weights, kh, kw, causal)?;
        Ok(wrap(launch::weighting(&g, prim(v), prim(weights))))
    }

    fn local_attention_fused(q: Tensor<Self, 4>, extra: Option<ExtraKeys<Self>>, local: WindowKeys<Self>) -> Result<Tensor<Self, 4>> {
        const OP: &str = "local_attention";
        let query = q.dims();
        let g = local.geometry(OP, query)?;
        // Unused kernel inputs are bound to the query buffer (read-only), never read.
        let extra = match extra {
            None => launch::Extra {
                mode: EXTRA_NONE,
                n: 0,
                window: Window::new(1, 1, false),
                k: prim(q.clone()),
                v: prim(q.clone()),
                bias: prim(q.clone()),
                mask: prim(q.clone()),
            },
            Some(ExtraKeys::Window(cross)) => {
                let gx = cross.geometry(OP, query)?;
                launch::Extra {
                    mode: EXTRA_WINDOW,
                    n: gx.window.patch(),
                    window: gx.window,
                    k: prim(cross.k),
                    v: prim(cross.v),
                    bias: prim(q.clone()),
                    mask: prim(q.clone()),
                }
            }
            Some(ExtraKeys::Dense(dense)) => {
                let n = dense.check(OP, query)?;
                let device = q.device();
                let bias = dense.bias.unwrap_or_else(|| Tensor::zeros([1, n], &device));
                let mask = dense.mask.unwrap_or_else(|| Tensor::ones([1, n], &device));
                launch::Extra {
                    mode: EXTRA_DENSE,
                    n,
                    window: Window::new(1, 1, false),
                    k: prim(dense.k),
                    v: prim(dense.v),
                    bias: prim(bias),
                    mask: prim(mask),
                }
            }
        };
        Ok(wrap(launch::fused(&g, prim(q), prim(local.k), prim(local.v), extra)))
    }
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> LoparBackend for CubeBackend<R, F, I, BT> {
    fn lopar_step(logits: Tensor<Self, 3>, tokens: Tensor<Self, 2, Int>, mask: Tensor<Self, 1, Bool>, config: &StepConfig) -> Result<Tensor<Self, 2, Int>> {
        lopar::check_step(logits.dims(), tokens.dims(), mask.dims(), config)?;
        // The mask becomes ints on the device: no host round trip.
        let rows = tokens.dims();
        let out = launch::lopar(prim(logits), tokens.into_primitive(), mask.int().into_primitive(), rows, config);
        Ok(Tensor::from_primitive(out))
    }
}
