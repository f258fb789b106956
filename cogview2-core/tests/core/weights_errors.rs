//! Strict weight loading: corrupt, truncated, renamed, reshaped, retyped, incomplete or over-full files are typed
//! errors naming the tensor and the file; f16 and bf16 files load.

use std::collections::BTreeMap;

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{AttentionBias, CogLm, CogLmConfig, CoreError, SafetensorsWeights, TextToImageLayout};
use cogview2_fixtures as fx;
use safetensors::tensor::{Dtype, TensorView};

type B = NdArray;
const FIXTURE: &str = "coglm_forward";

/// The fixture's weights as name → (dtype, shape, bytes).
fn tensors() -> BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fx::dir(FIXTURE).join("weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(k, v)| (k, (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect()
}

fn serialize(t: &BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let views: Vec<(String, TensorView)> =
        t.iter().map(|(k, (d, s, b))| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, &None).unwrap()
}

fn config() -> CogLmConfig {
    CogLmConfig::from_json_file(fx::dir(FIXTURE).join("config.json")).unwrap()
}

fn load(bytes: Vec<u8>) -> Result<CogLm<B>, CoreError> {
    let weights = SafetensorsWeights::from_bytes(bytes, "test.safetensors")?;
    CogLm::from_weights(&config(), weights, &Default::default())
}

const QKV: &str = "transformer.layers.1.attention.query_key_value.weight";

#[test]
fn truncated_and_corrupt_files_are_rejected() {
    let bytes = serialize(&tensors());
    let err = load(bytes[..bytes.len() - 100].to_vec()).unwrap_err();
    assert!(matches!(err, CoreError::InvalidWeightsFile { .. }), "{err}");
    assert!(err.to_string().contains("test.safetensors"));
    assert!(matches!(load(b"not a safetensors file".to_vec()), Err(CoreError::InvalidWeightsFile { .. })));
    assert!(matches!(load(vec![]), Err(CoreError::InvalidWeightsFile { .. })));
    let missing = SafetensorsWeights::open("/nonexistent/weights.safetensors").unwrap_err();
    assert!(matches!(missing, CoreError::Io { .. }));
}

#[test]
fn a_renamed_tensor_is_missing_under_its_official_name() {
    let mut t = tensors();
    let v = t.remove(QKV).unwrap();
    t.insert("transformer.layers.1.attention.qkv.weight".into(), v);
    match load(serialize(&t)) {
        Err(CoreError::MissingTensor { name, file }) => {
            assert_eq!(name, QKV);
            assert_eq!(file, "test.safetensors");
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn a_left_over_tensor_is_unexpected() {
    let mut t = tensors();
    let v = t[QKV].clone();
    t.insert("mixins.extra.weight".into(), v);
    match load(serialize(&t)) {
        Err(CoreError::UnexpectedTensors { count, first, .. }) => {
            assert_eq!(count, 1);
            assert_eq!(first, "mixins.extra.weight");
        }
        other => panic!("expected UnexpectedTensors, got {other:?}"),
    }
}

#[test]
fn wrong_shapes_and_dtypes_name_the_tensor() {
    let mut t = tensors();
    let (d, shape, bytes) = t[QKV].clone();
    t.insert(QKV.into(), (d, vec![shape[1], shape[0]], bytes));
    match load(serialize(&t)) {
        Err(CoreError::ShapeMismatch { name, expected, found, .. }) => {
            assert_eq!(name, QKV);
            assert_eq!(expected, shape);
            assert_eq!(found, vec![shape[1], shape[0]]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }

    let mut t = tensors();
    let (_, shape, bytes) = t[QKV].clone();
    let ints: Vec<u8> = bytes.chunks_exact(4).flat_map(|_| 7i64.to_le_bytes()).collect();
    t.insert(QKV.into(), (Dtype::I64, shape, ints));
    match load(serialize(&t)) {
        Err(CoreError::UnsupportedDtype { name, dtype, .. }) => {
            assert_eq!(name, QKV);
            assert_eq!(dtype, "I64");
        }
        other => panic!("expected UnsupportedDtype, got {other:?}"),
    }

    let mut wrong = config();
    wrong.hidden_size = 32;
    wrong.num_attention_heads = 2;
    let weights = SafetensorsWeights::from_bytes(serialize(&tensors()), "test.safetensors").unwrap();
    assert!(matches!(CogLm::<B>::from_weights(&wrong, weights, &Default::default()), Err(CoreError::ShapeMismatch { .. })));
}

fn logits(model: &CogLm<B>) -> Vec<f32> {
    let io = fx::tensors(FIXTURE, "io.safetensors");
    let device = Default::default();
    let len = io["tokens"].shape[1];
    let cfg = fx::config(FIXTURE);
    let t = fx::config_usize(&cfg, "text_len");
    let layout = TextToImageLayout::new(t, len - t - 1, 1.4);
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(io["tokens"].i.clone(), [1, len]), &device);
    let bias: AttentionBias<B> = layout.bias_for_rows(0..len, &device);
    model.forward(tokens, layout.position_tensor(&device), &bias).unwrap().into_data().to_vec().unwrap()
}

#[test]
fn half_precision_files_load_and_agree() {
    let reference = logits(&load(serialize(&tensors())).unwrap());
    for (dtype, convert) in [
        (Dtype::F16, (|x: f32| half::f16::from_f32(x).to_le_bytes()) as fn(f32) -> [u8; 2]),
        (Dtype::BF16, |x: f32| half::bf16::from_f32(x).to_le_bytes()),
    ] {
        let t: BTreeMap<_, _> = tensors()
            .into_iter()
            .map(|(k, (_, s, b))| {
                let half: Vec<u8> =
                    b.chunks_exact(4).flat_map(|c| convert(f32::from_le_bytes(c.try_into().unwrap()))).collect();
                (k, (dtype, s, half))
            })
            .collect();
        let got = logits(&load(serialize(&t)).unwrap());
        // Weight rounding only (compute stays f32): f16 keeps 11 bits, bf16 8.
        let tol = if dtype == Dtype::F16 { 0.02 } else { 0.2 };
        fx::assert_close(&format!("{dtype:?} weights"), &got, &reference, tol);
        assert!(fx::max_abs_diff(&got, &reference) > 0.0, "{dtype:?} rounding should be visible");
    }
}
