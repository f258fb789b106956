//! The DSR model against the `dsr` fixture (official `DsrModel` driven by `filling_sequence_dsr`, argmax instead of
//! sampling): input layout exact, `logits` and `hidden_after_layer0` abs 1e-4, `hires_tokens` exact.

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{CoreError, Sampler, SafetensorsWeights};
use cogview2_fixtures as fx;
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel, SrError};

type B = NdArray;
const TOL: f32 = 1e-4;
const NAME: &str = "dsr";

fn model() -> DsrModel<B> {
    DsrModel::from_dir(fx::dir(NAME), &Default::default()).expect("DSR fixture model loads")
}

fn ids(values: &[i64]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len()]), &Default::default())
}

fn floats<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

#[test]
fn config_comes_from_the_fixture() {
    let cfg = fx::config(NAME);
    let config = DsrConfig::from_json_file(fx::dir(NAME).join("config.json")).unwrap();
    let layout: Vec<usize> = cfg["layout"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(config.layout.to_vec(), layout);
    assert_eq!(config.new_sequence_length, fx::config_usize(&cfg, "new_sequence_length"));
    assert_eq!(config.num_lowres(), layout[1] - layout[0]);
    assert_eq!(config.num_hires(), layout[2] - layout[1]);
}

#[test]
fn dsr_matches_official_layout_logits_hidden_and_tokens() {
    let model = model();
    let io = fx::tensors(NAME, "io.safetensors");
    let text = &io["text_tokens"].i;
    let lowres = &io["lowres_tokens"].i;

    let (layout, tokens) = model.input_tokens(text, ids(lowres)).unwrap();
    assert_eq!(tokens.into_data().convert::<i64>().to_vec::<i64>().unwrap(), io["input_tokens"].i);
    assert_eq!(layout.position_ids, io["position_ids"].i);
    assert_eq!(layout.level0_mask, io["attention_mask"].f);
    assert!(io["log_attention_weights"].f.iter().all(|&w| w == 0.0), "DSR has no log-attention bias");

    let (logits, hidden) = model.forward_all(text, ids(lowres)).unwrap();
    close("hidden_after_layer0", &floats(hidden[0].clone()), &io["hidden_after_layer0"].f, TOL);
    close("logits", &floats(logits.clone()), &io["logits"].f, TOL);

    // The sampled rows are exactly the hi-res rows of the full forward.
    let hires = model.hires_logits(text, ids(lowres)).unwrap();
    let [b, len, v] = logits.dims();
    let t1 = model.config().layout[1];
    close("hires_logits", &floats(hires), &floats(logits.slice([0..b, t1..len, 0..v])), 1e-6);

    let argmax = Sampler::Argmax.to_device::<B>(model.config().base.num_image_tokens, &Default::default()).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let sampled = model.sample(text, ids(lowres), &argmax, &mut rng).unwrap();
    assert_eq!(sampled.into_data().convert::<i64>().to_vec::<i64>().unwrap(), io["hires_tokens"].i);
}

#[test]
fn batched_forward_equals_single_forwards() {
    let model = model();
    let io = fx::tensors(NAME, "io.safetensors");
    let text = &io["text_tokens"].i;
    let a = io["lowres_tokens"].i.clone();
    let b: Vec<i64> = a.iter().rev().copied().collect();
    let both = Tensor::cat(vec![ids(&a), ids(&b)], 0);
    let batched = floats(model.hires_logits(text, both).unwrap());
    let half = batched.len() / 2;
    close("batch row 0", &batched[..half], &floats(model.hires_logits(text, ids(&a)).unwrap()), 1e-5);
    close("batch row 1", &batched[half..], &floats(model.hires_logits(text, ids(&b)).unwrap()), 1e-5);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = model();
    let io = fx::tensors(NAME, "io.safetensors");
    let lowres = &io["lowres_tokens"].i;
    let max = model.config().max_text_len();
    let long = vec![1i64; max + 1];
    assert!(matches!(
        model.hires_logits(&long, ids(lowres)),
        Err(SrError::TextTooLong { txt_len, max: m }) if txt_len == max + 1 && m == max
    ));
    assert!(model.layout(max).is_ok());
    assert!(matches!(
        model.hires_logits(&io["text_tokens"].i, ids(&lowres[1..])),
        Err(SrError::GridMismatch { .. })
    ));
    let mut bad = lowres.clone();
    bad[3] = model.config().base.num_image_tokens as i64;
    assert!(matches!(
        model.hires_logits(&io["text_tokens"].i, ids(&bad)),
        Err(SrError::TokenOutOfRange { index: 3, .. })
    ));
    assert!(matches!(
        model.hires_logits(&[-1], ids(lowres)),
        Err(SrError::TokenOutOfRange { what: "text", .. })
    ));
}

#[test]
fn weights_load_strictly() {
    let device = Default::default();
    let path = fx::dir(NAME).join("weights.safetensors");
    // ITERSR has no attention_plus: the DSR file has tensors it does not use.
    let itersr_config = ItersrConfig::from_json_file(fx::dir("itersr_lopar").join("config.json")).unwrap();
    assert!(matches!(
        ItersrModel::<B>::from_safetensors(&itersr_config, &path, &device),
        Err(SrError::Core(CoreError::UnexpectedTensors { .. }))
    ));
    // The ITERSR file lacks the attention_plus tensors DSR needs.
    let dsr_config = DsrConfig::from_json_file(fx::dir(NAME).join("config.json")).unwrap();
    let itersr_weights = fx::dir("itersr_lopar").join("weights.safetensors");
    assert!(matches!(
        DsrModel::<B>::from_safetensors(&dsr_config, itersr_weights, &device),
        Err(SrError::Core(CoreError::MissingTensor { .. }))
    ));
    // Every DSR tensor is consumed.
    let mut weights = SafetensorsWeights::open(&path).unwrap();
    DsrModel::<B>::load(&dsr_config, &mut weights, &device).unwrap();
    assert_eq!(weights.remaining_names().count(), 0);
}

/// [`fx::assert_close`], reporting the largest difference (`--nocapture` shows it).
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    eprintln!("{what}: max |diff| = {:e}", fx::max_abs_diff(got, want));
    fx::assert_close(what, got, want, tol);
}
