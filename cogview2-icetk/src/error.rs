//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading a tokenizer model or encoding / decoding with it.
#[derive(Debug, thiserror::Error)]
pub enum IcetkError {
    /// The model file could not be read.
    #[error("cannot read tokenizer model {path}: {source}; check the path (icetk keeps it at ~/.icetk_models/ice_text.model)")]
    Io {
        /// File that was being read.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a protobuf-encoded SentencePiece `ModelProto` (wrong file or truncated).
    #[error("not a SentencePiece model: {reason} at byte {offset}; pass the ice_text.model file written by SentencePiece (is it truncated?)")]
    NotAModel {
        /// What was wrong with the wire format.
        reason: String,
        /// Byte offset in the file where decoding failed.
        offset: usize,
    },

    /// The protobuf decoded but its content violates what SentencePiece requires of a model.
    #[error("invalid SentencePiece model: {0}")]
    InvalidModel(String),

    /// The model has no pieces at all.
    #[error(
        "SentencePiece model has an empty vocabulary (no pieces); the file is not a trained model"
    )]
    EmptyVocabulary,

    /// A model type this crate does not implement (only unigram is).
    #[error("SentencePiece model type {model_type} is not supported; only UNIGRAM models (as icetk's ice_text.model) can be encoded")]
    UnsupportedModelType {
        /// Name (or raw number) of the model type in the trainer spec.
        model_type: String,
    },

    /// A model option this crate does not implement.
    #[error("SentencePiece option {option} is not supported by this port; re-export the model without it")]
    UnsupportedOption {
        /// The option, as named in sentencepiece_model.proto.
        option: &'static str,
    },

    /// A vocabulary builder was asked to build from no text.
    #[error("the vocabulary builder has no text to learn from; add sentences before building")]
    EmptyCorpus,

    /// Input bytes handed to an `encode_bytes` API are not valid UTF-8.
    #[error("input text is not valid UTF-8 (first invalid byte at offset {valid_up_to}); decode it to UTF-8 before encoding")]
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },

    /// A token id outside the range the operation accepts.
    #[error("token id {id} is out of range for {context}: valid ids are {start}..{end}")]
    IdOutOfRange {
        /// The offending id.
        id: u64,
        /// Which operation / id space rejected it.
        context: &'static str,
        /// First valid id.
        start: u64,
        /// One past the last valid id.
        end: u64,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, IcetkError>;
