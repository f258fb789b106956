//! Test-only access to the numerical fixtures produced by the official CogView2 code.
//!
//! The root is `$COGVIEW2_FIXTURES`, or `../shared/fixtures` beside the repository. A missing fixture is a test
//! failure (these functions panic with the path and the fix), never a skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

/// The fixture root: `$COGVIEW2_FIXTURES`, else `<repo>/../shared/fixtures`.
pub fn root() -> PathBuf {
    match std::env::var_os("COGVIEW2_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// The folder of one fixture; panics (fails the test) if it does not exist.
pub fn dir(name: &str) -> PathBuf {
    let dir = root().join(name);
    assert!(
        dir.is_dir(),
        "fixture {name} not found at {}: set COGVIEW2_FIXTURES to the fixture root",
        dir.display()
    );
    dir
}

/// A fixture's `config.json`.
pub fn config(name: &str) -> serde_json::Value {
    let path = dir(name).join("config.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// An integer entry of a config.
pub fn config_usize(config: &serde_json::Value, key: &str) -> usize {
    config[key]
        .as_u64()
        .unwrap_or_else(|| panic!("config key {key} missing or not an integer")) as usize
}

/// A tensor of a fixture file: its shape and its values as f64 (floats) or i64 (ints).
#[derive(Debug, Clone)]
pub struct Array {
    /// Shape.
    pub shape: Vec<usize>,
    /// Float values (empty for integer tensors).
    pub f: Vec<f32>,
    /// Integer values (empty for float tensors).
    pub i: Vec<i64>,
}

/// Every tensor of `<fixture>/<file>` (e.g. `io.safetensors`).
pub fn tensors(name: &str, file: &str) -> HashMap<String, Array> {
    let path = dir(name).join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{} is not safetensors: {e:?}", path.display()));
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let data = v.data();
            let mut a = Array {
                shape: v.shape().to_vec(),
                f: vec![],
                i: vec![],
            };
            match v.dtype() {
                Dtype::F32 => a.f = data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
                Dtype::I64 => a.i = data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(),
                other => panic!("{k} in {}: unexpected dtype {other:?}", path.display()),
            }
            (k, a)
        })
        .collect()
}

/// Largest absolute difference; panics on a length mismatch.
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// Asserts `|got − want| ≤ tol` elementwise, naming the tensor and the worst element on failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    let (worst, diff) = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0.0f32), |acc, (i, d)| if d > acc.1 || d.is_nan() { (i, d) } else { acc });
    assert!(
        diff <= tol,
        "{what}: max |diff| = {diff:e} at index {worst} (got {}, want {}), tolerance {tol:e}",
        got[worst],
        want[worst]
    );
}

/// A SentencePiece unigram model (identity normaliser) with `<unk>`, `<s>`, `</s>` and then `pieces`, as bytes.
pub fn sentencepiece_model(pieces: &[String]) -> Vec<u8> {
    use cogview2_icetk::{ModelProto, PieceType, SentencePiece};
    let piece = |piece: &str, kind, score| SentencePiece { piece: piece.to_string(), score, kind };
    let mut all = vec![piece("<unk>", PieceType::Unknown, 0.0), piece("<s>", PieceType::Control, 0.0)];
    all.push(piece("</s>", PieceType::Control, 0.0));
    all.extend(pieces.iter().enumerate().map(|(i, p)| piece(p, PieceType::Normal, -1.0 - i as f32 * 0.01)));
    let mut model = ModelProto { pieces: all, ..ModelProto::default() };
    model.normalizer_spec.name = "identity".into();
    model.encode()
}

/// A tokenizer for a model set whose fixtures carry no text model: image ids below `num_image_tokens`, then
/// `pieces` padded with filler words to exactly the count that puts the three appended specials at
/// `start_of_image`, `+1`, `+2`.
pub fn tokenizer_for_id_space(
    num_image_tokens: usize,
    start_of_image: usize,
    pieces: &[&str],
) -> cogview2_icetk::IceTokenizer {
    use cogview2_icetk::{IceTokenizer, SentencePieceModel, TextTokenizer};
    let text_pieces = start_of_image - num_image_tokens - 3;
    let mut all: Vec<String> = pieces.iter().map(|p| p.to_string()).collect();
    let mut filler = 0;
    while all.len() < text_pieces {
        all.push(format!("▁w{filler}"));
        filler += 1;
    }
    assert_eq!(all.len(), text_pieces, "the id space leaves room for {text_pieces} pieces");
    let sp = SentencePieceModel::from_bytes(&sentencepiece_model(&all)).expect("valid model");
    let text = TextTokenizer::new(sp, num_image_tokens as u32).expect("id space fits");
    let tokenizer = IceTokenizer::from_text_tokenizer(text).expect("specials appended");
    assert_eq!(tokenizer.start_of_image() as usize, start_of_image);
    tokenizer
}
