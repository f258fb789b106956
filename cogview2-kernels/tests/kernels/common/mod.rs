//! Fixture plumbing shared by the parity tests: the `local_attention` cases as burn tensors, run through any
//! implementation of the three operations.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use burn::tensor::{backend::Backend, Tensor, TensorData};
use cogview2_fixtures::{assert_close, config, config_usize, max_abs_diff, tensors, Array};
use cogview2_kernels::{DenseKeys, ExtraKeys, WindowKeys};

/// Tolerance of the `local_attention` fixture (its README): abs 1e-4.
pub const TOL: f32 = 1e-4;

pub fn tensor<B: Backend, const D: usize>(a: &Array, device: &B::Device) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(a.f.clone(), a.shape.clone()), device)
}

/// Seeds `B`'s generator and holds a lock until the guard drops: backends draw from one process-wide generator, so a
/// test that seeds and draws while others do would get inputs that depend on the test threads' timing.
pub fn seeded<B: Backend>(seed: u64) -> MutexGuard<'static, ()> {
    static DRAWS: Mutex<()> = Mutex::new(());
    let guard = DRAWS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    B::seed(&Default::default(), seed);
    guard
}

pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32 tensor")
}

/// One `f_similar` / `f_weighting` case of the fixture.
pub struct Case {
    pub name: &'static str,
    pub q: &'static str,
    pub kv: (&'static str, &'static str),
    pub kh: usize,
    pub kw: usize,
    pub causal: bool,
}

/// The four cases named in the fixture README, with window sizes from its config.json.
pub fn cases() -> Vec<Case> {
    let cfg = config("local_attention");
    let ks = config_usize(&cfg, "kernel_size");
    let ks2 = config_usize(&cfg, "kernel_size2");
    vec![
        Case { name: "self_9x5", q: "q_hi", kv: ("k_hi", "v_hi"), kh: 2 * ks - 1, kw: ks, causal: false },
        Case { name: "self_causal_9x5", q: "q_hi", kv: ("k_hi", "v_hi"), kh: 2 * ks - 1, kw: ks, causal: true },
        Case { name: "self_causal_5x5", q: "q_hi", kv: ("k_hi", "v_hi"), kh: ks, kw: ks, causal: true },
        Case { name: "cross_5x5", q: "q_hi", kv: ("k_lo", "v_lo"), kh: ks2, kw: ks2, causal: false },
    ]
}

pub fn fixture() -> HashMap<String, Array> {
    tensors("local_attention", "io.safetensors")
}

/// The operations under test.
pub trait Ops<B: Backend> {
    fn similar(&self, q: Tensor<B, 4>, k: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4>;
    fn weighting(&self, v: Tensor<B, 4>, p: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4>;
    fn fused(&self, q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Tensor<B, 4>;
}

/// Every fixture check of `ops` (the four cases, the DSR and ITERSR contexts); prints the worst errors under `label`.
pub fn check_fixture<B: Backend>(ops: &impl Ops<B>, label: &str, device: &B::Device) {
    let cases = check_cases::<B>(ops, device);
    let dsr = check_dsr::<B>(ops, device);
    let itersr = check_itersr::<B>(ops, device);
    eprintln!("{label}: max |err| scores/out {cases:e}, dsr context1 {dsr:e}, itersr context {itersr:e}");
}

/// Checks every `*.scores` and `*.out` (out = weighting(v, softmax(scores))); returns the worst error.
pub fn check_cases<B: Backend>(ops: &impl Ops<B>, device: &B::Device) -> f32 {
    let io = fixture();
    let mut worst = 0.0f32;
    for c in cases() {
        let q = tensor::<B, 4>(&io[c.q], device);
        let k = tensor::<B, 4>(&io[c.kv.0], device);
        let v = tensor::<B, 4>(&io[c.kv.1], device);
        let scores = ops.similar(q, k, c.kh, c.kw, c.causal);
        let want = &io[&format!("{}.scores", c.name)];
        assert_eq!(scores.dims().to_vec(), want.shape, "{}.scores shape", c.name);
        let p = burn::tensor::activation::softmax(scores.clone(), 3);
        let got = values(scores);
        assert_close(&format!("{}.scores", c.name), &got, &want.f, TOL);
        worst = worst.max(max_abs_diff(&got, &want.f));
        let out = values(ops.weighting(v, p, c.kh, c.kw, c.causal));
        let want = &io[&format!("{}.out", c.name)];
        assert_close(&format!("{}.out", c.name), &out, &want.f, TOL);
        worst = worst.max(max_abs_diff(&out, &want.f));
    }
    worst
}

/// Sizes of the official attention cases (from config.json).
struct AttnSizes {
    heads: usize,
    d: usize,
    l1: usize,
    l0: usize,
    dsr_text: usize,
    itersr_text: usize,
}

fn attn_sizes() -> AttnSizes {
    let cfg = config("local_attention");
    let heads = config_usize(&cfg, "heads");
    let grid = |key: &str| cfg[key][0].as_u64().expect("grid") as usize;
    AttnSizes {
        heads,
        d: config_usize(&cfg, "hidden") / heads,
        l1: grid("hi_grid"),
        l0: grid("lo_grid"),
        dsr_text: config_usize(&cfg, "dsr_text_region"),
        itersr_text: config_usize(&cfg, "itersr_text_region"),
    }
}

/// `[b, s, n·d]` token rows (rows `from..from + l·l`) → grid `[b·n, d, l, l]`, as the official `view/permute`.
fn to_grid<B: Backend>(x: Tensor<B, 3>, from: usize, l: usize, n: usize, d: usize) -> Tensor<B, 4> {
    let [b, _, _] = x.dims();
    x.slice([0..b, from..from + l * l, 0..n * d])
        .reshape([b, l * l, n, d])
        .permute([0, 2, 3, 1])
        .reshape([b * n, d, l, l])
}

/// `[b·n, d, l, l]` → `[b, l·l, n·d]`.
fn from_grid<B: Backend>(x: Tensor<B, 4>, b: usize, n: usize) -> Tensor<B, 3> {
    let [_, d, l, _] = x.dims();
    x.reshape([b, n, d, l * l]).permute([0, 3, 1, 2]).reshape([b, l * l, n * d])
}

/// DSR's `sparse_attention_2d_light` hi-res context (`dsr_attn.context1`); returns the max error.
pub fn check_dsr<B: Backend>(ops: &impl Ops<B>, device: &B::Device) -> f32 {
    let io = fixture();
    let s = attn_sizes();
    let t = |name: &str| tensor::<B, 3>(&io[&format!("dsr_attn.{name}")], device);
    let b = io["dsr_attn.q1"].shape[0];
    let q1 = to_grid(t("q1"), 0, s.l1, s.heads, s.d) / (s.d as f64).sqrt();
    let local = WindowKeys::new(to_grid(t("k1"), 0, s.l1, s.heads, s.d), to_grid(t("v1"), 0, s.l1, s.heads, s.d), 9, 5);
    let cross = WindowKeys::new(
        to_grid(t("k0"), s.dsr_text, s.l0, s.heads, s.d),
        to_grid(t("v0"), s.dsr_text, s.l0, s.heads, s.d),
        5,
        5,
    );
    let ctx = from_grid(ops.fused(q1, Some(ExtraKeys::Window(cross)), local), b, s.heads);
    let got = values(ctx);
    let want = &io["dsr_attn.context1"];
    assert_close("dsr_attn.context1", &got, &want.f, TOL);
    max_abs_diff(&got, &want.f)
}

/// ITERSR's `sparse_attention_2d_text` hi-res rows of `itersr_attn.context`; returns the max error.
pub fn check_itersr<B: Backend>(ops: &impl Ops<B>, device: &B::Device) -> f32 {
    let io = fixture();
    let s = attn_sizes();
    let t = |name: &str| tensor::<B, 3>(&io[&format!("itersr_attn.{name}")], device);
    let b = io["itersr_attn.q1"].shape[0];
    let text = |x: Tensor<B, 3>| x.reshape([b, s.itersr_text, s.heads, s.d]).swap_dims(1, 2).reshape([b * s.heads, s.itersr_text, s.d]);
    let q1 = to_grid(t("q1"), 0, s.l1, s.heads, s.d) / (s.d as f64).sqrt();
    let local = WindowKeys::new(to_grid(t("k1"), 0, s.l1, s.heads, s.d), to_grid(t("v1"), 0, s.l1, s.heads, s.d), 9, 5);
    let mask = tensor::<B, 2>(&io["itersr_attn.mask"], device);
    let dense = DenseKeys { k: text(t("k0")), v: text(t("v0")), bias: None, mask: Some(mask) };
    let ctx = from_grid(ops.fused(q1, Some(ExtraKeys::Dense(dense)), local), b, s.heads);
    let got = values(ctx);
    let want = &io["itersr_attn.context"];
    let hidden = s.heads * s.d;
    let want_hi = &want.f[s.itersr_text * hidden..];
    assert_close("itersr_attn.context (hi-res rows)", &got, want_hi, TOL);
    max_abs_diff(&got, want_hi)
}
