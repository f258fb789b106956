//! Times DSR (one forward + argmax of the hi-res rows) and ITERSR (the 6 LoPAR iterations, argmax) on a model
//! directory written by `python3 ../shared/tools/torch_baseline.py make DIR`, the same work as that script's
//! `bench DIR --stages dsr,itersr`, and checks the tokens against its `reference_outputs.safetensors`.
//!
//! ```text
//! cargo run --release -p cogview2-sr --example sr_bench -- DIR [--runs 3] [--warmup 1] [--backend ndarray|flex]
//! ```
//! One JSON line per stage goes to stdout and to `--out` (default `bench-out/sr_bench.jsonl`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Parser;
use cogview2_core::Sampler;
use cogview2_sr::{DsrModel, ItersrModel, LocalAttentionBackend, LoparSchedule};
use rand::SeedableRng;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

#[derive(Parser)]
struct Args {
    /// Model directory from `torch_baseline.py make` (dsr/, itersr/, inputs.safetensors).
    dir: PathBuf,
    /// Timed runs per stage (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// `ndarray` or `flex`.
    #[arg(long, default_value = "ndarray")]
    backend: String,
    /// Comma-separated stages: dsr, itersr.
    #[arg(long, default_value = "dsr,itersr")]
    stages: String,
    /// JSON lines output.
    #[arg(long, default_value = "bench-out/sr_bench.jsonl")]
    out: PathBuf,
}

fn read_ids(path: &Path) -> Result<HashMap<String, Vec<i64>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    Ok(st
        .tensors()
        .into_iter()
        .filter(|(_, v)| v.dtype() == Dtype::I64)
        .map(|(k, v)| (k, v.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()))
        .collect())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn ids<B: Backend>(v: &[i64], device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

fn to_vec<B: Backend>(t: Tensor<B, 2, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().to_vec().unwrap()
}

fn mismatches(got: &[i64], want: Option<&Vec<i64>>) -> Option<usize> {
    want.map(|w| got.iter().zip(w).filter(|(a, b)| a != b).count())
}

fn run<B: LocalAttentionBackend>(args: &Args, device: B::Device) -> Result<Vec<serde_json::Value>> {
    let inputs = read_ids(&args.dir.join("inputs.safetensors"))?;
    let reference = read_ids(&args.dir.join("reference_outputs.safetensors")).unwrap_or_default();
    let text = inputs.get("text_tokens").context("inputs.safetensors has no text_tokens")?;
    let mut lines = Vec::new();
    let stages: Vec<&str> = args.stages.split(',').collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    if stages.contains(&"dsr") {
        let model = DsrModel::<B>::from_dir(args.dir.join("dsr"), &device)?;
        let lowres = inputs.get("lowres_tokens").context("no lowres_tokens")?;
        let argmax = Sampler::Argmax.to_device::<B>(model.config().base.num_image_tokens, &device)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut once = || -> Result<Vec<i64>> {
            Ok(to_vec(model.sample(text, ids::<B>(lowres, &device), &argmax, &mut rng)?))
        };
        for _ in 0..args.warmup {
            once()?;
        }
        let mut times = Vec::new();
        let mut tokens = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            tokens = once()?;
            times.push(t.elapsed().as_secs_f64());
        }
        let c = model.config();
        lines.push(serde_json::json!({
            "stage": "dsr", "median_s": median(times.clone()), "runs": times,
            "tokens_differing_from_torch": mismatches(&tokens, reference.get("dsr.hires_tokens")),
            "config": {"backend": args.backend, "layers": c.base.num_layers, "hidden": c.base.hidden_size,
                       "heads": c.base.num_attention_heads, "layout": c.layout, "lo_grid": c.lo_grid, "hi_grid": c.hi_grid,
                       "text_len": text.len(), "threads": threads,
                       "what": "one DSR forward + argmax of the hi-res rows (logits for hi-res rows only)"},
        }));
    }

    if stages.contains(&"itersr") {
        let model = ItersrModel::<B>::from_dir(args.dir.join("itersr"), &device)?;
        let hires = inputs.get("hires_tokens").context("no hires_tokens")?;
        let schedule = LoparSchedule::official_argmax();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut once = || -> Result<(Vec<i64>, Vec<f64>)> {
            let mut per_iteration = Vec::new();
            let mut last = Instant::now();
            let out = model.refine(text, ids::<B>(hires, &device), &schedule, None, &mut rng, &mut |step| {
                // Reading the tokens back makes the timing honest on lazy backends.
                let _ = step.tokens.to_data();
                per_iteration.push(last.elapsed().as_secs_f64());
                last = Instant::now();
            })?;
            Ok((to_vec(out), per_iteration))
        };
        for _ in 0..args.warmup {
            once()?;
        }
        let mut times = Vec::new();
        let mut iterations = Vec::new();
        let mut tokens = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            let (out, per) = once()?;
            times.push(t.elapsed().as_secs_f64());
            tokens = out;
            iterations.push(per);
        }
        let per_iteration_median: Vec<f64> = (0..schedule.iterations())
            .map(|k| median(iterations.iter().map(|r| r[k]).collect()))
            .collect();
        let c = model.config();
        lines.push(serde_json::json!({
            "stage": "itersr", "median_s": median(times.clone()), "runs": times,
            "per_iteration_median_s": per_iteration_median,
            "tokens_differing_from_torch": mismatches(&tokens, reference.get("itersr.tokens")),
            "config": {"backend": args.backend, "layers": c.base.num_layers, "hidden": c.base.hidden_size,
                       "heads": c.base.num_attention_heads, "layout": c.layout, "hi_grid": c.hi_grid,
                       "text_len": text.len(), "threads": threads, "iterations": schedule.iterations(),
                       "what": "6 LoPAR forwards + argmax at the masked cells (logits for masked rows only)"},
        }));
    }
    Ok(lines)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let lines = match args.backend.as_str() {
        "ndarray" => run::<burn::backend::NdArray>(&args, Default::default())?,
        "flex" => run::<burn::backend::Flex>(&args, Default::default())?,
        other => bail!("unknown backend {other}: use ndarray or flex"),
    };
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&args.out)?;
    for line in lines {
        println!("{line}");
        writeln!(file, "{line}")?;
    }
    Ok(())
}
