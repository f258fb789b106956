#![doc = include_str!("../README.md")]

mod autodiff;
pub mod backend;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod cube;
pub mod error;
pub mod geometry;
mod host;
pub mod keys;
pub mod lopar;
pub mod ops;
pub mod problems;
pub mod reference;

pub use backend::{LocalAttentionBackend, LoparBackend};
pub use error::{KernelError, Result};
pub use geometry::{Geometry, Window};
pub use keys::{DenseKeys, ExtraKeys, WindowKeys};
pub use ops::{local_attention, lopar_step, similar, weighting};
pub use reference::{local_attention_fused, local_scatter, local_similar, local_weighting, OUT_OF_GRID};
