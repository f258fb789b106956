//! DSR and ITERSR objectives on the fixtures' tiny models (2 layers, hidden 64, 4×4 → 12×12): the losses fall
//! under AdamW, and an exported DSR model reloads under the official names with identical logits.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_fixtures::{dir, tensors};
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel, LoparPattern};
use cogview2_train::{
    draw_lopar_level, dsr_loss, export_sr_safetensors, itersr_loss, lopar_mask, LrSchedule, ModuleTrainer,
    TrainerConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type B = Autodiff<NdArray>;

fn trainer_config(total: usize) -> TrainerConfig {
    TrainerConfig::new(LrSchedule {
        peak_lr: 3e-3,
        min_lr: 3e-4,
        warmup_steps: 3,
        total_steps: total,
    })
}

fn ints(values: &[i64], shape: [usize; 2]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}

fn dsr_config() -> DsrConfig {
    let mut config = DsrConfig::from_json_file(dir("dsr").join("config.json")).unwrap();
    config.base = config.base.with_dropout(0.0);
    config
}

#[test]
fn dsr_loss_falls_and_export_reloads() {
    let device = Default::default();
    let config = dsr_config();
    let model = DsrModel::<B>::from_safetensors(&config, dir("dsr").join("weights.safetensors"), &device).unwrap();
    let io = tensors("dsr", "io.safetensors");
    let text = io["text_tokens"].i.clone();
    let lowres = ints(&io["lowres_tokens"].i, [1, 16]);
    // Targets the model does not already predict: seeded random hi-res codes.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let hires: Vec<i64> = (0..144).map(|_| rng.random_range(0..config.base.num_image_tokens as i64)).collect();
    let hires = ints(&hires, [1, 144]);

    let mut trainer = ModuleTrainer::new(model, trainer_config(40)).unwrap();
    let mut losses = Vec::new();
    for _ in 0..40 {
        let (_, loss) = trainer.step(|m| dsr_loss(m, &text, lowres.clone(), hires.clone())).unwrap();
        losses.push(loss);
    }
    let last = dsr_loss(trainer.model(), &text, lowres.clone(), hires.clone()).unwrap().into_scalar();
    eprintln!("DSR loss {} → {last} after 40 steps", losses[0]);
    assert!(last < 0.6 * losses[0], "DSR loss {} → {last}", losses[0]);

    let path = std::env::temp_dir().join(format!("cogview2-train-dsr-{}.safetensors", std::process::id()));
    export_sr_safetensors(trainer.model(), &path).unwrap();
    let reloaded = DsrModel::<NdArray>::from_safetensors(&config, &path, &device).unwrap();
    let a: Vec<f32> = trainer.model().valid().hires_logits(&text, lowres.clone().inner()).unwrap().into_data().iter::<f32>().collect();
    let b: Vec<f32> = reloaded.hires_logits(&text, lowres.inner()).unwrap().into_data().iter::<f32>().collect();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    eprintln!("DSR export/reload max |logit diff| {diff:e}");
    assert!(diff <= 1e-6, "reloaded DSR logits differ by {diff}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn itersr_lopar_remasking_loss_falls() {
    let device = Default::default();
    let mut config = ItersrConfig::from_json_file(dir("itersr_lopar").join("config.json")).unwrap();
    config.base = config.base.with_dropout(0.0);
    let model = ItersrModel::<B>::from_safetensors(&config, dir("itersr_lopar").join("weights.safetensors"), &device).unwrap();
    let io = tensors("itersr_lopar", "io.safetensors");
    let text = io["text_tokens"].i.clone();
    let hires = ints(&io["input_hires_tokens"].i, [1, 144]);
    let pattern = LoparPattern::official();
    let grid = [12, 12];
    // Level 1 re-masks the most cells: 23 of every 36.
    let level1 = lopar_mask(&pattern, grid, 1).unwrap();
    assert_eq!(level1.iter().filter(|&&m| m).count(), 4 * 23);

    let mut trainer = ModuleTrainer::new(model, trainer_config(40)).unwrap();
    let first = itersr_loss(trainer.model(), &text, hires.clone(), &level1).unwrap().into_scalar();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..40 {
        let mask = lopar_mask(&pattern, grid, draw_lopar_level(&mut rng, &pattern).unwrap()).unwrap();
        trainer.step(|m| itersr_loss(m, &text, hires.clone(), &mask)).unwrap();
    }
    let last = itersr_loss(trainer.model(), &text, hires.clone(), &level1).unwrap().into_scalar();
    eprintln!("ITERSR level-1 loss {first} → {last} after 40 steps");
    assert!(last < 0.6 * first, "ITERSR loss {first} → {last}");
}
