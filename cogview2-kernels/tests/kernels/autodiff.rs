//! Training backends: the fused attention's own backward pass (and the host `local_scatter` it uses) against
//! burn-ops autodiff through the reference, on every CI-sized catalogued problem.

use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::{backend::Backend, Distribution, Tensor};
use cogview2_kernels::problems::catalogue;
use cogview2_kernels::{local_attention, reference, DenseKeys, ExtraKeys, LocalAttentionBackend, WindowKeys};

use crate::common::values;

type Ad = Autodiff<NdArray>;

/// Gradients are sums over many products: the bound is relative to the largest reference gradient.
const REL_TOL: f32 = 1e-4;

fn leaf<const D: usize>(x: &Tensor<NdArray, D>) -> Tensor<Ad, D> {
    Tensor::from_data(x.to_data(), &Default::default()).require_grad()
}

fn window_leaves(keys: &WindowKeys<NdArray>) -> WindowKeys<Ad> {
    WindowKeys { k: leaf(&keys.k), v: leaf(&keys.v), window: keys.window }
}

fn constant<const D: usize>(x: &Tensor<NdArray, D>) -> Tensor<Ad, D> {
    Tensor::from_data(x.to_data(), &Default::default())
}

type Attention = fn(Tensor<Ad, 4>, Option<ExtraKeys<Ad>>, WindowKeys<Ad>) -> cogview2_kernels::Result<Tensor<Ad, 4>>;

/// Output and named input gradients of `Σ out ⊙ weights` under `attention`.
fn gradients(
    attention: Attention,
    q: &Tensor<NdArray, 4>,
    extra: &Option<ExtraKeys<NdArray>>,
    local: &WindowKeys<NdArray>,
    weights: &Tensor<NdArray, 4>,
) -> Vec<(&'static str, Vec<f32>)> {
    let q = leaf(q);
    let local = window_leaves(local);
    let extra = extra.as_ref().map(|e| match e {
        ExtraKeys::Window(w) => ExtraKeys::Window(window_leaves(w)),
        ExtraKeys::Dense(d) => ExtraKeys::Dense(DenseKeys {
            k: leaf(&d.k),
            v: leaf(&d.v),
            bias: d.bias.as_ref().map(constant),
            mask: d.mask.as_ref().map(constant),
        }),
    });
    let out = attention(q.clone(), extra.clone(), local.clone()).unwrap();
    let grads = (out.clone() * constant(weights)).sum().backward();
    let grad4 = |x: &Tensor<Ad, 4>| values(x.grad(&grads).expect("input takes part in the graph"));
    let mut all = vec![("out", values(out.inner())), ("q", grad4(&q)), ("local k", grad4(&local.k)), ("local v", grad4(&local.v))];
    match &extra {
        Some(ExtraKeys::Window(w)) => all.extend([("extra k", grad4(&w.k)), ("extra v", grad4(&w.v))]),
        Some(ExtraKeys::Dense(d)) => {
            let grad3 = |x: &Tensor<Ad, 3>| values(x.grad(&grads).expect("input takes part in the graph"));
            all.extend([("text k", grad3(&d.k)), ("text v", grad3(&d.v))]);
        }
        None => {}
    }
    all
}

fn fused(q: Tensor<Ad, 4>, extra: Option<ExtraKeys<Ad>>, local: WindowKeys<Ad>) -> cogview2_kernels::Result<Tensor<Ad, 4>> {
    local_attention(q, extra, local)
}

#[test]
fn fused_backward_matches_reference_autodiff() {
    <NdArray as Backend>::seed(&Default::default(), 21);
    let mut checked = 0;
    for p in catalogue().iter().filter(|p| p.ci) {
        let inputs = p.inputs::<NdArray>(&Default::default());
        let weights = Tensor::<NdArray, 4>::random(inputs.q.dims(), Distribution::Normal(0.0, 1.0), &Default::default());
        let got = gradients(fused, &inputs.q, &inputs.extra, &inputs.local, &weights);
        let want = gradients(reference::local_attention_fused, &inputs.q, &inputs.extra, &inputs.local, &weights);
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            let scale = w.iter().fold(1f32, |m, x| m.max(x.abs()));
            let err = g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= REL_TOL * scale, "{}: {name} max |err| {err:e} > {REL_TOL:e} · {scale}", p.name);
        }
        // Plain local attention (no second key set) takes the reference's autodiff on both sides.
        let path = if inputs.extra.is_some() { "own backward" } else { "reference path" };
        eprintln!("{} ({path}): {} tensors within {REL_TOL:e} of the largest reference gradient", p.name, got.len());
        checked += usize::from(inputs.extra.is_some());
    }
    assert!(checked >= 6, "only {checked} problems with a second key set");
}

fn check_scatter<B: LocalAttentionBackend>(label: &str) {
    <B as Backend>::seed(&Default::default(), 22);
    for p in catalogue().iter().filter(|p| p.ci) {
        let inputs = p.inputs::<B>(&Default::default());
        let mut sets = vec![(inputs.local.k.dims(), inputs.local.window)];
        if let Some(ExtraKeys::Window(w)) = &inputs.extra {
            sets.push((w.k.dims(), w.window));
        }
        for (key_dims, win) in sets {
            let [b, _, h, w] = inputs.q.dims();
            let coeff = Tensor::<B, 4>::random([b, h, w, win.patch()], Distribution::Normal(0.0, 1.0), &Default::default());
            let got = B::local_scatter(inputs.q.clone(), coeff.clone(), key_dims, win.kh, win.kw, win.causal).unwrap();
            let want = reference::local_scatter(inputs.q.clone(), coeff, key_dims, win.kh, win.kw, win.causal).unwrap();
            assert_eq!(got.dims(), key_dims);
            let err = values(got).iter().zip(values(want)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 1e-4, "{label} {}: scatter max |err| {err:e}", p.name);
        }
    }
}

#[test]
fn host_scatter_matches_reference() {
    check_scatter::<NdArray>("ndarray");
    check_scatter::<Flex>("flex");
}

/// The scatter is the adjoint of the windowed sum: ⟨weighting(v, p), u⟩ = ⟨v, scatter(u, p)⟩.
#[test]
fn scatter_is_the_adjoint_of_weighting() {
    <NdArray as Backend>::seed(&Default::default(), 23);
    let p = catalogue().into_iter().find(|p| p.name == "edge_cross_ratio_2x3").expect("catalogued");
    let inputs = p.inputs::<NdArray>(&Default::default());
    let Some(ExtraKeys::Window(cross)) = inputs.extra else { panic!("a cross window") };
    let [b, _, h, w] = inputs.q.dims();
    let win = cross.window;
    let probs = Tensor::<NdArray, 4>::random([b, h, w, win.patch()], Distribution::Normal(0.0, 1.0), &Default::default());
    let u = inputs.q;
    let lhs = (NdArray::local_weighting(cross.v.clone(), probs.clone(), win.kh, win.kw, false).unwrap() * u.clone()).sum();
    let rhs = (cross.v.clone() * NdArray::local_scatter(u, probs, cross.v.dims(), win.kh, win.kw, false).unwrap()).sum();
    let (lhs, rhs) = (values(lhs)[0], values(rhs)[0]);
    assert!((lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
}
