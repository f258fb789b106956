//! The DSR and ITERSR samplers as this crate builds them, against the `sampling` fixture's exact emission
//! probabilities of the official strategies (abs 1e-6), and a statistical check of DSR drawing many positions in
//! parallel (no draw outside the support, max |freq − P| < 5·sqrt(0.25/n)).

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use cogview2_core::{ClusterTable, Sampler};
use cogview2_fixtures as fx;
use cogview2_sr::{dsr_sampler, LoparSchedule, DSR_CLUSTER_TEMPERATURE, DSR_TOP_K_CLUSTERS};
use rand::SeedableRng;

type B = NdArray;
const PROB_TOL: f32 = 1e-6;
const NAME: &str = "sampling";

fn param_set<'a>(cfg: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    cfg["param_sets"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no set {name}"))
}

fn probabilities(sampler: &Sampler, logits: &fx::Array) -> Vec<f32> {
    let [rows, n] = [logits.shape[0], logits.shape[1]];
    let s = sampler.to_device::<B>(n, &Default::default()).unwrap();
    let t = Tensor::<B, 2>::from_data(TensorData::new(logits.f.clone(), [rows, n]), &Default::default());
    s.probabilities(t).into_data().to_vec().unwrap()
}

#[test]
fn dsr_and_lopar_samplers_are_the_official_strategies() {
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let clusters = fx::config_usize(&cfg, "n_clusters_official");
    let table = ClusterTable::new(io["real.labels"].i.clone(), clusters).unwrap();
    let logits = &io["real.logits"];

    let default = param_set(&cfg, "dsr_default");
    assert_eq!(default["top_k_clusters"].as_u64().unwrap() as usize, DSR_TOP_K_CLUSTERS);
    assert_eq!(default["cluster_temperature"].as_f64().unwrap(), DSR_CLUSTER_TEMPERATURE);
    for set in ["dsr_default", "dsr_flat"] {
        let p = param_set(&cfg, set);
        assert_eq!(p["temperature"].as_f64().unwrap(), 1.0, "the pipeline's DSR temperature is 1");
        let sampler = dsr_sampler(
            table.clone(),
            p["top_k_clusters"].as_u64().unwrap() as usize,
            p["cluster_temperature"].as_f64().unwrap(),
        );
        fx::assert_close(&format!("real.{set}"), &probabilities(&sampler, logits), &io[&format!("real.{set}.probs")].f, PROB_TOL);
    }

    let schedule = LoparSchedule::official();
    let sets = ["itersr_k40", "itersr_k40", "itersr_k40", "itersr_k20", "itersr_k20", "itersr_k10"];
    for (i, (sampler, set)) in schedule.samplers().iter().zip(sets).enumerate() {
        let want = &io[&format!("real.{set}.probs")].f;
        fx::assert_close(&format!("LoPAR iteration {} vs {set}", i + 1), &probabilities(sampler, logits), want, PROB_TOL);
    }
}

#[test]
fn dsr_positions_drawn_in_parallel_follow_the_distribution() {
    let cfg = fx::config(NAME);
    let io = fx::tensors(NAME, "io.safetensors");
    let clusters = fx::config_usize(&cfg, "n_clusters_official");
    let table = ClusterTable::new(io["synthetic.labels"].i.clone(), clusters).unwrap();
    let logits = &io["synthetic.logits"];
    let n = logits.shape[1];
    let set = param_set(&cfg, "dsr_flat");
    let sampler = dsr_sampler(
        table,
        set["top_k_clusters"].as_u64().unwrap() as usize,
        set["cluster_temperature"].as_f64().unwrap(),
    )
    .to_device::<B>(n, &Default::default())
    .unwrap();
    // As DSR does: many positions of one forward in one call (here all with the same logits).
    const POSITIONS: usize = 20_000;
    let row = Tensor::<B, 2>::from_data(TensorData::new(logits.f[..n].to_vec(), [1, n]), &Default::default());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let drawn: Vec<i64> = sampler.sample(row.repeat_dim(0, POSITIONS), &mut rng).into_data().convert::<i64>().to_vec().unwrap();
    let probs = &io["synthetic.dsr_flat.probs"].f[..n];
    let mut counts = vec![0usize; n];
    drawn.iter().for_each(|&t| counts[t as usize] += 1);
    let bound = 5.0 * (0.25 / POSITIONS as f64).sqrt();
    for (t, (&c, &p)) in counts.iter().zip(probs).enumerate() {
        assert!(p > 0.0 || c == 0, "token {t} drawn {c} times with probability 0");
        let dev = (c as f64 / POSITIONS as f64 - p as f64).abs();
        assert!(dev < bound, "token {t}: |freq − P| = {dev:.5} ≥ {bound:.5}");
    }
}
