//! ITERSR + LoPAR against the `itersr_lopar` fixture (official `ItersrModel` driven by the loop of
//! `IterativeSuperResolution.__call__`, argmax instead of top-k): the tiled pattern, every iteration's masked input
//! and tokens exact, `logits_hires` abs 1e-4.

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_fixtures as fx;
use cogview2_sr::{ItersrConfig, ItersrModel, LoparPattern, LoparSchedule, SrError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type B = NdArray;
const TOL: f32 = 1e-4;
const NAME: &str = "itersr_lopar";

fn model() -> ItersrModel<B> {
    ItersrModel::from_dir(fx::dir(NAME), &Default::default()).expect("ITERSR fixture model loads")
}

fn ids(values: &[i64]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len()]), &Default::default())
}

fn ints(t: &Tensor<B, 2, Int>) -> Vec<i64> {
    t.to_data().convert::<i64>().to_vec().unwrap()
}

fn argmax_rows(logits: &[f32], width: usize) -> Vec<i64> {
    logits
        .chunks_exact(width)
        .map(|row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = i;
                }
            }
            best as i64
        })
        .collect()
}

#[test]
fn tiled_pattern_reproduces_the_official_mask_and_config_matches() {
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let config = ItersrConfig::from_json_file(fx::dir(NAME).join("config.json")).unwrap();
    let tiled = LoparPattern::official().tile(config.hi_grid).unwrap();
    assert_eq!(tiled.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(), io["mask_raw"].i);
    assert_eq!(LoparSchedule::official().iterations(), fx::config_usize(&cfg, "iterations"));
    assert_eq!(config.layout[1] - config.layout[0], config.num_hires());
}

#[test]
fn every_iteration_matches_the_official_loop() {
    let model = model();
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let text = &io["text_tokens"].i;
    let soi = model.config().start_of_image_id;
    let width = model.config().base.num_image_tokens;
    let schedule = LoparSchedule::official_argmax();
    let masks = schedule.masks(model.config().hi_grid, None).unwrap();
    assert_eq!(masks.len(), fx::config_usize(&cfg, "iterations"));

    // Each iteration from the fixture's own state: masked input, logits, tokens.
    let mut current = io["input_hires_tokens"].i.clone();
    for (r, mask) in (1..).zip(&masks) {
        let masked: Vec<i64> = current.iter().zip(mask).map(|(&t, &m)| if m { soi } else { t }).collect();
        assert_eq!(masked, io[&format!("iter{r}.masked_input")].i, "iteration {r}: masked input");
        let logits: Vec<f32> = model.logits(text, ids(&masked), None).unwrap().into_data().to_vec().unwrap();
        close(&format!("iter{r}.logits_hires"), &logits, &io[&format!("iter{r}.logits_hires")].f, TOL);
        let best = argmax_rows(&logits, width);
        let tokens: Vec<i64> = masked.iter().zip(&best).map(|(&t, &b)| if t == soi { b } else { t }).collect();
        assert_eq!(tokens, io[&format!("iter{r}.tokens")].i, "iteration {r}: tokens");
        current = io[&format!("iter{r}.tokens")].i.clone();
    }

    // The public refinement, free-running from the input, reproduces every iteration.
    let mut seen = 0;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let out = model
        .refine(text, ids(&io["input_hires_tokens"].i), &schedule, None, &mut rng, &mut |step| {
            let r = step.iteration;
            assert_eq!(ints(step.masked_input), io[&format!("iter{r}.masked_input")].i, "refine iteration {r}: masked input");
            assert_eq!(ints(step.tokens), io[&format!("iter{r}.tokens")].i, "refine iteration {r}: tokens");
            seen += 1;
        })
        .unwrap();
    assert_eq!(seen, masks.len());
    assert_eq!(ints(&out), io[&format!("iter{}.tokens", masks.len())].i);
}

#[test]
fn input_mask_keeps_cells_outside_it_and_sampling_is_seeded() {
    let model = model();
    let io = fx::tensors(NAME, "io.safetensors");
    let text = &io["text_tokens"].i;
    let input = &io["input_hires_tokens"].i;
    let n = input.len();
    let batch = Tensor::cat(vec![ids(input), ids(input)], 0);
    let region: Vec<bool> = (0..n).map(|i| i < n / 2).collect();
    let schedule = LoparSchedule::official();
    let run = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ints(&model.refine(text, batch.clone(), &schedule, Some(&region), &mut rng, &mut |_| {}).unwrap())
    };
    let out = run(7);
    assert_eq!(out, run(7), "same seed, same tokens");
    for (i, &t) in out.iter().enumerate() {
        let cell = i % n;
        if !region[cell] {
            assert_eq!(t, input[cell], "cell {cell} outside the input mask changed");
        }
        assert!((0..model.config().base.num_image_tokens as i64).contains(&t));
    }
    assert!(matches!(
        model.refine(text, batch, &schedule, Some(&region[1..]), &mut ChaCha8Rng::seed_from_u64(0), &mut |_| {}),
        Err(SrError::GridMismatch { .. })
    ));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = model();
    let io = fx::tensors(NAME, "io.safetensors");
    let input = &io["input_hires_tokens"].i;
    let schedule = LoparSchedule::official_argmax();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut run = |text: &[i64], hires: &[i64]| model.refine(text, ids(hires), &schedule, None, &mut rng, &mut |_| {});
    assert!(matches!(run(&io["text_tokens"].i, &input[..10]), Err(SrError::GridMismatch { .. })));
    let mut bad = input.clone();
    bad[5] = model.config().start_of_image_id;
    assert!(matches!(run(&io["text_tokens"].i, &bad), Err(SrError::TokenOutOfRange { index: 5, .. })));
    assert!(matches!(run(&[1_000_000], input), Err(SrError::TokenOutOfRange { what: "text", .. })));
    // Long prompts are truncated to the text slots, not rejected (official behaviour).
    let long = vec![1i64; model.config().text_region() + 5];
    assert!(run(&long, input).is_ok());
}

/// [`fx::assert_close`], reporting the largest difference (`--nocapture` shows it).
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    eprintln!("{what}: max |diff| = {:e}", fx::max_abs_diff(got, want));
    fx::assert_close(what, got, want, tol);
}
