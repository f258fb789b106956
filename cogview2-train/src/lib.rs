#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod export;
pub mod masking;
pub mod sampler;
pub mod schedule;
pub mod sr;
pub mod tokens;
pub mod trainer;

pub use batch::Batch;
pub use checkpoint::TrainerState;
pub use data::{safetensors_rows, InMemoryRows, RowSource};
pub use error::{Result, TrainError};
pub use export::{export_safetensors, export_sr_safetensors, named_tensors};
pub use masking::{
    image_text_understanding, span_lengths, text_image_generation, text_infilling, MaskingConfig, Sample, SampleKind,
};
pub use sampler::{Choices, MaskingSampler};
pub use schedule::LrSchedule;
pub use sr::{dsr_loss, draw_lopar_level, itersr_loss, lopar_mask, ModuleTrainer};
pub use tokens::{Modality, SpecialTokens};
pub use trainer::{masked_lm_loss, CogLmTrainer, ModalityLoss, StepReport, TrainerConfig};
