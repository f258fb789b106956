//! The samplers against the `sampling` fixture: exact emission probabilities of the official CogView2 strategies
//! (abs 1e-6), and a statistical test of the seeded draws (no draw outside the support, max |freq − P| below
//! 5·sqrt(0.25/n), chi-square z below 5), as the fixture README suggests.

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use cogview2_core::{ClusterTable, DeviceSampler, Sampler};
use cogview2_fixtures as fx;
use rand::SeedableRng;

type B = NdArray;
const PROB_TOL: f32 = 1e-6;

struct Case {
    table: String,
    set: String,
    sampler: Sampler,
    logits: Vec<f32>,
    rows: usize,
    n: usize,
    probs: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let cfg = fx::config("sampling");
    let io = fx::tensors("sampling", "io.safetensors");
    let n_clusters = fx::config_usize(&cfg, "n_clusters_official");
    let mut out = Vec::new();
    for table in cfg["tables"].as_object().unwrap().keys() {
        let labels = io[&format!("{table}.labels")].i.clone();
        let logits = &io[&format!("{table}.logits")];
        let cluster_table = ClusterTable::new(labels, n_clusters).unwrap();
        for set in cfg["param_sets"].as_array().unwrap() {
            let name = set["name"].as_str().unwrap();
            let f = |k: &str| set[k].as_f64().unwrap();
            let sampler = match set["kind"].as_str().unwrap() {
                "coglm" | "dsr" => Sampler::Cluster {
                    temperature: f("temperature"),
                    top_k_clusters: set["top_k_clusters"].as_u64().unwrap() as usize,
                    cluster_temperature: f("cluster_temperature"),
                    table: cluster_table.clone(),
                },
                "itersr" => Sampler::TopK { k: set["top_k"].as_u64().unwrap() as usize, temperature: f("temperature") },
                other => panic!("unknown sampler kind {other}"),
            };
            out.push(Case {
                table: table.clone(),
                set: name.to_string(),
                sampler,
                logits: logits.f.clone(),
                rows: logits.shape[0],
                n: logits.shape[1],
                probs: io[&format!("{table}.{name}.probs")].f.clone(),
            });
        }
    }
    assert!(out.len() >= 20, "expected every table × parameter set, found {}", out.len());
    out
}

fn device_sampler(case: &Case) -> DeviceSampler<B> {
    case.sampler.to_device::<B>(case.n, &Default::default()).unwrap()
}

#[test]
fn emission_probabilities_equal_the_official_formulas() {
    for case in cases() {
        let s = device_sampler(&case);
        let logits = Tensor::<B, 2>::from_data(TensorData::new(case.logits.clone(), [case.rows, case.n]), &Default::default());
        let probs: Vec<f32> = s.probabilities(logits).into_data().to_vec().unwrap();
        fx::assert_close(&format!("{}.{} probs", case.table, case.set), &probs, &case.probs, PROB_TOL);
    }
}

/// Draws `draws` samples of one row in batches and returns the counts per token.
fn draw_counts(s: &DeviceSampler<B>, row: &[f32], draws: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = row.len();
    let chunk = (2_000_000 / n).clamp(1, draws);
    let base = Tensor::<B, 2>::from_data(TensorData::new(row.to_vec(), [1, n]), &Default::default());
    let mut counts = vec![0usize; n];
    let mut done = 0;
    while done < draws {
        let b = chunk.min(draws - done);
        let ids: Vec<i64> = s.sample(base.clone().repeat_dim(0, b), &mut rng).into_data().convert::<i64>().to_vec().unwrap();
        for id in ids {
            counts[id as usize] += 1;
        }
        done += b;
    }
    counts
}

fn check_draws(what: &str, counts: &[usize], probs: &[f32], draws: usize) {
    let n = draws as f64;
    let mut max_dev = 0.0f64;
    let (mut chi2, mut bins, mut pooled_obs, mut pooled_exp) = (0.0, 0usize, 0.0, 0.0);
    for (t, (&c, &p)) in counts.iter().zip(probs).enumerate() {
        let p = p as f64;
        assert!(p > 0.0 || c == 0, "{what}: {c} draws of token {t}, whose probability is 0");
        max_dev = max_dev.max((c as f64 / n - p).abs());
        let expected = n * p;
        if expected >= 5.0 {
            chi2 += (c as f64 - expected).powi(2) / expected;
            bins += 1;
        } else if p > 0.0 {
            pooled_obs += c as f64;
            pooled_exp += expected;
        }
    }
    if pooled_exp > 0.0 {
        chi2 += (pooled_obs - pooled_exp).powi(2) / pooled_exp;
        bins += 1;
    }
    let bound = 5.0 * (0.25 / n).sqrt();
    assert!(max_dev < bound, "{what}: max |freq - P| = {max_dev:.5} ≥ {bound:.5}");
    if bins > 1 {
        let dof = (bins - 1) as f64;
        let z = (chi2 - dof) / (2.0 * dof).sqrt();
        assert!(z < 5.0, "{what}: chi-square z = {z:.2} (chi2 {chi2:.1}, dof {dof})");
    }
}

#[test]
fn seeded_draws_follow_the_official_distributions() {
    // Every synthetic row and set; on the real 20 000-token table, the pipeline's own settings with fewer draws
    // (each draw there costs a 20 000-wide row; the chi-square pools sparse bins, so 4 000 still tests the shape).
    const DRAWS: usize = 20_000;
    const REAL_DRAWS: usize = 4_000;
    let real_sets = ["coglm_mainbody", "dsr_default"];
    for (i, case) in cases().into_iter().enumerate() {
        if case.table == "real" && !real_sets.contains(&case.set.as_str()) {
            continue;
        }
        let s = device_sampler(&case);
        for r in 0..case.rows {
            let row = &case.logits[r * case.n..(r + 1) * case.n];
            let probs = &case.probs[r * case.n..(r + 1) * case.n];
            let draws = if case.table == "real" { REAL_DRAWS } else { DRAWS };
            let counts = draw_counts(&s, row, draws, 1000 + i as u64 * 16 + r as u64);
            check_draws(&format!("{}.{} row {r}", case.table, case.set), &counts, probs, draws);
        }
    }
}

#[test]
fn argmax_takes_the_first_maximum_and_invalid_samplers_are_rejected() {
    let device = Default::default();
    let s = Sampler::Argmax.to_device::<B>(4, &device).unwrap();
    let logits = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0f32, 3.0, 3.0, 1.0], [1, 4]), &device);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let ids: Vec<i64> = s.sample(logits, &mut rng).into_data().convert::<i64>().to_vec().unwrap();
    assert_eq!(ids, vec![1]);

    assert!(Sampler::TopK { k: 0, temperature: 1.0 }.validate(4).is_err());
    assert!(Sampler::TopK { k: 5, temperature: 1.0 }.validate(4).is_err());
    assert!(Sampler::TopK { k: 2, temperature: 0.0 }.validate(4).is_err());
    let table = ClusterTable::new(vec![0, 1, 1, 0], 2).unwrap();
    assert!(Sampler::coglm(table.clone()).validate(4).is_err(), "16 clusters of 2");
    assert!(Sampler::coglm(table).validate(5).is_err(), "table covers 4 tokens, not 5");
    assert!(ClusterTable::new(vec![0, 2], 2).is_err());
    assert!(ClusterTable::new(vec![], 2).is_err());
}
