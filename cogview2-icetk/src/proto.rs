//! Reader for SentencePiece's `ModelProto` (sentencepiece_model.proto), decoded straight from the protobuf
//! wire format so that no protobuf runtime or code generator is needed. Only the fields a tokenizer needs are
//! kept; every other field is skipped, as protobuf readers do.

use crate::error::{IcetkError, Result};

/// `ModelProto.SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    /// Ordinary vocabulary piece (also the type icetk gives its added special tokens).
    Normal,
    /// The `<unk>` piece.
    Unknown,
    /// Invisible control symbol (`<s>`, `</s>`): never produced by encoding, decodes to nothing.
    Control,
    /// User-defined symbol: matched verbatim, always kept whole (icetk's `<n>`).
    UserDefined,
    /// Piece that exists in the vocabulary but is never produced by encoding.
    Unused,
    /// Byte-fallback piece `<0xXX>`.
    Byte,
}

impl PieceType {
    fn from_wire(value: u64, offset: usize) -> Result<Self> {
        Ok(match value {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            other => {
                return Err(IcetkError::NotAModel {
                    reason: format!("unknown piece type {other}"),
                    offset,
                })
            }
        })
    }

    /// The enum number on the wire.
    pub(crate) fn to_wire(self) -> u64 {
        match self {
            Self::Normal => 1,
            Self::Unknown => 2,
            Self::Control => 3,
            Self::UserDefined => 4,
            Self::Unused => 5,
            Self::Byte => 6,
        }
    }
}

/// `TrainerSpec.ModelType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// Unigram language model (Viterbi segmentation).
    Unigram,
    /// Byte-pair encoding.
    Bpe,
    /// Whitespace-delimited words.
    Word,
    /// One piece per character.
    Char,
    /// A number this reader does not know.
    Other(u64),
}

impl ModelType {
    fn from_wire(value: u64) -> Self {
        match value {
            1 => Self::Unigram,
            2 => Self::Bpe,
            3 => Self::Word,
            4 => Self::Char,
            other => Self::Other(other),
        }
    }

    /// The enum number on the wire.
    pub(crate) fn to_wire(self) -> u64 {
        match self {
            Self::Unigram => 1,
            Self::Bpe => 2,
            Self::Word => 3,
            Self::Char => 4,
            Self::Other(n) => n,
        }
    }

    /// Name as written in sentencepiece_model.proto.
    pub fn name(self) -> String {
        match self {
            Self::Unigram => "UNIGRAM".into(),
            Self::Bpe => "BPE".into(),
            Self::Word => "WORD".into(),
            Self::Char => "CHAR".into(),
            Self::Other(n) => format!("unknown ({n})"),
        }
    }
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SentencePiece {
    /// Piece text (`▁` stands for a space).
    pub piece: String,
    /// Log-probability score (unigram) or merge rank (BPE).
    pub score: f32,
    /// Piece type.
    pub kind: PieceType,
}

/// The `TrainerSpec` fields that change encoding or decoding (defaults as in the .proto).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerSpec {
    /// Segmentation algorithm.
    pub model_type: ModelType,
    /// Vocabulary size requested at training time (informative only; the pieces are authoritative).
    pub vocab_size: i32,
    /// Unknown characters are emitted as `<0xXX>` byte pieces instead of `<unk>`.
    pub byte_fallback: bool,
    /// Whitespace is attached to the end of pieces instead of the beginning.
    pub treat_whitespace_as_suffix: bool,
    /// Id of `<unk>` at training time (the piece of type UNKNOWN is authoritative).
    pub unk_id: i32,
    /// Id of `<s>` (-1: none).
    pub bos_id: i32,
    /// Id of `</s>` (-1: none).
    pub eos_id: i32,
    /// Id of `<pad>` (-1: none).
    pub pad_id: i32,
    /// Text that `<unk>` decodes to.
    pub unk_surface: String,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        Self {
            model_type: ModelType::Unigram,
            vocab_size: 8000,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            pad_id: -1,
            unk_surface: " \u{2047} ".into(),
        }
    }
}

/// `NormalizerSpec`; absent booleans are true, as declared in the .proto.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    /// Rule name (`nmt_nfkc`, `identity`, ...): informative, the charsmap is what is applied.
    pub name: String,
    /// darts-clone trie plus replacement strings (empty: no character mapping).
    pub precompiled_charsmap: Vec<u8>,
    /// Prepend one space to non-empty input.
    pub add_dummy_prefix: bool,
    /// Strip leading/trailing spaces and collapse runs of spaces.
    pub remove_extra_whitespaces: bool,
    /// Replace spaces by `▁` (U+2581).
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// A decoded SentencePiece model file.
#[derive(Clone, PartialEq, Default)]
pub struct ModelProto {
    /// Vocabulary, in id order.
    pub pieces: Vec<SentencePiece>,
    /// Training options that affect encoding.
    pub trainer_spec: TrainerSpec,
    /// Normalisation rules.
    pub normalizer_spec: NormalizerSpec,
    /// Rules applied to decoded text, when the model has them.
    pub denormalizer_spec: Option<NormalizerSpec>,
}

impl std::fmt::Debug for ModelProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The vocabulary can hold 130 000 pieces: show its size, not its content.
        f.debug_struct("ModelProto")
            .field("pieces", &self.pieces.len())
            .field("trainer_spec", &self.trainer_spec)
            .field("normalizer_spec.name", &self.normalizer_spec.name)
            .field("denormalizer_spec", &self.denormalizer_spec.is_some())
            .finish()
    }
}

impl ModelProto {
    /// Decodes a serialized `ModelProto`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut model = ModelProto::default();
        let mut r = Reader::new(bytes, 0);
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, WireType::Len) => {
                    let (body, base) = r.bytes()?;
                    model.pieces.push(decode_piece(body, base)?);
                }
                (2, WireType::Len) => {
                    let (body, base) = r.bytes()?;
                    merge_trainer_spec(&mut model.trainer_spec, body, base)?;
                }
                (3, WireType::Len) => {
                    let (body, base) = r.bytes()?;
                    merge_normalizer_spec(&mut model.normalizer_spec, body, base)?;
                }
                (5, WireType::Len) => {
                    let (body, base) = r.bytes()?;
                    let spec = model
                        .denormalizer_spec
                        .get_or_insert_with(NormalizerSpec::default);
                    merge_normalizer_spec(spec, body, base)?;
                }
                (1..=3 | 5, _) => {
                    return Err(r.error(format!("field {field} has wire type {wire:?}")))
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(model)
    }
}

fn decode_piece(bytes: &[u8], base: usize) -> Result<SentencePiece> {
    let mut piece = SentencePiece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut r = Reader::new(bytes, base);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, WireType::Len) => piece.piece = r.string()?,
            (2, WireType::I32) => piece.score = f32::from_bits(r.fixed32()?),
            (3, WireType::Varint) => {
                let at = r.offset();
                piece.kind = PieceType::from_wire(r.varint()?, at)?;
            }
            (1..=3, _) => {
                return Err(r.error(format!("piece field {field} has wire type {wire:?}")))
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(piece)
}

fn merge_trainer_spec(spec: &mut TrainerSpec, bytes: &[u8], base: usize) -> Result<()> {
    let mut r = Reader::new(bytes, base);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (3, WireType::Varint) => spec.model_type = ModelType::from_wire(r.varint()?),
            (4, WireType::Varint) => spec.vocab_size = r.varint()? as i32,
            (24, WireType::Varint) => spec.treat_whitespace_as_suffix = r.varint()? != 0,
            (35, WireType::Varint) => spec.byte_fallback = r.varint()? != 0,
            // int32 fields are sign-extended to 64 bits on the wire; truncation restores negatives.
            (40, WireType::Varint) => spec.unk_id = r.varint()? as i32,
            (41, WireType::Varint) => spec.bos_id = r.varint()? as i32,
            (42, WireType::Varint) => spec.eos_id = r.varint()? as i32,
            (43, WireType::Varint) => spec.pad_id = r.varint()? as i32,
            (44, WireType::Len) => spec.unk_surface = r.string()?,
            (3 | 4 | 24 | 35 | 40..=44, _) => {
                return Err(r.error(format!("trainer_spec field {field} has wire type {wire:?}")))
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn merge_normalizer_spec(spec: &mut NormalizerSpec, bytes: &[u8], base: usize) -> Result<()> {
    let mut r = Reader::new(bytes, base);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, WireType::Len) => spec.name = r.string()?,
            (2, WireType::Len) => spec.precompiled_charsmap = r.bytes()?.0.to_vec(),
            (3, WireType::Varint) => spec.add_dummy_prefix = r.varint()? != 0,
            (4, WireType::Varint) => spec.remove_extra_whitespaces = r.varint()? != 0,
            (5, WireType::Varint) => spec.escape_whitespaces = r.varint()? != 0,
            (1..=5, _) => {
                return Err(r.error(format!(
                    "normalizer_spec field {field} has wire type {wire:?}"
                )))
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

/// Protobuf wire types (groups, 3 and 4, are rejected: SentencePiece never writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireType {
    Varint,
    I64,
    Len,
    I32,
}

/// Cursor over one message's bytes; `base` is the message's offset in the file, for error messages.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn error(&self, reason: String) -> IcetkError {
        IcetkError::NotAModel {
            reason,
            offset: self.offset(),
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error("truncated varint".into()));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes".into()))
    }

    /// Next field key, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u64, WireType)>> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::I64,
            2 => WireType::Len,
            5 => WireType::I32,
            other => return Err(self.error(format!("unsupported wire type {other}"))),
        };
        let field = key >> 3;
        if field == 0 {
            return Err(self.error("field number 0".into()));
        }
        Ok(Some((field, wire)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return Err(self.error(format!(
                "field of {n} bytes runs past the end of its message"
            )));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A length-delimited field and its offset in the file.
    fn bytes(&mut self) -> Result<(&'a [u8], usize)> {
        let len = self.varint()?;
        let len =
            usize::try_from(len).map_err(|_| self.error(format!("length {len} too large")))?;
        let start = self.offset();
        Ok((self.take(len)?, start))
    }

    fn string(&mut self) -> Result<String> {
        let (bytes, start) = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|e| IcetkError::NotAModel {
            reason: format!("string field is not UTF-8 ({e})"),
            offset: start,
        })
    }

    fn fixed32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, wire: WireType) -> Result<()> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::I64 => self.take(8).map(drop),
            WireType::I32 => self.take(4).map(drop),
            WireType::Len => self.bytes().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_built_model() {
        // piece {piece: "a", score: -1.5, type: USER_DEFINED}, trainer_spec {model_type: BPE, unk_id: -1}
        let mut bytes = vec![0x0a, 0x0a, 0x0a, 0x01, b'a', 0x15];
        bytes.extend_from_slice(&(-1.5f32).to_le_bytes());
        bytes.extend_from_slice(&[0x18, 0x04]);
        bytes.extend_from_slice(&[0x12, 0x0e, 0x18, 0x02, 0xc0, 0x02]);
        bytes.extend_from_slice(&[0xff; 9]);
        bytes.push(0x01);
        bytes.extend_from_slice(&[0x1a, 0x02, 0x18, 0x00]);
        let model = ModelProto::decode(&bytes).unwrap();
        assert_eq!(
            model.pieces,
            vec![SentencePiece {
                piece: "a".into(),
                score: -1.5,
                kind: PieceType::UserDefined
            }]
        );
        assert_eq!(model.trainer_spec.model_type, ModelType::Bpe);
        assert_eq!(model.trainer_spec.unk_id, -1);
        assert!(!model.normalizer_spec.add_dummy_prefix);
        assert!(model.normalizer_spec.remove_extra_whitespaces);
    }

    #[test]
    fn truncation_is_an_error() {
        let bytes = [0x0a, 0x05, 0x0a, 0x01];
        assert!(matches!(
            ModelProto::decode(&bytes),
            Err(IcetkError::NotAModel { .. })
        ));
    }
}
