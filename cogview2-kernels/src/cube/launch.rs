//! Launch glue: allocate the contiguous output, size the grid, hand strided inputs to the kernels.

use burn::tensor::Shape;
use burn_cubecl::{ops::numeric::empty_device_contiguous_dtype, tensor::CubeTensor, CubeRuntime};
use cubecl::{calculate_cube_count_elemwise, prelude::*};

use super::fused_kernel::fused_kernel;
use super::lopar_kernel::lopar_kernel;
use super::similar_kernel::similar_kernel;
use super::weighting_kernel::weighting_kernel;
use crate::geometry::{Geometry, Window};
use crate::lopar::{stream_key, StepConfig};

/// One unit per element of a `units`-sized problem.
fn grid<R: CubeRuntime>(client: &ComputeClient<R>, units: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(client, units);
    (calculate_cube_count_elemwise(client, units, dim), dim)
}

fn empty_like<R: CubeRuntime>(like: &CubeTensor<R>, shape: [usize; 4]) -> CubeTensor<R> {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), Shape::new(shape), like.dtype)
}

fn window_args(window: &Window) -> (u32, u32, u32) {
    (window.kw as u32, window.rh() as u32, window.rw() as u32)
}

/// Scores `[B, H, W, P]` of a checked geometry.
pub fn similar<R: CubeRuntime>(g: &Geometry, q: CubeTensor<R>, k: CubeTensor<R>) -> CubeTensor<R> {
    let out = empty_like(&q, g.scores_shape());
    let (count, dim) = grid(&out.client, g.scores_shape().iter().product());
    let (kw, rh, rw) = window_args(&g.window);
    let dtype = q.dtype;
    similar_kernel::launch::<R>(
        &out.client,
        count,
        dim,
        q.into_tensor_arg(),
        k.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        kw,
        rh,
        rw,
        dtype.into(),
    );
    out
}

/// Weighted values `[B, C, H, W]` of a checked geometry.
pub fn weighting<R: CubeRuntime>(g: &Geometry, v: CubeTensor<R>, p: CubeTensor<R>) -> CubeTensor<R> {
    let shape = [g.batch, g.channels, g.h, g.w];
    let out = empty_like(&v, shape);
    let (count, dim) = grid(&out.client, shape.iter().product());
    let (kw, rh, rw) = window_args(&g.window);
    let dtype = v.dtype;
    weighting_kernel::launch::<R>(
        &out.client,
        count,
        dim,
        v.into_tensor_arg(),
        p.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        kw,
        rh,
        rw,
        dtype.into(),
    );
    out
}

/// The second key set as the fused kernel sees it.
pub struct Extra<R: CubeRuntime> {
    /// `EXTRA_NONE`, `EXTRA_WINDOW` or `EXTRA_DENSE`.
    pub mode: u32,
    /// Number of extra scores per query.
    pub n: usize,
    /// Window of the extra keys (window mode).
    pub window: Window,
    pub k: CubeTensor<R>,
    pub v: CubeTensor<R>,
    pub bias: CubeTensor<R>,
    pub mask: CubeTensor<R>,
}

/// Fused attention `[B, C, H, W]` over `[extra | local window]`.
pub fn fused<R: CubeRuntime>(g: &Geometry, q: CubeTensor<R>, k: CubeTensor<R>, v: CubeTensor<R>, extra: Extra<R>) -> CubeTensor<R> {
    let shape = [g.batch, g.channels, g.h, g.w];
    let out = empty_like(&q, shape);
    let (count, dim) = grid(&out.client, g.batch * g.h * g.w);
    let (kw, rh, rw) = window_args(&g.window);
    let (x_kw, x_rh, x_rw) = window_args(&extra.window);
    let dtype = q.dtype;
    fused_kernel::launch::<R>(
        &out.client,
        count,
        dim,
        q.into_tensor_arg(),
        k.into_tensor_arg(),
        v.into_tensor_arg(),
        extra.k.into_tensor_arg(),
        extra.v.into_tensor_arg(),
        extra.bias.into_tensor_arg(),
        extra.mask.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        kw,
        rh,
        rw,
        x_kw,
        x_rh,
        x_rw,
        extra.mode,
        extra.n,
        g.window.patch(),
        g.channels,
        dtype.into(),
    );
    out
}

/// LoPAR step: `logits [B, N, V]`, `tokens [B, N]`, `mask [N]` (ints) → new tokens `[B, N]` (`[B, N]` given).
pub fn lopar<R: CubeRuntime>(logits: CubeTensor<R>, tokens: CubeTensor<R>, mask: CubeTensor<R>, [batch, n]: [usize; 2], config: &StepConfig) -> CubeTensor<R> {
    let out = empty_device_contiguous_dtype(tokens.client.clone(), tokens.device.clone(), Shape::new([batch, n]), tokens.dtype);
    let (count, dim) = grid(&out.client, batch * n);
    let dtypes = [logits.dtype.into(), tokens.dtype.into()];
    lopar_kernel::launch::<R>(
        &out.client,
        count,
        dim,
        logits.into_tensor_arg(),
        tokens.into_tensor_arg(),
        mask.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        1.0 / config.temperature,
        stream_key(config.seed, config.iteration),
        config.top_k,
        dtypes,
    );
    out
}
