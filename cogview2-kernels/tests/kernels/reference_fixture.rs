//! The plain burn-ops reference against the `local_attention` fixture (abs 1e-4), on NdArray and Flex.


use burn::backend::{Flex, NdArray};
use burn::tensor::{backend::Backend, Tensor};
use cogview2_kernels::{local_attention_fused, local_similar, local_weighting, ExtraKeys, WindowKeys};
use crate::common::Ops;

struct Reference;

impl<B: Backend> Ops<B> for Reference {
    fn similar(&self, q: Tensor<B, 4>, k: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4> {
        local_similar(q, k, kh, kw, causal).unwrap()
    }
    fn weighting(&self, v: Tensor<B, 4>, p: Tensor<B, 4>, kh: usize, kw: usize, causal: bool) -> Tensor<B, 4> {
        local_weighting(v, p, kh, kw, causal).unwrap()
    }
    fn fused(&self, q: Tensor<B, 4>, extra: Option<ExtraKeys<B>>, local: WindowKeys<B>) -> Tensor<B, 4> {
        local_attention_fused(q, extra, local).unwrap()
    }
}

fn run<B: Backend>(backend: &str) {
    crate::common::check_fixture::<B>(&Reference, &format!("reference on {backend}"), &Default::default());
}

#[test]
fn reference_matches_fixture_ndarray() {
    run::<NdArray>("ndarray");
}

#[test]
fn reference_matches_fixture_flex() {
    run::<Flex>("flex");
}

#[test]
fn bad_shapes_are_errors() {
    let device = Default::default();
    let q = Tensor::<NdArray, 4>::zeros([2, 4, 12, 12], &device);
    let k = Tensor::<NdArray, 4>::zeros([2, 4, 5, 5], &device);
    assert!(local_similar(q.clone(), k, 5, 5, false).is_err(), "12 % 5 != 0 must be refused");
    let k = Tensor::<NdArray, 4>::zeros([2, 3, 12, 12], &device);
    assert!(local_similar(q.clone(), k, 5, 5, false).is_err(), "channel mismatch must be refused");
    let k = Tensor::<NdArray, 4>::zeros([2, 4, 12, 12], &device);
    assert!(local_similar(q.clone(), k.clone(), 0, 5, false).is_err(), "empty window must be refused");
    let p = Tensor::<NdArray, 4>::zeros([2, 12, 12, 44], &device);
    assert!(local_weighting(k, p, 9, 5, false).is_err(), "45-cell window needs 45 weights");
}
