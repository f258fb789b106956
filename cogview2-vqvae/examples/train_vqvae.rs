//! Trains one code level (compress rate 8 by default) of a small HVQVAE on seeded synthetic scenes
//! (`cogview2-scenes`), on the CPU (`Autodiff<NdArray>`), with checkpoints and resume; `--eval` reports PSNR and
//! codebook usage on held-out scenes (colour/shape combinations never drawn in training).
//!
//! ```text
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --size 32 --steps 600 --out-dir model-out
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --out-dir model-out --resume --steps 900
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --out-dir model-out --resume --steps 1500 --final-lr 2e-6
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --init model/vqvae --seed 1 --out-dir tuned --steps 4500 --final-lr 2e-6
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --init model/vqvae --decoder-only --size 80 --crops-per-batch 6 --out-dir dec
//! cargo run --release -p cogview2-vqvae --example train_vqvae -- --out-dir model-out --eval
//! ```
//! Writes `OUT/checkpoint/{config.json, weights.safetensors, optimizer.bin, trainer.json}` (the weights load with
//! `cogview2_vqvae::load_safetensors`), `OUT/loss.csv` and, after evaluation, `OUT/eval.png` (originals on the
//! top row, reconstructions below).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use clap::Parser;
use cogview2_scenes::{ComboSet, LanguageMix, SamplerConfig, SceneSampler};
use cogview2_vqvae::{
    evaluate, load_safetensors, save_png, CompressRate, Hvqvae, HvqvaeConfig, LrDecay, TrainConfig, Trainer,
};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};

type Ad = Autodiff<NdArray>;

#[derive(Parser, Debug)]
#[command(about = "Train (or evaluate) one level of a small HVQVAE on synthetic scenes")]
struct Args {
    /// Image side in pixels (a multiple of the compress rate).
    #[arg(long, default_value_t = 32)]
    size: u32,
    /// Train until this many steps are done in total (a resumed run counts its earlier steps).
    #[arg(long, default_value_t = 500)]
    steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Output directory (checkpoint, loss curve, evaluation image).
    #[arg(long, default_value = "model-out")]
    out_dir: PathBuf,
    /// Continue from OUT/checkpoint: model sizes, learning rate, seed and rate come from the checkpoint; keep
    /// --size and --batch-size as before so the scene stream continues where it stopped.
    #[arg(long)]
    resume: bool,
    /// Start from the trained codec in this model directory (`config.json`, `weights.safetensors`, f16 allowed)
    /// with a fresh optimiser, e.g. to continue the shipped `model/vqvae`; give a new --seed for new scenes.
    /// With --eval, evaluate that codec instead of OUT/checkpoint.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Seed of the weights, the scene stream and the restarts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Codebook size (of `HvqvaeConfig::small`).
    #[arg(long, default_value_t = 512)]
    n_embed: usize,
    /// GroupNorm groups (divides 32; `HvqvaeConfig::small` has 1).
    #[arg(long, default_value_t = 1)]
    norm_groups: usize,
    /// Steps at the start that train without the quantiser (the codebook follows the encodings meanwhile).
    #[arg(long, default_value_t = 0)]
    ae_warmup_steps: u64,
    /// Compress rate of the trained level (4, 8 or 16).
    #[arg(long, default_value_t = 8)]
    compress_rate: u32,
    /// Plain icetk EMA without dead-code restarts.
    #[arg(long)]
    no_restarts: bool,
    /// Write a checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = 100)]
    save_every: u64,
    /// Only evaluate OUT/checkpoint on held-out scenes.
    #[arg(long)]
    eval: bool,
    /// Objects per scene, at most (one to three).
    #[arg(long, default_value_t = 3)]
    max_objects: usize,
    /// Make half of every batch object close-ups: the object's cell (a third of the side) of a scene rendered at
    /// three times --size, so the codec also learns objects at the scale super-resolution decodes them.
    #[arg(long)]
    object_crops: bool,
    /// Like --object-crops, with this many close-ups in every batch instead of half (weights the decode scale).
    #[arg(long, conflicts_with = "object_crops")]
    crops_per_batch: Option<usize>,
    /// Object sizes of the training scenes as a share of their cell, e.g. the look the transformers were trained
    /// on. Held-out scenes keep the default so that evaluations compare.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "MIN,MAX",
        default_values_t = [cogview2_scenes::MIN_SCALE, cogview2_scenes::MAX_SCALE]
    )]
    object_scale: Vec<f32>,
    /// Share of training scenes on the plain background of their object (white; black behind a white object).
    #[arg(long, default_value_t = 0.0)]
    plain_background: f32,
    /// Train only the decoder on the codes of the frozen encoder and codebook (with --init): every image keeps
    /// its codes, so transformers trained on the codec stay valid while it learns to draw, e.g., at 240 px.
    #[arg(long, requires = "init")]
    decoder_only: bool,
    /// Held-out scenes to evaluate on.
    #[arg(long, default_value_t = 256)]
    eval_images: usize,
    /// End the run on a cosine decay of the learning rate to this value, reached at --steps (also on --resume,
    /// where it replaces the checkpoint's decay).
    #[arg(long)]
    final_lr: Option<f64>,
    /// Step where the decay starts (default: where this invocation starts).
    #[arg(long, requires = "final_lr")]
    decay_from: Option<u64>,
}

fn sampler_config(seed: u64, size: u32, max_objects: usize, combos: ComboSet) -> SamplerConfig {
    SamplerConfig {
        seed,
        size,
        min_objects: 1,
        max_objects,
        languages: LanguageMix::English,
        combos,
        ..SamplerConfig::default()
    }
}

/// The training stream: `sampler_config` with the look of --object-scale and --plain-background.
fn training_sampler(args: &Args, seed: u64, size: u32) -> anyhow::Result<SceneSampler> {
    let mut config = sampler_config(seed, size, args.max_objects, ComboSet::Training);
    config.object_scale = match args.object_scale[..] {
        [min, max] => [min, max],
        _ => bail!("--object-scale takes two values, MIN,MAX (got {:?})", args.object_scale),
    };
    config.plain_background = args.plain_background;
    Ok(SceneSampler::new(config)?)
}

/// Seed of the held-out stream. Fixed, not derived from `--seed`, so that every run and every `--eval` scores the
/// same scenes (it is the stream the default seed 0 used to derive).
const HELD_OUT_SEED: u64 = 0x5EED_E7A1;

/// Held-out scenes from a stream of their own.
fn held_out(args: &Args, size: u32) -> anyhow::Result<Vec<RgbImage>> {
    let stream = SceneSampler::new(sampler_config(HELD_OUT_SEED, size, args.max_objects, ComboSet::HeldOut))?;
    stream.take(args.eval_images).map(|item| Ok(item?.image)).collect()
}

fn report(model: &Hvqvae<NdArray>, rate: CompressRate, args: &Args, size: u32) -> anyhow::Result<()> {
    let device = Default::default();
    let images = held_out(args, size)?;
    let started = Instant::now();
    let stats = evaluate(model, &images, rate, 32, &device)?;
    println!(
        "eval on {} held-out scenes at {size} px: PSNR {:.2} dB (MSE {:.5}), codebook perplexity {:.1}, {} of {} codes used ({:.1} s)",
        stats.images,
        stats.psnr,
        stats.mse,
        stats.perplexity,
        stats.used_codes,
        model.quantize.n_embed(),
        started.elapsed().as_secs_f64()
    );
    save_comparison(model, rate, &images[..images.len().min(8)], &args.out_dir.join("eval.png"))
}

/// Originals on the top row, reconstructions below.
fn save_comparison(
    model: &Hvqvae<NdArray>,
    rate: CompressRate,
    images: &[RgbImage],
    path: &Path,
) -> anyhow::Result<()> {
    let device = Default::default();
    let x = cogview2_vqvae::images_to_tensor::<NdArray>(images, &device)?;
    let ids = model.encode(x, rate)?;
    let (w, h) = images[0].dimensions();
    let cell = model.cell_size(rate) as u32;
    let grid = ids.reshape([images.len(), (h / cell) as usize, (w / cell) as usize]);
    let decoded = cogview2_vqvae::tensor_to_images(model.decode_grid(grid, rate)?)?;
    let mut sheet = RgbImage::new(w * images.len() as u32, 2 * h);
    for (i, (a, b)) in images.iter().zip(&decoded).enumerate() {
        image::imageops::replace(&mut sheet, a, (i as u32 * w) as i64, 0);
        image::imageops::replace(&mut sheet, b, (i as u32 * w) as i64, h as i64);
    }
    save_png(&sheet, path)?;
    Ok(())
}

/// The grid cell (a third of the image side) holding the scene's first object.
fn object_cell(item: cogview2_scenes::SceneItem) -> anyhow::Result<RgbImage> {
    let object = item.scene.objects.first().context("a scene without objects")?;
    let cell = item.image.width() / 3;
    let (x, y) = (object.position.column() as u32 * cell, object.position.row() as u32 * cell);
    Ok(image::imageops::crop_imm(&item.image, x, y, cell, cell).to_image())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let device = Default::default();
    let checkpoint = args.out_dir.join("checkpoint");
    let rate = CompressRate::try_from(args.compress_rate)?;

    if args.eval {
        let dir = args.init.as_ref().unwrap_or(&checkpoint);
        let config = HvqvaeConfig::from_json_file(dir.join("config.json"))?;
        let model = load_safetensors::<NdArray>(&config, dir.join("weights.safetensors"), &device)
            .with_context(|| format!("no trained model in {}", dir.display()))?;
        std::fs::create_dir_all(&args.out_dir)?;
        return report(&model, rate, &args, args.size);
    }

    let mut trainer = if args.resume {
        let trainer = Trainer::<Ad>::resume(&checkpoint, &device)?;
        if trainer.config().compress_rate != args.compress_rate {
            bail!("the checkpoint trains compress rate {}", trainer.config().compress_rate);
        }
        trainer
    } else {
        let train = TrainConfig {
            compress_rate: args.compress_rate,
            lr: args.lr,
            restart_threshold: if args.no_restarts { None } else { TrainConfig::default().restart_threshold },
            seed: args.seed,
            ae_warmup_steps: args.ae_warmup_steps,
            decoder_only: args.decoder_only,
            ..TrainConfig::default()
        };
        match &args.init {
            Some(dir) => {
                let config = HvqvaeConfig::from_json_file(dir.join("config.json"))?;
                Trainer::<Ad>::from_weights(config, dir.join("weights.safetensors"), train, &device)
                    .with_context(|| format!("no trained codec in {}", dir.display()))?
            }
            None => {
                let config = HvqvaeConfig::small(args.n_embed).with_norm_groups(args.norm_groups);
                Trainer::<Ad>::new(config, train, &device)?
            }
        }
    };
    let done = trainer.step_count();
    if let Some(final_lr) = args.final_lr {
        let from_step = args.decay_from.unwrap_or(done);
        trainer.set_lr_decay(Some(LrDecay { from_step, until_step: args.steps, final_lr }))?;
    }
    std::fs::create_dir_all(&args.out_dir)?;
    let seed = trainer.config().seed;
    // The scene stream is a pure function of the seed: skip what earlier runs consumed.
    let crops_per_batch = match args.crops_per_batch {
        Some(n) if n > args.batch_size => bail!("--crops-per-batch {n} is more than --batch-size {}", args.batch_size),
        Some(n) => n,
        None if args.object_crops => args.batch_size / 2,
        None => 0,
    };
    let whole_per_batch = args.batch_size - crops_per_batch;
    let mut scenes = training_sampler(&args, seed, args.size)?.skip(done as usize * whole_per_batch);
    let mut close_ups = training_sampler(&args, seed ^ 0xC105_E0B5, 3 * args.size)?
        .skip(done as usize * crops_per_batch)
        .map(|item| object_cell(item?));
    // A resumed run continues the curve; a new one starts it afresh.
    let curve_path = args.out_dir.join("loss.csv");
    let mut curve = if args.resume {
        std::fs::OpenOptions::new().create(true).append(true).open(&curve_path)?
    } else {
        std::fs::File::create(&curve_path)?
    };
    if done == 0 {
        writeln!(curve, "step,loss,reconstruction,commitment,perplexity,used_codes,restarted,quantized,seconds")?;
    }
    let bar = ProgressBar::new(args.steps.saturating_sub(done));
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")?);
    let started = Instant::now();
    while trainer.step_count() < args.steps {
        let mut batch =
            (&mut scenes).take(whole_per_batch).map(|item| Ok(item?.image)).collect::<anyhow::Result<Vec<_>>>()?;
        for crop in (&mut close_ups).take(crops_per_batch) {
            batch.push(crop?);
        }
        let stats = trainer.step(&batch)?;
        writeln!(
            curve,
            "{},{:.6},{:.6},{:.6},{:.2},{},{},{},{:.1}",
            stats.step,
            stats.loss,
            stats.reconstruction,
            stats.commitment,
            stats.perplexity,
            stats.used_codes,
            stats.restarted,
            u8::from(stats.quantized),
            started.elapsed().as_secs_f64()
        )?;
        bar.set_message(format!("loss {:.4} rec {:.4} ppl {:.0}", stats.loss, stats.reconstruction, stats.perplexity));
        bar.inc(1);
        if stats.step % args.save_every == 0 {
            trainer.save_checkpoint(&checkpoint)?;
        }
    }
    bar.finish();
    trainer.save_checkpoint(&checkpoint)?;
    println!(
        "{} steps in {:.1} s; checkpoint in {}",
        trainer.step_count() - done,
        started.elapsed().as_secs_f64(),
        checkpoint.display()
    );
    report(&trainer.model().valid(), rate, &args, args.size)
}
