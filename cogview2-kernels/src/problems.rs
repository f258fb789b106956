//! The catalogue of real problem shapes, shared by the parity tests and the benchmarks.
//!
//! CogView2's hi-res attention runs on a 60×60 grid with 48 heads of 64 channels (B = batch × 48): DSR with a
//! 9×5 self window plus a 5×5 window of the 20×20 low-res grid, ITERSR with the 9×5 window plus 16 text keys.
//! The catalogue adds the fixture shape and edge shapes (grids smaller than the window, even windows, causal
//! windows, odd cross ratios, one shared key batch). `ci` marks the subset small enough for lavapipe.

use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::geometry::Window;
use crate::keys::{DenseKeys, ExtraKeys, WindowKeys};

/// The second key set of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraShape {
    /// Plain local attention.
    None,
    /// A window over a `rows × cols` key grid (DSR: 20×20, 5×5).
    Window {
        /// Key grid rows.
        rows: usize,
        /// Key grid columns.
        cols: usize,
        /// The window.
        window: Window,
    },
    /// Dense keys every query sees (ITERSR: 16 text keys).
    Dense {
        /// Number of keys.
        keys: usize,
    },
}

/// One problem shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    /// Short name used in test messages and benchmark JSON.
    pub name: &'static str,
    /// Query batch (images × heads).
    pub batch: usize,
    /// Head dim.
    pub channels: usize,
    /// Query grid rows.
    pub rows: usize,
    /// Query grid columns.
    pub cols: usize,
    /// Self window (keys on the query grid).
    pub local: Window,
    /// The second key set.
    pub extra: ExtraShape,
    /// Key batch 1 shared by every query batch (only for plain local attention).
    pub shared_keys: bool,
    /// Small enough for the CPU-emulated GPU in CI.
    pub ci: bool,
}

const HEADS: usize = 48;
const HEAD_DIM: usize = 64;
const SELF: Window = Window { kh: 9, kw: 5, causal: false };
const CROSS: ExtraShape = ExtraShape::Window { rows: 20, cols: 20, window: Window { kh: 5, kw: 5, causal: false } };
const TEXT: ExtraShape = ExtraShape::Dense { keys: 16 };

const fn problem(name: &'static str, batch: usize, channels: usize, grid: (usize, usize), local: Window, extra: ExtraShape, ci: bool) -> Problem {
    Problem { name, batch, channels, rows: grid.0, cols: grid.1, local, extra, shared_keys: false, ci }
}

/// Every catalogued problem.
pub fn catalogue() -> Vec<Problem> {
    let mut shared = problem("edge_shared_key_batch", 3, 8, (10, 10), SELF, ExtraShape::None, true);
    shared.shared_keys = true;
    vec![
        // Real CogView2 shapes: batch 1, 4, 8 images × 48 heads.
        problem("dsr_60x60_b1", HEADS, HEAD_DIM, (60, 60), SELF, CROSS, false),
        problem("dsr_60x60_b4", 4 * HEADS, HEAD_DIM, (60, 60), SELF, CROSS, false),
        problem("dsr_60x60_b8", 8 * HEADS, HEAD_DIM, (60, 60), SELF, CROSS, false),
        problem("itersr_60x60_b1", HEADS, HEAD_DIM, (60, 60), SELF, TEXT, false),
        problem("itersr_60x60_b4", 4 * HEADS, HEAD_DIM, (60, 60), SELF, TEXT, false),
        problem("itersr_60x60_b8", 8 * HEADS, HEAD_DIM, (60, 60), SELF, TEXT, false),
        // The real grid and head dim with 2 heads: small enough for lavapipe.
        problem("dsr_60x60_2heads", 2, HEAD_DIM, (60, 60), SELF, CROSS, true),
        problem("itersr_60x60_2heads", 2, HEAD_DIM, (60, 60), SELF, TEXT, true),
        problem("self_60x60_2heads", 2, HEAD_DIM, (60, 60), SELF, ExtraShape::None, true),
        // The local_attention fixture's shapes.
        problem("fixture_self_9x5", 8, 16, (12, 12), SELF, ExtraShape::None, true),
        problem("fixture_dsr", 4, 16, (12, 12), SELF, ExtraShape::Window { rows: 4, cols: 4, window: Window::new(5, 5, false) }, true),
        problem("fixture_itersr", 4, 16, (12, 12), SELF, TEXT, true),
        // Edge shapes.
        problem("edge_grid_smaller_than_window", 2, 5, (3, 2), SELF, ExtraShape::None, true),
        problem("edge_even_window_4x2", 2, 7, (9, 6), Window::new(4, 2, false), ExtraShape::None, true),
        problem("edge_causal_5x5", 2, 7, (9, 6), Window::new(5, 5, true), ExtraShape::None, true),
        problem("edge_causal_9x5", 2, 3, (11, 7), Window::new(9, 5, true), ExtraShape::None, true),
        problem("edge_cross_ratio_2x3", 3, 6, (10, 9), SELF, ExtraShape::Window { rows: 5, cols: 3, window: Window::new(3, 3, false) }, true),
        problem("edge_single_text_key", 2, 4, (7, 5), Window::new(3, 3, false), ExtraShape::Dense { keys: 1 }, true),
        problem("edge_1x1_grid", 2, 3, (1, 1), SELF, TEXT, true),
        shared,
    ]
}

/// Random inputs of a problem, queries pre-scaled by 1/√C as the models do.
#[derive(Debug, Clone)]
pub struct Inputs<B: Backend> {
    /// `[B, C, H, W]`.
    pub q: Tensor<B, 4>,
    /// The self window keys and values.
    pub local: WindowKeys<B>,
    /// The second key set.
    pub extra: Option<ExtraKeys<B>>,
}

impl Problem {
    /// Random inputs on `device` (standard normal keys and values; dense keys get a random 0/1 mask and bias).
    pub fn inputs<B: Backend>(&self, device: &B::Device) -> Inputs<B> {
        let normal = Distribution::Normal(0.0, 1.0);
        let (b, c) = (self.batch, self.channels);
        let q = Tensor::random([b, c, self.rows, self.cols], normal, device) / (c as f64).sqrt();
        let kb = if self.shared_keys { 1 } else { b };
        let grid = |rows, cols| Tensor::<B, 4>::random([kb, c, rows, cols], normal, device);
        let local = WindowKeys { k: grid(self.rows, self.cols), v: grid(self.rows, self.cols), window: self.local };
        let extra = match self.extra {
            ExtraShape::None => None,
            ExtraShape::Window { rows, cols, window } => Some(ExtraKeys::Window(WindowKeys { k: grid(rows, cols), v: grid(rows, cols), window })),
            ExtraShape::Dense { keys } => Some(ExtraKeys::Dense(DenseKeys {
                k: Tensor::random([b, keys, c], normal, device),
                v: Tensor::random([b, keys, c], normal, device),
                bias: Some(Tensor::random([1, keys], normal, device)),
                mask: Some(Tensor::random([1, keys], Distribution::Bernoulli(0.7), device)),
            })),
        };
        Inputs { q, local, extra }
    }

    /// Bytes the fused attention must move at least: read q and every key/value once, write the output (f32).
    pub fn fused_bytes(&self) -> usize {
        let query = self.batch * self.channels * self.rows * self.cols;
        let kb = if self.shared_keys { 1 } else { self.batch };
        let local = 2 * kb * self.channels * self.rows * self.cols;
        let extra = match self.extra {
            ExtraShape::None => 0,
            ExtraShape::Window { rows, cols, .. } => 2 * kb * self.channels * rows * cols,
            ExtraShape::Dense { keys } => 2 * self.batch * keys * self.channels + 2 * keys,
        };
        4 * (2 * query + local + extra)
    }

    /// Multiply-adds of the fused attention (scores and weighted sum), counting every window cell.
    pub fn fused_flops(&self) -> usize {
        let extra = match self.extra {
            ExtraShape::None => 0,
            ExtraShape::Window { window, .. } => window.patch(),
            ExtraShape::Dense { keys } => keys,
        };
        2 * 2 * self.batch * self.rows * self.cols * self.channels * (self.local.patch() + extra)
    }
}
