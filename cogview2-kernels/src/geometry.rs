//! Window geometry of the local-attention kernels (reference-spec §7), shared by the reference and the kernels.

use crate::error::{KernelError, Result};

/// A kH×kW window of key cells around each query's centre cell.
///
/// Window index `t` (0..patch) addresses key row `yc − kh/2 + t / kw`, column `xc − kw/2 + t % kw`, where
/// `(yc, xc) = (y / a_h, x / a_w)` is the query's cell in the key grid. Causal windows keep only the first
/// `kh·kw / 2 + 1` cells in raster order (up to and including the centre).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows (CogView2: 9 for hi-res self attention, 5 for the low-res cross window).
    pub kh: usize,
    /// Columns (CogView2: 5).
    pub kw: usize,
    /// Only the first half of the window in raster order (unused by CogView2 inference).
    pub causal: bool,
}

impl Window {
    /// A window of `kh` rows and `kw` columns.
    pub fn new(kh: usize, kw: usize, causal: bool) -> Self {
        Self { kh, kw, causal }
    }

    /// Number of window cells, the last dimension of the score tensor.
    pub fn patch(&self) -> usize {
        if self.causal {
            self.kh * self.kw / 2 + 1
        } else {
            self.kh * self.kw
        }
    }

    /// Rows above the centre.
    pub fn rh(&self) -> usize {
        self.kh / 2
    }

    /// Columns left of the centre.
    pub fn rw(&self) -> usize {
        self.kw / 2
    }
}

/// Checked sizes of one query grid against one key grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Query batch (batch × heads).
    pub batch: usize,
    /// Channels (head dim).
    pub channels: usize,
    /// Query grid rows.
    pub h: usize,
    /// Query grid columns.
    pub w: usize,
    /// Key batch: equal to `batch`, or 1 (shared by every query batch).
    pub key_batch: usize,
    /// Key grid rows.
    pub kh_grid: usize,
    /// Key grid columns.
    pub kw_grid: usize,
    /// The window.
    pub window: Window,
}

impl Geometry {
    /// Checks a query grid `[B, C, H, W]` against a key grid `[Bk, C, h, w]`.
    ///
    /// The official kernel only requires `B % Bk == 0`; which key batch serves which query batch then is not
    /// determined (reference-spec §13), so only `Bk == B` and `Bk == 1` (where every reading agrees) are accepted.
    pub fn new(op: &'static str, query: [usize; 4], key: [usize; 4], key_what: &'static str, window: Window) -> Result<Self> {
        let [batch, channels, h, w] = query;
        let [key_batch, key_channels, kh_grid, kw_grid] = key;
        if window.kh == 0 || window.kw == 0 {
            return Err(KernelError::EmptyWindow { op, kh: window.kh, kw: window.kw });
        }
        if batch == 0 || channels == 0 || h == 0 || w == 0 {
            return Err(KernelError::Shape {
                op,
                what: "query",
                got: query.to_vec(),
                want: "[B, C, H, W] with every size at least 1".into(),
            });
        }
        let fits = key_channels == channels
            && kh_grid > 0
            && kw_grid > 0
            && h % kh_grid == 0
            && w % kw_grid == 0
            && (key_batch == batch || key_batch == 1);
        if !fits {
            return Err(KernelError::Shape {
                op,
                what: key_what,
                got: key.to_vec(),
                want: format!(
                    "[{batch} or 1, {channels}, h, w] with {h} % h == 0 and {w} % w == 0 (query is {query:?})"
                ),
            });
        }
        Ok(Self { batch, channels, h, w, key_batch, kh_grid, kw_grid, window })
    }

    /// Query rows per key row (1 for self attention, 3 for CogView2's 60→20 cross window).
    pub fn ah(&self) -> usize {
        self.h / self.kh_grid
    }

    /// Query columns per key column.
    pub fn aw(&self) -> usize {
        self.w / self.kw_grid
    }

    /// Shape of the score tensor `[B, H, W, patch]`.
    pub fn scores_shape(&self) -> [usize; 4] {
        [self.batch, self.h, self.w, self.window.patch()]
    }

    /// Checks a score / probability tensor against this geometry.
    pub fn check_scores(&self, op: &'static str, what: &'static str, shape: [usize; 4]) -> Result<()> {
        if shape != self.scores_shape() {
            return Err(KernelError::Shape { op, what, got: shape.to_vec(), want: format!("{:?}", self.scores_shape()) });
        }
        Ok(())
    }
}

