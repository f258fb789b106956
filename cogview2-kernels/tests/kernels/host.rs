//! The host loops that NdArray and Flex run for `similar` / `weighting`: against the `local_attention` fixture
//! (abs 1e-4) and against the burn-ops reference on the CI subset of the problem catalogue (abs 1e-4).

use burn::backend::{Flex, NdArray};
use burn::tensor::{activation::softmax, backend::Backend, Tensor, TensorData};
use cogview2_fixtures::{assert_close, max_abs_diff};
use cogview2_kernels::problems::catalogue;
use cogview2_kernels::{local_attention, reference, similar, weighting, ExtraKeys, LocalAttentionBackend, WindowKeys};

use crate::common::{seeded, values, Ops, TOL};

/// The backend's own implementation, through the public dispatch.
struct Dispatch;

impl<B: LocalAttentionBackend> Ops<B> for Dispatch {
    fn similar(&self, q: Tensor<B, 4>, k: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4> {
        similar(q, k, kh, kw, causal).unwrap()
    }
    fn weighting(&self, v: Tensor<B, 4>, p: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4> {
        weighting(v, p, kh, kw, causal).unwrap()
    }
    fn fused(&self, q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Tensor<B, 4> {
        local_attention(q, extra, local).unwrap()
    }
}

fn fixture_run<B: LocalAttentionBackend>(backend: &str) {
    crate::common::check_fixture::<B>(&Dispatch, &format!("host loops on {backend}"), &Default::default());
}

#[test]
fn host_matches_fixture_ndarray() {
    fixture_run::<NdArray>("ndarray");
}

#[test]
fn host_matches_fixture_flex() {
    fixture_run::<Flex>("flex");
}

fn close<B: Backend, const D: usize>(what: &str, got: Tensor<B, D>, want: Tensor<B, D>) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let (got, want) = (values(got), values(want));
    assert_close(what, &got, &want, TOL);
    max_abs_diff(&got, &want)
}

/// Host `similar` then `weighting` of one window against the reference's, on the reference's softmax.
fn check_window<B: LocalAttentionBackend>(name: &str, q: Tensor<B, 4>, keys: &WindowKeys<B>) -> f32 {
    let w = keys.window;
    let s_ref = reference::local_similar(q.clone(), keys.k.clone(), w.kh, w.kw, w.causal).unwrap();
    let s = similar(q, keys.k.clone(), w.kh, w.kw, w.causal).unwrap();
    let worst = close(&format!("{name}: similar"), s, s_ref.clone());
    let p = softmax(s_ref, 3);
    let o_ref = reference::local_weighting(keys.v.clone(), p.clone(), w.kh, w.kw, w.causal).unwrap();
    let o = weighting(keys.v.clone(), p, w.kh, w.kw, w.causal).unwrap();
    worst.max(close(&format!("{name}: weighting"), o, o_ref))
}

#[test]
fn host_matches_reference_on_ci_catalogue() {
    let _draws = seeded::<NdArray>(11);
    for p in catalogue().iter().filter(|p| p.ci) {
        let inputs = p.inputs::<NdArray>(&Default::default());
        let mut worst = check_window(p.name, inputs.q.clone(), &inputs.local);
        if let Some(ExtraKeys::Window(cross)) = &inputs.extra {
            worst = worst.max(check_window(&format!("{} cross", p.name), inputs.q.clone(), cross));
        }
        eprintln!("{}: host vs reference max |err| {worst:e}", p.name);
    }
}

/// A channels-last query permuted to NCHW (a strided view) reads the same values.
#[test]
fn host_accepts_strided_views() {
    let _draws = seeded::<Flex>(12);
    let p = catalogue().into_iter().find(|p| p.name == "fixture_dsr").expect("catalogued");
    let inputs = p.inputs::<Flex>(&Default::default());
    let [b, c, h, w] = inputs.q.dims();
    let nhwc = values(inputs.q.clone().permute([0, 2, 3, 1]));
    let q_view = Tensor::<Flex, 4>::from_data(TensorData::new(nhwc, [b, h, w, c]), &Default::default()).permute([0, 3, 1, 2]);
    let worst = check_window("strided query", q_view, &inputs.local);
    eprintln!("strided query view: max |err| {worst:e}");
}
