#![doc = include_str!("../README.md")]

pub mod backend;
pub mod error;
pub mod geometry;
pub mod keys;
pub mod ops;
pub mod reference;

pub use backend::LocalAttentionBackend;
pub use error::{KernelError, Result};
pub use geometry::{Geometry, Window};
pub use keys::{DenseKeys, ExtraKeys, WindowKeys};
pub use ops::{local_attention, similar, weighting};
pub use reference::{local_attention_fused, local_similar, local_weighting, OUT_OF_GRID};
