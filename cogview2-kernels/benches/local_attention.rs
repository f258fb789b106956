//! Fused local attention vs the plain burn-ops reference on the real 60×60 shapes (DSR and ITERSR, one image ×
//! 48 heads × 64 channels). Prints one JSON object (and writes it to `$BENCH_JSON` if set) with median times,
//! the ratio, and the achieved memory bandwidth of the fused kernel (minimal traffic: read q, keys, values once,
//! write the output).
//!
//! `cargo bench -p cogview2-kernels --features wgpu` (lavapipe: correctness-grade speed only) or
//! `--features cuda` on a GPU. `BENCH_ITERS` (default 5) timed iterations after one warm-up.

use std::time::Instant;

use burn::backend::NdArray;
use burn::tensor::{backend::Backend, Tensor};
use cogview2_kernels::problems::{catalogue, Inputs, Problem};
use cogview2_kernels::{local_attention, reference, DenseKeys, ExtraKeys, LocalAttentionBackend, WindowKeys};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn to<B2: Backend, const D: usize>(t: &Tensor<NdArray, D>, device: &B2::Device) -> Tensor<B2, D> {
    Tensor::from_data(t.to_data(), device)
}

fn inputs_on<B2: Backend>(x: &Inputs<NdArray>, device: &B2::Device) -> Inputs<B2> {
    let window = |w: &WindowKeys<NdArray>| WindowKeys { k: to(&w.k, device), v: to(&w.v, device), window: w.window };
    Inputs {
        q: to(&x.q, device),
        local: window(&x.local),
        extra: x.extra.as_ref().map(|e| match e {
            ExtraKeys::Window(w) => ExtraKeys::Window(window(w)),
            ExtraKeys::Dense(d) => ExtraKeys::Dense(DenseKeys {
                k: to(&d.k, device),
                v: to(&d.v, device),
                bias: d.bias.as_ref().map(|t| to(t, device)),
                mask: d.mask.as_ref().map(|t| to(t, device)),
            }),
        }),
    }
}

/// Median seconds of `f` over `iters` runs after a warm-up; the query is perturbed every run so no backend can
/// reuse a result, and the device is synchronised before the clock stops.
fn time<B: Backend>(x: &Inputs<B>, iters: usize, f: impl Fn(&Inputs<B>, Tensor<B, 4>) -> Tensor<B, 4>) -> f64 {
    let device = x.q.device();
    let mut times = Vec::new();
    for i in 0..=iters {
        let q = x.q.clone() + (i as f64) * 1e-3;
        B::sync(&device).expect("sync");
        let start = Instant::now();
        let out = f(x, q);
        B::sync(&device).expect("sync");
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
        drop(out);
    }
    median(times)
}

fn fused<B: LocalAttentionBackend>(x: &Inputs<B>, q: Tensor<B, 4>) -> Tensor<B, 4> {
    local_attention(q, x.extra.clone(), x.local.clone()).expect("fused kernel")
}

fn reference_fused<B: Backend>(x: &Inputs<B>, q: Tensor<B, 4>) -> Tensor<B, 4> {
    reference::local_attention_fused(q, x.extra.clone(), x.local.clone()).expect("reference")
}

/// `reference_on_device`: also time the reference on the kernel backend (meaningful on a GPU; on lavapipe its
/// hundreds of full-size tensor ops take minutes).
fn bench_problem<G: LocalAttentionBackend>(p: &Problem, gpu: &G::Device, gpu_name: &str, iters: usize, reference_on_device: bool) -> serde_json::Value {
    let cpu = Default::default();
    let x = p.inputs::<NdArray>(&cpu);
    let ref_cpu = time(&x, iters, reference_fused);
    eprintln!("{}: reference on ndarray {ref_cpu:.3} s", p.name);
    let xg = inputs_on::<G>(&x, gpu);
    let kernel = time(&xg, iters, fused);
    eprintln!("{}: fused kernel on {gpu_name} {kernel:.4} s", p.name);
    let ref_gpu = reference_on_device.then(|| time(&xg, iters, reference_fused));
    let bytes = p.fused_bytes() as f64;
    serde_json::json!({
        "problem": p.name,
        "shape": { "batch": p.batch, "channels": p.channels, "grid": [p.rows, p.cols], "extra": format!("{:?}", p.extra) },
        "iters": iters,
        "reference_ndarray_s": ref_cpu,
        "reference_on_kernel_backend_s": ref_gpu,
        "fused_kernel_s": kernel,
        "kernel_backend": gpu_name,
        "speedup_vs_reference_same_backend": ref_gpu.map(|r| r / kernel),
        "speedup_vs_reference_ndarray": ref_cpu / kernel,
        "fused_min_bytes": bytes,
        "fused_bandwidth_gb_s": bytes / kernel / 1e9,
        "fused_gflop_s": p.fused_flops() as f64 / kernel / 1e9,
    })
}

fn main() {
    let iters = std::env::var("BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let problems: Vec<Problem> = catalogue().into_iter().filter(|p| p.name == "dsr_60x60_b1" || p.name == "itersr_60x60_b1").collect();
    let mut results = Vec::new();
    for p in &problems {
        #[cfg(feature = "cuda")]
        results.push(bench_problem::<cogview2_kernels::cube::CudaKernels>(p, &Default::default(), "cuda", iters, true));
        #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
        results.push(bench_problem::<cogview2_kernels::cube::WgpuKernels>(p, &Default::default(), "wgpu", iters, false));
        #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
        results.push(bench_problem::<burn::backend::Flex>(p, &Default::default(), "flex (reference; enable wgpu or cuda for the kernel)", iters, true));
    }
    let report = serde_json::to_string_pretty(&serde_json::json!({ "bench": "local_attention", "results": results })).expect("json");
    println!("{report}");
    if let Ok(path) = std::env::var("BENCH_JSON") {
        std::fs::write(&path, &report).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}
