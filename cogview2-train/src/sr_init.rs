//! Starting weights of the super-resolution models from a trained CogLM, as the official DSR and ITERSR were
//! finetuned from the CogLM trunk: `transformer.*` copied, DSR's `attention_plus` projections copied from each
//! layer's own attention (so the hi-res branch starts as the trunk's attention), and the hi-res position table
//! drawn from N(0, 0.02²) (SAT's init std).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use cogview2_core::{CogLm, SafetensorsWeights};
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};
use crate::export::{named_tensors, to_safetensors_bytes, NamedTensor};

/// A seeded N(0, std²) table `[rows, cols]` (Box–Muller on ChaCha8, so it is the same on every platform).
fn normal_table(rows: usize, cols: usize, std: f32, seed: u64) -> NamedTensor {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = (0..rows * cols)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * std
        })
        .collect();
    NamedTensor {
        shape: vec![rows, cols],
        values,
    }
}

fn trunk<B: Backend>(coglm: &CogLm<B>) -> BTreeMap<String, NamedTensor> {
    named_tensors(coglm)
}

fn load_bytes(tensors: &BTreeMap<String, NamedTensor>, label: &str) -> Result<SafetensorsWeights> {
    let bytes = to_safetensors_bytes(tensors, Path::new(label))?;
    Ok(SafetensorsWeights::from_bytes(bytes, label)?)
}

/// A DSR model whose trunk is `coglm` (same sizes as `config.base`), see the module docs.
pub fn init_dsr<B: Backend>(coglm: &CogLm<B>, config: &DsrConfig, seed: u64, device: &B::Device) -> Result<DsrModel<B>> {
    let mut tensors = trunk(coglm);
    let h = config.base.hidden_size;
    tensors.insert(
        "mixins.extra_position_embedding.position_embeddings.weight".into(),
        normal_table(config.num_hires(), h, 0.02, seed),
    );
    for i in 0..config.base.num_layers {
        for part in ["query_key_value", "dense"] {
            for kind in ["weight", "bias"] {
                let from = format!("transformer.layers.{i}.attention.{part}.{kind}");
                let t = tensors
                    .get(&from)
                    .cloned()
                    .ok_or_else(|| TrainError::InvalidConfig(format!("the CogLM trunk has no {from}")))?;
                tensors.insert(format!("mixins.attention_plus.{part}.{i}.{kind}"), t);
            }
        }
    }
    let mut weights = load_bytes(&tensors, "dsr init")?;
    let model = DsrModel::load(config, &mut weights, device)?;
    weights.finish()?;
    Ok(model)
}

/// An ITERSR model whose trunk is `coglm` (same sizes as `config.base`), see the module docs.
pub fn init_itersr<B: Backend>(coglm: &CogLm<B>, config: &ItersrConfig, seed: u64, device: &B::Device) -> Result<ItersrModel<B>> {
    let mut tensors = trunk(coglm);
    tensors.insert(
        "mixins.extra_position_embedding.position_embeddings.weight".into(),
        normal_table(config.num_hires(), config.base.hidden_size, 0.02, seed),
    );
    let mut weights = load_bytes(&tensors, "itersr init")?;
    let model = ItersrModel::load(config, &mut weights, device)?;
    weights.finish()?;
    Ok(model)
}
