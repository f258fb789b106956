//! The cubecl kernels on burn's wgpu backend (lavapipe in CI): against the `local_attention` fixture (abs 1e-4)
//! and against the reference (NdArray) on the CI subset of the problem catalogue (abs 1e-4).
//!
//! Needs a Vulkan driver (`mesa-vulkan-drivers`) and `XDG_RUNTIME_DIR`; run with `--features wgpu`.

#![cfg(feature = "wgpu")]


use burn::backend::NdArray;
use burn::tensor::{activation::softmax, Tensor, TensorData};
use cogview2_fixtures::{assert_close, max_abs_diff};
use cogview2_kernels::cube::WgpuKernels;
use cogview2_kernels::problems::{catalogue, Inputs, Problem};
use cogview2_kernels::{local_attention, reference, similar, weighting, DenseKeys, ExtraKeys, WindowKeys};
use crate::common::{seeded, values, Ops, TOL};

type Gpu = WgpuKernels;
type Cpu = NdArray;

struct Kernels;

impl Ops<Gpu> for Kernels {
    fn similar(&self, q: Tensor<Gpu, 4>, k: Tensor<Gpu, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<Gpu, 4> {
        similar(q, k, kh, kw, causal).unwrap()
    }
    fn weighting(&self, v: Tensor<Gpu, 4>, p: Tensor<Gpu, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<Gpu, 4> {
        weighting(v, p, kh, kw, causal).unwrap()
    }
    fn fused(&self, q: Tensor<Gpu, 4>, extra: Option<ExtraKeys<Gpu>>, local: WindowKeys<Gpu>) -> Tensor<Gpu, 4> {
        local_attention(q, extra, local).unwrap()
    }
}

#[test]
fn kernels_match_fixture() {
    crate::common::check_fixture::<Gpu>(&Kernels, "kernels on wgpu", &Default::default());
}

fn to_gpu<const D: usize>(t: &Tensor<Cpu, D>) -> Tensor<Gpu, D> {
    Tensor::from_data(t.to_data(), &Default::default())
}

fn window_to_gpu(w: &WindowKeys<Cpu>) -> WindowKeys<Gpu> {
    WindowKeys { k: to_gpu(&w.k), v: to_gpu(&w.v), window: w.window }
}

fn extra_to_gpu(extra: &Option<ExtraKeys<Cpu>>) -> Option<ExtraKeys<Gpu>> {
    extra.as_ref().map(|e| match e {
        ExtraKeys::Window(w) => ExtraKeys::Window(window_to_gpu(w)),
        ExtraKeys::Dense(d) => ExtraKeys::Dense(DenseKeys {
            k: to_gpu(&d.k),
            v: to_gpu(&d.v),
            bias: d.bias.as_ref().map(to_gpu),
            mask: d.mask.as_ref().map(to_gpu),
        }),
    })
}

fn close<const D: usize>(what: &str, got: Tensor<Gpu, D>, want: Tensor<Cpu, D>) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let (got, want) = (values(got), values(want));
    assert_close(what, &got, &want, TOL);
    max_abs_diff(&got, &want)
}

/// similar, weighting and fused attention of one problem: kernel (wgpu) vs reference (NdArray).
fn check_problem(p: &Problem, inputs: &Inputs<Cpu>, q_gpu: Tensor<Gpu, 4>) -> f32 {
    let local = &inputs.local;
    let w = local.window;
    let s_ref = reference::local_similar(inputs.q.clone(), local.k.clone(), w.kh, w.kw, w.causal).unwrap();
    let s = similar(q_gpu.clone(), to_gpu(&local.k), w.kh, w.kw, w.causal).unwrap();
    let mut worst = close(&format!("{}: similar", p.name), s, s_ref.clone());
    let probs = softmax(s_ref, 3);
    let o_ref = reference::local_weighting(local.v.clone(), probs.clone(), w.kh, w.kw, w.causal).unwrap();
    let o = weighting(to_gpu(&local.v), to_gpu(&probs), w.kh, w.kw, w.causal).unwrap();
    worst = worst.max(close(&format!("{}: weighting", p.name), o, o_ref));
    let f_ref = reference::local_attention_fused(inputs.q.clone(), inputs.extra.clone(), local.clone()).unwrap();
    let f = local_attention(q_gpu, extra_to_gpu(&inputs.extra), window_to_gpu(local)).unwrap();
    worst.max(close(&format!("{}: fused", p.name), f, f_ref))
}

#[test]
fn kernels_match_reference_on_ci_catalogue() {
    let _draws = seeded::<Cpu>(6);
    for p in catalogue().iter().filter(|p| p.ci) {
        let inputs = p.inputs::<Cpu>(&Default::default());
        let worst = check_problem(p, &inputs, to_gpu(&inputs.q));
        eprintln!("{}: kernel vs reference max |err| {worst:e}", p.name);
    }
}

/// The kernels read strided views: a channels-last query permuted to NCHW (no copy) gives the same result.
#[test]
fn kernels_accept_strided_views() {
    let _draws = seeded::<Cpu>(7);
    let p = catalogue().into_iter().find(|p| p.name == "fixture_dsr").expect("catalogued");
    let inputs = p.inputs::<Cpu>(&Default::default());
    let nhwc = values(inputs.q.clone().permute([0, 2, 3, 1]));
    let [b, c, h, w] = inputs.q.dims();
    let q_view = Tensor::<Gpu, 4>::from_data(TensorData::new(nhwc, [b, h, w, c]), &Default::default()).permute([0, 3, 1, 2]);
    let worst = check_problem(&p, &inputs, q_view);
    eprintln!("strided query view: max |err| {worst:e}");
}
