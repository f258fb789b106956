//! Text → images with the whole CogView2 pipeline (CogLM → DSR → ITERSR → VQ-VAE).
//!
//! ```text
//! cargo run --release --example text2image -- --prompt "a red circle"
//! cargo run --release --example text2image -- --input-file prompts.txt --batch-size 4 --style none
//! cargo run --release --example text2image -- --prompt "a red circle" --bench   # per-stage times
//! cargo run --release --example text2image -- --prompt "a red circle" --batch-size 2 --candidates 8
//! cargo run --release --example text2image -- --prompt "a red circle" --candidates 1   # no post-selection
//! ```
//! Each image is the best of `--candidates` stage-1 drafts (default 4) by caption score: the drafts whose caption
//! CogLM finds most likely (inverse prompting) go on to super-resolution, written best first with their scores
//! printed. Stage 1 is the cheap stage, so this costs little. `--candidates 1` is the official text-to-image
//! script, which ranks nothing before super-resolution.
//! Writes one PNG per sample and a grid PNG (3 per row) per prompt into `--output-dir`. `--model-dir` defaults to
//! the model shipped in the repository (`model/`); see `docs/model-dir.md` for the layout of a model directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cogview2::{image_grid, LocalAttentionBackend, Pipeline, Request, Style};

#[derive(Parser, Debug)]
#[command(about = "Generate images from text with CogView2")]
struct Args {
    /// The prompt.
    #[arg(long, conflicts_with = "input_file", required_unless_present = "input_file")]
    prompt: Option<String>,
    /// A file with one prompt per line (empty lines skipped).
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// Prompt template: none, mainbody, photo, flat, comics, oil, sketch, isometric, chinese, watercolor. The
    /// default is none because the shipped model knows only the scene vocabulary; the official script's default,
    /// for the released weights, is mainbody.
    #[arg(long, default_value = "none")]
    style: Style,
    /// Images per prompt.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Samples run through a model together.
    #[arg(long, default_value_t = 8)]
    max_inference_batch_size: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Stage-1 drafts per image; the best `batch_size` by caption score are super-resolved (1: no post-selection).
    #[arg(long, default_value_t = 4)]
    candidates: usize,
    /// Sampling settings as JSON (the fields of `cogview2::Recipe`) instead of the model's `recipe.json`.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Stop after stage 1 (low-res image upscaled by nearest).
    #[arg(long)]
    only_first_stage: bool,
    /// Model directory (default: the model shipped in the repository).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// cpu, cuda (feature `cuda`) or wgpu (feature `wgpu`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where the PNGs go.
    #[arg(long, default_value = "samples")]
    output_dir: PathBuf,
    /// Time each stage and append a JSON line to bench-out/text2image.jsonl.
    #[arg(long)]
    bench: bool,
}

mod common;

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    match args.device.as_str() {
        "cpu" => run::<cogview2::CpuBackend>(&args),
        #[cfg(feature = "cuda")]
        "cuda" => run::<cogview2::CudaBackend>(&args),
        #[cfg(feature = "wgpu")]
        "wgpu" => run::<cogview2::WgpuBackend>(&args),
        other => bail!("device {other} is not available: use cpu, or build with --features cuda / wgpu"),
    }
}

fn prompts(args: &Args) -> Result<Vec<String>> {
    if let Some(p) = &args.prompt {
        return Ok(vec![p.clone()]);
    }
    let path = args.input_file.as_ref().context("--prompt or --input-file is required")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if lines.is_empty() {
        bail!("{} has no prompts", path.display());
    }
    Ok(lines)
}

/// A file-name stem from the prompt: its first 20 characters, path separators and control characters removed.
fn stem(prompt: &str, index: usize) -> String {
    let cleaned: String = prompt
        .chars()
        .filter(|c| !matches!(c, '/' | '\\') && !c.is_control())
        .take(20)
        .collect::<String>()
        .trim()
        .replace(' ', "_");
    format!("{index:03}-{cleaned}")
}

fn run<B: LocalAttentionBackend>(args: &Args) -> Result<()> {
    let device = B::Device::default();
    let dir = common::model_dir(args.model_dir.as_ref())?;
    let load = Instant::now();
    let pipeline = Pipeline::<B>::from_dir(&dir, &device).with_context(|| format!("loading {}", dir.display()))?;
    let load_s = load.elapsed().as_secs_f64();
    std::fs::create_dir_all(&args.output_dir)?;
    let recipe = common::recipe(args.recipe.as_ref())?;
    for (index, prompt) in prompts(args)?.iter().enumerate() {
        let request = Request {
            prompt: prompt.clone(),
            style: args.style,
            batch_size: args.batch_size * args.candidates,
            max_inference_batch_size: args.max_inference_batch_size,
            seed: args.seed,
            only_first_stage: args.only_first_stage,
            recipe: recipe.clone(),
            post_select: (args.candidates > 1).then_some(args.batch_size),
        };
        let mut bars = common::StageBars::new();
        let start = Instant::now();
        let tokens = pipeline.generate_tokens(&request, &mut |p| bars.update(p))?;
        if let Some(scores) = &tokens.caption_scores {
            eprintln!("caption scores of the kept candidates, best first: {scores:?}");
        }
        let images = match tokens.hires {
            Some(hires) => pipeline.decode(hires, pipeline.hires_grid(), &mut |p| bars.update(p))?,
            None => {
                let [h, w] = pipeline.image_size();
                pipeline
                    .decode(tokens.lowres, pipeline.lowres_grid(), &mut |p| bars.update(p))?
                    .iter()
                    .map(|im| image::imageops::resize(im, w as u32, h as u32, image::imageops::FilterType::Nearest))
                    .collect()
            }
        };
        bars.finish();
        let total_s = start.elapsed().as_secs_f64();
        let stem = stem(prompt, index);
        for (i, image) in images.iter().enumerate() {
            let path = args.output_dir.join(format!("{stem}-{i}.png"));
            cogview2::vqvae::save_png(image, &path)?;
            println!("{}", path.display());
        }
        if images.len() > 1 {
            let grid = image_grid(&images, 3).context("images of one request share a size")?;
            let path = args.output_dir.join(format!("{stem}-grid.png"));
            cogview2::vqvae::save_png(&grid, &path)?;
            println!("{}", path.display());
        }
        if args.bench {
            write_bench(args, &dir, prompt, load_s, total_s, &bars)?;
        }
    }
    Ok(())
}

fn write_bench(args: &Args, dir: &Path, prompt: &str, load_s: f64, total_s: f64, bars: &common::StageBars) -> Result<()> {
    let stages: serde_json::Map<String, serde_json::Value> =
        bars.times.iter().map(|(stage, s)| (format!("{stage:?}"), (*s).into())).collect();
    let line = serde_json::json!({
        "bench": "text2image",
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "model_dir": dir.display().to_string(),
        "device": args.device,
        "prompt": prompt,
        "batch_size": args.batch_size,
        "candidates": args.candidates,
        "only_first_stage": args.only_first_stage,
        "load_s": load_s,
        "total_s": total_s,
        "per_image_s": total_s / args.batch_size as f64,
        "stage_s": stages,
        "lopar_iteration_s": bars.lopar_laps,
    });
    eprintln!("{line}");
    std::fs::create_dir_all("bench-out")?;
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open("bench-out/text2image.jsonl")?;
    writeln!(file, "{line}")?;
    Ok(())
}
