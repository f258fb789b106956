//! Helpers shared by the fixture-parity modules: the CPU backend, the fixtures' tolerance, and tensor ↔ vector.

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{CogLm, CogLmConfig};
use cogview2_fixtures as fx;

pub type B = NdArray;

/// The fixtures' README tolerance on f32 outputs.
pub const TOL: f32 = 1e-4;

/// The CogLM of fixture `name` with its config.
pub fn load_with_config(name: &str) -> (CogLmConfig, CogLm<B>) {
    CogLm::<B>::from_dir(fx::dir(name), &Default::default()).expect("fixture model loads")
}

/// The CogLM of fixture `name`.
pub fn load(name: &str) -> CogLm<B> {
    load_with_config(name).1
}

pub fn floats<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

pub fn ints<const D: usize>(t: Tensor<B, D, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().to_vec().unwrap()
}

pub fn int_tensor(values: &[i64], shape: [usize; 2]) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}
