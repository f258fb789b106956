//! The scene stages end to end on tiny models: caption tokenizer, scenes → rows/samples with a stub image encoder
//! (each grid cell's mean colour quantised to 4 levels per channel, 64 codes), DSR/ITERSR initialised from a
//! fresh CogLM, trained, checkpointed, resumed and exported in the pipeline layout.

use std::path::PathBuf;

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{CogLm, CogLmConfig, IMAGE_POSITION_OFFSET};
use cogview2_icetk::{IceTokenizer, SentencePieceModel, TextTokenizer};
use cogview2_scenes::{caption, ComboSet, Language, LanguageMix, SamplerConfig, SceneSampler};
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel, LoparPattern};
use cogview2_train::{
    build_caption_vocab, caption_corpus, draw_lopar_level, dsr_loss, encode_scenes, export::named_tensors,
    init_dsr, init_itersr, itersr_loss, lopar_mask, scene_special_tokens, write_caption_vocab, Batch, CogLmTrainer,
    LrSchedule, MaskingConfig, MaskingSampler, ModuleTrainer, RowSource, SceneDataConfig, SceneRows, SceneTokens,
    TrainerConfig,
};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type B = Autodiff<NdArray>;

const CODES: u32 = 64;
const LO: [usize; 2] = [4, 4];
const HI: [usize; 2] = [12, 12];

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cogview2-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn tokenizer() -> IceTokenizer {
    let bytes = build_caption_vocab(&caption_corpus(200, 1).unwrap()).unwrap();
    let sp = SentencePieceModel::from_bytes(&bytes).unwrap();
    IceTokenizer::from_text_tokenizer(TextTokenizer::new(sp, CODES).unwrap()).unwrap()
}

/// Mean colour of each cell of a `grid × grid` split, 4 levels per channel.
fn stub_encode(images: &[RgbImage]) -> cogview2_train::Result<Vec<Vec<i64>>> {
    Ok(images
        .iter()
        .map(|img| {
            let grid = img.width() as usize / 8;
            let cell = 8u32;
            let mut codes = Vec::with_capacity(grid * grid);
            for r in 0..grid as u32 {
                for c in 0..grid as u32 {
                    let mut sum = [0u32; 3];
                    for y in r * cell..(r + 1) * cell {
                        for x in c * cell..(c + 1) * cell {
                            let p = img.get_pixel(x, y).0;
                            for k in 0..3 {
                                sum[k] += p[k] as u32;
                            }
                        }
                    }
                    let q = sum.map(|s| (s / (cell * cell) / 64) as i64);
                    codes.push(q[0] * 16 + q[1] * 4 + q[2]);
                }
            }
            codes
        })
        .collect())
}

fn data_config(count: usize, seed: u64) -> SceneDataConfig {
    SceneDataConfig {
        sampler: SamplerConfig {
            seed,
            size: 0,
            min_objects: 1,
            max_objects: 2,
            languages: LanguageMix::English,
            combos: ComboSet::Training,
            ..SamplerConfig::default()
        },
        count,
        lo_grid: LO,
        hi_grid: HI,
        compress_rate: 8,
        encode_batch: 5,
        partial_captions: 0.0,
        colourless_captions: 0.0,
    }
}

fn scenes(tok: &IceTokenizer, count: usize) -> Vec<SceneTokens> {
    encode_scenes(&data_config(count, 7), tok, &stub_encode).unwrap()
}

fn schedule(total: usize) -> TrainerConfig {
    TrainerConfig::new(LrSchedule {
        peak_lr: 3e-3,
        min_lr: 3e-4,
        warmup_steps: 3,
        total_steps: total,
    })
}

fn base_config(tok: &IceTokenizer) -> CogLmConfig {
    let mut c = CogLmConfig::new(2, 64, 4, tok.num_tokens() as usize, IMAGE_POSITION_OFFSET + 40).with_dropout(0.0);
    c.inner_hidden_size = Some(128);
    c.num_image_tokens = CODES as usize;
    c
}

fn dsr_config(tok: &IceTokenizer, text_region: usize) -> DsrConfig {
    let base = base_config(tok);
    let lo = LO[0] * LO[1];
    let hi = HI[0] * HI[1];
    DsrConfig {
        new_sequence_length: base.max_sequence_length + hi,
        base,
        start_of_image_id: i64::from(tok.start_of_image()),
        layout: [text_region, text_region + lo, text_region + lo + hi],
        kernel_size: 5,
        kernel_size2: 3,
        lo_grid: LO,
        hi_grid: HI,
    }
}

fn itersr_config(tok: &IceTokenizer) -> ItersrConfig {
    let base = base_config(tok);
    let hi = HI[0] * HI[1];
    ItersrConfig {
        new_sequence_length: base.max_sequence_length + hi,
        base,
        start_of_image_id: i64::from(tok.start_of_image()),
        layout: [16, 16 + hi],
        kernel_size: 5,
        hi_grid: HI,
    }
}

fn ints(values: &[i64]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len()]), &Default::default())
}

fn max_text(s: &[SceneTokens]) -> usize {
    s.iter().map(|s| s.english.len().max(s.chinese.len())).max().unwrap()
}

#[test]
fn tokenizer_stage_encodes_every_caption_including_held_out() {
    let dir = temp("vocab");
    let path = dir.join("ice_text.model");
    write_caption_vocab(&path, 200, 1).unwrap();
    let tok = IceTokenizer::from_file(&path).unwrap();
    let unk = tok.token_to_id("<unk>").unwrap();
    let pad = tok.token_to_id("<pad>").unwrap();
    assert!(tok.tokenize("<pad>").iter().any(|p| p == "<pad>"), "<pad> is one piece");
    assert!(pad > unk);
    let mut corpus = caption_corpus(200, 1).unwrap();
    // Multi-object captions never added to the builder: held-out combinations, another seed.
    let mut held_out = SceneSampler::new(SamplerConfig {
        seed: 99,
        size: 8,
        min_objects: 1,
        max_objects: 3,
        languages: LanguageMix::English,
        combos: ComboSet::HeldOut,
        ..SamplerConfig::default()
    })
    .unwrap();
    for _ in 0..300 {
        let scene = held_out.sample_scene().unwrap();
        corpus.push(caption(&scene, Language::English));
        corpus.push(caption(&scene, Language::Chinese));
    }
    for text in &corpus {
        let ids = tok.encode(text);
        assert!(!ids.is_empty() && !ids.contains(&unk), "{text}: {ids:?}");
        assert_eq!(tok.decode(&ids).unwrap(), *text);
    }
    eprintln!("caption vocabulary: {} text pieces, {} captions checked", tok.num_tokens() - tok.num_image_tokens(), corpus.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scenes_become_official_rows_and_sr_samples() {
    let tok = tokenizer();
    let tokens = scene_special_tokens(&tok, LO, IMAGE_POSITION_OFFSET as i64).unwrap();
    let data = scenes(&tok, 12);
    assert_eq!(data.len(), 12);
    // Deterministic in the seed.
    assert_eq!(data, scenes(&tok, 12));
    for s in &data {
        assert_eq!(s.lowres.len(), 16);
        assert_eq!(s.hires.len(), 144);
        assert!(tok.decode(&s.english.iter().map(|&i| i as u32).collect::<Vec<_>>()).unwrap().contains("background"));
        // The stub code of a low-res cell's top-left 3×3 hi-res block agrees with it on uniform background cells.
        let agree = (0..16).filter(|&k| s.lowres[k] == s.hires[(k / 4) * 3 * 12 + (k % 4) * 3]).count();
        assert!(agree >= 8, "lo/hi codes disagree on {} of 16 cells", 16 - agree);
    }
    let len = SceneRows::min_len(&data) + 3;
    let rows = SceneRows::new(data.clone(), len, &tokens).unwrap();
    let row = rows.row(0).unwrap();
    let s = &data[0];
    let zh = s.chinese.len();
    assert_eq!(&row[..zh], &s.chinese[..]);
    assert_eq!(row[zh], tokens.pad);
    assert_eq!(&row[zh + 1..zh + 1 + s.english.len()], &s.english[..]);
    assert!(row[zh + 1 + s.english.len()..len - 16].iter().all(|&t| t == tokens.pad));
    assert_eq!(&row[len - 16..], &s.lowres[..]);
    assert!(SceneRows::new(data.clone(), SceneRows::min_len(&data) - 1, &tokens).is_err());

    // The masking strategy accepts every row, and the text→image samples use both languages.
    let masking = MaskingConfig {
        patch_size: 2,
        pseudo_mask_ratio: 0.5,
        ..MaskingConfig::default()
    };
    let mut sampler = MaskingSampler::new(masking, tokens.clone(), 3).unwrap();
    for i in 0..rows.len() {
        for _ in 0..4 {
            assert_eq!(sampler.sample(&rows.row(i).unwrap()).unwrap().len(), len);
        }
    }

    // A wrong grid from the encoder is an error, not a silent mis-layout.
    let bad = |images: &[RgbImage]| -> cogview2_train::Result<Vec<Vec<i64>>> { Ok(images.iter().map(|_| vec![0; 15]).collect()) };
    assert!(encode_scenes(&data_config(2, 1), &tok, &bad).is_err());
}

/// Stage-1-only data (equal grids) renders and encodes each batch once; the hi-res codes are the low-res ones.
#[test]
fn equal_grids_encode_each_batch_once() {
    let tok = tokenizer();
    let calls = std::cell::Cell::new(0);
    let counting = |images: &[RgbImage]| {
        calls.set(calls.get() + 1);
        stub_encode(images)
    };
    let config = SceneDataConfig { hi_grid: LO, ..data_config(12, 7) };
    let data = encode_scenes(&config, &tok, &counting).unwrap();
    assert_eq!(calls.get(), 3, "12 scenes in batches of 5");
    assert!(data.iter().all(|s| s.lowres == s.hires));
    let reference = scenes(&tok, 12);
    assert!(data.iter().zip(&reference).all(|(a, b)| a.lowres == b.lowres), "the same scenes and codes as before");
}

/// Partial captions are shorter versions of the same scenes' captions, at about the asked share; the scenes and
/// codes do not change.
#[test]
fn partial_captions_shorten_a_share_of_the_captions_only() {
    let tok = tokenizer();
    let full = scenes(&tok, 60);
    let partial = encode_scenes(&SceneDataConfig { partial_captions: 0.5, ..data_config(60, 7) }, &tok, &stub_encode).unwrap();
    let mut shortened = 0;
    for (f, p) in full.iter().zip(&partial) {
        assert_eq!((&f.lowres, &f.hires), (&p.lowres, &p.hires));
        assert!(p.english.len() <= f.english.len() && p.chinese.len() <= f.chinese.len());
        if p.english.len() < f.english.len() {
            shortened += 1;
            assert!(p.chinese.len() < f.chinese.len(), "both languages leave out the same parts");
        } else {
            assert_eq!((&f.english, &f.chinese), (&p.english, &p.chinese));
        }
    }
    assert!((15..=45).contains(&shortened), "{shortened} of 60 captions shortened at share 0.5");
    let bad = SceneDataConfig { partial_captions: 1.5, ..data_config(4, 7) };
    assert!(encode_scenes(&bad, &tok, &stub_encode).is_err());
}

/// Colourless captions are shorter versions of a share of the captions; they are drawn apart from the partial
/// captions, so the scenes, the codes and which captions are partial do not change.
#[test]
fn colourless_captions_drop_the_colours_of_a_share_of_the_captions_only() {
    let tok = tokenizer();
    let partial = SceneDataConfig { partial_captions: 0.5, ..data_config(60, 7) };
    let coloured = encode_scenes(&partial, &tok, &stub_encode).unwrap();
    let colourless =
        encode_scenes(&SceneDataConfig { colourless_captions: 0.5, ..partial.clone() }, &tok, &stub_encode).unwrap();
    let mut dropped = 0;
    for (c, p) in coloured.iter().zip(&colourless) {
        assert_eq!((&c.lowres, &c.hires), (&p.lowres, &p.hires));
        if p.english == c.english {
            assert_eq!(p.chinese, c.chinese, "both languages keep or drop the colours together");
        } else {
            dropped += 1;
            assert!(p.english.len() < c.english.len() && p.chinese.len() < c.chinese.len());
        }
    }
    assert!((15..=45).contains(&dropped), "{dropped} of 60 captions without colours at share 0.5");
    let bad = SceneDataConfig { colourless_captions: -0.1, ..data_config(4, 7) };
    assert!(encode_scenes(&bad, &tok, &stub_encode).is_err());
}

#[test]
fn coglm_learns_scene_rows_and_exports_a_loadable_dir() {
    let device = Default::default();
    let tok = tokenizer();
    let tokens = scene_special_tokens(&tok, LO, IMAGE_POSITION_OFFSET as i64).unwrap();
    let data = scenes(&tok, 16);
    let len = SceneRows::min_len(&data);
    let rows = SceneRows::new(data, len, &tokens).unwrap();
    let config = base_config(&tok);
    let model = CogLm::<B>::new(&config, &device).unwrap();
    let mut trainer = CogLmTrainer::new(model, config.clone(), schedule(30), tokens.clone()).unwrap();
    let masking = MaskingConfig {
        patch_size: 2,
        pseudo_mask_ratio: 0.5,
        ..MaskingConfig::default()
    };
    let batch_at = |step: usize| {
        let mut sampler = MaskingSampler::new(masking.clone(), tokens.clone(), 11 + step as u64).unwrap();
        let samples: Vec<_> = (0..4).map(|k| sampler.sample(&rows.row((step * 4 + k) % rows.len()).unwrap()).unwrap()).collect();
        Batch::<B>::from_samples(&samples, &device).unwrap()
    };
    let eval: Vec<_> = (100..104).map(batch_at).collect();
    let mean = |t: &CogLmTrainer<B>| eval.iter().map(|b| t.evaluate(b).unwrap()).sum::<f32>() / eval.len() as f32;
    let before = mean(&trainer);
    for step in 0..30 {
        trainer.step(&batch_at(step)).unwrap();
    }
    let after = mean(&trainer);
    eprintln!("CogLM scene-row loss {before} → {after} after 30 steps");
    assert!(after < 0.7 * before, "CogLM loss {before} → {after}");

    let dir = temp("coglm-dir");
    trainer.export_dir(&dir).unwrap();
    let (loaded_config, loaded) = CogLm::<NdArray>::from_dir(&dir, &device).unwrap();
    assert_eq!(loaded_config, config);
    let a = named_tensors(&trainer.model().valid());
    let b = named_tensors(&loaded);
    assert_eq!(a, b);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn flat<M: burn::module::Module<NdArray>>(m: &M) -> Vec<f32> {
    named_tensors(m).into_values().flat_map(|t| t.values).collect()
}

#[test]
fn dsr_from_coglm_learns_resumes_exactly_and_exports() {
    let device = Default::default();
    let tok = tokenizer();
    let data = scenes(&tok, 8);
    let config = dsr_config(&tok, max_text(&data) + 1);
    let trunk = CogLm::<B>::new(&config.base, &device).unwrap();
    let init = init_dsr(&trunk, &config, 5, &device).unwrap();
    let step_on = |t: &mut ModuleTrainer<B, DsrModel<B>>| {
        let s = &data[t.step_count() % data.len()];
        let lang = if t.step_count().is_multiple_of(2) { Language::English } else { Language::Chinese };
        t.step(|m| dsr_loss(m, s.text(lang), ints(&s.lowres), ints(&s.hires))).unwrap();
    };
    let eval = |m: &DsrModel<B>| {
        data.iter().map(|s| dsr_loss(&m.valid(), &s.english, ints(&s.lowres).inner(), ints(&s.hires).inner()).unwrap().into_scalar()).sum::<f32>() / data.len() as f32
    };

    let mut trainer = ModuleTrainer::new(init.clone(), schedule(30)).unwrap();
    let before = eval(trainer.model());
    for _ in 0..30 {
        step_on(&mut trainer);
    }
    let after = eval(trainer.model());
    eprintln!("DSR scene loss {before} → {after} after 30 steps");
    assert!(after < 0.65 * before, "DSR loss {before} → {after}");

    // Resume: 3 steps + checkpoint + resume + 3 steps equals 6 uninterrupted steps.
    let mut straight = ModuleTrainer::new(init.clone(), schedule(6)).unwrap();
    for _ in 0..6 {
        step_on(&mut straight);
    }
    let dir = temp("dsr-ckpt");
    let mut first = ModuleTrainer::new(init, schedule(6)).unwrap();
    for _ in 0..3 {
        step_on(&mut first);
    }
    first.save_checkpoint(&dir).unwrap();
    let mut resumed = ModuleTrainer::<B, DsrModel<B>>::resume(&dir, &device).unwrap();
    assert_eq!(resumed.step_count(), 3);
    for _ in 0..3 {
        step_on(&mut resumed);
    }
    let diff = max_diff(&flat(&straight.model().valid()), &flat(&resumed.model().valid()));
    // Baseline: the same weights without the optimiser state and step.
    let mut bare = ModuleTrainer::new(DsrModel::<B>::from_dir(&dir, &device).unwrap(), schedule(6)).unwrap();
    for _ in 0..3 {
        step_on(&mut bare);
    }
    let bare_diff = max_diff(&flat(&straight.model().valid()), &flat(&bare.model().valid()));
    eprintln!("DSR resume: max |weight diff| {diff:e} (weights-only restart: {bare_diff:e})");
    // Not bit-exact (multi-threaded reductions reorder sums); 5e-5 is float noise after 3 Adam steps, and losing the
    // optimiser state moves the weights > 100× more.
    assert!(diff <= 5e-5 && bare_diff > 100.0 * diff, "resumed DSR differs by {diff}, weights-only by {bare_diff}");

    // The checkpoint dir and an export are pipeline model dirs.
    let out = temp("dsr-dir");
    trainer.export_dir(&out).unwrap();
    let loaded = DsrModel::<NdArray>::from_dir(&out, &device).unwrap();
    assert_eq!(loaded.config(), &config);
    let s = &data[0];
    let a: Vec<f32> = trainer.model().valid().hires_logits(&s.english, ints(&s.lowres).inner()).unwrap().into_data().iter::<f32>().collect();
    let b: Vec<f32> = loaded.hires_logits(&s.english, ints(&s.lowres).inner()).unwrap().into_data().iter::<f32>().collect();
    assert!(max_diff(&a, &b) <= 1e-6);
    DsrModel::<NdArray>::from_dir(&dir, &device).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn itersr_from_coglm_learns_resumes_exactly_and_exports() {
    let device = Default::default();
    let tok = tokenizer();
    let data = scenes(&tok, 8);
    let config = itersr_config(&tok);
    let trunk = CogLm::<B>::new(&config.base, &device).unwrap();
    let init = init_itersr(&trunk, &config, 6, &device).unwrap();
    let pattern = LoparPattern::official();
    let level1 = lopar_mask(&pattern, HI, 1).unwrap();
    let step_on = |t: &mut ModuleTrainer<B, ItersrModel<B>>| {
        let s = &data[t.step_count() % data.len()];
        // Each step's level is a function of the step, so a resumed run draws the same ones.
        let mut rng = ChaCha8Rng::seed_from_u64(t.step_count() as u64);
        let mask = lopar_mask(&pattern, HI, draw_lopar_level(&mut rng, &pattern).unwrap()).unwrap();
        t.step(|m| itersr_loss(m, &s.english, ints(&s.hires), &mask)).unwrap();
    };
    let eval = |m: &ItersrModel<B>| {
        data.iter().map(|s| itersr_loss(&m.valid(), &s.english, ints(&s.hires).inner(), &level1).unwrap().into_scalar()).sum::<f32>() / data.len() as f32
    };
    let mut trainer = ModuleTrainer::new(init.clone(), schedule(30)).unwrap();
    let before = eval(trainer.model());
    for _ in 0..30 {
        step_on(&mut trainer);
    }
    let after = eval(trainer.model());
    eprintln!("ITERSR scene level-1 loss {before} → {after} after 30 steps");
    assert!(after < 0.6 * before, "ITERSR loss {before} → {after}");

    let mut straight = ModuleTrainer::new(init.clone(), schedule(6)).unwrap();
    for _ in 0..6 {
        step_on(&mut straight);
    }
    let dir = temp("itersr-ckpt");
    let mut first = ModuleTrainer::new(init, schedule(6)).unwrap();
    for _ in 0..3 {
        step_on(&mut first);
    }
    first.save_checkpoint(&dir).unwrap();
    let mut resumed = ModuleTrainer::<B, ItersrModel<B>>::resume(&dir, &device).unwrap();
    for _ in 0..3 {
        step_on(&mut resumed);
    }
    let diff = max_diff(&flat(&straight.model().valid()), &flat(&resumed.model().valid()));
    let mut bare = ModuleTrainer::new(ItersrModel::<B>::from_dir(&dir, &device).unwrap(), schedule(6)).unwrap();
    for _ in 0..3 {
        step_on(&mut bare);
    }
    let bare_diff = max_diff(&flat(&straight.model().valid()), &flat(&bare.model().valid()));
    eprintln!("ITERSR resume: max |weight diff| {diff:e} (weights-only restart: {bare_diff:e})");
    // Not bit-exact (multi-threaded reductions reorder sums); 5e-5 is float noise after 3 Adam steps, and losing the
    // optimiser state moves the weights > 100× more.
    assert!(diff <= 5e-5 && bare_diff > 100.0 * diff, "resumed ITERSR differs by {diff}, weights-only by {bare_diff}");

    let out = temp("itersr-dir");
    trainer.export_dir(&out).unwrap();
    let loaded = ItersrModel::<NdArray>::from_dir(&out, &device).unwrap();
    assert_eq!(loaded.config(), &config);
    assert!(max_diff(&flat(&trainer.model().valid()), &flat(&loaded)) == 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn global_clipping_rescales_all_gradients_together() {
    use burn::optim::GradientsParams;
    use cogview2_train::{clip_global_norm, global_grad_norm};
    let device = Default::default();
    let tok = tokenizer();
    let data = scenes(&tok, 1);
    let config = dsr_config(&tok, max_text(&data) + 1);
    let model = init_dsr(&CogLm::<B>::new(&config.base, &device).unwrap(), &config, 5, &device).unwrap();
    let s = &data[0];
    let loss = dsr_loss(&model, &s.english, ints(&s.lowres), ints(&s.hires)).unwrap();
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let id = model.coglm.transformer.word_embeddings.weight.id;
    let before: Vec<f32> = grads.get::<NdArray, 2>(id).unwrap().into_data().iter::<f32>().collect();
    let norm = global_grad_norm(&model, &grads);
    assert!(norm > 0.0);
    assert_eq!(clip_global_norm(&model, &mut grads, norm / 4.0), norm);
    let clipped = global_grad_norm(&model, &grads);
    eprintln!("global grad norm {norm} → {clipped} (bound {})", norm / 4.0);
    assert!((clipped - norm / 4.0).abs() <= 1e-4 * norm, "clipped norm {clipped}");
    // One common factor: every tensor keeps its direction.
    let after: Vec<f32> = grads.get::<NdArray, 2>(id).unwrap().into_data().iter::<f32>().collect();
    for (a, b) in after.iter().zip(&before) {
        assert!((a * 4.0 - b).abs() <= 1e-5 * b.abs().max(1e-3));
    }
    // Below the bound nothing changes.
    assert_eq!(clip_global_norm(&model, &mut grads, norm), clipped);
    assert!((global_grad_norm(&model, &grads) - clipped).abs() <= 1e-6 * norm);
}
