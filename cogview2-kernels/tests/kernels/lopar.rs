//! LoPAR step against the fixtures: the order pattern vs `itersr_lopar` `mask_raw` (exact), top-k
//! probabilities vs `sampling` `*.itersr_*.probs` (abs 1e-6, the README's tolerance), a statistical test of the
//! seeded draw against those exact distributions (the README's suggested test), and the argmax step vs
//! `itersr_lopar` token for token (exact). The step runs as the reference (NdArray) and, with feature `wgpu`,
//! as the cubecl kernel.

use burn::backend::NdArray;
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use cogview2_fixtures::{assert_close, config, config_usize, tensors, Array};
use cogview2_kernels::lopar::{self, StepConfig};
use cogview2_kernels::{lopar_step, LoparBackend};

fn floats<B: Backend, const D: usize>(a: &Array) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(a.f.clone(), a.shape.clone()), &Default::default())
}

fn ints<B: Backend, const D: usize>(a: &Array) -> Tensor<B, D, Int> {
    Tensor::from_data(TensorData::new(a.i.clone(), a.shape.clone()), &Default::default())
}

fn grid() -> (usize, usize) {
    let cfg = config("itersr_lopar");
    (cfg["hi_grid"][0].as_u64().unwrap() as usize, cfg["hi_grid"][1].as_u64().unwrap() as usize)
}

#[test]
fn pattern_matches_fixture_mask() {
    let (rows, cols) = grid();
    let io = tensors("itersr_lopar", "io.safetensors");
    let want: Vec<i32> = io["mask_raw"].i.iter().map(|&v| v as i32).collect();
    assert_eq!(lopar::pattern_values(rows, cols), want, "6x6 pattern tiled over {rows}x{cols}");
}

/// The `itersr` parameter sets of the sampling fixture: (name, top_k, temperature).
fn itersr_sets() -> Vec<(String, usize, f32)> {
    config("sampling")["param_sets"]
        .as_array()
        .expect("param_sets")
        .iter()
        .filter(|s| s["kind"] == "itersr")
        .map(|s| (s["name"].as_str().unwrap().to_string(), config_usize(s, "top_k"), s["temperature"].as_f64().unwrap() as f32))
        .collect()
}

#[test]
fn top_k_probs_match_fixture() {
    let io = tensors("sampling", "io.safetensors");
    let sets = itersr_sets();
    assert_eq!(sets.len(), 4, "itersr_k40, k20, k10, generic");
    for table in ["synthetic", "real"] {
        for (name, k, t) in &sets {
            let got = lopar::top_k_probs(floats::<NdArray, 2>(&io[&format!("{table}.logits")]), *k, *t);
            let got: Vec<f32> = got.into_data().to_vec().unwrap();
            assert_close(&format!("{table}.{name}.probs"), &got, &io[&format!("{table}.{name}.probs")].f, 1e-6);
        }
    }
}

fn seeded_draws_follow_top_k_distribution<B: LoparBackend>() {
    const DRAWS: usize = 20_000;
    let io = tensors("sampling", "io.safetensors");
    let logits = &io["synthetic.logits"];
    let (rows, vocab) = (logits.shape[0], logits.shape[1]);
    for (name, k, t) in itersr_sets() {
        let want = &io[&format!("synthetic.{name}.probs")].f;
        for r in 0..rows {
            let row = floats::<B, 2>(logits).narrow(0, r, 1);
            let batch = row.unsqueeze_dim::<3>(0).expand([1, DRAWS, vocab]);
            let tokens = Tensor::<B, 2, Int>::zeros([1, DRAWS], &Default::default());
            let mask = Tensor::<B, 1, Int>::ones([DRAWS], &Default::default()).bool();
            let cfg = StepConfig { iteration: 1, top_k: k, temperature: t, seed: 1234 + r as u64 };
            let drawn: Vec<i64> = lopar_step(batch, tokens, mask, &cfg).unwrap().into_data().convert::<i64>().to_vec().unwrap();
            let p = &want[r * vocab..(r + 1) * vocab];
            let mut counts = vec![0usize; vocab];
            for &d in &drawn {
                assert!(p[d as usize] > 0.0, "{name} row {r}: drew token {d} outside the support");
                counts[d as usize] += 1;
            }
            let n = DRAWS as f64;
            let max_dev = (0..vocab).map(|i| (counts[i] as f64 / n - p[i] as f64).abs()).fold(0.0, f64::max);
            assert!(max_dev < 5.0 * (0.25 / n).sqrt(), "{name} row {r}: max |freq − P| = {max_dev}");
            // Chi-square over tokens with n·P ≥ 5, the rest of the support pooled (the fixture README's test).
            let (mut chi2, mut dof, mut pooled_p, mut pooled_c) = (0.0, 0usize, 0.0, 0usize);
            for i in 0..vocab {
                let e = n * p[i] as f64;
                if e >= 5.0 {
                    chi2 += (counts[i] as f64 - e).powi(2) / e;
                    dof += 1;
                } else if p[i] > 0.0 {
                    pooled_p += p[i] as f64;
                    pooled_c += counts[i];
                }
            }
            if n * pooled_p >= 5.0 {
                chi2 += (pooled_c as f64 - n * pooled_p).powi(2) / (n * pooled_p);
                dof += 1;
            }
            let dof = dof.saturating_sub(1).max(1) as f64;
            let z = (chi2 - dof) / (2.0 * dof).sqrt();
            assert!(z < 5.0, "{name} row {r}: chi-square z = {z}");
        }
    }
}

fn argmax_step_reproduces_itersr_lopar<B: LoparBackend>() {
    let (rows, cols) = grid();
    let io = tensors("itersr_lopar", "io.safetensors");
    let iterations = config_usize(&config("itersr_lopar"), "iterations");
    let mut tokens = ints::<B, 1>(&io["input_hires_tokens"]).unsqueeze_dim::<2>(0);
    for r in 1..=iterations {
        let logits = floats::<B, 2>(&io[&format!("iter{r}.logits_hires")]).unsqueeze_dim::<3>(0);
        let mask = lopar::mask::<B>(rows, cols, r, &Default::default());
        let cfg = StepConfig { iteration: r, top_k: 1, temperature: 1.0, seed: 0 };
        tokens = lopar_step(logits, tokens, mask, &cfg).unwrap();
        let got: Vec<i64> = tokens.clone().into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(got, io[&format!("iter{r}.tokens")].i, "iteration {r} tokens");
    }
}

#[test]
fn reference_draws_follow_top_k_distribution() {
    seeded_draws_follow_top_k_distribution::<NdArray>();
}

#[test]
fn reference_argmax_reproduces_itersr_lopar() {
    argmax_step_reproduces_itersr_lopar::<NdArray>();
}

#[cfg(feature = "wgpu")]
#[test]
fn kernel_draws_follow_top_k_distribution() {
    seeded_draws_follow_top_k_distribution::<cogview2_kernels::cube::WgpuKernels>();
}

#[cfg(feature = "wgpu")]
#[test]
fn kernel_argmax_reproduces_itersr_lopar() {
    argmax_step_reproduces_itersr_lopar::<cogview2_kernels::cube::WgpuKernels>();
}
