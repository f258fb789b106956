//! Errors of the training crate.

use std::path::PathBuf;

/// Everything that can go wrong while building samples, training or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A token row cannot be turned into a sample of the requested kind.
    #[error("invalid row: {0}")]
    InvalidRow(String),

    /// The explicit random choices do not fit the row (wrong count, out of range, duplicates).
    #[error("invalid choices: {0}")]
    InvalidChoices(String),

    /// A configuration value is inconsistent.
    #[error("invalid config: {0}")]
    InvalidConfig(String),

    /// Samples of one batch do not fit together.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),

    /// An error of the model crate (shapes, ids, weights).
    #[error(transparent)]
    Core(#[from] cogview2_core::CoreError),

    /// An error of the super-resolution crate.
    #[error(transparent)]
    Sr(#[from] cogview2_sr::SrError),

    /// An error of the synthetic scene crate.
    #[error(transparent)]
    Scenes(#[from] cogview2_scenes::ScenesError),

    /// An error of the tokenizer crate.
    #[error(transparent)]
    Icetk(#[from] cogview2_icetk::IcetkError),

    /// The image encoder (a VQ-VAE given by the caller) failed or returned codes that do not fit.
    #[error("image encoder: {0}")]
    Encoder(String),

    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A safetensors file could not be written or parsed.
    #[error("safetensors error in {path}: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the library said.
        reason: String,
    },

    /// burn's recorder failed to save or load the optimizer state.
    #[error("optimizer state {path}: {reason}")]
    Recorder {
        /// The file.
        path: PathBuf,
        /// What the recorder said.
        reason: String,
    },

    /// A JSON side file could not be read or written.
    #[error("invalid JSON {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// The checkpoint does not belong to this model or trainer.
    #[error("checkpoint {path} does not fit: {reason}")]
    CheckpointMismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
