//! Scores a model on the held-out scene prompts: every (colour, shape, position) combination that the synthetic
//! training data never shows (`cogview2_scenes::held_out_combos`), captioned in English and in Chinese, goes
//! through the whole pipeline; the 480 px result (the final image resized with Catmull-Rom when the model's grid
//! is smaller than the official 60×60) is read by the deterministic scene analyzer (dominant colour, shape by
//! fill ratio and contour, position by centroid).
//!
//! Each prompt is scored twice: one sample as drawn, and the best of `--candidates` samples by caption score
//! (post-selection, before super-resolution). Each share comes with its Wilson 95 % interval, and post-selection
//! with a paired sign test against the first samples of the same prompts (with 44 prompts one prompt is 2.3
//! points, so a few points either way is noise). `--draws N` scores every prompt N times with fresh seeds; the
//! intervals and the test then count each draw as a sample (draws of one prompt are not fully independent, so the
//! intervals are somewhat optimistic). Results go to stdout and `OUT/eval.json`, pictures (first draw) to
//! `OUT/*.png`.
//! `--likelihood` draws nothing: it reads how much the model prefers each true caption over captions that change
//! one attribute, for the codes of the prompted scene.
//!
//! ```text
//! cargo run --release --example eval_default
//! cargo run --release --example eval_default -- --model-dir model --candidates 4 --output-dir eval-out
//! cargo run --release --example eval_default -- --only-first-stage --draws 8 --split training
//! cargo run --release --example eval_default -- --likelihood --split training
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::{Int, Tensor};
use clap::Parser;
use cogview2::{image_grid, CpuBackend, Pipeline, Request, Style};
use cogview2_scenes::{
    analyze, caption, held_out_combos, render, training_combos, wilson_interval, Analysis, Combo, Language, PairedChange,
    Scene,
};
use image::imageops::FilterType;
use image::RgbImage;

#[allow(dead_code)] // only `model_dir` and `recipe` are used here
mod common;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Split {
    HeldOut,
    Training,
}

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
    /// Seed of the first prompt (prompt i of draw d uses seed + d · prompts + i).
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Independent draws per prompt (each with its own seed and candidates); every share counts all of them, so
    /// more draws narrow the intervals that sampling noise leaves (44 prompts alone leave about ±14 points).
    #[arg(long, default_value_t = 1)]
    draws: usize,
    /// Prompts to score: `held-out` (the combinations never seen in training: the evaluation) or `training` (every
    /// fourth seen combination, a set of similar size: for tuning a recipe without touching the held-out set).
    #[arg(long, value_enum, default_value_t = Split::HeldOut)]
    split: Split,
    /// Only the first N prompts (all by default).
    #[arg(long)]
    limit: Option<usize>,
    /// Sampling settings as JSON (the fields of `cogview2::Recipe`) instead of the model's `recipe.json`.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Score the stage-1 images (upscaled) instead of the super-resolved ones: shows what each stage loses.
    #[arg(long)]
    only_first_stage: bool,
    /// Score the codec's round trip of the prompted scene instead of generated pictures: the ceiling the codec
    /// leaves the generator (at the stage-1 size with --only-first-stage).
    #[arg(long)]
    codec_ceiling: bool,
    /// With --codec-ceiling, round-trip the scene at this side instead (a multiple of 8): how much a larger
    /// stage-1 grid would keep.
    #[arg(long, requires = "codec_ceiling")]
    ceiling_size: Option<usize>,
    /// Replace stage 1 by the codec's encoding of the prompted scene at the stage-1 size, then super-resolve:
    /// scores the super-resolution stages alone.
    #[arg(long, conflicts_with_all = ["codec_ceiling", "only_first_stage"])]
    true_lowres: bool,
    /// Instead of drawing, read each prompted scene's stage-1 codes under the prompt and under every prompt that
    /// changes one attribute (colour, shape or position): the share where the true prompt is the most likely shows
    /// what the model has learnt of each attribute, free of sampling noise.
    #[arg(long, conflicts_with_all = ["codec_ceiling", "true_lowres", "only_first_stage"])]
    likelihood: bool,
    /// Where eval.json and the pictures go.
    #[arg(long, default_value = "eval-out")]
    output_dir: PathBuf,
}

/// The scored attributes (each read right by the analyzer), in the order of [`Tally`]'s flags.
const METRICS: [&str; 5] = ["colour", "shape", "colour_and_shape", "position", "all_three"];
/// Index of colour + shape (the issue's measure) in [`METRICS`].
const COLOUR_AND_SHAPE: usize = 2;

/// Per-prompt outcomes of one scoring mode (first sample or post-selected), one flag per [`METRICS`] entry.
#[derive(Default, Debug, Clone)]
struct Tally {
    outcomes: Vec<[bool; METRICS.len()]>,
}

impl Tally {
    /// Scores one picture; returns what the analyzer read.
    fn add(&mut self, image: &RgbImage, want: Combo) -> Result<Analysis> {
        let analysis = analyze(image)?;
        let found = analysis.combo();
        let (colour, shape, position) =
            (found.colour == want.colour, found.shape == want.shape, found.position == want.position);
        self.outcomes.push([colour, shape, colour && shape, position, colour && shape && position]);
        Ok(analysis)
    }

    fn hits(&self, metric: usize) -> usize {
        self.outcomes.iter().filter(|o| o[metric]).count()
    }

    fn pct(&self, metric: usize) -> f64 {
        100.0 * self.hits(metric) as f64 / self.outcomes.len().max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (m, name) in METRICS.iter().enumerate() {
            out.insert(format!("{name}_pct"), self.pct(m).into());
        }
        let ci = METRICS.iter().enumerate().map(|(m, name)| {
            (name.to_string(), wilson_interval(self.hits(m), self.outcomes.len()).map(|x| 100.0 * x).to_vec().into())
        });
        out.insert("ci95_pct".into(), ci.collect::<serde_json::Map<_, _>>().into());
        out.into()
    }

    /// Per metric, how `later` differs from `self` on the same prompts.
    fn changes(&self, later: &Tally) -> [PairedChange; METRICS.len()] {
        std::array::from_fn(|m| {
            PairedChange::from_pairs(self.outcomes.iter().zip(&later.outcomes).map(|(a, b)| (a[m], b[m])))
        })
    }
}

/// The codec's codes of `combo`'s plain scene rendered at `size` px.
fn plain_scene_codes(pipeline: &Pipeline<CpuBackend>, combo: Combo, size: usize) -> Result<Tensor<CpuBackend, 2, Int>> {
    Ok(pipeline.encode_image(&render(&Scene::of_combo(combo), size as u32)?)?)
}

/// The prompted scene rendered at `size` px and passed through the codec (encode, decode): the best picture any
/// generator can decode, so its score bounds the model's.
fn codec_round_trip(pipeline: &Pipeline<CpuBackend>, combo: Combo, size: usize) -> Result<Vec<RgbImage>> {
    let codes = plain_scene_codes(pipeline, combo, size)?;
    Ok(pipeline.decode(codes, [size / 8, size / 8], &mut |_| {})?)
}

/// What `--likelihood` found for one attribute over the prompts.
#[derive(Default, Debug, Clone, Copy)]
struct Discrimination {
    hits: usize,
    /// Sum over prompts of `log p(scene | true prompt) − max over changed prompts`, nats.
    margin: f64,
}

impl Discrimination {
    fn json(&self, n: usize) -> serde_json::Value {
        serde_json::json!({
            "true_prompt_most_likely_pct": 100.0 * self.hits as f64 / n.max(1) as f64,
            "mean_margin_nats": self.margin / n.max(1) as f64,
        })
    }
}

/// The stage-1 codes of `combo`'s plain scene, scored under its caption and under each caption that changes one
/// attribute (colour, shape, position; colours equal to the background are skipped): per attribute, the true
/// caption's margin in nats over the best changed one (positive = the model prefers the truth).
fn attribute_margins(pipeline: &Pipeline<CpuBackend>, combo: Combo, language: Language, attn_plus: f32) -> Result<[f64; 3]> {
    let scene = Scene::of_combo(combo);
    let codes = plain_scene_codes(pipeline, combo, pipeline.lowres_grid()[0] * 8)?;
    let score = |c: Combo| -> Result<f64> {
        let mut s = scene.clone();
        (s.objects[0].colour, s.objects[0].shape, s.objects[0].position) = (c.colour, c.shape, c.position);
        Ok(f64::from(pipeline.image_log_likelihood(&caption(&s, language), Style::None, codes.clone(), attn_plus)?[0]))
    };
    let truth = score(combo)?;
    let mut best = [f64::NEG_INFINITY; 3];
    for variant in Combo::all().filter(|c| c.colour != scene.background) {
        let differs = [variant.colour != combo.colour, variant.shape != combo.shape, variant.position != combo.position];
        if differs.iter().filter(|&&d| d).count() == 1 {
            let which = differs.iter().position(|&d| d).unwrap_or_default();
            best[which] = best[which].max(score(variant)?);
        }
    }
    Ok(best.map(|b| truth - b))
}

/// `--likelihood`: every case's attribute margins, summed up per attribute.
fn likelihood_report(
    pipeline: &Pipeline<CpuBackend>,
    cases: &[(Combo, Language, String)],
    recipe: Option<&cogview2::Recipe>,
    args: &Args,
) -> Result<()> {
    let attn_plus = pipeline.resolve_recipe(recipe, Style::None).attn_plus;
    let mut found = [Discrimination::default(); 3];
    let mut per_prompt = Vec::new();
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    for (combo, language, text) in cases {
        let margins = attribute_margins(pipeline, *combo, *language, attn_plus)?;
        for (d, m) in found.iter_mut().zip(margins) {
            d.hits += usize::from(m > 0.0);
            d.margin += m;
        }
        per_prompt.push(serde_json::json!({ "prompt": text, "margins_nats": margins }));
        bar.inc(1);
    }
    bar.finish();
    let n = cases.len();
    let names = ["colour", "shape", "position"];
    let report = serde_json::json!({
        "model_dir": common::model_dir(args.model_dir.as_ref())?.display().to_string(),
        "split": format!("{:?}", args.split),
        "prompts": n,
        "attn_plus": attn_plus,
        "likelihood": names.iter().zip(&found).map(|(k, d)| (k.to_string(), d.json(n))).collect::<serde_json::Map<_, _>>(),
        "per_prompt": per_prompt,
    });
    std::fs::write(args.output_dir.join("eval.json"), serde_json::to_string_pretty(&report)?)?;
    println!("{n} {:?} prompts: the plain scene's stage-1 codes are most likely under the true prompt for", args.split);
    for (name, d) in names.iter().zip(&found) {
        println!("{name:>9}: {:5.1}% (mean margin {:.2} nats)", 100.0 * d.hits as f64 / n.max(1) as f64, d.margin / n.max(1) as f64);
    }
    Ok(())
}

/// DSR + ITERSR on the codec's encoding of the prompted scene at the stage-1 size (stage 1 made perfect).
fn super_resolve_true_lowres(pipeline: &Pipeline<CpuBackend>, combo: Combo, request: &Request) -> Result<Vec<RgbImage>> {
    let lowres = plain_scene_codes(pipeline, combo, pipeline.lowres_grid()[0] * 8)?;
    let text = pipeline.encode_prompt(&request.prompt, request.style)?;
    let recipe = pipeline.resolve_recipe(request.recipe.as_ref(), request.style);
    let hires = pipeline.super_resolve(&text, lowres, request, &recipe, None, &mut |_| {})?;
    Ok(pipeline.decode(hires, pipeline.hires_grid(), &mut |_| {})?)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    anyhow::ensure!(args.candidates > 0, "--candidates must be at least 1");
    anyhow::ensure!(args.draws > 0, "--draws must be at least 1");
    if let Some(size) = args.ceiling_size {
        anyhow::ensure!(size >= 8 && size % 8 == 0, "--ceiling-size {size} is not a positive multiple of 8");
    }
    let device = Default::default();
    let dir = common::model_dir(args.model_dir.as_ref())?;
    let recipe = common::recipe(args.recipe.as_ref())?;
    let pipeline = Pipeline::<CpuBackend>::from_dir(&dir, &device).with_context(|| format!("loading {}", dir.display()))?;
    std::fs::create_dir_all(&args.output_dir)?;

    let mut cases: Vec<(Combo, Language, String)> = Vec::new();
    let combos = match args.split {
        Split::HeldOut => held_out_combos(),
        Split::Training => training_combos().into_iter().step_by(4).collect(),
    };
    for combo in combos {
        for language in [Language::English, Language::Chinese] {
            cases.push((combo, language, caption(&Scene::of_combo(combo), language)));
        }
    }
    cases.truncate(args.limit.unwrap_or(cases.len()));
    if args.likelihood {
        return likelihood_report(&pipeline, &cases, recipe.as_ref(), &args);
    }

    let (mut first, mut selected) = (Tally::default(), Tally::default());
    let mut sheet = Vec::new();
    let mut seconds = Vec::new();
    let mut per_prompt = Vec::new();
    let bar = indicatif::ProgressBar::new((cases.len() * args.draws) as u64);
    let (cases, n_cases) = (&cases, cases.len());
    let draws = (0..args.draws).flat_map(|d| cases.iter().enumerate().map(move |(i, case)| (d, d * n_cases + i, case)));
    for (draw, index, (combo, _, text)) in draws {
        let request = Request {
            style: Style::None,
            seed: args.seed + index as u64,
            only_first_stage: args.only_first_stage,
            recipe: recipe.clone(),
            ..Request::new(text.clone())
        };
        let start = Instant::now();
        let images = if args.codec_ceiling {
            let size = match args.ceiling_size {
                Some(size) => size,
                None if args.only_first_stage => pipeline.lowres_grid()[0] * 8,
                None => pipeline.image_size()[0],
            };
            codec_round_trip(&pipeline, *combo, size)?
        } else if args.true_lowres {
            super_resolve_true_lowres(&pipeline, *combo, &request)?
        } else {
            pipeline.text_to_image(&request)?
        };
        seconds.push(start.elapsed().as_secs_f64());
        let best = if args.candidates == 1 || args.codec_ceiling || args.true_lowres {
            images.clone()
        } else {
            pipeline.text_to_image(&Request { batch_size: args.candidates, post_select: Some(1), ..request })?
        };
        let at = |im: &RgbImage| image::imageops::resize(im, args.analyze_size, args.analyze_size, FilterType::CatmullRom);
        let read = first.add(&at(&images[0]), *combo)?;
        let read_best = selected.add(&at(&best[0]), *combo)?;
        let outcome = serde_json::json!({ "prompt": text, "draw": draw, "first_sample": read, "post_selected": read_best });
        per_prompt.push(outcome);
        if draw == 0 {
            sheet.push(images[0].clone());
            sheet.push(best[0].clone());
        }
        bar.inc(1);
    }
    bar.finish();

    let n = cases.len() * args.draws;
    let post_selection = first.changes(&selected);
    seconds.sort_by(f64::total_cmp);
    let median_s = seconds.get(n / 2).copied().unwrap_or(0.0);
    let report = serde_json::json!({
        "model_dir": dir.display().to_string(),
        "split": format!("{:?}", args.split),
        "prompts": cases.len(),
        "draws": args.draws,
        "candidates": args.candidates,
        "analyze_size": args.analyze_size,
        "only_first_stage": args.only_first_stage,
        "codec_ceiling": args.codec_ceiling,
        "ceiling_size": args.ceiling_size,
        "true_lowres": args.true_lowres,
        "recipe": recipe.as_ref().or(pipeline.model_recipe()),
        "first_sample": first.json(),
        "post_selected": selected.json(),
        "post_selection_against_first_sample": METRICS.iter().zip(post_selection).map(|(name, c)| {
            let change = serde_json::json!({ "gained": c.gained, "lost": c.lost, "sign_test_p": c.p_value });
            (name.to_string(), change)
        }).collect::<serde_json::Map<_, _>>(),
        "median_seconds_per_image_batch_1": median_s,
        "per_prompt": per_prompt,
    });
    std::fs::write(args.output_dir.join("eval.json"), serde_json::to_string_pretty(&report)?)?;
    if let Some(grid) = image_grid(&sheet, 8) {
        cogview2::vqvae::save_png(&grid, args.output_dir.join("samples.png"))?;
    }
    println!(
        "{} {:?} prompts (English and Chinese) × {} draws, analysed at {} px",
        cases.len(),
        args.split,
        args.draws,
        args.analyze_size
    );
    for (name, t) in [("first sample", &first), ("post-selected", &selected)] {
        println!(
            "{name:>14}: colour {:5.1}%  shape {:5.1}%  colour+shape {:5.1}%  position {:5.1}%  all three {:5.1}%",
            t.pct(0),
            t.pct(1),
            t.pct(2),
            t.pct(3),
            t.pct(4)
        );
        let [lo, hi] = wilson_interval(t.hits(COLOUR_AND_SHAPE), n);
        println!("{:>14}  colour+shape 95 % interval {:.1}–{:.1}%", "", 100.0 * lo, 100.0 * hi);
    }
    if args.candidates > 1 && !args.codec_ceiling && !args.true_lowres {
        println!("post-selection against the first sample (prompts gained / lost, two-sided sign test):");
        for (name, c) in METRICS.iter().zip(post_selection) {
            let p = if c.p_value < 1e-3 { format!("{:.1e}", c.p_value) } else { format!("{:.3}", c.p_value) };
            println!("{name:>17}: +{} / -{} (p = {p})", c.gained, c.lost);
        }
    }
    println!("median {median_s:.2} s per image (one sample, stage 1 through decode)");
    Ok(())
}
