//! Errors of the super-resolution crate.

use cogview2_core::CoreError;
use cogview2_kernels::KernelError;

/// Everything that can go wrong while configuring, loading or running DSR and ITERSR.
#[derive(Debug, thiserror::Error)]
pub enum SrError {
    /// Loading or running the CogLM trunk failed.
    #[error(transparent)]
    Core(#[from] CoreError),

    /// The local-attention operator rejected its inputs.
    #[error(transparent)]
    Kernel(#[from] KernelError),

    /// A configuration value is inconsistent.
    #[error("invalid {model} config: {reason}")]
    InvalidConfig {
        /// `DSR` or `ITERSR`.
        model: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The prompt does not fit the DSR text region (the official code fails here past 95 tokens).
    #[error(
        "the prompt has {txt_len} text tokens but the DSR text region holds at most {max} (layout[0] − 1); \
         shorten the prompt"
    )]
    TextTooLong {
        /// Text tokens given.
        txt_len: usize,
        /// The most the layout holds.
        max: usize,
    },

    /// A token sequence has the wrong length for its grid.
    #[error("{what} has {found} tokens, the {grid:?} grid needs {expected}")]
    GridMismatch {
        /// Which input.
        what: &'static str,
        /// `[rows, cols]` of the grid.
        grid: [usize; 2],
        /// Tokens the grid needs.
        expected: usize,
        /// Tokens given.
        found: usize,
    },

    /// A token id is outside the range its input allows.
    #[error("{what} token {id} at index {index} is outside [0, {bound}); pass {what} ids only")]
    TokenOutOfRange {
        /// Which input (`text`, `low-res image`, `hi-res image`).
        what: &'static str,
        /// The id.
        id: i64,
        /// Where it was (flattened).
        index: usize,
        /// Exclusive upper bound.
        bound: usize,
    },

    /// A batch of zero images.
    #[error("{0} is an empty batch; pass at least one image")]
    EmptyBatch(&'static str),

    /// The LoPAR pattern or schedule is inconsistent.
    #[error("invalid LoPAR schedule: {0}")]
    InvalidSchedule(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SrError>;
