//! Every error variant, reached through the public API.

use cogview2_icetk::{IceTokenizer, IcetkError, SentencePieceModel, TextTokenizer};

mod common;

#[test]
fn invalid_utf8_is_reported_with_its_offset() {
    let tok = common::ice_tokenizer();
    let err = tok.encode_bytes(b"ab\xffcd", true).unwrap_err();
    assert!(
        matches!(err, IcetkError::InvalidUtf8 { valid_up_to: 2 }),
        "{err}"
    );
    assert_eq!(
        tok.encode_bytes("猫".as_bytes(), true).unwrap(),
        tok.encode("猫")
    );
}

#[test]
fn ids_out_of_range() {
    let tok = common::ice_tokenizer();
    let n = tok.num_tokens();
    fn is_range<T>(r: Result<T, IcetkError>) -> bool {
        matches!(r, Err(IcetkError::IdOutOfRange { .. }))
    }
    // Image ids are not text.
    assert!(is_range(tok.decode(&[5])));
    assert!(is_range(tok.decode(&[tok.start_of_image(), n])));
    assert!(is_range(tok.id_to_token(n)));
    assert!(is_range(tok.token_to_id("<image_20000>")));
    assert!(is_range(tok.token_to_id("<image_99999999999999999999>")));
    assert_eq!(tok.token_to_id("<image_19999>").unwrap(), 19_999);
    let mut text = tok.text_tokenizer().clone();
    assert!(is_range(text.discourage_ids(&[3])));
    let sp = tok.text_tokenizer().sentencepiece();
    assert!(is_range(sp.id_to_piece(sp.vocab_size() as u32)));
    assert!(is_range(sp.decode(&[u32::MAX])));
    let err = tok.decode(&[5]).unwrap_err().to_string();
    assert!(
        err.contains("20000..21203"),
        "message names the valid range: {err}"
    );
}

#[test]
fn not_a_model() {
    for bytes in [
        &b"hello, this is a text file\n"[..],
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        b"\x0b",
    ] {
        let err = SentencePieceModel::from_bytes(bytes).unwrap_err();
        assert!(
            matches!(err, IcetkError::NotAModel { .. }),
            "{bytes:?}: {err}"
        );
    }
    let model = common::model_bytes();
    for cut in [1, 100, model.len() / 2, model.len() - 1] {
        let err = TextTokenizer::from_bytes(&model[..cut]).unwrap_err();
        assert!(
            matches!(err, IcetkError::NotAModel { .. }),
            "truncated at {cut}: {err}"
        );
    }
}

#[test]
fn empty_vocabulary() {
    assert!(matches!(
        SentencePieceModel::from_bytes(&[]),
        Err(IcetkError::EmptyVocabulary)
    ));
    // A model with a trainer spec but no pieces.
    assert!(matches!(
        SentencePieceModel::from_bytes(&[0x12, 0x02, 0x18, 0x01]),
        Err(IcetkError::EmptyVocabulary)
    ));
}

/// The fixture model with one more `trainer_spec` record appended; protobuf merges it into the first.
fn with_trainer_field(field: &[u8]) -> Vec<u8> {
    let mut bytes = common::model_bytes();
    bytes.push(0x12);
    bytes.push(field.len() as u8);
    bytes.extend_from_slice(field);
    bytes
}

#[test]
fn unsupported_model_types_are_rejected() {
    for (value, name) in [(2u8, "BPE"), (3, "WORD"), (4, "CHAR"), (9, "unknown (9)")] {
        let err = SentencePieceModel::from_bytes(&with_trainer_field(&[0x18, value])).unwrap_err();
        match &err {
            IcetkError::UnsupportedModelType { model_type } => assert_eq!(model_type, name),
            other => panic!("model type {value}: expected UnsupportedModelType, got {other}"),
        }
    }
    // The unchanged model, re-merged with UNIGRAM, still loads.
    assert!(SentencePieceModel::from_bytes(&with_trainer_field(&[0x18, 0x01])).is_ok());
}

#[test]
fn unsupported_options_are_rejected() {
    // trainer_spec.treat_whitespace_as_suffix = true (field 24).
    let err = SentencePieceModel::from_bytes(&with_trainer_field(&[0xc0, 0x01, 0x01])).unwrap_err();
    assert!(
        matches!(
            err,
            IcetkError::UnsupportedOption {
                option: "trainer_spec.treat_whitespace_as_suffix"
            }
        ),
        "{err}"
    );
}

#[test]
fn invalid_models() {
    // Adding a token that already exists (the user-defined `<n>`) fails and leaves the tokenizer intact.
    let mut tok = common::ice_tokenizer();
    let before = tok.num_tokens();
    let err = tok
        .text_tokenizer_mut()
        .add_special_tokens(&["<x>", "<n>"])
        .unwrap_err();
    assert!(
        matches!(&err, IcetkError::InvalidModel(m) if m.contains("<n>")),
        "{err}"
    );
    assert_eq!(tok.num_tokens(), before);
    // CogView2's specials cannot be added twice.
    assert!(matches!(
        IceTokenizer::from_text_tokenizer(tok.text_tokenizer().clone()),
        Err(IcetkError::InvalidModel(_))
    ));
    // trainer_spec.byte_fallback = true without the 256 byte pieces.
    let err = SentencePieceModel::from_bytes(&with_trainer_field(&[0x98, 0x02, 0x01])).unwrap_err();
    assert!(
        matches!(&err, IcetkError::InvalidModel(m) if m.contains("256")),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let err = IceTokenizer::from_file("/nonexistent/ice_text.model").unwrap_err();
    assert!(matches!(err, IcetkError::Io { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/ice_text.model"));
}
