//! Agreement with the official Python `sentencepiece` (0.2.3) beyond the fixture: 1 000 seeded random
//! hostile strings (control characters, combining marks, emoji, special tokens, every kind of blank) and the
//! 1 MiB benchmark corpus, whose 342 004 ids are compared through their count and FNV-1a hash (long inputs
//! are where path-score precision decides ties). Data written by tests/data/gen_crosscheck.py on the
//! icetk_text fixture model with CogView2's special tokens. Tolerance: exact.

use serde_json::Value;

mod common;
#[path = "../benches/corpus.rs"]
mod corpus;

fn data() -> Value {
    let text = include_str!("data/sentencepiece_crosscheck.json");
    serde_json::from_str(text).expect("crosscheck data is JSON")
}

#[test]
fn random_strings_match_python_sentencepiece() {
    let tok = common::ice_tokenizer();
    let sp = tok.text_tokenizer().sentencepiece();
    let data = data();
    let cases = data["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1000);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let pieces: Vec<&str> = case["pieces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let encoded = sp.encode_pieces(text);
        let ok = encoded.iter().map(|p| p.id).eq(ids.iter().copied())
            && encoded
                .iter()
                .map(|p| p.piece.as_str())
                .eq(pieces.iter().copied())
            && sp.normalize(text) == case["normalized"].as_str().unwrap()
            && sp.decode(&ids).unwrap() == case["decoded"].as_str().unwrap();
        if !ok {
            failures.push(format!("{text:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ: {}",
        failures.len(),
        failures.join(", ")
    );
}

#[test]
fn one_mebibyte_corpus_matches_python_sentencepiece() {
    let tok = common::ice_tokenizer();
    let sp = tok.text_tokenizer().sentencepiece();
    let expected = &data()["corpus"];
    let document = corpus::build(1 << 20);
    assert_eq!(document.len() as u64, expected["bytes"].as_u64().unwrap());
    assert_eq!(
        format!("{:016x}", corpus::fnv1a64(document.as_bytes())),
        expected["fnv1a64"].as_str().unwrap()
    );
    let ids = sp.encode(&document);
    assert_eq!(ids.len() as u64, expected["num_ids"].as_u64().unwrap());
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    assert_eq!(
        format!("{:016x}", corpus::fnv1a64(&bytes)),
        expected["ids_fnv1a64"].as_str().unwrap()
    );
}
