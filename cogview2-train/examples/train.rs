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
//! ```
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
use indicatif::{ProgressBar, ProgressStyle};

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
}

#[derive(Args)]
struct CoglmArgs {
    /// CogLM `config.json`; without it, a tiny demo model with a small id space is trained.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Special ids as JSON (`SpecialTokens`); default: icetk's with --config, the demo ids without.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Token rows: a safetensors file with an I64 tensor `rows` [N, L]; default: synthetic rows.
    #[arg(long)]
    data: Option<PathBuf>,
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
    /// Seed of the model init, the synthetic rows and the masking draws.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
}

/// The demo id space: 32 image codes, <pad> 33, English [40, 56), Chinese [56, 72), starts 72/73/74, 4×4 images.
fn demo_tokens() -> SpecialTokens {
    SpecialTokens {
        pad: 33,
        start_of_image: 72,
        start_of_english: 73,
        start_of_chinese: 74,
        num_image_tokens: 32,
        first_english_id: 40,
        first_chinese_id: 56,
        end_chinese_id: 72,
        image_grid: 4,
        image_position_offset: 512,
    }
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
            let (model_config, default_tokens) = match &args.config {
                Some(path) => (CogLmConfig::from_json_file(path)?, SpecialTokens::icetk()),
                None => (demo_config(), demo_tokens()),
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
            let model = CogLm::<B>::new(&model_config, &device)?;
            CogLmTrainer::new(model, model_config, config, tokens)?
        }
    };
    let tokens = trainer.tokens().clone();
    let masking = masking_for(&tokens);

    let rows: Box<dyn RowSource> = match &args.data {
        Some(path) => Box::new(safetensors_rows(path)?),
        None => {
            let len = args.row_len.unwrap_or(if tokens.image_grid < 8 { 48 } else { 512 });
            Box::new(InMemoryRows::synthetic(args.synthetic_rows, len, 0.25, &tokens, args.seed)?)
        }
    };
    if rows.is_empty() {
        bail!("no training rows");
    }

    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")?);
    let (out_dir, every, batch_size, seed) = (args.out_dir.clone(), args.checkpoint_every, args.batch_size, args.seed);
    let mut last = None;
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
        bar.inc(1);
        last = Some(report);
        if every > 0 && trainer.step_count() % every == 0 {
            trainer.save_checkpoint(&out_dir)?;
        }
    }
    bar.finish();
    trainer.save_checkpoint(&out_dir)?;
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
    }
}
