//! Decode benchmark: a 60×60 code grid (CogView2's super-resolution size) → 480×480 image through `decs.1`
//! (compress rate 8), random weights, NdArray backend, f32.
//!
//! ```text
//! cargo bench -p cogview2-vqvae --bench decode
//! VQVAE_BENCH_CHANNELS=128,64 VQVAE_BENCH_RUNS=3 VQVAE_BENCH_JSON=out.json cargo bench -p cogview2-vqvae --bench decode
//! ```
//! Channels 128 is the released model; 64 is torch_baseline.py's medium setting (its 1.22 s reference,
//! 2 threads). Both use z 256 and 20000 codes. Results (median/min/max seconds per decode) go to
//! `VQVAE_BENCH_JSON`, default `benches/results/decode_ndarray.json` in this crate.

use std::time::Instant;

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_vqvae::{CompressRate, Hvqvae, HvqvaeConfig};

type B = NdArray;
const GRID: usize = 60;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Seeded codes (xorshift), different per run so nothing can be cached between iterations.
fn codes(seed: u64, n_embed: usize, device: &burn::backend::ndarray::NdArrayDevice) -> Tensor<B, 3, Int> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let ids: Vec<i64> = (0..GRID * GRID)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n_embed as u64) as i64
        })
        .collect();
    Tensor::from_data(TensorData::new(ids, [1, GRID, GRID]), device)
}

/// 1-minute load average where the OS exposes it (Linux), else null.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn main() {
    let channels: Vec<usize> =
        env_or("VQVAE_BENCH_CHANNELS", "128,64").split(',').map(|c| c.trim().parse().expect("channels")).collect();
    let runs: usize = env_or("VQVAE_BENCH_RUNS", "3").parse().expect("VQVAE_BENCH_RUNS");
    let json_path =
        env_or("VQVAE_BENCH_JSON", concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/decode_ndarray.json"));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let device = Default::default();

    let mut results = Vec::new();
    for ch in channels {
        let config = HvqvaeConfig::with_sizes(ch, 256, 20000);
        let model = Hvqvae::<B>::new(&config, &device).expect("config");
        let mut times = Vec::with_capacity(runs);
        // Run 0 is a warm-up (lazy weight initialisation, allocator).
        for run in 0..=runs {
            let ids = codes(run as u64 + 1, 20000, &device);
            let start = Instant::now();
            let image = model.decode_grid(ids, CompressRate::X8).expect("decode");
            let data = image.into_data();
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(data.shape.to_vec(), vec![1, 3, 8 * GRID, 8 * GRID]);
            if run > 0 {
                times.push(secs);
            }
            eprintln!("channels {ch} run {run}: {secs:.3} s{}", if run == 0 { " (warm-up)" } else { "" });
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!("vqvae decode 60x60 -> 480x480, channels {ch}: median {median:.3} s over {runs} runs");
        results.push(serde_json::json!({
            "stage": "vqvae_decode",
            "backend": "ndarray",
            "channels": ch,
            "z_channels": 256,
            "n_embed": 20000,
            "grid": [GRID, GRID],
            "median_s": median,
            "min_s": times[0],
            "max_s": times[times.len() - 1],
            "runs": times,
            "threads": threads,
            // The machines are shared: the 1-minute load average says how contended the timing was.
            "load_avg_1m": load_average(),
        }));
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({ "results": results })).expect("json");
    if let Some(dir) = std::path::Path::new(&json_path).parent() {
        std::fs::create_dir_all(dir).expect("results dir");
    }
    std::fs::write(&json_path, json + "\n").expect("write results");
    println!("results written to {json_path}");
}
