//! End-to-end text-to-image on the tiny model set of `common` (fixture CogLM / DSR / ITERSR, random VQ-VAE).

use std::path::{Path, PathBuf};

use cogview2::{CpuBackend as B, Error, Pipeline, Progress, Recipe, Request, Sampler, Stage, Style};
use cogview2_fixtures as fx;
use crate::common::{parts, pipeline, request, token_vec};

#[test]
fn text_to_image_returns_every_sample_at_the_final_size_and_is_seeded() {
    let pipeline = pipeline();
    let [lo_r, lo_c] = pipeline.lowres_grid();
    let [hi_r, hi_c] = pipeline.hires_grid();
    let dsr_cfg = fx::config("dsr");
    assert_eq!([lo_r, lo_c], [0, 1].map(|i| dsr_cfg["lo_grid"][i].as_u64().unwrap() as usize));
    assert_eq!([hi_r, hi_c], [0, 1].map(|i| dsr_cfg["hi_grid"][i].as_u64().unwrap() as usize));

    // 3 samples in chunks of 2: the official loops would return 2 (DSR/ITERSR drop the remainder past 4·k).
    let mut stages = Vec::new();
    let req = request("a red circle", 3, 7);
    let tokens = pipeline.generate_tokens(&req, &mut |p: Progress| stages.push(p)).unwrap();
    let hires = tokens.hires.clone().unwrap();
    assert_eq!(tokens.lowres.dims(), [3, lo_r * lo_c]);
    assert_eq!(hires.dims(), [3, hi_r * hi_c]);
    let n = pipeline.coglm().num_image_tokens as i64;
    assert!(token_vec(hires.clone()).iter().all(|&t| (0..n).contains(&t)));
    let last = |stage| stages.iter().rev().find(|p| p.stage == stage).copied().unwrap();
    for stage in [Stage::Stage1, Stage::DirectSuperResolution, Stage::IterativeSuperResolution] {
        let p = last(stage);
        assert_eq!(p.done, p.total, "{stage:?} finished");
    }

    let images = pipeline.text_to_image(&req).unwrap();
    let [h, w] = pipeline.image_size();
    assert_eq!(images.len(), 3);
    assert!(images.iter().all(|im| im.dimensions() == (w as u32, h as u32)));

    // Same request → same tokens and pixels; another seed → other tokens.
    let again = pipeline.generate_tokens(&req, &mut |_| {}).unwrap();
    assert_eq!(token_vec(again.hires.unwrap()), token_vec(hires.clone()));
    assert_eq!(pipeline.text_to_image(&req).unwrap(), images);
    let other = pipeline.generate_tokens(&request("a red circle", 3, 8), &mut |_| {}).unwrap();
    assert_ne!(token_vec(other.hires.unwrap()), token_vec(hires));
}

#[test]
fn only_first_stage_upscales_the_low_res_image_by_nearest() {
    let pipeline = pipeline();
    let req = Request { only_first_stage: true, style: Style::None, ..request("a blue square", 2, 3) };
    let tokens = pipeline.generate_tokens(&req, &mut |_| {}).unwrap();
    assert!(tokens.hires.is_none());
    let images = pipeline.text_to_image(&req).unwrap();
    let [h, w] = pipeline.image_size();
    let scale = (h / (pipeline.lowres_grid()[0] * cogview2::COMPRESS_RATE.rate())) as u32;
    assert_eq!(images.len(), 2);
    for image in &images {
        assert_eq!(image.dimensions(), (w as u32, h as u32));
        // Nearest upscaling: every scale×scale block is one low-res pixel.
        for y in 0..h as u32 {
            for x in 0..w as u32 {
                assert_eq!(image.get_pixel(x, y), image.get_pixel(x / scale * scale, y / scale * scale));
            }
        }
    }
}

/// A model's own recipe replaces the style's; a request's recipe replaces the model's.
#[test]
fn model_recipe_applies_unless_the_request_names_one() {
    let argmax = Recipe { argmax: true, ..Recipe::default() };
    let pipeline = pipeline().with_model_recipe(argmax.clone());
    assert_eq!(pipeline.model_recipe(), Some(&argmax));
    let hires = |req: &Request| token_vec(pipeline.generate_tokens(req, &mut |_| {}).unwrap().hires.unwrap());
    // Argmax ignores the seed, so two seeds agree only if the model's recipe was used.
    assert_eq!(hires(&request("a red circle", 1, 1)), hires(&request("a red circle", 1, 2)));
    let sampled = |seed| Request { recipe: Some(Recipe::default()), ..request("a red circle", 1, seed) };
    assert_ne!(hires(&sampled(1)), hires(&sampled(2)), "the request's sampling recipe was not used");
}

/// An empty `itersr_top_k` stops after DSR: the hi-res tokens are DSR's own, and ITERSR reports no progress.
#[test]
fn empty_itersr_schedule_returns_the_dsr_tokens() {
    let pipeline = pipeline();
    let dsr_only = Recipe { argmax: true, itersr_top_k: Vec::new(), ..Recipe::default() };
    let req = Request { recipe: Some(dsr_only), ..request("a red circle", 2, 5) };
    let mut stages = Vec::new();
    let tokens = pipeline.generate_tokens(&req, &mut |p: Progress| stages.push(p.stage)).unwrap();
    assert!(stages.contains(&Stage::DirectSuperResolution));
    assert!(!stages.contains(&Stage::IterativeSuperResolution));

    let text = pipeline.encode_prompt(&req.prompt, req.style).unwrap();
    let argmax = Sampler::Argmax.to_device::<B>(pipeline.coglm().num_image_tokens, pipeline.device()).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let dsr = pipeline.dsr().sample(&text, tokens.lowres, &argmax, &mut rng).unwrap();
    assert_eq!(token_vec(tokens.hires.unwrap()), token_vec(dsr));
}

#[test]
fn bad_requests_are_typed_errors() {
    let pipeline = pipeline();
    assert!(matches!(pipeline.text_to_image(&request("   ", 1, 0)), Err(Error::EmptyPrompt)));
    let max = pipeline.dsr().config().max_text_len();
    let long = vec!["red"; max + 1].join(" ");
    match pipeline.text_to_image(&Request { style: Style::None, ..request(&long, 1, 0) }) {
        Err(Error::PromptTooLong { tokens, max: m, .. }) => assert!(tokens > m && m == max),
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    assert!(matches!(pipeline.text_to_image(&request("a red circle", 0, 0)), Err(Error::InvalidRequest(_))));
    assert!(matches!("cubist".parse::<Style>(), Err(Error::UnknownStyle(_))));
}

#[test]
fn models_that_do_not_fit_together_are_rejected() {
    let n = fx::config_usize(&fx::config("coglm_forward"), "num_image_tokens");
    match Pipeline::from_parts(parts(Some(n / 2)), &Default::default()) {
        Err(Error::Inconsistent(reason)) => assert!(reason.contains("codebook"), "{reason}"),
        Err(other) => panic!("expected Inconsistent, got {other}"),
        Ok(_) => panic!("a codebook smaller than the image vocabulary was accepted"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A model directory assembled from the fixtures: everything loads, and the fixture VQ-VAE's small codebook is
/// then caught by the consistency check (the fixtures were not made as one model set).
#[test]
fn model_directory_is_loaded_and_checked() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipeline-model-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let device = Default::default();
    match Pipeline::<B>::from_dir(&dir, &device) {
        Err(Error::ModelDir { reason, .. }) => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("expected ModelDir, got {:?}", other.err()),
    }
    for (fixture, sub) in [("coglm_forward", "coglm"), ("dsr", "dsr"), ("itersr_lopar", "itersr"), ("vqvae", "vqvae")] {
        copy_dir(&fx::dir(fixture), &dir.join(sub));
    }
    std::fs::copy(fx::dir("official_format").join("cluster_label.npy"), dir.join("cluster_label.npy")).unwrap();
    let n = fx::config_usize(&fx::config("coglm_forward"), "num_image_tokens");
    let soi = fx::config_usize(&fx::config("coglm_forward"), "start_of_image_id");
    let pieces: Vec<String> = (0..soi - n - 3).map(|i| format!("▁w{i}")).collect();
    std::fs::write(dir.join("ice_text.model"), fx::sentencepiece_model(&pieces)).unwrap();
    std::fs::write(dir.join("recipe.json"), r#"{"temperature": "hot"}"#).unwrap();
    match Pipeline::<B>::from_dir(&dir, &device) {
        Err(Error::ModelDir { reason, .. }) => assert!(reason.contains("recipe.json"), "{reason}"),
        other => panic!("expected ModelDir for a bad recipe.json, got {:?}", other.err()),
    }
    std::fs::remove_file(dir.join("recipe.json")).unwrap();
    match Pipeline::<B>::from_dir(&dir, &device) {
        Err(Error::Inconsistent(reason)) => assert!(reason.contains("codebook"), "{reason}"),
        other => panic!("expected Inconsistent, got {:?}", other.err()),
    }
}
