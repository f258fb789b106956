//! CogLM against the official-code fixtures `coglm_forward`, `coglm_generate` and `coglm_generate_batch`.
//! Tolerance: abs 1e-4 on logits and hidden states (the fixtures' README), exact on token ids.

use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{
    generate_image_tokens, image_log_likelihood, image_token_log_probs, AttentionBias, GenerationOptions, ImagePrompt,
    Sampler, Stage1Decoder, TextToImageLayout,
};
use cogview2_fixtures as fx;

use crate::common::{floats, int_tensor, ints, load_with_config as load, B, TOL};

#[test]
fn coglm_forward_matches_official_logits_and_hidden_states() {
    let name = "coglm_forward";
    let (config, model) = load(name);
    let io = fx::tensors(name, "io.safetensors");
    let device = Default::default();
    let len = io["tokens"].shape[1];
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(io["tokens"].i.clone(), [1, len]), &device);
    let positions = Tensor::<B, 2, Int>::from_data(TensorData::new(io["position_ids"].i.clone(), [1, len]), &device);
    let mask = Tensor::<B, 4>::from_data(TensorData::new(io["attention_mask"].f.clone(), [1, 1, len, len]), &device);
    let log_w = Tensor::<B, 2>::from_data(TensorData::new(io["log_attention_weights"].f.clone(), [len, len]), &device);

    // The fixture's inputs are exactly our layout builder's output.
    let cfg = fx::config(name);
    let layout = TextToImageLayout::new(fx::config_usize(&cfg, "text_len"), len - fx::config_usize(&cfg, "text_len") - 1, cfg["attn_plus"].as_f64().unwrap() as f32);
    assert_eq!(layout.position_ids, io["position_ids"].i);
    assert_eq!(layout.attention_mask, io["attention_mask"].f);
    assert_eq!(layout.log_attention_weights, io["log_attention_weights"].f);

    let plain = AttentionBias { mask: Some(mask.clone()), log_weights: None };
    let (logits, hidden) = model.forward_with_hidden_states(tokens.clone(), positions.clone(), &plain).unwrap();
    assert_eq!(logits.dims(), [1, len, config.num_image_tokens]);
    fx::assert_close("logits", &floats(logits), &io["logits"].f, TOL);
    fx::assert_close("hidden_after_layer0", &floats(hidden[0].clone()), &io["hidden_after_layer0"].f, TOL);
    fx::assert_close(
        "hidden_after_last_layer",
        &floats(hidden.last().unwrap().clone()),
        &io["hidden_after_last_layer"].f,
        TOL,
    );

    let biased = AttentionBias { mask: Some(mask), log_weights: Some(log_w) };
    let logits = model.forward(tokens, positions, &biased).unwrap();
    fx::assert_close("logits_with_attn_plus", &floats(logits), &io["logits_with_attn_plus"].f, TOL);
}

fn prompt_of(io: &std::collections::HashMap<String, fx::Array>) -> ImagePrompt {
    let ids = &io["prompt"].i;
    ImagePrompt { text_ids: ids[..ids.len() - 1].to_vec(), start_of_image_id: *ids.last().unwrap() }
}

fn grid_tokens(cfg: &serde_json::Value) -> usize {
    let grid = cfg["image_grid"].as_array().unwrap();
    (grid[0].as_u64().unwrap() * grid[1].as_u64().unwrap()) as usize
}

#[test]
fn coglm_generate_matches_official_greedy_decoding() {
    let name = "coglm_generate";
    let (_, model) = load(name);
    let cfg = fx::config(name);
    let io = fx::tensors(name, "io.safetensors");
    let device = Default::default();
    let prompt = prompt_of(&io);
    let n = grid_tokens(&cfg);
    let attn_plus = cfg["attn_plus"].as_f64().unwrap() as f32;
    assert_eq!(prompt.start_of_image_id as usize, fx::config_usize(&cfg, "start_of_image_id"));

    // The public generation API with the argmax sampler.
    let options = GenerationOptions { sampler: Sampler::Argmax, attn_plus, ..Default::default() };
    let tokens = generate_image_tokens(&model, &prompt, n, &options, &device, &mut |_, _| {}).unwrap();
    assert_eq!(tokens.dims(), [1, n]);
    assert_eq!(ints(tokens), io["generated_image_tokens"].i);

    // The cached step logits themselves.
    let mut decoder = Stage1Decoder::new(&model, &prompt, n, attn_plus, &device).unwrap();
    let mut logits = decoder.prefill().unwrap();
    let mut steps = Vec::new();
    for i in 0..n {
        steps.extend(floats(logits.clone()));
        if i + 1 < n {
            let token = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![io["generated_image_tokens"].i[i]], [1]), &device);
            logits = decoder.step(token).unwrap();
        }
    }
    fx::assert_close("step_logits", &steps, &io["step_logits"].f, TOL);
    assert!(decoder.step(Tensor::zeros([1], &device)).is_err(), "stepping past the grid is an error");
}

/// Index of the rank-`r` logit (stable descending order, ties to the lower index), as the fixture's strategy.
fn rank_choice(row: &[f32], r: usize) -> i64 {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].partial_cmp(&row[a]).unwrap().then(a.cmp(&b)));
    order[r] as i64
}

#[test]
fn coglm_generate_batch_matches_cached_and_uncached_logits() {
    let name = "coglm_generate_batch";
    let (config, model) = load(name);
    let cfg = fx::config(name);
    let io = fx::tensors(name, "io.safetensors");
    let device = Default::default();
    let prompt = prompt_of(&io);
    let n = grid_tokens(&cfg);
    let batch = fx::config_usize(&cfg, "batch");
    let ranks: Vec<usize> = cfg["row_ranks"].as_array().unwrap().iter().map(|r| r.as_u64().unwrap() as usize).collect();
    let attn_plus = cfg["attn_plus"].as_f64().unwrap() as f32;
    let v = config.num_image_tokens;

    let mut decoder = Stage1Decoder::new(&model, &prompt, n, attn_plus, &device).unwrap();
    let mut logits = decoder.prefill().unwrap().repeat_dim(0, batch);
    let mut step_logits = vec![vec![]; batch];
    let mut generated = vec![vec![]; batch];
    for i in 0..n {
        let rows = floats(logits.clone());
        let mut chosen = Vec::new();
        for b in 0..batch {
            let row = &rows[b * v..(b + 1) * v];
            step_logits[b].extend_from_slice(row);
            chosen.push(rank_choice(row, ranks[b]));
        }
        for (b, &t) in chosen.iter().enumerate() {
            generated[b].push(t);
        }
        if i + 1 < n {
            logits = decoder.step(Tensor::from_data(TensorData::new(chosen, [batch]), &device)).unwrap();
        }
    }
    assert_eq!(generated.concat(), io["generated_image_tokens"].i, "generated ids");
    fx::assert_close("step_logits (cached)", &step_logits.concat(), &io["step_logits"].f, TOL);

    // Uncached: one full forward per row over its whole sequence.
    let full = &io["full_sequences"];
    let len = full.shape[1];
    let layout = TextToImageLayout::new(prompt.text_ids.len(), n, attn_plus);
    let t = prompt.text_ids.len();
    let mut uncached = Vec::new();
    for b in 0..batch {
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(full.i[b * len..(b + 1) * len].to_vec(), [1, len]), &device);
        let logits = model.forward(tokens, layout.position_tensor(&device), &layout.bias_for_rows(0..len, &device)).unwrap();
        uncached.extend(floats(logits.slice([0..1, t..t + n, 0..v])));
    }
    fx::assert_close("uncached_logits", &uncached, &io["uncached_logits"].f, TOL);
}

#[test]
fn seeded_generation_is_reproducible_and_returns_every_sample() {
    let (config, model) = load("coglm_generate");
    let io = fx::tensors("coglm_generate", "io.safetensors");
    let device = Default::default();
    let prompt = prompt_of(&io);
    let sampler = Sampler::TopK { k: 20, temperature: 1.0 };
    // 5 samples in chunks of 2: the official loop would drop the fifth.
    let options = GenerationOptions { batch_size: 5, max_inference_batch_size: 2, seed: 7, sampler, ..Default::default() };
    let mut calls = 0;
    let a = ints(generate_image_tokens(&model, &prompt, 16, &options, &device, &mut |_, _| calls += 1).unwrap());
    let b = ints(generate_image_tokens(&model, &prompt, 16, &options, &device, &mut |_, _| {}).unwrap());
    assert_eq!(a.len(), 5 * 16);
    assert_eq!(calls, 16 * 3, "one progress call per token step and chunk");
    assert_eq!(a, b, "same seed, same tokens");
    assert!(a.iter().all(|&t| (0..config.num_image_tokens as i64).contains(&t)));
    let c = ints(generate_image_tokens(&model, &prompt, 16, &GenerationOptions { seed: 8, ..options }, &device, &mut |_, _| {}).unwrap());
    assert_ne!(a, c, "another seed draws other tokens");
}

#[test]
fn bad_prompts_are_typed_errors() {
    let (_, model) = load("coglm_generate");
    let device = Default::default();
    let opts = GenerationOptions::default();
    let run = |prompt: ImagePrompt, n: usize| generate_image_tokens(&model, &prompt, n, &opts, &device, &mut |_, _| {});
    use cogview2_core::CoreError as E;
    assert!(matches!(run(ImagePrompt { text_ids: vec![], start_of_image_id: 597 }, 16), Err(E::InvalidPrompt(_))));
    assert!(matches!(
        run(ImagePrompt { text_ids: vec![5, 600], start_of_image_id: 597 }, 16),
        Err(E::TokenOutOfRange { id: 600, index: 1, .. })
    ));
    assert!(matches!(run(ImagePrompt { text_ids: vec![5], start_of_image_id: -1 }, 16), Err(E::TokenOutOfRange { .. })));
    assert!(matches!(run(ImagePrompt { text_ids: vec![5; 600], start_of_image_id: 597 }, 16), Err(E::InvalidPrompt(_))));
    // 1024 positions: image positions 513..=1536 do not fit.
    assert!(matches!(run(ImagePrompt { text_ids: vec![5], start_of_image_id: 597 }, 1024), Err(E::PositionOutOfRange { .. })));

    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 2, 9999], [1, 3]), &device);
    let positions = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 1, 2], [1, 3]), &device);
    assert!(matches!(
        model.forward(tokens, positions.clone(), &AttentionBias::default()),
        Err(E::TokenOutOfRange { id: 9999, index: 2, .. })
    ));
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 2], [1, 2]), &device);
    assert!(matches!(model.forward(tokens, positions, &AttentionBias::default()), Err(E::Shape(_))));
}

/// `log p(image | text)` of the fixture's generated rows from the official step logits: Σ_k log_softmax(logits_k)[token_k].
fn official_log_likelihoods(step_logits: &[f32], tokens: &[i64], batch: usize, n: usize, v: usize) -> Vec<f32> {
    (0..batch)
        .map(|b| {
            (0..n)
                .map(|k| {
                    let row = &step_logits[(b * n + k) * v..(b * n + k + 1) * v];
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let log_z = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
                    row[tokens[b * n + k] as usize] - log_z
                })
                .sum()
        })
        .collect()
}

#[test]
fn image_log_likelihood_matches_official_step_logits() {
    // Tolerance: abs 1e-3 on a sum of up to 16 log-probabilities, each from logits within 1e-4.
    let name = "coglm_generate_batch";
    let (config, model) = load(name);
    let cfg = fx::config(name);
    let io = fx::tensors(name, "io.safetensors");
    let prompt = prompt_of(&io);
    let (n, batch, v) = (grid_tokens(&cfg), fx::config_usize(&cfg, "batch"), config.num_image_tokens);
    let attn_plus = cfg["attn_plus"].as_f64().unwrap() as f32;
    let tokens = &io["generated_image_tokens"].i;
    let want = official_log_likelihoods(&io["step_logits"].f, tokens, batch, n, v);
    let got = image_log_likelihood(&model, &prompt, int_tensor(tokens, [batch, n]), attn_plus).unwrap();
    fx::assert_close("log p(image | text)", &got, &want, 1e-3);
    // The per-token terms sum to the row's log-likelihood.
    let per_token = floats(image_token_log_probs(&model, &prompt, int_tensor(tokens, [batch, n]), attn_plus).unwrap());
    assert_eq!(per_token.len(), batch * n);
    assert!((per_token[..n].iter().sum::<f32>() - got[0]).abs() < 1e-4);
    // A one-token image is scored by the prefill alone.
    let first = image_log_likelihood(&model, &prompt, int_tensor(&tokens[..1], [1, 1]), attn_plus).unwrap();
    assert!((first[0] - per_token[0]).abs() < 1e-4, "{first:?} vs {}", per_token[0]);

    let too_big = int_tensor(&vec![v as i64; n], [1, n]);
    assert!(image_log_likelihood(&model, &prompt, too_big, attn_plus).is_err(), "codes outside the image range are an error");
    let no_text = ImagePrompt { text_ids: vec![], start_of_image_id: prompt.start_of_image_id };
    assert!(image_log_likelihood(&model, &no_text, int_tensor(&tokens[..n], [1, n]), attn_plus).is_err(), "an empty prompt is an error");
}
