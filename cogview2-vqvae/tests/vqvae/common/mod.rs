//! Fixture access shared by the integration tests: root from `COGVIEW2_FIXTURES`, missing fixtures fail.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_vqvae::{load_safetensors, Hvqvae, HvqvaeConfig};
use safetensors::{Dtype, SafeTensors};

pub type B = NdArray;

/// Float tolerance of the vqvae fixture (README: abs 1e-4).
pub const TOL: f32 = 1e-4;

pub fn fixture_dir() -> PathBuf {
    let root = std::env::var("COGVIEW2_FIXTURES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures").to_string());
    let dir = PathBuf::from(root).join("vqvae");
    assert!(dir.join("config.json").is_file(), "vqvae fixture missing at {} (set COGVIEW2_FIXTURES)", dir.display());
    dir
}

pub fn config() -> HvqvaeConfig {
    HvqvaeConfig::from_json_file(fixture_dir().join("config.json")).expect("fixture config")
}

pub fn model() -> Hvqvae<B> {
    load_safetensors(&config(), fixture_dir().join("weights.safetensors"), &Default::default()).expect("weights")
}

/// The fixture's reference tensors.
pub struct Io {
    bytes: Vec<u8>,
}

impl Io {
    pub fn read() -> Self {
        Self { bytes: std::fs::read(fixture_dir().join("io.safetensors")).expect("io.safetensors") }
    }

    fn view(&self, name: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("valid io.safetensors");
        let v = st.tensor(name).unwrap_or_else(|_| panic!("io.safetensors lacks {name}"));
        (v.shape().to_vec(), v.dtype(), v.data().to_vec())
    }

    pub fn float<const D: usize>(&self, name: &str) -> Tensor<B, D> {
        let (shape, dtype, data) = self.view(name);
        assert_eq!(dtype, Dtype::F32, "{name}");
        let values: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }

    pub fn ids<const D: usize>(&self, name: &str) -> Tensor<B, D, Int> {
        let (shape, dtype, data) = self.view(name);
        assert_eq!(dtype, Dtype::I64, "{name}");
        let values: Vec<i64> = data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }
}

/// Max |a − b|, after checking the shapes agree.
pub fn max_abs_diff<const D: usize>(name: &str, a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    assert_eq!(a.dims(), b.dims(), "{name}: shape");
    let diff: f32 = (a - b).abs().max().into_scalar();
    eprintln!("{name}: max abs error {diff:.3e}");
    diff
}

pub fn ids_vec<const D: usize>(t: Tensor<B, D, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().to_vec::<i64>().unwrap()
}
