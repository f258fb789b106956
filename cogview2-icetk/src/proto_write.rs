//! Writer for SentencePiece's `ModelProto`, the inverse of the reader in `proto.rs`: every field the reader
//! keeps is written (proto2 booleans explicitly, since several default to true), in field-number order as
//! protobuf serialisers emit them, so `ModelProto::decode(&m.encode()) == m`.

use crate::proto::{ModelProto, NormalizerSpec, SentencePiece, TrainerSpec};

/// Wire types used by the writer.
const VARINT: u64 = 0;
const LEN: u64 = 2;
const I32: u64 = 5;

/// Appends protobuf fields to a byte buffer.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    fn uint(&mut self, field: u64, value: u64) {
        self.key(field, VARINT);
        self.varint(value);
    }

    /// int32 fields are sign-extended to 64 bits on the wire (negative ids take ten bytes).
    fn int32(&mut self, field: u64, value: i32) {
        self.uint(field, i64::from(value) as u64);
    }

    fn bool(&mut self, field: u64, value: bool) {
        self.uint(field, u64::from(value));
    }

    fn bytes(&mut self, field: u64, value: &[u8]) {
        self.key(field, LEN);
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    fn float(&mut self, field: u64, value: f32) {
        self.key(field, I32);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

fn encode_piece(piece: &SentencePiece) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(1, piece.piece.as_bytes());
    w.float(2, piece.score);
    // NORMAL is the declared default; SentencePiece leaves it out too.
    if piece.kind != crate::proto::PieceType::Normal {
        w.uint(3, piece.kind.to_wire());
    }
    w.buf
}

fn encode_trainer_spec(spec: &TrainerSpec) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(3, spec.model_type.to_wire());
    w.int32(4, spec.vocab_size);
    w.bool(24, spec.treat_whitespace_as_suffix);
    w.bool(35, spec.byte_fallback);
    w.int32(40, spec.unk_id);
    w.int32(41, spec.bos_id);
    w.int32(42, spec.eos_id);
    w.int32(43, spec.pad_id);
    w.bytes(44, spec.unk_surface.as_bytes());
    w.buf
}

fn encode_normalizer_spec(spec: &NormalizerSpec) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(1, spec.name.as_bytes());
    if !spec.precompiled_charsmap.is_empty() {
        w.bytes(2, &spec.precompiled_charsmap);
    }
    w.bool(3, spec.add_dummy_prefix);
    w.bool(4, spec.remove_extra_whitespaces);
    w.bool(5, spec.escape_whitespaces);
    w.buf
}

impl ModelProto {
    /// Serializes the model in SentencePiece's `.model` format (what [`ModelProto::decode`] and
    /// SentencePiece's own loader read).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        for piece in &self.pieces {
            w.bytes(1, &encode_piece(piece));
        }
        w.bytes(2, &encode_trainer_spec(&self.trainer_spec));
        w.bytes(3, &encode_normalizer_spec(&self.normalizer_spec));
        if let Some(spec) = &self.denormalizer_spec {
            w.bytes(5, &encode_normalizer_spec(spec));
        }
        w.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ModelType, PieceType};

    #[test]
    fn varints_match_the_protobuf_encoding() {
        let mut w = Writer::default();
        w.varint(300);
        w.int32(1, -1);
        assert_eq!(w.buf[..2], [0xac, 0x02]);
        // key 0x08 then ten bytes: 0xff × 9, 0x01.
        assert_eq!(w.buf[2], 0x08);
        assert_eq!(w.buf[3..12], [0xff; 9]);
        assert_eq!(w.buf[12], 0x01);
    }

    #[test]
    fn every_field_round_trips() {
        let model = ModelProto {
            pieces: vec![
                SentencePiece {
                    piece: "<unk>".into(),
                    score: 0.0,
                    kind: PieceType::Unknown,
                },
                SentencePiece {
                    piece: "▁猫".into(),
                    score: -3.25,
                    kind: PieceType::Normal,
                },
                SentencePiece {
                    piece: "<0x41>".into(),
                    score: f32::MIN,
                    kind: PieceType::Byte,
                },
                SentencePiece {
                    piece: "x".into(),
                    score: 1.5,
                    kind: PieceType::Unused,
                },
            ],
            trainer_spec: TrainerSpec {
                model_type: ModelType::Bpe,
                vocab_size: 4,
                byte_fallback: true,
                treat_whitespace_as_suffix: true,
                unk_id: 0,
                bos_id: -1,
                eos_id: -7,
                pad_id: 3,
                unk_surface: "?".into(),
            },
            normalizer_spec: NormalizerSpec {
                name: "identity".into(),
                precompiled_charsmap: vec![1, 2, 3],
                add_dummy_prefix: false,
                remove_extra_whitespaces: true,
                escape_whitespaces: false,
            },
            denormalizer_spec: Some(NormalizerSpec::default()),
        };
        assert_eq!(ModelProto::decode(&model.encode()).unwrap(), model);
        let plain = ModelProto::default();
        assert_eq!(ModelProto::decode(&plain.encode()).unwrap(), plain);
    }
}
