//! Behaviour the fixture model cannot show, on small hand-built models: byte fallback, unused and control
//! pieces, user-defined scoring, and a model without a charsmap.

use cogview2_icetk::{
    ModelProto, NormalizerSpec, PieceType, SentencePiece, SentencePieceModel, TrainerSpec,
};

fn piece(piece: &str, score: f32, kind: PieceType) -> SentencePiece {
    SentencePiece {
        piece: piece.into(),
        score,
        kind,
    }
}

fn model(extra: Vec<SentencePiece>, byte_fallback: bool) -> SentencePieceModel {
    let mut pieces = vec![
        piece("<unk>", 0.0, PieceType::Unknown),
        piece("<s>", 0.0, PieceType::Control),
        piece("</s>", 0.0, PieceType::Control),
    ];
    if byte_fallback {
        pieces.extend((0..=255u8).map(|b| piece(&format!("<0x{b:02X}>"), 0.0, PieceType::Byte)));
    }
    pieces.extend(extra);
    let proto = ModelProto {
        pieces,
        trainer_spec: TrainerSpec {
            byte_fallback,
            ..TrainerSpec::default()
        },
        normalizer_spec: NormalizerSpec {
            name: "identity".into(),
            ..NormalizerSpec::default()
        },
        denormalizer_spec: None,
    };
    SentencePieceModel::from_proto(proto).expect("valid synthetic model")
}

fn vocab() -> Vec<SentencePiece> {
    vec![
        piece("▁", -2.0, PieceType::Normal),
        piece("▁a", -1.0, PieceType::Normal),
        piece("a", -3.0, PieceType::Normal),
        piece("b", -3.0, PieceType::Normal),
        piece("ab", -1.5, PieceType::Normal),
        piece("abb", -0.5, PieceType::Unused),
        piece("<sep>", 0.0, PieceType::UserDefined),
    ]
}

fn pieces(m: &SentencePieceModel, text: &str) -> Vec<String> {
    m.encode_pieces(text).into_iter().map(|p| p.piece).collect()
}

#[test]
fn viterbi_prefers_the_best_total_score_and_skips_unused() {
    let m = model(vocab(), false);
    // ▁ + ab + b = -6.5 beats ▁a + b + b = -7; the UNUSED "abb" (-0.5) would win if it were a candidate.
    assert_eq!(pieces(&m, "abb"), ["▁", "ab", "b"]);
    assert_eq!(pieces(&m, "b ab"), ["▁", "b", "▁", "ab"]);
    assert_eq!(pieces(&m, "a<sep>b"), ["▁a", "<sep>", "b"]);
}

#[test]
fn unknown_runs_merge_without_byte_fallback() {
    let m = model(vocab(), false);
    let out = m.encode_pieces("a€€b");
    assert_eq!(
        out.iter().map(|p| p.piece.as_str()).collect::<Vec<_>>(),
        ["▁a", "€€", "b"]
    );
    assert_eq!(out[1].id, m.unk_id());
    assert_eq!(m.decode(&m.encode("a€€b")).unwrap(), "a ⁇ b");
}

#[test]
fn byte_fallback_spells_unknown_characters_as_bytes() {
    let m = model(vocab(), true);
    assert_eq!(pieces(&m, "a€"), ["▁a", "<0xE2>", "<0x82>", "<0xAC>"]);
    assert_eq!(m.decode(&m.encode("a€b€")).unwrap(), "a€b€");
    // A lone continuation byte decodes to U+FFFD.
    let lone = m.piece_to_id("<0x82>");
    assert_eq!(m.decode(&[m.piece_to_id("▁a"), lone]).unwrap(), "a\u{fffd}");
}

#[test]
fn control_pieces_decode_to_nothing() {
    let m = model(vocab(), false);
    let ids = [
        1,
        m.piece_to_id("▁a"),
        m.piece_to_id("▁"),
        m.piece_to_id("b"),
        2,
    ];
    assert_eq!(m.decode(&ids).unwrap(), "a b");
    assert_eq!(m.piece_to_id("not a piece"), m.unk_id());
}
