//! Text-guided editing: re-draw a region of an image to fit a prompt (CogLM completion → DSR → ITERSR inside the
//! region → paste → codec round trip), the official `cogview2_completion.py`.
//!
//! ```text
//! cargo run --release --example edit -- --image photo.jpg --box 0.3,0.3,0.7,0.7 --prompt "a red circle"
//! cargo run --release --example edit -- --image photo.jpg --mask mask.png --prompt "a blue square" --batch-size 2
//! ```
//! `--box h0,w0,h1,w1` takes fractions of the (resized, centre-cropped) image: rows h0..h1, columns w0..w1.
//! `--mask` takes a grey image drawn over the input (white = re-draw), resized and cropped as the image.
//! Writes one PNG per sample and a grid PNG (3 per row) into `--output-dir`. `--model-dir` defaults to the model
//! shipped in the repository (`model/`); see `docs/model-dir.md` for the layout of a model directory.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cogview2::{image_grid, EditRegion, EditRequest, LocalAttentionBackend, Pipeline, Style};

#[derive(Parser, Debug)]
#[command(about = "Re-draw a region of an image from a prompt with CogView2")]
struct Args {
    /// The image to edit (PNG or JPEG, any size: resized and centre-cropped to the model's size).
    #[arg(long)]
    image: PathBuf,
    /// The region as fractions h0,w0,h1,w1 (top, left, bottom, right) of the image.
    #[arg(long = "box", value_name = "H0,W0,H1,W1", value_parser = parse_box, conflicts_with = "mask", required_unless_present = "mask")]
    region: Option<[f64; 4]>,
    /// The region as a grey image over the input (≥ 128 = re-draw).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// What the region should show.
    #[arg(long)]
    prompt: String,
    /// Prompt template: none, mainbody, photo, flat, comics, oil, sketch, isometric, chinese, watercolor. The
    /// default is none because the shipped model knows only the scene vocabulary; the official script's default,
    /// for the released weights, is mainbody.
    #[arg(long, default_value = "none")]
    style: Style,
    /// Edited versions to make.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Samples run through a model together.
    #[arg(long, default_value_t = 8)]
    max_inference_batch_size: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Sampling settings as JSON (the fields of `cogview2::Recipe`) instead of the model's `recipe.json`.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Model directory (default: the model shipped in the repository).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// cpu, cuda (feature `cuda`) or wgpu (feature `wgpu`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where the PNGs go.
    #[arg(long, default_value = "samples_edit")]
    output_dir: PathBuf,
}

fn parse_box(text: &str) -> std::result::Result<[f64; 4], String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|e| format!("{v:?}: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    values.try_into().map_err(|v: Vec<f64>| format!("expected 4 values h0,w0,h1,w1, got {}", v.len()))
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

fn run<B: LocalAttentionBackend>(args: &Args) -> Result<()> {
    let device = B::Device::default();
    let image =
        cogview2::vqvae::load_image(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let region = match (&args.region, &args.mask) {
        (Some([h0, w0, h1, w1]), _) => EditRegion::Box { h0: *h0, w0: *w0, h1: *h1, w1: *w1 },
        (None, Some(path)) => {
            let mask = cogview2::vqvae::load_image(path).with_context(|| format!("reading {}", path.display()))?;
            EditRegion::Mask(image::DynamicImage::ImageRgb8(mask).to_luma8())
        }
        (None, None) => bail!("--box or --mask is required"),
    };
    let dir = common::model_dir(args.model_dir.as_ref())?;
    let pipeline = Pipeline::<B>::from_dir(&dir, &device).with_context(|| format!("loading {}", dir.display()))?;
    let request = EditRequest {
        style: args.style,
        batch_size: args.batch_size,
        max_inference_batch_size: args.max_inference_batch_size,
        seed: args.seed,
        recipe: common::recipe(args.recipe.as_ref())?,
        ..EditRequest::new(image, region, args.prompt.clone())
    };
    let mut bars = common::StageBars::new();
    let images = pipeline.edit_with_progress(&request, &mut |p| bars.update(p))?;
    bars.finish();

    std::fs::create_dir_all(&args.output_dir)?;
    let stem = args.image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "edit".into());
    for (i, image) in images.iter().enumerate() {
        let path = args.output_dir.join(format!("{stem}-edit-{i}.png"));
        cogview2::vqvae::save_png(image, &path)?;
        println!("{}", path.display());
    }
    if images.len() > 1 {
        let grid = image_grid(&images, 3).context("edited images share a size")?;
        let path = args.output_dir.join(format!("{stem}-edit-grid.png"));
        cogview2::vqvae::save_png(&grid, &path)?;
        println!("{}", path.display());
    }
    Ok(())
}
