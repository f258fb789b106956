//! DSR / ITERSR attention against the `local_attention` fixture's `dsr_attn.*` and `itersr_attn.*` cases (the
//! official `sparse_attention_2d_light` / `sparse_attention_2d_text` on stored q, k, v). Tolerance: abs 1e-4.

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use cogview2_core::attention::merge_heads;
use cogview2_fixtures as fx;
use cogview2_sr::{dsr_attention, itersr_attention, LocalGeometry};

type B = NdArray;
const TOL: f32 = 1e-4;
const NAME: &str = "local_attention";

fn grid(cfg: &serde_json::Value, key: &str) -> [usize; 2] {
    let g = cfg[key].as_array().unwrap_or_else(|| panic!("config key {key} missing"));
    [g[0].as_u64().unwrap() as usize, g[1].as_u64().unwrap() as usize]
}

/// A stored `[1, seq, heads·d]` tensor as per-head `[1, heads, seq, d]`.
fn heads(a: &fx::Array, n: usize) -> Tensor<B, 4> {
    let [b, s, h] = [a.shape[0], a.shape[1], a.shape[2]];
    Tensor::<B, 3>::from_data(TensorData::new(a.f.clone(), [b, s, h]), &Default::default())
        .reshape([b, s, n, h / n])
        .swap_dims(1, 2)
}

fn floats(t: Tensor<B, 3>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

#[test]
fn dsr_attention_matches_sparse_attention_2d_light() {
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let n = fx::config_usize(&cfg, "heads");
    let ks = fx::config_usize(&cfg, "kernel_size");
    let ks2 = fx::config_usize(&cfg, "kernel_size2");
    let get = |k: &str| heads(&io[&format!("dsr_attn.{k}")], n);
    let t1 = io["dsr_attn.mask"].shape[0];
    let mask = Tensor::<B, 4>::from_data(TensorData::new(io["dsr_attn.mask"].f.clone(), [1, 1, t1, t1]), &Default::default());
    let local = LocalGeometry { hi_grid: grid(&cfg, "hi_grid"), self_window: [2 * ks - 1, ks] };
    let (c0, c1) = dsr_attention(
        (get("q0"), get("k0"), get("v0")),
        (get("q1"), get("k1"), get("v1")),
        &mask,
        grid(&cfg, "lo_grid"),
        [ks2, ks2],
        local,
    )
    .unwrap();
    close("dsr_attn.context0", &floats(merge_heads(c0)), &io["dsr_attn.context0"].f, TOL);
    close("dsr_attn.context1", &floats(merge_heads(c1)), &io["dsr_attn.context1"].f, TOL);
}

#[test]
fn itersr_attention_matches_sparse_attention_2d_text() {
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let n = fx::config_usize(&cfg, "heads");
    let ks = fx::config_usize(&cfg, "kernel_size");
    let t0 = fx::config_usize(&cfg, "itersr_text_region");
    let get = |k: &str| heads(&io[&format!("itersr_attn.{k}")], n);
    let cat = |a: &str, b: &str| Tensor::cat(vec![get(a), get(b)], 2);
    let mask = Tensor::<B, 4>::from_data(TensorData::new(io["itersr_attn.mask"].f.clone(), [1, 1, 1, t0]), &Default::default());
    let local = LocalGeometry { hi_grid: grid(&cfg, "hi_grid"), self_window: [2 * ks - 1, ks] };
    let context = itersr_attention((cat("q0", "q1"), cat("k0", "k1"), cat("v0", "v1")), &mask, local).unwrap();
    close("itersr_attn.context", &floats(merge_heads(context)), &io["itersr_attn.context"].f, TOL);
}

/// [`fx::assert_close`], reporting the largest difference (`--nocapture` shows it).
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    eprintln!("{what}: max |diff| = {:e}", fx::max_abs_diff(got, want));
    fx::assert_close(what, got, want, tol);
}
