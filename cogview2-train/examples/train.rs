//! Train CogLM with the official pretraining objective (text→image, image→text with patch infilling, text span
//! infilling) on token rows.
//!
//! ```text
//! # a smoke run on a tiny model and synthetic rows (small id space, 4×4 images):
//! cargo run --release -p cogview2-train --example train -- coglm --steps 50 --out-dir runs/tiny
//! # continue it:
//! cargo run --release -p cogview2-train --example train -- coglm --steps 50 --out-dir runs/tiny --resume runs/tiny
//! # a real config (icetk ids, 20×20 images) on int64 rows [N, L] stored as tensor `rows` in a safetensors file:
//! cargo run --release -p cogview2-train --example train -- coglm --config model_config.json --data rows.safetensors
//! # the caption tokenizer, a cluster table from a codebook, and the super-resolution stages on scenes:
//! cargo run --release -p cogview2-train --example train -- tokenizer --out model/ice_text.model
//! cargo run --release -p cogview2-train --example train -- clusters --codebook cb.safetensors --tensor codebook --k 16 --out model/cluster_label.npy
//! cargo run --release -p cogview2-train --example train -- coglm --steps 50 --out-dir runs/tiny --export-dir model/coglm
//! # CogLM rows from scenes encoded by a trained VQ-VAE (config.json + weights.safetensors), and the special ids:
//! cargo run --release -p cogview2-train --example train -- rows --tokenizer model/ice_text.model --vqvae model/vqvae --lo-grid 4 --out rows.safetensors --tokens-out tokens.json
//! cargo run --release -p cogview2-train --example train -- coglm --config coglm.json --tokens tokens.json --data rows.safetensors --export-dir model/coglm
//! cargo run --release -p cogview2-train --example train -- dsr --config dsr.json --tokenizer model/ice_text.model --vqvae model/vqvae --init-coglm model/coglm --out-dir runs/dsr --export-dir model/dsr
//! cargo run --release -p cogview2-train --example train -- itersr --config itersr.json --tokenizer model/ice_text.model --vqvae model/vqvae --init-coglm model/coglm --out-dir runs/itersr --export-dir model/itersr
//! ```
//! Without `--vqvae` the SR subcommands encode scenes with a stand-in encoder (each cell's mean colour quantised to
//! 64 codes), for smoke runs before a codec is trained.
//!
//! Each step's batch is a pure function of (seed, step), so a resumed run sees the same data as an uninterrupted one.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use clap::{Args, Parser, Subcommand};
use cogview2_core::{CogLm, CogLmConfig};
use cogview2_train::{
    safetensors_rows, Batch, CogLmTrainer, InMemoryRows, LrSchedule, MaskingConfig, MaskingSampler, RowSource,
    SpecialTokens, TrainerConfig,
};
use cogview2_icetk::{IceTokenizer, SentencePieceModel, TextTokenizer};
use cogview2_scenes::{ComboSet, Language, LanguageMix, SamplerConfig};
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel, LoparPattern};
use burn::module::AutodiffModule;
use cogview2_train::{
    draw_lopar_level, dsr_loss, encode_scenes, init_dsr, init_itersr, itersr_loss, lopar_mask, scene_special_tokens,
    write_caption_vocab, write_cluster_table, write_safetensors_rows, KMeansConfig, ModuleTrainer, SceneDataConfig,
    SceneRows, SceneTokens, SrModelDir, read_scene_tokens, write_scene_tokens,
};
use cogview2_vqvae::{images_to_tensor, load_safetensors, CompressRate, HvqvaeConfig};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type B = Autodiff<NdArray>;

#[derive(Parser)]
#[command(about = "Train CogView2 models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stage 1: CogLM masked-LM pretraining.
    Coglm(CoglmArgs),
    /// The caption SentencePiece model (`ice_text.model`) over every scene caption, both languages.
    Tokenizer(TokenizerArgs),
    /// `cluster_label.npy`: k-means over a VQ-VAE codebook.
    Clusters(ClustersArgs),
    /// Direct super-resolution on scenes.
    Dsr(SrArgs),
    /// Iterative super-resolution (LoPAR re-masking) on scenes.
    Itersr(SrArgs),
    /// CogLM token rows (`rows` in a safetensors file) and their special ids (JSON) from VQ-VAE-encoded scenes.
    Rows(RowsArgs),
    /// Rewrites a safetensors file with every F32 tensor stored as F16 (the loaders widen them back).
    ToF16(ToF16Args),
}

#[derive(Args)]
struct ToF16Args {
    /// Input safetensors file.
    #[arg(long)]
    input: PathBuf,
    /// Output file (may be the input).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct RowsArgs {
    /// The caption tokenizer (`ice_text.model`).
    #[arg(long)]
    tokenizer: PathBuf,
    /// VQ-VAE dir (config.json + weights.safetensors) whose rate-8 codes are the image tokens.
    #[arg(long)]
    vqvae: PathBuf,
    /// Side of the stage-1 code grid (images are 8× as many pixels).
    #[arg(long, default_value_t = 4)]
    lo_grid: usize,
    /// Scenes to encode.
    #[arg(long, default_value_t = 4096)]
    scenes: usize,
    /// Objects per scene, at most.
    #[arg(long, default_value_t = 1)]
    max_objects: usize,
    #[command(flatten)]
    look: SceneLookArgs,
    /// Share of scenes captioned without positions, background or both (so `a red circle` is a prompt the model
    /// knows); 0 keeps every caption complete.
    #[arg(long, default_value_t = 0.0)]
    partial_captions: f64,
    /// Share of scenes captioned without the objects' colours (`a circle at the top left`), so that shape words
    /// are learnt apart from colour; 0 keeps every colour.
    #[arg(long, default_value_t = 0.0)]
    colourless_captions: f64,
    /// Row length (default: the shortest that fits every scene).
    #[arg(long)]
    row_len: Option<usize>,
    /// Position id of the first image token (the official 512; the model's max_sequence_length must exceed
    /// it plus the image length).
    #[arg(long, default_value_t = 512)]
    image_position_offset: i64,
    /// Seed of the scenes.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Rows output file.
    #[arg(long, default_value = "rows.safetensors")]
    out: PathBuf,
    /// Special ids output file (for `coglm --tokens`).
    #[arg(long, default_value = "tokens.json")]
    tokens_out: PathBuf,
}

#[derive(Args)]
struct TokenizerArgs {
    /// Output file.
    #[arg(long, default_value = "ice_text.model")]
    out: PathBuf,
    /// Seeded multi-object scenes whose captions join every single-object caption.
    #[arg(long, default_value_t = 3000)]
    multi_object_scenes: usize,
    /// Seed of those scenes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct ClustersArgs {
    /// safetensors file holding the codebook.
    #[arg(long)]
    codebook: PathBuf,
    /// Name of the f32 `[n_embed, dim]` tensor.
    #[arg(long)]
    tensor: String,
    /// Number of clusters.
    #[arg(long, default_value_t = 16)]
    k: usize,
    /// Seed of the k-means++ draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output file.
    #[arg(long, default_value = "cluster_label.npy")]
    out: PathBuf,
}

#[derive(Args)]
struct SrArgs {
    /// DSR / ITERSR `config.json` (grids, layout, sizes); required unless --resume.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The caption tokenizer (`ice_text.model`); its image-code count is the config's `num_image_tokens`.
    #[arg(long)]
    tokenizer: PathBuf,
    /// VQ-VAE dir (config.json + weights.safetensors) that encodes the scenes; else the stand-in encoder.
    #[arg(long)]
    vqvae: Option<PathBuf>,
    /// CogLM model dir whose trunk initialises the model (same sizes as the config); else a fresh random trunk.
    #[arg(long)]
    init_coglm: Option<PathBuf>,
    /// Scenes to train on.
    #[arg(long, default_value_t = 256)]
    scenes: usize,
    /// Encoded scenes: read from this file when it exists (then --scenes, --max-objects, --object-scale,
    /// --plain-background, --seed and --vqvae do not choose the data), else encoded and written there, so DSR,
    /// ITERSR and resumed runs encode once.
    #[arg(long)]
    scene_cache: Option<PathBuf>,
    /// Objects per scene, at most.
    #[arg(long, default_value_t = 2)]
    max_objects: usize,
    #[command(flatten)]
    look: SceneLookArgs,
    /// Steps to run in this invocation (one scene per step: the SR losses share the text across a batch).
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Total steps of the LR schedule (default: --steps); ignored on --resume.
    #[arg(long)]
    total_steps: Option<usize>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Global gradient-norm bound (0 disables clipping).
    #[arg(long, default_value_t = 1.0)]
    clip: f32,
    /// Checkpoint directory (a model dir plus optimizer state), written at the end and every --checkpoint-every
    /// steps.
    #[arg(long, default_value = "runs/sr")]
    out_dir: PathBuf,
    /// Checkpoint interval in steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: usize,
    /// Also write the bare model dir (config.json + weights.safetensors) here.
    #[arg(long)]
    export_dir: Option<PathBuf>,
    /// Resume from this checkpoint directory.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Seed of the scenes, the trunk init and the LoPAR levels.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
}

#[derive(Args)]
struct CoglmArgs {
    /// CogLM `config.json`; without it, a tiny demo model with a small id space is trained.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Special ids as JSON (`SpecialTokens`); default: icetk's with --config, the demo ids without.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Token rows: a safetensors file with an I64 tensor `rows` [N, L]; repeat it to train on several files (read
    /// one after the other, all of one row length); default: synthetic rows.
    #[arg(long)]
    data: Vec<PathBuf>,
    /// Synthetic rows to generate when --data is not given.
    #[arg(long, default_value_t = 256)]
    synthetic_rows: usize,
    /// Length of synthetic rows (the official rows are 512).
    #[arg(long)]
    row_len: Option<usize>,
    /// Steps to run in this invocation.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Total steps of the LR schedule (default: --steps); ignored on --resume (the checkpoint's schedule is kept).
    #[arg(long)]
    total_steps: Option<usize>,
    /// Rows per step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Final learning rate of the cosine decay.
    #[arg(long, default_value_t = 1e-5)]
    min_lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    /// Per-tensor gradient L2-norm bound (0 disables clipping).
    #[arg(long, default_value_t = 1.0)]
    clip: f32,
    /// Checkpoint directory written at the end (and every --checkpoint-every steps).
    #[arg(long, default_value = "runs/coglm")]
    out_dir: PathBuf,
    /// Checkpoint interval in steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: usize,
    /// Resume from this checkpoint directory.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start from this model dir's weights (config.json + weights.safetensors, e.g. an --export-dir) with a fresh
    /// optimiser and LR schedule: a finished run continues at a raised rate.
    #[arg(long, conflicts_with_all = ["config", "resume"])]
    init: Option<PathBuf>,
    /// Seed of the model init, the synthetic rows and the masking draws.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Also write the model dir `CogLm::from_dir` loads (config.json + weights.safetensors) here.
    #[arg(long)]
    export_dir: Option<PathBuf>,
}

fn demo_config() -> CogLmConfig {
    let mut c = CogLmConfig::new(2, 64, 4, 80, 600).with_dropout(0.0);
    c.num_image_tokens = 32;
    c
}

/// The demo's 4×4 images take 2×2 patches (2 per sample); real configs use the official 4×4 on 20×20.
fn masking_for(tokens: &SpecialTokens) -> MaskingConfig {
    if tokens.image_grid < 8 {
        MaskingConfig {
            patch_size: 2,
            pseudo_mask_ratio: 0.5,
            ..MaskingConfig::default()
        }
    } else {
        MaskingConfig::default()
    }
}

fn coglm(args: CoglmArgs) -> Result<()> {
    let device = Default::default();
    B::seed(&device, args.seed);
    let mut trainer = match &args.resume {
        Some(dir) => CogLmTrainer::<B>::resume(dir, &device).with_context(|| format!("resuming from {}", dir.display()))?,
        None => {
            let (model_config, model, default_tokens) = match (&args.config, &args.init) {
                (_, Some(dir)) => {
                    let (config, model) =
                        CogLm::<B>::from_dir(dir, &device).with_context(|| format!("loading {}", dir.display()))?;
                    (config, Some(model), SpecialTokens::icetk())
                }
                (Some(path), None) => (CogLmConfig::from_json_file(path)?, None, SpecialTokens::icetk()),
                (None, None) => (demo_config(), None, SpecialTokens::demo()),
            };
            let tokens = match &args.tokens {
                Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)
                    .with_context(|| format!("parsing {}", path.display()))?,
                None => default_tokens,
            };
            let schedule = LrSchedule {
                peak_lr: args.lr,
                min_lr: args.min_lr,
                // A short run keeps a usable schedule: the warm-up never outlasts it.
                warmup_steps: args.warmup.min(args.total_steps.unwrap_or(args.steps)),
                total_steps: args.total_steps.unwrap_or(args.steps),
            };
            let mut config = TrainerConfig::new(schedule);
            config.weight_decay = args.weight_decay;
            config.grad_clip_norm = (args.clip > 0.0).then_some(args.clip);
            let model = match model {
                Some(model) => model,
                None => CogLm::<B>::new(&model_config, &device)?,
            };
            CogLmTrainer::new(model, model_config, config, tokens)?
        }
    };
    let tokens = trainer.tokens().clone();
    let masking = masking_for(&tokens);

    let rows = if args.data.is_empty() {
        let len = args.row_len.unwrap_or(if tokens.image_grid < 8 { 48 } else { 512 });
        InMemoryRows::synthetic(args.synthetic_rows, len, 0.25, &tokens, args.seed)?
    } else {
        InMemoryRows::concat(args.data.iter().map(safetensors_rows).collect::<cogview2_train::Result<Vec<_>>>()?)?
    };
    if rows.is_empty() {
        bail!("no training rows");
    }

    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")?);
    let (out_dir, every, batch_size, seed) = (args.out_dir.clone(), args.checkpoint_every, args.batch_size, args.seed);
    let mut last = None;
    let mut curve = LossLog::open(&out_dir, "step,loss,lr,image,english,chinese", args.resume.is_some())?;
    for _ in 0..args.steps {
        let step = trainer.step_count();
        // Rows and masking draws depend on (seed, step) only, so resumed runs see the same batches.
        let mut sampler = MaskingSampler::new(masking.clone(), tokens.clone(), seed ^ (step as u64).wrapping_mul(0x9E37_79B9))?;
        let samples = (0..batch_size)
            .map(|k| sampler.sample(&rows.row((step * batch_size + k) % rows.len())?))
            .collect::<cogview2_train::Result<Vec<_>>>()?;
        let report = trainer.step(&Batch::from_samples(&samples, &device)?)?;
        let part = |name: &str, m: Option<cogview2_train::ModalityLoss>| {
            m.map(|m| format!(" {name} {:.3}", m.loss)).unwrap_or_default()
        };
        bar.set_message(format!(
            "loss {:.4} lr {:.2e}{}{}{}",
            report.loss,
            report.lr,
            part("img", report.image),
            part("en", report.english),
            part("zh", report.chinese)
        ));
        let value = |m: Option<cogview2_train::ModalityLoss>| m.map(|m| format!("{:.5}", m.loss)).unwrap_or_default();
        curve.row(&format!(
            "{},{:.5},{:.3e},{},{},{}",
            report.step + 1,
            report.loss,
            report.lr,
            value(report.image),
            value(report.english),
            value(report.chinese)
        ))?;
        bar.inc(1);
        last = Some(report);
        if every > 0 && trainer.step_count() % every == 0 {
            trainer.save_checkpoint(&out_dir)?;
        }
    }
    bar.finish();
    trainer.save_checkpoint(&out_dir)?;
    if let Some(dir) = &args.export_dir {
        trainer.export_dir(dir)?;
        eprintln!("model dir written to {}", dir.display());
    }
    if let Some(r) = last {
        eprintln!("step {}: loss {:.4} (lr {:.2e})", r.step, r.loss, r.lr);
    }
    eprintln!("checkpoint at step {} in {}", trainer.step_count(), out_dir.display());
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Coglm(args) => coglm(args),
        Command::Tokenizer(args) => {
            write_caption_vocab(&args.out, args.multi_object_scenes, args.seed)?;
            eprintln!("tokenizer written to {}", args.out.display());
            Ok(())
        }
        Command::Clusters(args) => clusters(args),
        Command::Dsr(args) => sr(args, Stage::Dsr),
        Command::Itersr(args) => sr(args, Stage::Itersr),
        Command::Rows(args) => rows(args),
        Command::ToF16(args) => to_f16(args),
    }
}

fn clusters(args: ClustersArgs) -> Result<()> {
    let bytes = std::fs::read(&args.codebook).with_context(|| format!("reading {}", args.codebook.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let view = st.tensor(&args.tensor)?;
    let shape = view.shape().to_vec();
    if view.dtype() != safetensors::Dtype::F32 || shape.len() != 2 {
        bail!("{} must be f32 [n_embed, dim], found {:?} {shape:?}", args.tensor, view.dtype());
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let config = KMeansConfig { k: args.k, max_iters: 100, seed: args.seed };
    let labels = write_cluster_table(&values, shape[1], &config, &args.out)?;
    eprintln!("{} codes in {} clusters written to {}", labels.len(), args.k, args.out.display());
    Ok(())
}

#[derive(Clone, Copy)]
enum Stage {
    Dsr,
    Itersr,
}

/// Stand-in image encoder: each 8×8-pixel cell's mean colour, 4 levels per channel (64 codes).
fn stub_encoder(images: &[RgbImage]) -> cogview2_train::Result<Vec<Vec<i64>>> {
    Ok(images
        .iter()
        .map(|img| {
            let (cells_x, cells_y) = (img.width() / 8, img.height() / 8);
            let mut codes = Vec::with_capacity((cells_x * cells_y) as usize);
            for r in 0..cells_y {
                for c in 0..cells_x {
                    let mut sum = [0u32; 3];
                    for y in r * 8..r * 8 + 8 {
                        for x in c * 8..c * 8 + 8 {
                            let p = img.get_pixel(x, y).0;
                            for k in 0..3 {
                                sum[k] += u32::from(p[k]);
                            }
                        }
                    }
                    let q = sum.map(|s| i64::from(s / 64 / 64));
                    codes.push(q[0] * 16 + q[1] * 4 + q[2]);
                }
            }
            codes
        })
        .collect())
}

/// Rate-8 codes of a trained VQ-VAE dir, as an `ImageEncoder`.
fn vqvae_encoder(dir: &std::path::Path) -> Result<impl Fn(&[RgbImage]) -> cogview2_train::Result<Vec<Vec<i64>>>> {
    let config = HvqvaeConfig::from_json_file(dir.join("config.json"))?;
    let device = Default::default();
    let model = load_safetensors::<NdArray>(&config, dir.join("weights.safetensors"), &device)
        .with_context(|| format!("loading the VQ-VAE in {}", dir.display()))?;
    Ok(move |images: &[RgbImage]| {
        let fail = |e: cogview2_vqvae::VqvaeError| cogview2_train::TrainError::Encoder(e.to_string());
        let x = images_to_tensor::<NdArray>(images, &device).map_err(fail)?;
        let ids = model.encode(x, CompressRate::X8).map_err(fail)?;
        let [b, n] = ids.dims();
        let flat = ids.into_data().convert::<i64>().into_vec::<i64>().map_err(|e| cogview2_train::TrainError::Encoder(format!("{e:?}")))?;
        Ok((0..b).map(|i| flat[i * n..(i + 1) * n].to_vec()).collect())
    })
}

fn text_tokenizer(path: &std::path::Path, num_image_tokens: usize) -> Result<IceTokenizer> {
    let sp = SentencePieceModel::from_file(path)?;
    Ok(IceTokenizer::from_text_tokenizer(TextTokenizer::new(sp, u32::try_from(num_image_tokens)?)?)?)
}

struct SceneSpec {
    lo_grid: [usize; 2],
    hi_grid: [usize; 2],
    scenes: usize,
    max_objects: usize,
    object_scale: [f32; 2],
    plain_background: f32,
    seed: u64,
    partial_captions: f64,
    colourless_captions: f64,
}

/// How drawn scenes look: `--object-scale` and `--plain-background`, shared by the commands that draw scenes.
#[derive(Args)]
struct SceneLookArgs {
    /// Side of each object's box as a fraction of its cell, drawn uniformly from `MIN,MAX` (within 0.1–1).
    #[arg(
        long = "object-scale",
        value_delimiter = ',',
        value_name = "MIN,MAX",
        default_values_t = [cogview2_scenes::MIN_SCALE, cogview2_scenes::MAX_SCALE]
    )]
    object_scale: Vec<f32>,
    /// Share of scenes on the plain background (white; black behind a white object), the one prompts without a
    /// background get; the rest draw their background uniformly. 0 draws every background uniformly.
    #[arg(long, default_value_t = 0.0)]
    plain_background: f32,
}

impl SceneLookArgs {
    /// The sampler's scale range (the sampler checks the bounds).
    fn object_scale(&self) -> Result<[f32; 2]> {
        match self.object_scale[..] {
            [min, max] => Ok([min, max]),
            _ => bail!("--object-scale takes two values, MIN,MAX (got {:?})", self.object_scale),
        }
    }
}

/// [`scene_data`] through `--scene-cache`. A cache must hold the grids the stage trains on; ITERSR reads only the
/// hi-res codes, so it shares DSR's cache.
fn cached_scene_data(args: &SrArgs, num_image_tokens: usize, spec: &SceneSpec, uses_lowres: bool) -> Result<Vec<SceneTokens>> {
    if let Some(path) = args.scene_cache.as_ref().filter(|path| path.exists()) {
        let data = read_scene_tokens(path)?;
        let (lo, hi) = (spec.lo_grid[0] * spec.lo_grid[1], spec.hi_grid[0] * spec.hi_grid[1]);
        if let Some(bad) = data.iter().find(|s| s.hires.len() != hi || (uses_lowres && s.lowres.len() != lo)) {
            bail!(
                "{} holds {} low-res and {} hi-res codes per scene; this stage needs {}{hi}",
                path.display(),
                bad.lowres.len(),
                bad.hires.len(),
                if uses_lowres { format!("{lo} and ") } else { String::new() }
            );
        }
        eprintln!("{} encoded scenes read from {}", data.len(), path.display());
        return Ok(data);
    }
    let data = scene_data(&text_tokenizer(&args.tokenizer, num_image_tokens)?, args.vqvae.as_deref(), spec)?;
    if let Some(path) = &args.scene_cache {
        write_scene_tokens(&data, path)?;
        eprintln!("{} encoded scenes written to {}", data.len(), path.display());
    }
    Ok(data)
}

fn scene_data(tokenizer: &IceTokenizer, vqvae: Option<&std::path::Path>, spec: &SceneSpec) -> Result<Vec<SceneTokens>> {
    let config = SceneDataConfig {
        sampler: SamplerConfig {
            seed: spec.seed,
            size: 0,
            min_objects: 1,
            max_objects: spec.max_objects,
            languages: LanguageMix::English,
            combos: ComboSet::Training,
            object_scale: spec.object_scale,
            plain_background: spec.plain_background,
        },
        count: spec.scenes,
        lo_grid: spec.lo_grid,
        hi_grid: spec.hi_grid,
        compress_rate: 8,
        encode_batch: 16,
        partial_captions: spec.partial_captions,
        colourless_captions: spec.colourless_captions,
    };
    Ok(match vqvae {
        Some(dir) => encode_scenes(&config, tokenizer, &vqvae_encoder(dir)?)?,
        None => {
            if tokenizer.num_image_tokens() < 64 {
                bail!("the stand-in encoder emits 64 codes; the tokenizer has {} image tokens", tokenizer.num_image_tokens());
            }
            encode_scenes(&config, tokenizer, &stub_encoder)?
        }
    })
}

fn to_f16(args: ToF16Args) -> Result<()> {
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let data = match view.dtype() {
            safetensors::Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .flat_map(|b| half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
                .collect(),
            _ => view.data().to_vec(),
        };
        let dtype = if view.dtype() == safetensors::Dtype::F32 { safetensors::Dtype::F16 } else { view.dtype() };
        tensors.push((name, dtype, view.shape().to_vec(), data));
    }
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| Ok((name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)?)))
        .collect::<Result<Vec<_>>>()?;
    let out = safetensors::serialize(views, &None)?;
    std::fs::write(&args.out, out).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("{} tensors written to {} as f16", tensors.len(), args.out.display());
    Ok(())
}

fn rows(args: RowsArgs) -> Result<()> {
    let vq = HvqvaeConfig::from_json_file(args.vqvae.join("config.json"))?;
    let tok = text_tokenizer(&args.tokenizer, vq.params.quantize_config.params.n_embed)?;
    let lo_grid = [args.lo_grid; 2];
    let spec = SceneSpec {
        lo_grid,
        hi_grid: lo_grid,
        scenes: args.scenes,
        max_objects: args.max_objects,
        object_scale: args.look.object_scale()?,
        plain_background: args.look.plain_background,
        seed: args.seed,
        partial_captions: args.partial_captions,
        colourless_captions: args.colourless_captions,
    };
    let data = scene_data(&tok, Some(&args.vqvae), &spec)?;
    let tokens = scene_special_tokens(&tok, lo_grid, args.image_position_offset)?;
    let len = args.row_len.unwrap_or_else(|| SceneRows::min_len(&data));
    let rows = SceneRows::new(data, len, &tokens)?;
    write_safetensors_rows(&rows, &args.out)?;
    std::fs::write(&args.tokens_out, serde_json::to_string_pretty(&tokens)?)?;
    eprintln!("{} rows of {len} tokens in {}, special ids in {}", rows.len(), args.out.display(), args.tokens_out.display());
    Ok(())
}

fn trunk(args: &SrArgs, base: &CogLmConfig, device: &burn::backend::ndarray::NdArrayDevice) -> Result<CogLm<B>> {
    Ok(match &args.init_coglm {
        Some(dir) => {
            let (config, model) = CogLm::<B>::from_dir(dir, device)?;
            if config.hidden_size != base.hidden_size || config.num_layers != base.num_layers || config.vocab_size != base.vocab_size {
                bail!("the CogLM in {} does not match the SR config's trunk sizes", dir.display());
            }
            model
        }
        None => CogLm::<B>::new(base, device)?,
    })
}

fn sr_trainer_config(args: &SrArgs) -> TrainerConfig {
    let total = args.total_steps.unwrap_or(args.steps);
    let mut config = TrainerConfig::new(LrSchedule {
        peak_lr: args.lr,
        min_lr: args.lr / 100.0,
        warmup_steps: args.warmup.min(total),
        total_steps: total,
    });
    config.grad_clip_norm = (args.clip > 0.0).then_some(args.clip);
    config
}

impl SrArgs {
    /// The scenes an SR stage trains on, at its grids; captions always complete.
    fn scene_spec(&self, lo_grid: [usize; 2], hi_grid: [usize; 2]) -> Result<SceneSpec> {
        Ok(SceneSpec {
            lo_grid,
            hi_grid,
            scenes: self.scenes,
            max_objects: self.max_objects,
            object_scale: self.look.object_scale()?,
            plain_background: self.look.plain_background,
            seed: self.seed,
            partial_captions: 0.0,
            colourless_captions: 0.0,
        })
    }
}

fn sr(args: SrArgs, stage: Stage) -> Result<()> {
    let device = Default::default();
    B::seed(&device, args.seed);
    match stage {
        Stage::Dsr => {
            let trainer = match &args.resume {
                Some(dir) => ModuleTrainer::<B, DsrModel<B>>::resume(dir, &device)?,
                None => {
                    let config = DsrConfig::from_json_file(args.config.as_ref().context("--config is required")?)?;
                    let model = init_dsr(&trunk(&args, &config.base, &device)?, &config, args.seed, &device)?;
                    ModuleTrainer::new(model, sr_trainer_config(&args))?
                }
            };
            let c = trainer.model().config().clone();
            let spec = args.scene_spec(c.lo_grid, c.hi_grid)?;
            let data = cached_scene_data(&args, c.base.num_image_tokens, &spec, true)?;
            run_sr(trainer, &args, &data, |m, _, text, s| {
                let text = &text[..text.len().min(c.max_text_len())];
                dsr_loss(m, text, ints(&s.lowres, &device), ints(&s.hires, &device))
            })
        }
        Stage::Itersr => {
            let trainer = match &args.resume {
                Some(dir) => ModuleTrainer::<B, ItersrModel<B>>::resume(dir, &device)?,
                None => {
                    let config = ItersrConfig::from_json_file(args.config.as_ref().context("--config is required")?)?;
                    let model = init_itersr(&trunk(&args, &config.base, &device)?, &config, args.seed, &device)?;
                    ModuleTrainer::new(model, sr_trainer_config(&args))?
                }
            };
            let c = trainer.model().config().clone();
            // ITERSR has no low-res grid: render the low-res side at the hi-res grid (it is unused).
            let spec = args.scene_spec(c.hi_grid, c.hi_grid)?;
            let data = cached_scene_data(&args, c.base.num_image_tokens, &spec, false)?;
            let pattern = LoparPattern::official();
            run_sr(trainer, &args, &data, |m, step, text, s| {
                // The level is a function of (seed, step): a resumed run draws the same ones.
                let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
                let mask = lopar_mask(&pattern, c.hi_grid, draw_lopar_level(&mut rng, &pattern)?)?;
                itersr_loss(m, text, ints(&s.hires, &device), &mask)
            })
        }
    }
}

/// The loop both SR stages share: one scene per step (the SR losses share one text across a batch), caption
/// languages alternating so both forms condition the model, then checkpoint and export.
fn run_sr<M: AutodiffModule<B> + SrModelDir<B>>(
    mut trainer: ModuleTrainer<B, M>,
    args: &SrArgs,
    data: &[SceneTokens],
    mut loss: impl FnMut(&M, usize, &[i64], &SceneTokens) -> cogview2_train::Result<burn::tensor::Tensor<B, 1>>,
) -> Result<()> {
    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")?);
    let mut curve = LossLog::open(&args.out_dir, "step,loss,lr", args.resume.is_some())?;
    for _ in 0..args.steps {
        let step = trainer.step_count();
        let s = &data[step % data.len()];
        let text = s.text(if step.is_multiple_of(2) { Language::English } else { Language::Chinese });
        let (lr, value) = trainer.step(|m| loss(m, step, text, s))?;
        curve.row(&format!("{},{value:.5},{lr:.3e}", step + 1))?;
        bar.set_message(format!("loss {value:.4} lr {lr:.2e}"));
        bar.inc(1);
        if args.checkpoint_every > 0 && trainer.step_count().is_multiple_of(args.checkpoint_every) {
            trainer.save_checkpoint(&args.out_dir)?;
        }
    }
    bar.finish();
    trainer.save_checkpoint(&args.out_dir)?;
    if let Some(dir) = &args.export_dir {
        trainer.export_dir(dir)?;
    }
    eprintln!("checkpoint in {}", args.out_dir.display());
    Ok(())
}

/// `OUT_DIR/loss.csv`: a new run starts it afresh, a resumed one appends to it (continuing the curve).
struct LossLog(std::fs::File);

impl LossLog {
    fn open(out_dir: &std::path::Path, header: &str, resumed: bool) -> Result<Self> {
        use std::io::Write;
        std::fs::create_dir_all(out_dir)?;
        let path = out_dir.join("loss.csv");
        let fresh = !resumed || !path.exists();
        let mut file = if fresh {
            std::fs::File::create(&path)?
        } else {
            std::fs::OpenOptions::new().append(true).open(&path)?
        };
        if fresh {
            writeln!(file, "{header}")?;
        }
        Ok(Self(file))
    }

    fn row(&mut self, line: &str) -> Result<()> {
        use std::io::Write;
        Ok(writeln!(self.0, "{line}")?)
    }
}

fn ints(values: &[i64], device: &burn::backend::ndarray::NdArrayDevice) -> burn::tensor::Tensor<B, 2, burn::tensor::Int> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values.to_vec(), [1, values.len()]), device)
}
