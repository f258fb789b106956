//! A SentencePiece processor for unigram models: load a `ModelProto`, normalise, segment, decode
//! (src/sentencepiece_processor.cc: `Encode`, `PopulateSentencePieceText`, `Decode`).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{IcetkError, Result};
use crate::normalizer::{Normalizer, SPACE_SYMBOL};
use crate::proto::{ModelProto, ModelType, PieceType, SentencePiece};
use crate::trie::PieceTrie;
use crate::unigram::{Segment, Unigram};

/// One piece of an encoding: its id and its text (for `<unk>`, the unknown text itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPiece {
    /// Piece id in the SentencePiece vocabulary.
    pub id: u32,
    /// Piece text, with `▁` for spaces.
    pub piece: String,
}

/// A loaded SentencePiece unigram model.
#[derive(Clone)]
pub struct SentencePieceModel {
    proto: ModelProto,
    normalizer: Normalizer,
    unigram: Unigram,
    /// NORMAL, USER_DEFINED and UNUSED pieces to ids (the same trie the segmenter walks).
    pieces: PieceTrie,
    /// CONTROL, UNKNOWN and BYTE pieces to ids (`reserved_id_map_`), looked up first.
    reserved: HashMap<String, u32>,
    unk_id: u32,
    /// `<0xXX>` ids, filled when byte fallback is on.
    byte_ids: Option<Box<[u32; 256]>>,
}

impl std::fmt::Debug for SentencePieceModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentencePieceModel")
            .field("vocab_size", &self.vocab_size())
            .field("model_type", &self.proto.trainer_spec.model_type.name())
            .field("normalizer", &self.proto.normalizer_spec.name)
            .field("byte_fallback", &self.proto.trainer_spec.byte_fallback)
            .finish()
    }
}

/// The byte a `<0xXX>` piece stands for.
fn piece_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl SentencePieceModel {
    /// Reads a `.model` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| IcetkError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let model = Self::from_bytes(&bytes)?;
        tracing::debug!(path = %path.display(), vocab_size = model.vocab_size(), "loaded SentencePiece model");
        Ok(model)
    }

    /// Parses a serialized `ModelProto`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_proto(ModelProto::decode(bytes)?)
    }

    /// Builds the processor, checking the model as `ModelInterface::InitializePieces` does.
    pub fn from_proto(proto: ModelProto) -> Result<Self> {
        if proto.pieces.is_empty() {
            return Err(IcetkError::EmptyVocabulary);
        }
        if proto.trainer_spec.model_type != ModelType::Unigram {
            return Err(IcetkError::UnsupportedModelType {
                model_type: proto.trainer_spec.model_type.name(),
            });
        }
        if proto.trainer_spec.treat_whitespace_as_suffix {
            return Err(IcetkError::UnsupportedOption {
                option: "trainer_spec.treat_whitespace_as_suffix",
            });
        }
        if proto
            .denormalizer_spec
            .as_ref()
            .is_some_and(|d| !d.precompiled_charsmap.is_empty())
        {
            return Err(IcetkError::UnsupportedOption {
                option: "denormalizer_spec.precompiled_charsmap",
            });
        }
        let id_limit = u32::try_from(proto.pieces.len()).map_err(|_| {
            IcetkError::InvalidModel(format!(
                "{} pieces do not fit 32-bit ids",
                proto.pieces.len()
            ))
        })?;
        let mut normal: HashMap<&str, u32> = HashMap::with_capacity(proto.pieces.len());
        let mut reserved = HashMap::new();
        let mut unk_id = None;
        let mut byte_ids = [u32::MAX; 256];
        for (id, p) in (0..id_limit).zip(&proto.pieces) {
            if p.piece.is_empty() {
                return Err(IcetkError::InvalidModel(format!("piece {id} is empty")));
            }
            let is_normal = matches!(
                p.kind,
                PieceType::Normal | PieceType::UserDefined | PieceType::Unused
            );
            let first = if is_normal {
                normal.insert(p.piece.as_str(), id)
            } else {
                reserved.insert(p.piece.clone(), id)
            };
            if let Some(first) = first {
                return Err(IcetkError::InvalidModel(format!(
                    "piece {:?} is defined twice (ids {first} and {id})",
                    p.piece
                )));
            }
            match p.kind {
                PieceType::Unknown if unk_id.is_some() => {
                    return Err(IcetkError::InvalidModel(format!(
                        "second UNKNOWN piece {:?} (id {id})",
                        p.piece
                    )))
                }
                PieceType::Unknown => unk_id = Some(id),
                PieceType::Byte => {
                    if !proto.trainer_spec.byte_fallback {
                        return Err(IcetkError::InvalidModel(format!(
                            "byte piece {:?} found although byte_fallback is false",
                            p.piece
                        )));
                    }
                    let byte = piece_byte(&p.piece).ok_or_else(|| {
                        IcetkError::InvalidModel(format!("byte piece {:?} is invalid", p.piece))
                    })?;
                    byte_ids[usize::from(byte)] = id;
                }
                _ => {}
            }
        }
        let unk_id = unk_id
            .ok_or_else(|| IcetkError::InvalidModel("no piece of type UNKNOWN (<unk>)".into()))?;
        let byte_ids = if proto.trainer_spec.byte_fallback {
            if byte_ids.contains(&u32::MAX) {
                return Err(IcetkError::InvalidModel(
                    "byte_fallback is true but not all 256 <0xXX> pieces exist".into(),
                ));
            }
            Some(Box::new(byte_ids))
        } else {
            None
        };
        let pieces = PieceTrie::build(normal.iter().map(|(piece, &id)| (piece.as_bytes(), id)));
        let user_defined = proto
            .pieces
            .iter()
            .filter(|p| p.kind == PieceType::UserDefined)
            .map(|p| p.piece.as_str());
        let normalizer = Normalizer::new(&proto.normalizer_spec, user_defined)?;
        let scores = proto.pieces.iter().map(|p| p.score).collect();
        let kinds = proto.pieces.iter().map(|p| p.kind).collect();
        let unigram = Unigram::new(pieces.clone(), scores, kinds, unk_id);
        Ok(Self {
            proto,
            normalizer,
            unigram,
            pieces,
            reserved,
            unk_id,
            byte_ids,
        })
    }

    /// The decoded model file.
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }

    /// Number of pieces (ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.proto.pieces.len()
    }

    /// Id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// The normaliser applied before segmentation.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// `text` normalised as SentencePiece does before segmentation (spaces as `▁`).
    pub fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text)
    }

    /// Segments `text`: the normalised text and, per output piece, its id and byte range in it. Runs of
    /// unknown characters become one `<unk>` piece; with byte fallback they become one `<0xXX>` piece per
    /// byte instead (`PopulateSentencePieceText`).
    fn segment(&self, text: &str) -> (String, Vec<Segment>) {
        let normalized = self.normalizer.normalize(text);
        let segments = self.unigram.segment(&normalized);
        let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
        let mut prev_unk = false;
        for seg in segments {
            let is_unk = seg.id == self.unk_id;
            match (&self.byte_ids, is_unk) {
                (Some(byte_ids), true) => out.extend((seg.start..seg.end).map(|i| Segment {
                    start: i,
                    end: i + 1,
                    id: byte_ids[usize::from(normalized.as_bytes()[i])],
                })),
                // Unknown runs merge so that decoding yields one ` ⁇ ` per run.
                (None, true) if prev_unk => {
                    if let Some(last) = out.last_mut() {
                        last.end = seg.end;
                    }
                }
                _ => out.push(seg),
            }
            prev_unk = is_unk;
        }
        (normalized, out)
    }

    /// Segments `text` into pieces (`EncodeAsPieces` and `EncodeAsIds` in one). An `<unk>` piece carries
    /// the unknown text itself; byte-fallback pieces are `<0xXX>`.
    pub fn encode_pieces(&self, text: &str) -> Vec<EncodedPiece> {
        let (normalized, segments) = self.segment(text);
        segments
            .into_iter()
            .map(|seg| {
                let piece = match self.kind(seg.id) {
                    PieceType::Byte => self.proto.pieces[seg.id as usize].piece.clone(),
                    _ => normalized[seg.start..seg.end].to_owned(),
                };
                EncodedPiece { id: seg.id, piece }
            })
            .collect()
    }

    /// Piece ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.segment(text).1.into_iter().map(|seg| seg.id).collect()
    }

    /// Piece string of `id`.
    pub fn id_to_piece(&self, id: u32) -> Result<&str> {
        self.proto
            .pieces
            .get(id as usize)
            .map(|p| p.piece.as_str())
            .ok_or(IcetkError::IdOutOfRange {
                id: u64::from(id),
                context: "SentencePiece vocabulary",
                start: 0,
                end: self.vocab_size() as u64,
            })
    }

    /// Id of `piece` (`PieceToId`): reserved pieces first, then the vocabulary; `<unk>`'s id when absent.
    pub fn piece_to_id(&self, piece: &str) -> u32 {
        if let Some(&id) = self.reserved.get(piece) {
            return id;
        }
        self.pieces.get(piece.as_bytes()).unwrap_or(self.unk_id)
    }

    fn kind(&self, id: u32) -> PieceType {
        self.proto
            .pieces
            .get(id as usize)
            .map_or(PieceType::Normal, |p| p.kind)
    }

    /// Detokenizes `ids` (`DecodeIds`): control pieces vanish, `<unk>` becomes the model's unknown surface
    /// (` ⁇ ` by default), `▁` becomes a space and, while the output is still empty, a leading `▁` is dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let spec = &self.proto.normalizer_spec;
        let strip_bos_space = spec.add_dummy_prefix || spec.remove_extra_whitespaces;
        let mut text = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        for &given in ids {
            let piece = self.id_to_piece(given)?;
            // SentencePiece decodes ids through their piece strings, so re-resolve the id as it does.
            let id = self.piece_to_id(piece);
            let kind = self.kind(id);
            if kind == PieceType::Byte {
                bytes.extend(piece_byte(piece));
                continue;
            }
            flush_bytes(&mut bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            bos_ws_seen = false;
            match kind {
                PieceType::Control => {}
                PieceType::Unknown => text.push_str(&self.proto.trainer_spec.unk_surface),
                _ => {
                    let mut piece = piece;
                    if is_bos_ws && strip_bos_space {
                        if let Some(rest) = piece.strip_prefix(SPACE_SYMBOL) {
                            piece = rest;
                            // With extra-whitespace removal every leading `▁` goes until text appears.
                            bos_ws_seen = !spec.remove_extra_whitespaces;
                        }
                    }
                    text.push_str(&piece.replace(SPACE_SYMBOL, " "));
                }
            }
        }
        flush_bytes(&mut bytes, &mut text);
        Ok(text)
    }

    /// Appends pieces at the end of the vocabulary (NORMAL, score 0, as icetk's `add_special_tokens`) and
    /// rebuilds the processor. Returns the new ids.
    pub fn add_pieces(&mut self, pieces: &[&str]) -> Result<Vec<u32>> {
        let mut proto = self.proto.clone();
        let first = proto.pieces.len();
        proto.pieces.extend(pieces.iter().map(|&p| SentencePiece {
            piece: p.to_owned(),
            score: 0.0,
            kind: PieceType::Normal,
        }));
        *self = Self::from_proto(proto)?;
        Ok((first..self.vocab_size()).map(|id| id as u32).collect())
    }

    /// Sets the scores of `ids` (icetk's `discourage_ids` uses -100) and rebuilds the processor.
    pub fn set_scores(&mut self, ids: &[u32], score: f32) -> Result<()> {
        let mut proto = self.proto.clone();
        for &id in ids {
            self.id_to_piece(id)?;
            proto.pieces[id as usize].score = score;
        }
        *self = Self::from_proto(proto)?;
        Ok(())
    }
}

/// Appends pending byte-fallback bytes: each valid UTF-8 character as is, each invalid byte as U+FFFD.
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut String) {
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                text.push('\u{fffd}');
                rest = &after[1..];
            }
        }
    }
    bytes.clear();
}
