//! # cogview2
//!
//! CogView2 — hierarchical text-to-image transformers — in Rust on [burn](https://burn.dev).
//!
//! This facade re-exports the workspace crates:
//! - [`core`] (`cogview2-core`): CogLM, its layout, KV cache, samplers and weight loading;
//! - [`icetk`] (`cogview2-icetk`): the unified text/image tokenizer;
//! - [`vqvae`] (`cogview2-vqvae`): the image codec;
//! - [`kernels`] (`cogview2-kernels`): local attention and LoPAR kernels;
//! - [`sr`] (`cogview2-sr`): direct and iterative super-resolution.
//!
//! The text-to-image pipeline lands here on top of them.

pub use cogview2_core as core;
pub use cogview2_icetk as icetk;
pub use cogview2_kernels as kernels;
pub use cogview2_sr as sr;
pub use cogview2_vqvae as vqvae;

pub use cogview2_core::{CogLm, CogLmConfig, GenerationOptions, ImagePrompt, Sampler};

/// The CPU backend used by the examples and tests.
pub type CpuBackend = burn::backend::NdArray;

/// The CUDA backend (feature `cuda`).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;

/// The wgpu backend (feature `wgpu`).
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Wgpu;
