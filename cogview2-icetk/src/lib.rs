#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod darts;
mod error;
mod ice_tokenizer;
mod normalizer;
mod proto;
mod proto_write;
mod sentencepiece;
mod text_tokenizer;
mod trie;
mod unigram;
mod vocab_builder;

pub use error::{IcetkError, Result};
pub use ice_tokenizer::{IceTokenizer, COGVIEW2_SPECIAL_TOKENS};
pub use normalizer::{Normalizer, SPACE_SYMBOL};
pub use proto::{ModelProto, ModelType, NormalizerSpec, PieceType, SentencePiece, TrainerSpec};
pub use sentencepiece::{EncodedPiece, SentencePieceModel};
pub use text_tokenizer::{
    TextTokenizer, DEFAULT_NUM_IMAGE_TOKENS, DISCOURAGED_SCORE, LINEBREAK_PIECE,
};
pub use vocab_builder::UnigramVocabBuilder;
