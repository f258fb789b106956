//! Stage-1 CogLM generation from a model directory: prompt ids in, a grid of image token ids out.
//!
//! ```text
//! cargo run --release --example coglm_generate -- --model-dir ../shared/fixtures/coglm_generate
//! cargo run --release --example coglm_generate -- --model-dir MEDIUM/coglm --inputs MEDIUM/inputs.safetensors --bench
//! ```
//! The directory holds `config.json` (SAT `model_config.json` keys) and `weights.safetensors` (official names). The
//! prompt (text ids followed by `<start_of_image>`) comes from `--prompt-ids`, else from the `prompt` tensor of
//! `--inputs` or of the directory's `io.safetensors`. `--bench` times generation and appends a JSON line to
//! `bench-out/coglm_generate.jsonl`; with a `reference_outputs.safetensors` beside the inputs (written by
//! `shared/tools/torch_baseline.py make`), the greedy tokens are also compared with PyTorch's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use clap::Parser;
use cogview2::core::{generate_image_tokens, CogLm, GenerationOptions, ImagePrompt, Sampler};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser, Debug)]
#[command(about = "Generate stage-1 image tokens with CogLM")]
struct Args {
    /// Model directory (config.json + weights.safetensors).
    #[arg(long)]
    model_dir: PathBuf,
    /// Prompt ids, comma separated: text ids then <start_of_image>.
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<i64>>,
    /// A safetensors file with an i64 `prompt` tensor.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Side of the image token grid (default: the config's `image_grid`, else 20).
    #[arg(long)]
    grid: Option<usize>,
    /// Samples to generate.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Sample from the top-k logits instead of taking the argmax.
    #[arg(long)]
    top_k: Option<usize>,
    /// CPU backend: flex (faster) or ndarray.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Time the generation instead of printing tokens.
    #[arg(long)]
    bench: bool,
    /// Timed runs in --bench mode (after one warm-up).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn read_i64(path: &Path, name: &str) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = st.tensor(name).with_context(|| format!("{name} in {}", path.display()))?;
    Ok(t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    match args.backend.as_str() {
        "ndarray" => run::<burn::backend::NdArray>(&args),
        "flex" => run::<burn::backend::Flex>(&args),
        other => bail!("unknown backend {other}: use ndarray or flex"),
    }
}

fn run<B: Backend>(args: &Args) -> Result<()> {
    let device = B::Device::default();
    let (config, model) = CogLm::<B>::from_dir(&args.model_dir, &device)?;
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(args.model_dir.join("config.json"))?)?;
    let grid = args
        .grid
        .or_else(|| raw["image_grid"][0].as_u64().map(|g| g as usize))
        .unwrap_or(20);
    let inputs = args.inputs.clone().unwrap_or_else(|| args.model_dir.join("io.safetensors"));
    let ids = match &args.prompt_ids {
        Some(ids) => ids.clone(),
        None => read_i64(&inputs, "prompt")?,
    };
    let Some((&soi, text)) = ids.split_last() else { bail!("empty prompt") };
    let prompt = ImagePrompt { text_ids: text.to_vec(), start_of_image_id: soi };
    let sampler = match args.top_k {
        Some(k) => Sampler::TopK { k, temperature: 1.0 },
        None => Sampler::Argmax,
    };
    let options = GenerationOptions { batch_size: args.batch_size, seed: args.seed, sampler, ..Default::default() };
    let n = grid * grid;

    if !args.bench {
        let bar = ProgressBar::new((n * args.batch_size) as u64)
            .with_style(ProgressStyle::with_template("stage 1 {bar:40} {pos}/{len} tokens {per_sec}")?);
        let tokens = generate_image_tokens(&model, &prompt, n, &options, &device, &mut |done, _| bar.set_position(done as u64))?;
        bar.finish();
        let ids: Vec<i64> = tokens.into_data().convert::<i64>().to_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (s, sample) in ids.chunks(n).enumerate() {
            println!("sample {s}:");
            for row in sample.chunks(grid) {
                println!("  {}", row.iter().map(|t| format!("{t:5}")).collect::<String>());
            }
        }
        return Ok(());
    }

    let mut times = Vec::new();
    let mut last = Vec::new();
    for run in 0..=args.runs {
        let t = Instant::now();
        let tokens = generate_image_tokens(&model, &prompt, n, &options, &device, &mut |_, _| {})?;
        last = tokens.into_data().convert::<i64>().to_vec::<i64>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if run > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let tokens_per_s = (n * args.batch_size) as f64 / median;
    let reference = inputs.with_file_name("reference_outputs.safetensors");
    let matches_torch = if reference.exists() && args.top_k.is_none() && args.batch_size == 1 {
        Some(read_i64(&reference, "coglm.generated_tokens")? == last)
    } else {
        None
    };
    let line = serde_json::json!({
        "stage": "coglm_generate",
        "backend": args.backend,
        "median_s": median,
        "runs": times,
        "tokens_per_s": tokens_per_s,
        "ms_per_token": 1e3 * median / (n * args.batch_size) as f64,
        "batch_size": args.batch_size,
        "grid": grid,
        "config": { "num_layers": config.num_layers, "hidden_size": config.hidden_size,
                    "num_attention_heads": config.num_attention_heads, "num_image_tokens": config.num_image_tokens },
        "greedy_tokens_match_torch": matches_torch,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
    });
    println!("{line}");
    std::fs::create_dir_all("bench-out")?;
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open("bench-out/coglm_generate.jsonl")?;
    writeln!(f, "{line}")?;
    Ok(())
}
