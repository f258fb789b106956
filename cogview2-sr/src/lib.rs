#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod attention;
pub mod config;
pub mod dsr;
pub mod error;
pub mod itersr;
pub mod layout;
pub mod lopar;
mod trunk;

pub use attention::{dsr_attention, itersr_attention, LocalGeometry};
pub use config::{DsrConfig, ItersrConfig, START_OF_IMAGE_ID};
pub use dsr::{dsr_sampler, AttentionPlus, DsrMixins, DsrModel, DSR_CLUSTER_TEMPERATURE, DSR_TOP_K_CLUSTERS};
pub use error::{Result, SrError};
pub use itersr::{ItersrMixins, ItersrModel, LoparStep};
pub use layout::{DsrLayout, ItersrLayout};
pub use lopar::{LoparPattern, LoparSchedule, OFFICIAL_PATTERN, OFFICIAL_TOP_K};
pub use trunk::ExtraPositionEmbedding;
/// The backends DSR and ITERSR run on: every burn backend with a local-attention implementation.
pub use cogview2_kernels::LocalAttentionBackend;
