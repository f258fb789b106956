//! # cogview2
//!
//! CogView2 — hierarchical text-to-image transformers — in Rust on [burn](https://burn.dev).
//!
//! [`Pipeline`] runs the whole system: CogLM draws a low-res grid of image tokens from the prompt, direct
//! super-resolution (DSR) turns it into a hi-res grid in one pass, iterative super-resolution (ITERSR) refines it
//! with LoPAR, and the VQ-VAE decodes it to pixels. [`Request::post_select`] keeps the candidates whose caption
//! CogLM finds most likely, and [`Pipeline::edit`] re-draws a region of an existing image from a prompt
//! ([`EditRequest`]).
//!
//! ```no_run
//! use cogview2::{CpuBackend, Pipeline, Request};
//!
//! let pipeline = Pipeline::<CpuBackend>::from_dir("model", &Default::default())?;
//! let images = pipeline.text_to_image(&Request::new("a red circle"))?;
//! images[0].save("red-circle.png").expect("write PNG");
//! # Ok::<(), cogview2::Error>(())
//! ```
//!
//! The workspace crates are re-exported:
//! - [`core`] (`cogview2-core`): CogLM, its layout, KV cache, samplers and weight loading;
//! - [`icetk`] (`cogview2-icetk`): the unified text/image tokenizer;
//! - [`vqvae`] (`cogview2-vqvae`): the image codec;
//! - [`kernels`] (`cogview2-kernels`): local attention and LoPAR kernels;
//! - [`sr`] (`cogview2-sr`): direct and iterative super-resolution.

pub mod edit;
pub mod error;
pub mod pipeline;
pub mod recipe;

pub use cogview2_core as core;
pub use cogview2_icetk as icetk;
pub use cogview2_kernels as kernels;
pub use cogview2_sr as sr;
pub use cogview2_vqvae as vqvae;

pub use cogview2_sr::LocalAttentionBackend;
pub use cogview2_core::{CogLm, CogLmConfig, GenerationOptions, ImagePrompt, Sampler};
pub use edit::{EditGeometry, EditHires, EditRegion, EditRequest, EditTokens};
pub use error::{Error, Result};
pub use pipeline::{image_grid, ImageTokens, Pipeline, PipelineParts, Progress, Request, Stage, COMPRESS_RATE};
pub use recipe::{Recipe, Style, OFFICIAL_CLUSTERS, OFFICIAL_IMAGE_TOKENS};

/// The CPU backend used by the examples and tests (burn's Flex: the faster one for stage 1; NdArray runs DSR and
/// ITERSR 1.6–1.9× faster since their local attention became host loops, see `docs/performance.md`).
pub type CpuBackend = burn::backend::Flex;

/// The CUDA backend (feature `cuda`): burn's `CubeBackend` on CUDA, where the local attention runs as the cubecl
/// kernels of `cogview2-kernels`.
#[cfg(feature = "cuda")]
pub type CudaBackend = cogview2_kernels::cube::CudaKernels;

/// The wgpu backend (feature `wgpu`), with the cubecl kernels as on CUDA.
#[cfg(feature = "wgpu")]
pub type WgpuBackend = cogview2_kernels::cube::WgpuKernels;
