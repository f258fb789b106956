//! The CogView2 view of icetk (CV2: cogview2_text2image.py): the text model with the three special tokens
//! CogView2 appends, and their ids at hand.

use std::borrow::Cow;
use std::path::Path;

use crate::error::Result;
use crate::text_tokenizer::TextTokenizer;

/// Tokens CogView2 adds with `tokenizer.add_special_tokens(...)`, in that order.
pub const COGVIEW2_SPECIAL_TOKENS: [&str; 3] = [
    "<start_of_image>",
    "<start_of_english>",
    "<start_of_chinese>",
];

/// icetk as CogView2 configures it: [`TextTokenizer`] plus `<start_of_image>`, `<start_of_english>` and
/// `<start_of_chinese>` appended to the vocabulary (ids 150000–150002 with the released 130 000-piece model).
#[derive(Clone)]
pub struct IceTokenizer {
    text: TextTokenizer,
    start_of_image: u32,
    start_of_english: u32,
    start_of_chinese: u32,
}

impl std::fmt::Debug for IceTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceTokenizer")
            .field("text", &self.text)
            .field("start_of_image", &self.start_of_image)
            .field("start_of_english", &self.start_of_english)
            .field("start_of_chinese", &self.start_of_chinese)
            .finish()
    }
}

impl IceTokenizer {
    /// Loads `ice_text.model` (20 000 image tokens) and appends the CogView2 special tokens.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_text_tokenizer(TextTokenizer::from_file(path)?)
    }

    /// As [`from_file`](Self::from_file), from the model's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_text_tokenizer(TextTokenizer::from_bytes(bytes)?)
    }

    /// Appends the CogView2 special tokens to `text` (which must not have them yet).
    pub fn from_text_tokenizer(mut text: TextTokenizer) -> Result<Self> {
        let ids = text.add_special_tokens(&COGVIEW2_SPECIAL_TOKENS)?;
        Ok(Self {
            text,
            start_of_image: ids[0],
            start_of_english: ids[1],
            start_of_chinese: ids[2],
        })
    }

    /// The text tokenizer (special tokens included).
    pub fn text_tokenizer(&self) -> &TextTokenizer {
        &self.text
    }

    /// Mutable text tokenizer, e.g. for `discourage_ids`; appending tokens keeps the special ids valid.
    pub fn text_tokenizer_mut(&mut self) -> &mut TextTokenizer {
        &mut self.text
    }

    /// Global id of `<start_of_image>`.
    pub fn start_of_image(&self) -> u32 {
        self.start_of_image
    }

    /// Global id of `<start_of_english>`.
    pub fn start_of_english(&self) -> u32 {
        self.start_of_english
    }

    /// Global id of `<start_of_chinese>`.
    pub fn start_of_chinese(&self) -> u32 {
        self.start_of_chinese
    }

    /// Number of image codes.
    pub fn num_image_tokens(&self) -> u32 {
        self.text.num_image_tokens()
    }

    /// Size of the whole id space.
    pub fn num_tokens(&self) -> u32 {
        self.text.num_tokens()
    }

    /// See [`TextTokenizer::encode`].
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.text.encode(text)
    }

    /// See [`TextTokenizer::encode_with`].
    pub fn encode_with(&self, text: &str, ignore_linebreak: bool) -> Vec<u32> {
        self.text.encode_with(text, ignore_linebreak)
    }

    /// See [`TextTokenizer::encode_bytes`].
    pub fn encode_bytes(&self, bytes: &[u8], ignore_linebreak: bool) -> Result<Vec<u32>> {
        self.text.encode_bytes(bytes, ignore_linebreak)
    }

    /// See [`TextTokenizer::tokenize`].
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        self.text.tokenize(text)
    }

    /// See [`TextTokenizer::decode`].
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.text.decode(ids)
    }

    /// See [`TextTokenizer::id_to_token`].
    pub fn id_to_token(&self, id: u32) -> Result<Cow<'_, str>> {
        self.text.id_to_token(id)
    }

    /// See [`TextTokenizer::token_to_id`].
    pub fn token_to_id(&self, token: &str) -> Result<u32> {
        self.text.token_to_id(token)
    }
}
