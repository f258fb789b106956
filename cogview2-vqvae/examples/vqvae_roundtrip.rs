//! Encode a picture to VQ-VAE tokens and decode it back: `in.png out.png`.
//!
//! ```text
//! cargo run --release -p cogview2-vqvae --example vqvae_roundtrip -- in.jpg out.png [--size 256] [--compress-rate 8]
//!     [--weights vqvae.safetensors --config config.json] [--no-resize]
//! ```
//! The picture is resized (shorter side → `--size`, bilinear) and centre-cropped to a square, as icetk does with
//! `image_size`; `--no-resize` keeps its size and only centre-crops each side to a multiple of the compress rate.
//!
//! Weights default to the tiny random-weight `vqvae` fixture (`$COGVIEW2_FIXTURES/vqvae`, else
//! `../shared/fixtures/vqvae` beside the repository): no trained model is converted yet, so the output is noise
//! of the right size. Pass `--weights`/`--config` for real weights (the released icetk model in safetensors under
//! the official names; `--config` defaults to the released config when `--weights` is given).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::backend::NdArray;
use clap::Parser;
use cogview2_vqvae::{
    center_crop, images_to_tensor, load_image, load_safetensors, resize_and_center_crop, save_png,
    tensor_to_images, CompressRate, HvqvaeConfig,
};

#[derive(Parser)]
#[command(about = "Round-trip a picture through the CogView2 (icetk) VQ-VAE")]
struct Args {
    /// Input picture (PNG or JPEG, any colour type).
    input: PathBuf,
    /// Output PNG.
    output: PathBuf,
    /// Weights in safetensors with icetk's parameter names [default: the vqvae fixture].
    #[arg(long)]
    weights: Option<PathBuf>,
    /// HVQVAE config JSON (icetk's constructor dict) [default: the fixture's with the fixture weights, else the
    /// released icetk config].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Pixels per token along each side: 4, 8 or 16.
    #[arg(long, default_value_t = 8)]
    compress_rate: u32,
    /// Square side the picture is resized and cropped to.
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Keep the picture's size; only crop each side down to a multiple of the compress rate.
    #[arg(long)]
    no_resize: bool,
}

fn fixture_dir() -> PathBuf {
    let root = std::env::var("COGVIEW2_FIXTURES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures").to_string());
    PathBuf::from(root).join("vqvae")
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let rate = CompressRate::try_from(args.compress_rate)?;

    let (weights, config) = match (&args.weights, &args.config) {
        (Some(w), Some(c)) => (w.clone(), HvqvaeConfig::from_json_file(c)?),
        (Some(w), None) => (w.clone(), HvqvaeConfig::icetk()),
        (None, c) => {
            let dir = fixture_dir();
            eprintln!("no --weights: using the random-weight test fixture in {} (output will be noise)", dir.display());
            let config = c.clone().unwrap_or_else(|| dir.join("config.json"));
            (dir.join("weights.safetensors"), HvqvaeConfig::from_json_file(config)?)
        }
    };
    let device = Default::default();
    let model = load_safetensors::<NdArray>(&config, &weights, &device)
        .with_context(|| format!("loading {}", weights.display()))?;

    let picture = load_image(&args.input)?;
    let picture = if args.no_resize {
        let cell = model.cell_size(rate) as u32;
        let (w, h) = picture.dimensions();
        if w < cell || h < cell {
            anyhow::bail!("{}x{} px is smaller than one {cell}x{cell} code cell; drop --no-resize", w, h);
        }
        center_crop(&picture, w - w % cell, h - h % cell)?
    } else {
        resize_and_center_crop(&picture, args.size)?
    };
    let (w, h) = picture.dimensions();

    let start = Instant::now();
    let ids = model.encode(images_to_tensor(&[picture], &device)?, rate)?;
    let encoded = start.elapsed();
    let tokens = ids.dims()[1];
    let grid = (h as usize / model.cell_size(rate), w as usize / model.cell_size(rate));
    let image = model.decode_grid(ids.reshape([1, grid.0, grid.1]), rate)?;
    let decoded = start.elapsed() - encoded;
    let out = tensor_to_images(image)?.remove(0);
    save_png(&out, &args.output)?;
    eprintln!(
        "{w}x{h} px -> {tokens} tokens ({}x{}) in {:.2}s -> {} in {:.2}s",
        grid.0,
        grid.1,
        encoded.as_secs_f64(),
        args.output.display(),
        decoded.as_secs_f64()
    );
    Ok(())
}
