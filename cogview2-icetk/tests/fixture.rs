//! Parity with the official icetk + sentencepiece outputs in the `icetk_text` fixture.
//! Fixture root: COGVIEW2_FIXTURES (default ../shared/fixtures from the repository root); a missing fixture
//! fails the test. Tolerance: exact (ids, pieces and strings), as the fixture README states.

use cogview2_icetk::{IceTokenizer, PieceType, COGVIEW2_SPECIAL_TOKENS};
use common::fixture_dir;
use serde_json::Value;

mod common;

fn read_json(name: &str) -> Value {
    let path = format!("{}/{name}", fixture_dir());
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path} missing: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path} is not JSON: {e}"))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("u32 id"))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("string list")
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

fn tokenizer(config: &Value) -> IceTokenizer {
    let tokenizer = IceTokenizer::from_file(common::model_path()).expect("load ice_text.model");
    assert_eq!(
        u64::from(tokenizer.num_image_tokens()),
        config["num_image_tokens"]
            .as_u64()
            .expect("num_image_tokens"),
        "this fixture uses the default image-token count"
    );
    tokenizer
}

#[test]
fn model_shape_matches_config() {
    let config = read_json("config.json");
    let tok = tokenizer(&config);
    let sp = tok.text_tokenizer().sentencepiece();
    assert_eq!(
        sp.vocab_size() as u64,
        config["sp_vocab_size_after_specials"].as_u64().unwrap()
    );
    assert_eq!(
        (sp.vocab_size() - COGVIEW2_SPECIAL_TOKENS.len()) as u64,
        config["sp_vocab_size_before_specials"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(tok.num_tokens()),
        config["num_tokens"].as_u64().unwrap()
    );
    let proto = sp.proto();
    assert_eq!(
        proto.trainer_spec.model_type.name().to_lowercase(),
        config["trainer_options"]["model_type"].as_str().unwrap()
    );
    let user_defined: Vec<&str> = proto
        .pieces
        .iter()
        .filter(|p| p.kind == PieceType::UserDefined)
        .map(|p| p.piece.as_str())
        .collect();
    assert_eq!(
        user_defined,
        strings(&config["trainer_options"]["user_defined_symbols"])
    );
    assert_eq!(proto.normalizer_spec.name, "nmt_nfkc");
    assert_eq!(
        strings(&config["special_tokens_added"]),
        COGVIEW2_SPECIAL_TOKENS
    );
    // Debug output names the sizes instead of dumping the vocabulary.
    for debug in [format!("{tok:?}"), format!("{sp:?}"), format!("{proto:?}")] {
        assert!(debug.len() < 600, "Debug is {} bytes: {debug}", debug.len());
    }
    assert!(format!("{tok:?}").contains("21203"));
}

#[test]
fn special_ids() {
    let config = read_json("config.json");
    let tok = tokenizer(&config);
    let specials = config["special_ids"].as_object().expect("special_ids");
    assert!(!specials.is_empty());
    for (token, id) in specials {
        let id = u32::try_from(id.as_u64().unwrap()).unwrap();
        assert_eq!(
            tok.token_to_id(token).unwrap(),
            id,
            "token_to_id({token:?})"
        );
        assert_eq!(
            tok.id_to_token(id).unwrap(),
            token.as_str(),
            "id_to_token({id})"
        );
    }
    assert_eq!(
        u64::from(tok.start_of_image()),
        specials["<start_of_image>"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(tok.start_of_english()),
        specials["<start_of_english>"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(tok.start_of_chinese()),
        specials["<start_of_chinese>"].as_u64().unwrap()
    );
}

#[test]
fn id_to_token_table() {
    let config = read_json("config.json");
    let tok = tokenizer(&config);
    let table = read_json("cases.json")["id_to_token"]
        .as_object()
        .expect("id_to_token")
        .clone();
    assert!(!table.is_empty());
    for (id, token) in &table {
        let id: u32 = id.parse().expect("numeric id key");
        let token = token.as_str().unwrap();
        assert_eq!(tok.id_to_token(id).unwrap(), token, "id_to_token({id})");
        if !token.starts_with("<image_") {
            assert_eq!(
                tok.token_to_id(token).unwrap(),
                id,
                "token_to_id({token:?})"
            );
        }
    }
}

#[test]
fn every_case_matches_exactly() {
    let config = read_json("config.json");
    let tok = tokenizer(&config);
    let cases = read_json("cases.json")["cases"]
        .as_array()
        .expect("cases")
        .clone();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().expect("text");
        let mut check = |field: &str, ok: bool, got: String| {
            if !ok {
                failures.push(format!(
                    "case {i} {text:?} {field}: got {got}, expected {}",
                    case[field]
                ));
            }
        };
        let got = tok.encode(text);
        check("ids", got == ids(&case["ids"]), format!("{got:?}"));
        let got = tok.encode_with(text, false);
        check(
            "ids_ignore_linebreak_false",
            got == ids(&case["ids_ignore_linebreak_false"]),
            format!("{got:?}"),
        );
        let got = tok.tokenize(text);
        check(
            "pieces",
            got == strings(&case["pieces"]),
            format!("{got:?}"),
        );
        let got = tok.decode(&ids(&case["ids"])).unwrap();
        check(
            "decoded",
            got == case["decoded"].as_str().unwrap(),
            format!("{got:?}"),
        );
        let got = tok
            .decode(&ids(&case["ids_ignore_linebreak_false"]))
            .unwrap();
        check(
            "decoded_nl",
            got == case["decoded_nl"].as_str().unwrap(),
            format!("{got:?}"),
        );
        let got = tok.encode_bytes(text.as_bytes(), true).unwrap();
        check(
            "ids",
            got == ids(&case["ids"]),
            format!("encode_bytes {got:?}"),
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "icetk_text: all {} cases match (5 fields each)",
        cases.len()
    );
}
