//! Fixture loading shared by the integration tests: root from COGVIEW2_FIXTURES, default
//! ../shared/fixtures from the repository root; a missing fixture fails the test.
// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

use cogview2_icetk::IceTokenizer;

/// Directory of the `icetk_text` fixture.
pub fn fixture_dir() -> String {
    let root = std::env::var("COGVIEW2_FIXTURES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures").to_string()
    });
    format!("{root}/icetk_text")
}

/// Path of the fixture model.
pub fn model_path() -> String {
    format!("{}/ice_text.model", fixture_dir())
}

/// Bytes of the fixture model.
pub fn model_bytes() -> Vec<u8> {
    let path = model_path();
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path} missing: {e}"))
}

/// The fixture model with CogView2's special tokens.
pub fn ice_tokenizer() -> IceTokenizer {
    IceTokenizer::from_bytes(&model_bytes()).expect("load the icetk_text fixture model")
}
