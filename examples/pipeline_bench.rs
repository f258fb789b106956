//! Per-stage time of the whole pipeline (stage 1, DSR, each LoPAR iteration, decode) on the medium random-weight
//! model written by `python3 ../shared/tools/torch_baseline.py make DIR`, with argmax everywhere as that script's
//! `bench DIR` does; stage-1 tokens are checked against its `reference_outputs.safetensors` when present.
//!
//! ```text
//! cargo run --release --example pipeline_bench -- DIR [--runs 1] [--out bench-out/pipeline_bench.jsonl]
//! ```
//! The medium model carries no text model or cluster table: the prompt is the `text_tokens` of `DIR/inputs`, the
//! tokenizer only fills the id space, and argmax needs no clusters (a stand-in table is used for loading).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use cogview2::core::{ClusterTable, CogLm};
use cogview2::sr::{DsrModel, ItersrModel};
use cogview2::vqvae::{load_safetensors, HvqvaeConfig};
use cogview2::{CpuBackend as B, Pipeline, PipelineParts, Recipe, Request, Stage};
use cogview2_fixtures as fx;

#[derive(Parser)]
struct Args {
    /// Directory from `torch_baseline.py make`.
    dir: PathBuf,
    /// Timed runs (the median of each stage is reported).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// JSON lines output.
    #[arg(long, default_value = "bench-out/pipeline_bench.jsonl")]
    out: PathBuf,
}

fn read_i64(path: &Path, name: &str) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = st.tensor(name).with_context(|| format!("{name} in {}", path.display()))?;
    Ok(t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = Default::default();
    let load = Instant::now();
    let (_, coglm) = CogLm::<B>::from_dir(args.dir.join("coglm"), &device)?;
    let dsr = DsrModel::from_dir(args.dir.join("dsr"), &device)?;
    let n = coglm.num_image_tokens;
    let soi = dsr.config().start_of_image_id as usize;
    let vq_config = HvqvaeConfig::from_json_file(args.dir.join("vqvae/config.json"))?;
    let parts = PipelineParts {
        tokenizer: fx::tokenizer_for_id_space(n, soi, &[]),
        vqvae: load_safetensors(&vq_config, args.dir.join("vqvae/weights.safetensors"), &device)?,
        coglm,
        dsr,
        itersr: ItersrModel::from_dir(args.dir.join("itersr"), &device)?,
        clusters: ClusterTable::from_labels((0..n as i64).map(|t| t % 500).collect())?,
    };
    let pipeline = Pipeline::from_parts(parts, &device)?;
    let load_s = load.elapsed().as_secs_f64();
    let inputs = args.dir.join("inputs.safetensors");
    let text = read_i64(&inputs, "text_tokens")?;
    let request = Request {
        batch_size: 1,
        recipe: Some(Recipe { argmax: true, ..Recipe::default() }),
        ..Request::new("")
    };

    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
    let mut stage1_tokens = Vec::new();
    for run in 0..args.runs.max(1) {
        let mut laps: Vec<(String, f64)> = Vec::new();
        let mut last = Instant::now();
        let mut lopar = 0;
        let tokens = pipeline.generate_tokens_from_ids(&text, &request, &mut |p| {
            // Stage 1 reports every token; only its end is a lap.
            if p.stage == Stage::Stage1 && p.done < p.total {
                return;
            }
            let name = match p.stage {
                Stage::IterativeSuperResolution => {
                    lopar += 1;
                    format!("itersr_iteration_{lopar}")
                }
                other => format!("{other:?}"),
            };
            laps.push((name, last.elapsed().as_secs_f64()));
            last = Instant::now();
        })?;
        let hires = tokens.hires.context("super-resolution ran")?;
        let start = Instant::now();
        pipeline.decode(hires, pipeline.hires_grid(), &mut |_| {})?;
        laps.push(("Decode".into(), start.elapsed().as_secs_f64()));
        eprintln!("run {run}: {laps:?}");
        stage1_tokens = tokens.lowres.into_data().convert::<i64>().to_vec::<i64>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        runs.push(laps);
    }

    let reference = args.dir.join("reference_outputs.safetensors");
    let stage1_matches_torch = reference
        .exists()
        .then(|| read_i64(&reference, "coglm.generated_tokens").map(|want| want == stage1_tokens))
        .transpose()?;
    let stages: serde_json::Map<String, serde_json::Value> = runs[0]
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), median(runs.iter().map(|r| r[i].1).collect()).into()))
        .collect();
    let total: f64 = stages.values().filter_map(|v| v.as_f64()).sum();
    let line = serde_json::json!({
        "bench": "pipeline_bench",
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "dir": args.dir.display().to_string(),
        "backend": "flex",
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "runs": runs.len(),
        "load_s": load_s,
        "stage_median_s": stages,
        "total_s": total,
        "stage1_tokens_match_torch": stage1_matches_torch,
    });
    println!("{line}");
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    writeln!(std::fs::OpenOptions::new().create(true).append(true).open(&args.out)?, "{line}")?;
    Ok(())
}
