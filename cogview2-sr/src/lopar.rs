//! LoPAR, the local parallel autoregressive schedule of ITERSR (CogView2 `sr_pipeline/iterative_sr.py`).
//!
//! A fixed order pattern is tiled over the hi-res grid; iteration `k` (1-based) re-samples every cell whose value is
//! at least `k`, so a cell of value `v` takes its final token in iteration `v` and cells of value ≤ 0 keep their
//! input (DSR) token. Inside each tile this is an autoregressive order; all tiles run in parallel.

use cogview2_core::Sampler;

use crate::error::{Result, SrError};

/// The official 6 × 6 order pattern (`iterative_sr.py`, row-major).
pub const OFFICIAL_PATTERN: [[i8; 6]; 6] = [
    [-1, 0, 1, 2, 3, 4],
    [0, -1, 2, -1, -2, 5],
    [1, -2, 3, 4, 5, 6],
    [2, 3, 4, 5, -1, 1],
    [3, -1, -2, 0, -1, 2],
    [4, 5, 6, 1, 3, -2],
];

/// Top-k of each official iteration: `topks[1..=6]` of `[60, 40, 40, 40, 20, 20, 10]` (index 0 is never used).
pub const OFFICIAL_TOP_K: [usize; 6] = [40, 40, 40, 20, 20, 10];

/// A square order pattern, tiled over the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoparPattern {
    side: usize,
    values: Vec<i8>,
}

impl LoparPattern {
    /// The official 6 × 6 pattern.
    pub fn official() -> Self {
        Self {
            side: OFFICIAL_PATTERN.len(),
            values: OFFICIAL_PATTERN.iter().flatten().copied().collect(),
        }
    }

    /// A `side × side` pattern from row-major values.
    pub fn new(side: usize, values: Vec<i8>) -> Result<Self> {
        if side == 0 || values.len() != side * side {
            return Err(SrError::InvalidSchedule(format!(
                "a {side} × {side} pattern needs {} values, got {}",
                side * side,
                values.len()
            )));
        }
        Ok(Self { side, values })
    }

    /// Side of the tile.
    pub fn side(&self) -> usize {
        self.side
    }

    /// Row-major values of the tile.
    pub fn values(&self) -> &[i8] {
        &self.values
    }

    /// Largest value: the number of iterations after which every cell is final.
    pub fn max_value(&self) -> i8 {
        self.values.iter().copied().max().unwrap_or(0)
    }

    /// The pattern tiled over a `[rows, cols]` grid (row-major), `value(r, c) = P[r mod side][c mod side]`.
    /// The grid must be a whole number of tiles, as the official `expand` requires.
    pub fn tile(&self, grid: [usize; 2]) -> Result<Vec<i8>> {
        let [rows, cols] = grid;
        if rows == 0 || cols == 0 || rows % self.side != 0 || cols % self.side != 0 {
            return Err(SrError::InvalidSchedule(format!(
                "grid {grid:?} is not a whole number of {0} × {0} LoPAR tiles",
                self.side
            )));
        }
        Ok((0..rows)
            .flat_map(|r| (0..cols).map(move |c| self.values[(r % self.side) * self.side + c % self.side]))
            .collect())
    }
}

/// The pattern plus one sampler per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct LoparSchedule {
    pattern: LoparPattern,
    samplers: Vec<Sampler>,
}

impl LoparSchedule {
    /// The official schedule: 6 iterations, top-k 40, 40, 40, 20, 20, 10 at temperature 1 (hard-coded in the
    /// pipeline; the recipes' `temp_all_itersr` / `topk_itersr` are never used).
    pub fn official() -> Self {
        Self {
            pattern: LoparPattern::official(),
            samplers: OFFICIAL_TOP_K
                .iter()
                .map(|&k| Sampler::TopK { k, temperature: 1.0 })
                .collect(),
        }
    }

    /// The official pattern and iteration count with every token taken by argmax (deterministic; the fixtures').
    pub fn official_argmax() -> Self {
        Self {
            pattern: LoparPattern::official(),
            samplers: vec![Sampler::Argmax; OFFICIAL_TOP_K.len()],
        }
    }

    /// A custom schedule: iteration `k` (1-based) uses `samplers[k − 1]`.
    pub fn new(pattern: LoparPattern, samplers: Vec<Sampler>) -> Result<Self> {
        if samplers.is_empty() {
            return Err(SrError::InvalidSchedule("a schedule needs at least one iteration".into()));
        }
        Ok(Self { pattern, samplers })
    }

    /// The order pattern.
    pub fn pattern(&self) -> &LoparPattern {
        &self.pattern
    }

    /// The sampler of each iteration.
    pub fn samplers(&self) -> &[Sampler] {
        &self.samplers
    }

    /// Number of iterations (forward passes).
    pub fn iterations(&self) -> usize {
        self.samplers.len()
    }

    /// The cells re-sampled in each iteration over `grid`: `value ≥ k`, and inside `input_mask` when given
    /// (completion re-generates only a region). `input_mask` is row-major over the grid.
    pub fn masks(&self, grid: [usize; 2], input_mask: Option<&[bool]>) -> Result<Vec<Vec<bool>>> {
        let values = self.pattern.tile(grid)?;
        if let Some(m) = input_mask {
            if m.len() != values.len() {
                return Err(SrError::GridMismatch {
                    what: "the LoPAR input mask",
                    grid,
                    expected: values.len(),
                    found: m.len(),
                });
            }
        }
        Ok((1..=self.iterations())
            .map(|k| {
                values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| i64::from(v) >= k as i64 && input_mask.is_none_or(|m| m[i]))
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(values: &[i8], pred: impl Fn(i8) -> bool) -> usize {
        values.iter().filter(|&&v| pred(v)).count()
    }

    #[test]
    fn official_tile_has_the_documented_counts() {
        let p = LoparPattern::official();
        let v = p.values();
        assert_eq!(count(v, |x| x <= 0), 13);
        let per_value: Vec<usize> = (-2..=6).map(|k| count(v, |x| x == k)).collect();
        assert_eq!(per_value, vec![4, 6, 3, 4, 4, 5, 4, 4, 2]);
        assert_eq!(p.max_value(), 6);
    }

    #[test]
    fn tiling_over_the_released_grid_repeats_the_tile() {
        let p = LoparPattern::official();
        let tiled = p.tile([60, 60]).unwrap();
        assert_eq!(tiled.len(), 3600);
        for (i, &v) in tiled.iter().enumerate() {
            let (r, c) = (i / 60, i % 60);
            assert_eq!(v, OFFICIAL_PATTERN[r % 6][c % 6]);
        }
        assert_eq!(count(&tiled, |x| x <= 0), 1300);
        assert!(p.tile([60, 58]).is_err());
    }

    #[test]
    fn official_schedule_regenerates_the_documented_fractions() {
        let s = LoparSchedule::official();
        assert_eq!(s.iterations(), 6);
        let masks = s.masks([6, 6], None).unwrap();
        let counts: Vec<usize> = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).collect();
        assert_eq!(counts, vec![23, 19, 15, 10, 6, 2]);
        let ks: Vec<usize> = s
            .samplers()
            .iter()
            .map(|s| match s {
                Sampler::TopK { k, temperature } if *temperature == 1.0 => *k,
                other => panic!("unexpected sampler {other:?}"),
            })
            .collect();
        assert_eq!(ks, OFFICIAL_TOP_K);
        // A cell of value v is re-sampled exactly in iterations 1..=v.
        let values = s.pattern().tile([6, 6]).unwrap();
        for (i, &v) in values.iter().enumerate() {
            let hits = masks.iter().filter(|m| m[i]).count();
            assert_eq!(hits as i64, i64::from(v).max(0));
        }
    }

    #[test]
    fn input_mask_restricts_every_iteration() {
        let s = LoparSchedule::official();
        let mut only_first_row = vec![false; 36];
        only_first_row[..6].iter_mut().for_each(|b| *b = true);
        let masks = s.masks([6, 6], Some(&only_first_row)).unwrap();
        assert!(masks.iter().all(|m| m[6..].iter().all(|&b| !b)));
        assert_eq!(masks[0][..6], [false, false, true, true, true, true]);
        assert!(matches!(s.masks([6, 6], Some(&[true; 5])), Err(SrError::GridMismatch { .. })));
    }
}
