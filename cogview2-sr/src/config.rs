//! DSR and ITERSR hyper-parameters (CogView2 `sr_pipeline/direct_sr.py`, `iterative_sr.py`, where they are
//! hard-coded) on top of the CogLM transformer config.
//!
//! Both read the fixtures' / model directories' `config.json`: the CogLM keys plus `layout`, kernel sizes, grids and
//! `new_sequence_length`. Missing SR keys default to the released values, so SAT's own `model_config.json` loads too.

use std::path::Path;

use cogview2_core::{CogLmConfig, CoreError, IMAGE_POSITION_OFFSET};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SrError};

/// Id of `<start_of_image>` in the released icetk vocabulary; DSR and ITERSR use it as the `[MASK]` placeholder.
pub const START_OF_IMAGE_ID: i64 = 150_000;
/// Side of the released stage-1 grid (20 × 20 tokens).
pub const RELEASED_LO_SIDE: usize = 20;
/// Side of the released super-resolution grid (60 × 60 tokens).
pub const RELEASED_HI_SIDE: usize = 60;

fn default_soi() -> i64 {
    START_OF_IMAGE_ID
}
fn default_kernel() -> usize {
    5
}
fn default_dsr_layout() -> [usize; 3] {
    let lo = RELEASED_LO_SIDE * RELEASED_LO_SIDE;
    let hi = RELEASED_HI_SIDE * RELEASED_HI_SIDE;
    [96, 96 + lo, 96 + lo + hi]
}
fn default_itersr_layout() -> [usize; 2] {
    [16, 16 + RELEASED_HI_SIDE * RELEASED_HI_SIDE]
}
fn default_new_sequence_length() -> usize {
    1024 + RELEASED_HI_SIDE * RELEASED_HI_SIDE
}
fn default_lo_grid() -> [usize; 2] {
    [RELEASED_LO_SIDE; 2]
}
fn default_hi_grid() -> [usize; 2] {
    [RELEASED_HI_SIDE; 2]
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(serde_json::from_str(&text).map_err(|source| CoreError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })?)
}

/// Direct super-resolution: `[pad + text | low-res | hi-res]` in one forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsrConfig {
    /// The transformer (DSR's own finetuned weights).
    #[serde(flatten)]
    pub base: CogLmConfig,
    /// `<start_of_image>`, the placeholder fed at every hi-res slot.
    #[serde(default = "default_soi")]
    pub start_of_image_id: i64,
    /// Cumulative region ends: `[pad + text, + low-res, + hi-res]` (released `[96, 496, 4096]`).
    #[serde(default = "default_dsr_layout")]
    pub layout: [usize; 3],
    /// Self window is `(2·kernel_size − 1) × kernel_size` (rows × cols) of hi-res keys.
    #[serde(default = "default_kernel")]
    pub kernel_size: usize,
    /// Cross window is `kernel_size2 × kernel_size2` low-res keys around the query's low-res cell.
    #[serde(default = "default_kernel")]
    pub kernel_size2: usize,
    /// `max_sequence_length` + rows of the extra (hi-res) position table.
    #[serde(default = "default_new_sequence_length")]
    pub new_sequence_length: usize,
    /// Low-res grid `[rows, cols]`.
    #[serde(default = "default_lo_grid")]
    pub lo_grid: [usize; 2],
    /// Hi-res grid `[rows, cols]`.
    #[serde(default = "default_hi_grid")]
    pub hi_grid: [usize; 2],
}

/// Iterative super-resolution: `[pad + text | hi-res]`, refined by the LoPAR schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItersrConfig {
    /// The transformer (ITERSR's own finetuned weights).
    #[serde(flatten)]
    pub base: CogLmConfig,
    /// `<start_of_image>`, the placeholder fed at every re-sampled slot.
    #[serde(default = "default_soi")]
    pub start_of_image_id: i64,
    /// Cumulative region ends: `[text slots, + hi-res]` (released `[16, 3616]`).
    #[serde(default = "default_itersr_layout")]
    pub layout: [usize; 2],
    /// Self window is `(2·kernel_size − 1) × kernel_size` (rows × cols).
    #[serde(default = "default_kernel")]
    pub kernel_size: usize,
    /// `max_sequence_length` + rows of the extra (hi-res) position table.
    #[serde(default = "default_new_sequence_length")]
    pub new_sequence_length: usize,
    /// Hi-res grid `[rows, cols]`.
    #[serde(default = "default_hi_grid")]
    pub hi_grid: [usize; 2],
}

fn check_kernel(model: &'static str, name: &str, k: usize) -> Result<()> {
    if k == 0 || k.is_multiple_of(2) {
        return Err(SrError::InvalidConfig {
            model,
            reason: format!("{name} {k} must be odd and positive (windows are centred)"),
        });
    }
    Ok(())
}

fn check_common(
    model: &'static str,
    base: &CogLmConfig,
    soi: i64,
    hi_grid: [usize; 2],
    new_sequence_length: usize,
) -> Result<()> {
    base.validate()?;
    let fail = |reason: String| Err(SrError::InvalidConfig { model, reason });
    if hi_grid[0] == 0 || hi_grid[1] == 0 {
        return fail(format!("hi_grid {hi_grid:?} must be non-empty"));
    }
    if soi < 0 || soi as u64 >= base.vocab_size as u64 {
        return fail(format!("start_of_image_id {soi} is outside the vocabulary [0, {})", base.vocab_size));
    }
    let hi = hi_grid[0] * hi_grid[1];
    if new_sequence_length != base.max_sequence_length + hi {
        return fail(format!(
            "new_sequence_length {new_sequence_length} must be max_sequence_length {} + hi-res tokens {hi} \
             (one extra position row per hi-res token)",
            base.max_sequence_length
        ));
    }
    Ok(())
}

impl DsrConfig {
    /// The released `cogview2-dsr`: CogLM 6B trunk, 20 × 20 → 60 × 60, layout `[96, 496, 4096]`, kernels 5 and 5.
    pub fn cogview2_dsr() -> Self {
        Self {
            base: CogLmConfig::coglm_6b(),
            start_of_image_id: START_OF_IMAGE_ID,
            layout: default_dsr_layout(),
            kernel_size: 5,
            kernel_size2: 5,
            new_sequence_length: default_new_sequence_length(),
            lo_grid: default_lo_grid(),
            hi_grid: default_hi_grid(),
        }
    }

    /// Reads and validates a `config.json`.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let config: Self = read_json(path.as_ref())?;
        config.validate()?;
        Ok(config)
    }

    /// Pad + text slots (`layout[0]`).
    pub fn text_region(&self) -> usize {
        self.layout[0]
    }

    /// Low-res tokens.
    pub fn num_lowres(&self) -> usize {
        self.lo_grid[0] * self.lo_grid[1]
    }

    /// Hi-res tokens.
    pub fn num_hires(&self) -> usize {
        self.hi_grid[0] * self.hi_grid[1]
    }

    /// Most text tokens a prompt may have: one pad slot must remain (the official `assert n_pad > 0`).
    pub fn max_text_len(&self) -> usize {
        self.layout[0] - 1
    }

    /// Hi-res self window `[rows, cols]`.
    pub fn self_window(&self) -> [usize; 2] {
        [2 * self.kernel_size - 1, self.kernel_size]
    }

    /// Low-res cross window `[rows, cols]`.
    pub fn cross_window(&self) -> [usize; 2] {
        [self.kernel_size2, self.kernel_size2]
    }

    /// Checks that the layout, grids, windows and position tables fit together.
    pub fn validate(&self) -> Result<()> {
        const M: &str = "DSR";
        check_common(M, &self.base, self.start_of_image_id, self.hi_grid, self.new_sequence_length)?;
        check_kernel(M, "kernel_size", self.kernel_size)?;
        check_kernel(M, "kernel_size2", self.kernel_size2)?;
        let fail = |reason: String| Err(SrError::InvalidConfig { model: M, reason });
        let [t0, t1, total] = self.layout;
        if t0 < 1 {
            return fail("layout[0] must leave room for at least one pad slot".into());
        }
        if t1 < t0 || t1 - t0 != self.num_lowres() {
            return fail(format!(
                "layout {:?}: the low-res region must hold lo_grid {:?} = {} tokens",
                self.layout,
                self.lo_grid,
                self.num_lowres()
            ));
        }
        if total < t1 || total - t1 != self.num_hires() {
            return fail(format!(
                "layout {:?}: the hi-res region must hold hi_grid {:?} = {} tokens",
                self.layout,
                self.hi_grid,
                self.num_hires()
            ));
        }
        let [lh, lw] = self.lo_grid;
        let [hh, hw] = self.hi_grid;
        if lh == 0 || lw == 0 || hh % lh != 0 || hw % lw != 0 {
            return fail(format!(
                "hi_grid {:?} must be a whole multiple of lo_grid {:?} (each low-res cell covers a block)",
                self.hi_grid, self.lo_grid
            ));
        }
        if t0 > IMAGE_POSITION_OFFSET || IMAGE_POSITION_OFFSET + self.num_lowres() >= self.base.max_sequence_length {
            return fail(format!(
                "text region {t0} and low-res positions {}..={} must fit the position table of {} rows",
                IMAGE_POSITION_OFFSET + 1,
                IMAGE_POSITION_OFFSET + self.num_lowres(),
                self.base.max_sequence_length
            ));
        }
        Ok(())
    }
}

impl ItersrConfig {
    /// The released `cogview2-itersr`: CogLM 6B trunk, 60 × 60, layout `[16, 3616]`, kernel 5.
    pub fn cogview2_itersr() -> Self {
        Self {
            base: CogLmConfig::coglm_6b(),
            start_of_image_id: START_OF_IMAGE_ID,
            layout: default_itersr_layout(),
            kernel_size: 5,
            new_sequence_length: default_new_sequence_length(),
            hi_grid: default_hi_grid(),
        }
    }

    /// Reads and validates a `config.json`.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let config: Self = read_json(path.as_ref())?;
        config.validate()?;
        Ok(config)
    }

    /// Text slots (`layout[0]`): longer prompts are truncated to their first this-many tokens (official quirk).
    pub fn text_region(&self) -> usize {
        self.layout[0]
    }

    /// Hi-res tokens.
    pub fn num_hires(&self) -> usize {
        self.hi_grid[0] * self.hi_grid[1]
    }

    /// Hi-res self window `[rows, cols]`.
    pub fn self_window(&self) -> [usize; 2] {
        [2 * self.kernel_size - 1, self.kernel_size]
    }

    /// Checks that the layout, grid, window and position tables fit together.
    pub fn validate(&self) -> Result<()> {
        const M: &str = "ITERSR";
        check_common(M, &self.base, self.start_of_image_id, self.hi_grid, self.new_sequence_length)?;
        check_kernel(M, "kernel_size", self.kernel_size)?;
        let [t0, total] = self.layout;
        if total < t0 || total - t0 != self.num_hires() {
            return Err(SrError::InvalidConfig {
                model: M,
                reason: format!(
                    "layout {:?}: the hi-res region must hold hi_grid {:?} = {} tokens",
                    self.layout,
                    self.hi_grid,
                    self.num_hires()
                ),
            });
        }
        if t0 > self.base.max_sequence_length {
            return Err(SrError::InvalidConfig {
                model: M,
                reason: format!("text region {t0} exceeds the position table ({})", self.base.max_sequence_length),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_configs_are_valid_and_have_the_official_sizes() {
        let dsr = DsrConfig::cogview2_dsr();
        dsr.validate().unwrap();
        assert_eq!(dsr.layout, [96, 496, 4096]);
        assert_eq!(dsr.new_sequence_length, 4624);
        assert_eq!(dsr.max_text_len(), 95);
        assert_eq!((dsr.self_window(), dsr.cross_window()), ([9, 5], [5, 5]));
        let it = ItersrConfig::cogview2_itersr();
        it.validate().unwrap();
        assert_eq!(it.layout, [16, 3616]);
        assert_eq!(it.self_window(), [9, 5]);
    }

    #[test]
    fn sat_model_config_without_sr_keys_gets_released_values() {
        let json = r#"{"num_layers": 48, "hidden_size": 3072, "num_attention_heads": 48, "vocab_size": 150010,
            "max_sequence_length": 1024}"#;
        let dsr: DsrConfig = serde_json::from_str(json).unwrap();
        assert_eq!(dsr, DsrConfig::cogview2_dsr());
        let it: ItersrConfig = serde_json::from_str(json).unwrap();
        assert_eq!(it, ItersrConfig::cogview2_itersr());
    }

    #[test]
    fn inconsistent_grids_are_rejected() {
        let mut c = DsrConfig::cogview2_dsr();
        c.hi_grid = [59, 60];
        assert!(matches!(c.validate(), Err(SrError::InvalidConfig { .. })));
        let mut c = DsrConfig::cogview2_dsr();
        c.layout[1] += 1;
        assert!(matches!(c.validate(), Err(SrError::InvalidConfig { .. })));
        let mut c = ItersrConfig::cogview2_itersr();
        c.new_sequence_length = 4000;
        assert!(matches!(c.validate(), Err(SrError::InvalidConfig { .. })));
        c = ItersrConfig::cogview2_itersr();
        c.kernel_size = 4;
        assert!(matches!(c.validate(), Err(SrError::InvalidConfig { .. })));
    }
}
