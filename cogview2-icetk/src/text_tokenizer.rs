//! The icetk text side (ICE: icetk/ice_tokenizer.py and text_tokenizer.py, version 0.0.7): one id space in
//! which `[0, num_image_tokens)` are image codes and text id = SentencePiece id + `num_image_tokens`.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{IcetkError, Result};
use crate::sentencepiece::SentencePieceModel;

/// Image codes in icetk's released id space (`num_image_tokens`, hard-coded in icetk).
pub const DEFAULT_NUM_IMAGE_TOKENS: u32 = 20_000;

/// The piece icetk substitutes for a newline when `ignore_linebreak` is false (and back on decode).
pub const LINEBREAK_PIECE: &str = "<n>";

/// Score icetk's `discourage_ids` / `discourage_tokens` give a piece.
pub const DISCOURAGED_SCORE: f32 = -100.0;

/// icetk text tokenizer over the unified id space; needs no tensor library.
#[derive(Clone)]
pub struct TextTokenizer {
    sp: SentencePieceModel,
    num_image_tokens: u32,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("num_image_tokens", &self.num_image_tokens)
            .field("text_vocab_size", &self.sp.vocab_size())
            .field("num_tokens", &self.num_tokens())
            .finish()
    }
}

impl TextTokenizer {
    /// Wraps a SentencePiece model; text ids start at `num_image_tokens`.
    pub fn new(sp: SentencePieceModel, num_image_tokens: u32) -> Result<Self> {
        let tokenizer = Self {
            sp,
            num_image_tokens,
        };
        tokenizer.check_id_space()?;
        Ok(tokenizer)
    }

    /// Loads `ice_text.model` with the default 20 000 image tokens.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(
            SentencePieceModel::from_file(path)?,
            DEFAULT_NUM_IMAGE_TOKENS,
        )
    }

    /// Parses model bytes with the default 20 000 image tokens.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::new(
            SentencePieceModel::from_bytes(bytes)?,
            DEFAULT_NUM_IMAGE_TOKENS,
        )
    }

    fn check_id_space(&self) -> Result<()> {
        let total = u64::from(self.num_image_tokens) + self.sp.vocab_size() as u64;
        if total > u64::from(u32::MAX) {
            return Err(IcetkError::InvalidModel(format!(
                "{} image tokens + {} pieces do not fit 32-bit ids",
                self.num_image_tokens,
                self.sp.vocab_size()
            )));
        }
        Ok(())
    }

    /// The underlying SentencePiece model (ids without the image offset).
    pub fn sentencepiece(&self) -> &SentencePieceModel {
        &self.sp
    }

    /// Number of image codes, the offset of every text id.
    pub fn num_image_tokens(&self) -> u32 {
        self.num_image_tokens
    }

    /// Number of SentencePiece pieces (special tokens included).
    pub fn num_text_tokens(&self) -> u32 {
        self.sp.vocab_size() as u32
    }

    /// Size of the whole id space: image codes plus text pieces.
    pub fn num_tokens(&self) -> u32 {
        self.num_image_tokens + self.num_text_tokens()
    }

    fn to_global(&self, sp_id: u32) -> u32 {
        sp_id + self.num_image_tokens
    }

    /// SentencePiece id of a global text id.
    fn to_sp(&self, id: u32, context: &'static str) -> Result<u32> {
        if id < self.num_image_tokens || id >= self.num_tokens() {
            return Err(IcetkError::IdOutOfRange {
                id: u64::from(id),
                context,
                start: u64::from(self.num_image_tokens),
                end: u64::from(self.num_tokens()),
            });
        }
        Ok(id - self.num_image_tokens)
    }

    /// Appends pieces (NORMAL, score 0) to the vocabulary, as icetk's `add_special_tokens`; returns their
    /// global ids. Because unigram segmentation keeps a score-0 piece whole, the literal string then always
    /// encodes to that one id.
    pub fn add_special_tokens(&mut self, tokens: &[&str]) -> Result<Vec<u32>> {
        let mut sp = self.sp.clone();
        let ids = sp.add_pieces(tokens)?;
        let candidate = Self {
            sp,
            num_image_tokens: self.num_image_tokens,
        };
        candidate.check_id_space()?;
        *self = candidate;
        Ok(ids.into_iter().map(|id| self.to_global(id)).collect())
    }

    /// Sets the score of global text ids to -100 so segmentation avoids them (icetk's `discourage_ids`,
    /// which takes SentencePiece ids; this takes ids of the unified space).
    pub fn discourage_ids(&mut self, ids: &[u32]) -> Result<()> {
        let sp_ids = ids
            .iter()
            .map(|&id| self.to_sp(id, "discourage_ids"))
            .collect::<Result<Vec<_>>>()?;
        self.sp.set_scores(&sp_ids, DISCOURAGED_SCORE)
    }

    /// Sets the score of every piece equal to one of `tokens` to -100 (icetk's `discourage_tokens`).
    pub fn discourage_tokens(&mut self, tokens: &[&str]) -> Result<()> {
        let sp_ids: Vec<u32> = (0..self.num_text_tokens())
            .filter(|&id| self.sp.id_to_piece(id).is_ok_and(|p| tokens.contains(&p)))
            .collect();
        self.sp.set_scores(&sp_ids, DISCOURAGED_SCORE)
    }

    /// icetk `encode(text)` with its default `ignore_linebreak=True`: newlines are left to the normaliser,
    /// which turns them into spaces.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_with(text, true)
    }

    /// icetk `encode(text, ignore_linebreak)`: with `ignore_linebreak == false` each `\n` becomes `<n>` first.
    pub fn encode_with(&self, text: &str, ignore_linebreak: bool) -> Vec<u32> {
        let text: Cow<'_, str> = if ignore_linebreak {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(text.replace('\n', LINEBREAK_PIECE))
        };
        self.sp
            .encode(&text)
            .into_iter()
            .map(|id| self.to_global(id))
            .collect()
    }

    /// [`encode_with`](Self::encode_with) on raw bytes, which must be UTF-8.
    pub fn encode_bytes(&self, bytes: &[u8], ignore_linebreak: bool) -> Result<Vec<u32>> {
        let text = std::str::from_utf8(bytes).map_err(|e| IcetkError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Ok(self.encode_with(text, ignore_linebreak))
    }

    /// icetk `tokenize(text)`: the piece strings (`▁` for spaces), no id offset, no `<n>` substitution.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        self.sp
            .encode_pieces(text)
            .into_iter()
            .map(|p| p.piece)
            .collect()
    }

    /// icetk `decode(text_ids=...)`: SentencePiece decoding, then `<n>` → `\n`. Image ids are rejected.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let sp_ids = ids
            .iter()
            .map(|&id| self.to_sp(id, "text decode"))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.sp.decode(&sp_ids)?.replace(LINEBREAK_PIECE, "\n"))
    }

    /// icetk `tokenizer[id]`: `<image_N>` below `num_image_tokens`, else the piece string.
    pub fn id_to_token(&self, id: u32) -> Result<Cow<'_, str>> {
        if id < self.num_image_tokens {
            return Ok(Cow::Owned(format!("<image_{id}>")));
        }
        Ok(Cow::Borrowed(
            self.sp.id_to_piece(self.to_sp(id, "id_to_token")?)?,
        ))
    }

    /// icetk `tokenizer[token]`: `<image_N>` → N, else the piece's global id (`<unk>`'s id for a string that
    /// is not a piece, as SentencePiece's `PieceToId`). `<image_N>` with N outside the image range is an error.
    pub fn token_to_id(&self, token: &str) -> Result<u32> {
        let image = token
            .strip_prefix("<image_")
            .and_then(|t| t.strip_suffix('>'));
        if let Some(digits) =
            image.filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            let out_of_range = || IcetkError::IdOutOfRange {
                id: digits.parse().unwrap_or(u64::MAX),
                context: "image token",
                start: 0,
                end: u64::from(self.num_image_tokens),
            };
            return digits
                .parse::<u32>()
                .ok()
                .filter(|&n| n < self.num_image_tokens)
                .ok_or_else(out_of_range);
        }
        Ok(self.to_global(self.sp.piece_to_id(token)))
    }

    /// `text` as SentencePiece normalises it before segmentation (spaces as `▁`).
    pub fn normalize(&self, text: &str) -> String {
        self.sp.normalize(text)
    }
}
