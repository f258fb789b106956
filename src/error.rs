//! Errors of the pipeline.

use std::path::PathBuf;

use cogview2_core::CoreError;
use cogview2_icetk::IcetkError;
use cogview2_sr::SrError;
use cogview2_vqvae::VqvaeError;

/// Everything that can go wrong while loading or running the text-to-image pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// CogLM (loading, layout, sampling).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// DSR / ITERSR.
    #[error(transparent)]
    Sr(#[from] SrError),
    /// The image codec or image I/O.
    #[error(transparent)]
    Vqvae(#[from] VqvaeError),
    /// The tokenizer.
    #[error(transparent)]
    Icetk(#[from] IcetkError),
    /// A model directory lacks a file or holds something unusable.
    #[error("model directory {dir}: {reason}")]
    ModelDir {
        /// The directory.
        dir: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The models of a pipeline were not made for each other (grids, vocabularies, special ids).
    #[error("the pipeline's models do not fit together: {0}")]
    Inconsistent(String),
    /// The prompt is empty (after trimming).
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The prompt encodes to more text tokens than the models accept.
    #[error("the prompt encodes to {tokens} text tokens (with its style template); at most {max} fit ({limit})")]
    PromptTooLong {
        /// Text tokens of the templated prompt.
        tokens: usize,
        /// The most that fit.
        max: usize,
        /// Which model sets the limit.
        limit: &'static str,
    },
    /// A request field is out of range.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An unknown style name.
    #[error("unknown style {0:?}; one of: none, mainbody, photo, flat, comics, oil, sketch, isometric, chinese, watercolor")]
    UnknownStyle(String),
}

/// `Result` with the pipeline's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
