//! Scores a model on the held-out scene prompts: every (colour, shape, position) combination that the synthetic
//! training data never shows (`cogview2_scenes::held_out_combos`), captioned in English and in Chinese, goes
//! through the whole pipeline; the 480 px result (the final image resized with Catmull-Rom when the model's grid
//! is smaller than the official 60×60) is read by the deterministic scene analyzer (dominant colour, shape by
//! fill ratio and contour, position by centroid).
//!
//! Each prompt is scored twice: one sample as drawn, and the best of `--candidates` samples by caption score
//! (post-selection, before super-resolution). Results go to stdout and `OUT/eval.json`, pictures to `OUT/*.png`.
//!
//! ```text
//! cargo run --release --example eval_default
//! cargo run --release --example eval_default -- --model-dir model --candidates 4 --output-dir eval-out
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use cogview2::{image_grid, CpuBackend, Pipeline, Request, Style};
use cogview2_scenes::{analyze, caption, held_out_combos, Colour, Combo, Language, Scene, SceneObject};
use image::imageops::FilterType;
use image::RgbImage;

#[allow(dead_code)] // only `model_dir` and `recipe` are used here
mod common;

#[derive(Parser, Debug)]
#[command(about = "Score a model on held-out scene prompts (colour, shape, position)")]
struct Args {
    /// Model directory (default: the model shipped in the repository).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Samples drawn per prompt; post-selection keeps the best one by caption score.
    #[arg(long, default_value_t = 4)]
    candidates: usize,
    /// Side of the image the analyzer reads.
    #[arg(long, default_value_t = 480)]
    analyze_size: u32,
    /// Seed of the first prompt (prompt i uses seed + i).
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Only the first N prompts (all by default).
    #[arg(long)]
    limit: Option<usize>,
    /// Sampling settings as JSON (the fields of `cogview2::Recipe`) instead of the model's `recipe.json`.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Score the stage-1 images (upscaled) instead of the super-resolved ones: shows what each stage loses.
    #[arg(long)]
    only_first_stage: bool,
    /// Where eval.json and the pictures go.
    #[arg(long, default_value = "eval-out")]
    output_dir: PathBuf,
}

/// Hits of one scoring mode.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    colour_and_shape: usize,
    position: usize,
    all: usize,
}

impl Tally {
    fn add(&mut self, image: &RgbImage, want: Combo) -> Result<()> {
        let found = analyze(image)?.combo();
        let colour_and_shape = found.colour == want.colour && found.shape == want.shape;
        self.colour_and_shape += usize::from(colour_and_shape);
        self.position += usize::from(found.position == want.position);
        self.all += usize::from(colour_and_shape && found.position == want.position);
        Ok(())
    }

    fn json(&self, n: usize) -> serde_json::Value {
        let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
        serde_json::json!({
            "colour_and_shape_pct": pct(self.colour_and_shape),
            "position_pct": pct(self.position),
            "all_three_pct": pct(self.all),
        })
    }
}

/// The caption of a single-object scene with `combo` on a background of another colour (white, or black for a
/// white object), in `language`.
fn prompt(combo: Combo, language: Language) -> Result<String> {
    let background = if combo.colour == Colour::White { Colour::Black } else { Colour::White };
    let object = SceneObject { colour: combo.colour, shape: combo.shape, position: combo.position, scale: 0.7, offset: [0.0; 2] };
    Ok(caption(&Scene::new(background, vec![object])?, language))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    anyhow::ensure!(args.candidates > 0, "--candidates must be at least 1");
    let device = Default::default();
    let dir = common::model_dir(args.model_dir.as_ref())?;
    let recipe = common::recipe(args.recipe.as_ref())?;
    let pipeline = Pipeline::<CpuBackend>::from_dir(&dir, &device).with_context(|| format!("loading {}", dir.display()))?;
    std::fs::create_dir_all(&args.output_dir)?;

    let mut cases: Vec<(Combo, Language, String)> = Vec::new();
    for combo in held_out_combos() {
        for language in [Language::English, Language::Chinese] {
            cases.push((combo, language, prompt(combo, language)?));
        }
    }
    cases.truncate(args.limit.unwrap_or(cases.len()));

    let (mut first, mut selected) = (Tally::default(), Tally::default());
    let mut sheet = Vec::new();
    let mut seconds = Vec::new();
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    for (i, (combo, _, text)) in cases.iter().enumerate() {
        let request = Request {
            style: Style::None,
            seed: args.seed + i as u64,
            only_first_stage: args.only_first_stage,
            recipe: recipe.clone(),
            ..Request::new(text.clone())
        };
        let start = Instant::now();
        let images = pipeline.text_to_image(&request)?;
        seconds.push(start.elapsed().as_secs_f64());
        let best = pipeline.text_to_image(&Request { batch_size: args.candidates, post_select: Some(1), ..request })?;
        let at = |im: &RgbImage| image::imageops::resize(im, args.analyze_size, args.analyze_size, FilterType::CatmullRom);
        first.add(&at(&images[0]), *combo)?;
        selected.add(&at(&best[0]), *combo)?;
        sheet.push(images[0].clone());
        sheet.push(best[0].clone());
        bar.inc(1);
    }
    bar.finish();

    let n = cases.len();
    seconds.sort_by(f64::total_cmp);
    let median_s = seconds.get(n / 2).copied().unwrap_or(0.0);
    let report = serde_json::json!({
        "model_dir": dir.display().to_string(),
        "prompts": n,
        "candidates": args.candidates,
        "analyze_size": args.analyze_size,
        "only_first_stage": args.only_first_stage,
        "recipe": recipe.as_ref().or(pipeline.model_recipe()),
        "first_sample": first.json(n),
        "post_selected": selected.json(n),
        "median_seconds_per_image_batch_1": median_s,
    });
    std::fs::write(args.output_dir.join("eval.json"), serde_json::to_string_pretty(&report)?)?;
    if let Some(grid) = image_grid(&sheet, 8) {
        cogview2::vqvae::save_png(&grid, &args.output_dir.join("samples.png"))?;
    }
    println!("{n} held-out prompts (English and Chinese), analysed at {} px", args.analyze_size);
    for (name, t) in [("first sample", first), ("post-selected", selected)] {
        println!(
            "{name:>14}: colour+shape {:5.1}%  position {:5.1}%  all three {:5.1}%",
            100.0 * t.colour_and_shape as f64 / n.max(1) as f64,
            100.0 * t.position as f64 / n.max(1) as f64,
            100.0 * t.all as f64 / n.max(1) as f64
        );
    }
    println!("median {median_s:.2} s per image (one sample, stage 1 through decode)");
    Ok(())
}
