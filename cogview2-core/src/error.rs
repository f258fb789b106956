//! Errors of the CogLM crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading or running CogLM.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A configuration file is not valid JSON for this config type.
    #[error("invalid config {path}: {source}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A configuration value is inconsistent.
    #[error("invalid config: {0}")]
    InvalidConfig(String),

    /// The weights file is not a valid safetensors file (truncated, corrupt header, bad offsets).
    #[error("{file} is not a valid safetensors file ({reason}); re-export or re-download it")]
    InvalidWeightsFile {
        /// The file.
        file: String,
        /// What the parser said.
        reason: String,
    },

    /// A parameter the model needs is absent from the weights file.
    #[error("tensor {name} is missing from {file}")]
    MissingTensor {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
    },

    /// Tensors were left over after every parameter was filled: the file is for another model or config.
    #[error("{file} has {count} tensor(s) this model does not use, e.g. {first}: wrong model type or config?")]
    UnexpectedTensors {
        /// The file.
        file: String,
        /// How many were left over.
        count: usize,
        /// The first left-over name (sorted).
        first: String,
    },

    /// A tensor has another shape than the config implies.
    #[error("tensor {name} in {file} has shape {found:?}, config says {expected:?}")]
    ShapeMismatch {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },

    /// A tensor is stored in a dtype that cannot hold weights (integers, f64 is accepted).
    #[error("tensor {name} in {file} has dtype {dtype}; expected F32, F16, BF16 or F64")]
    UnsupportedDtype {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
        /// The dtype found.
        dtype: String,
    },

    /// A token id is outside the model's vocabulary.
    #[error("token id {id} at position {index} is outside the vocabulary [0, {vocab_size})")]
    TokenOutOfRange {
        /// The id.
        id: i64,
        /// Where it was.
        index: usize,
        /// Rows of the word embedding.
        vocab_size: usize,
    },

    /// A position id is outside the position table.
    #[error("position id {id} is outside the position table [0, {rows}); raise max_sequence_length")]
    PositionOutOfRange {
        /// The id.
        id: i64,
        /// Rows of the position table.
        rows: usize,
    },

    /// Tensor shapes of a call do not fit together.
    #[error("shape error: {0}")]
    Shape(String),

    /// A NumPy array file (e.g. `cluster_label.npy`) cannot be used.
    #[error("{file} is not a usable NumPy array file: {reason}")]
    InvalidArrayFile {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },

    /// The prompt cannot be used for generation.
    #[error("invalid prompt: {0}")]
    InvalidPrompt(String),

    /// An editing mask selects no cell, so there is nothing to edit.
    #[error("the edit mask selects no cells ({what}); give a box or mask that covers at least one cell")]
    EmptyMask {
        /// Which mask (e.g. "480x480 pixel mask").
        what: String,
    },

    /// An edit box is not inside the unit square or has its corners swapped.
    #[error("invalid edit box (h0 {h0}, w0 {w0}, h1 {h1}, w1 {w1}): {reason}")]
    InvalidBox {
        /// Top edge, fraction of the height.
        h0: f64,
        /// Left edge, fraction of the width.
        w0: f64,
        /// Bottom edge (exclusive), fraction of the height.
        h1: f64,
        /// Right edge (exclusive), fraction of the width.
        w1: f64,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// Sampler parameters are invalid.
    #[error("invalid sampler: {0}")]
    InvalidSampler(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, CoreError>;
