//! PB-relax is an identity in exact arithmetic: equal to the plain path in f32 (abs 1e-4 on the fixture model's
//! logits), and finite in f16 where the plain path overflows (attention scores and LayerNorm inputs).

use burn::backend::{Flex, NdArray};
use burn::tensor::{DType, Distribution, FloatDType, Int, Tensor, TensorData};
use cogview2_core::attention::{attention_probs, AttentionBias};
use cogview2_core::layernorm::layer_norm;
use cogview2_core::{CogLm, CogLmConfig, PbRelax};
use cogview2_fixtures as fx;

#[test]
fn pb_relax_equals_the_plain_path_in_f32() {
    let name = "coglm_forward";
    let dir = fx::dir(name);
    let device = Default::default();
    let plain_cfg = CogLmConfig::from_json_file(dir.join("config.json")).unwrap();
    let relaxed_cfg = plain_cfg.clone().with_pb_relax(Some(PbRelax { alpha: 32.0 }));
    let weights = dir.join("weights.safetensors");
    let plain = CogLm::<NdArray>::from_safetensors(&plain_cfg, &weights, &device).unwrap();
    let relaxed = CogLm::<NdArray>::from_safetensors(&relaxed_cfg, &weights, &device).unwrap();

    let io = fx::tensors(name, "io.safetensors");
    let len = io["tokens"].shape[1];
    let tokens = Tensor::<NdArray, 2, Int>::from_data(TensorData::new(io["tokens"].i.clone(), [1, len]), &device);
    let positions = Tensor::<NdArray, 2, Int>::from_data(TensorData::new(io["position_ids"].i.clone(), [1, len]), &device);
    let bias = AttentionBias {
        mask: Some(Tensor::from_data(TensorData::new(io["attention_mask"].f.clone(), [1, 1, len, len]), &device)),
        log_weights: Some(Tensor::from_data(TensorData::new(io["log_attention_weights"].f.clone(), [len, len]), &device)),
    };
    let a: Vec<f32> = plain.forward(tokens.clone(), positions.clone(), &bias).unwrap().into_data().to_vec().unwrap();
    let b: Vec<f32> = relaxed.forward(tokens, positions, &bias).unwrap().into_data().to_vec().unwrap();
    fx::assert_close("PB-relax vs plain logits", &b, &a, 1e-4);
    fx::assert_close("PB-relax logits vs official", &b, &io["logits_with_attn_plus"].f, 1e-4);
}

fn finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

fn to_f32<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.cast(FloatDType::F32).into_data().convert::<f32>().to_vec().unwrap()
}

#[test]
fn pb_relax_attention_stays_finite_in_f16_where_plain_overflows() {
    let device = Default::default();
    // |q·k| / sqrt(64) reaches ≈ 1e5 here, beyond f16's 65504.
    let q = Tensor::<Flex, 4>::random([1, 2, 8, 64], Distribution::Uniform(90.0, 100.0), &device);
    let k = Tensor::<Flex, 4>::random([1, 2, 8, 64], Distribution::Uniform(90.0, 100.0), &device);
    let (q16, k16) = (q.cast(FloatDType::F16), k.cast(FloatDType::F16));
    assert_eq!(q16.dtype(), DType::F16);

    let plain = to_f32(attention_probs(q16.clone(), k16.clone(), &AttentionBias::default(), None));
    assert!(!finite(&plain), "the plain path must overflow in f16 on these inputs for this test to mean anything");
    let relaxed = attention_probs(q16, k16, &AttentionBias::default(), Some(32.0));
    assert_eq!(relaxed.dtype(), DType::F16, "computed in half precision");
    let relaxed = to_f32(relaxed);
    assert!(finite(&relaxed), "PB-relax attention overflowed in f16");
    for row in relaxed.chunks(8) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-2, "a row of probabilities sums to {sum}");
    }

    // Where f16 does not overflow, the relaxed f16 path agrees with f32.
    let q = Tensor::<Flex, 4>::random([1, 2, 8, 64], Distribution::Uniform(-1.0, 1.0), &device);
    let k = Tensor::<Flex, 4>::random([1, 2, 8, 64], Distribution::Uniform(-1.0, 1.0), &device);
    let reference = to_f32(attention_probs(q.clone(), k.clone(), &AttentionBias::default(), None));
    let relaxed = to_f32(attention_probs(q.cast(FloatDType::F16), k.cast(FloatDType::F16), &AttentionBias::default(), Some(32.0)));
    fx::assert_close("f16 PB-relax probs vs f32", &relaxed, &reference, 1e-2);
}

#[test]
fn pb_relax_layernorm_stays_finite_in_f16_where_plain_overflows() {
    let device = Default::default();
    let x = Tensor::<Flex, 2>::random([4, 64], Distribution::Uniform(-2000.0, 2000.0), &device);
    let (w, b) = (Tensor::<Flex, 1>::ones([64], &device), Tensor::<Flex, 1>::zeros([64], &device));
    let reference = to_f32(layer_norm(x.clone(), w.clone(), b.clone(), 1e-5, None));
    let (x16, w16, b16) = (x.cast(FloatDType::F16), w.cast(FloatDType::F16), b.cast(FloatDType::F16));

    let plain = to_f32(layer_norm(x16.clone(), w16.clone(), b16.clone(), 1e-5, None));
    assert!(!finite(&plain) || fx::max_abs_diff(&plain, &reference) > 0.5, "plain f16 LayerNorm should break on |x| ~ 2000");
    let relaxed = to_f32(layer_norm(x16, w16, b16, 1e-5, Some(32.0)));
    assert!(finite(&relaxed));
    fx::assert_close("f16 PB-relax LayerNorm vs f32", &relaxed, &reference, 0.02);
}
