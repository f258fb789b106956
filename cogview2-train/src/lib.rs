#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod batch;
pub mod caption_vocab;
pub mod clip;
pub mod clusters;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod export;
pub mod masking;
pub mod sampler;
pub mod scene_cache;
pub mod scene_rows;
pub mod schedule;
pub mod sr;
pub mod sr_checkpoint;
pub mod sr_init;
pub mod tokens;
pub mod trainer;

pub use batch::Batch;
pub use caption_vocab::{build_caption_vocab, caption_corpus, write_caption_vocab};
pub use checkpoint::TrainerState;
pub use clip::{clip_global_norm, global_grad_norm};
pub use clusters::{kmeans, npy_int64_bytes, write_cluster_table, KMeansConfig};
pub use data::{safetensors_rows, InMemoryRows, RowSource};
pub use error::{Result, TrainError};
pub use export::{export_safetensors, export_sr_safetensors, named_tensors};
pub use masking::{
    image_text_understanding, span_lengths, text_image_generation, text_infilling, MaskingConfig, Sample, SampleKind,
};
pub use sampler::{Choices, MaskingSampler};
pub use scene_cache::{read_scene_tokens, write_scene_tokens};
pub use scene_rows::{encode_scenes, scene_special_tokens, write_safetensors_rows, ImageEncoder, SceneDataConfig, SceneRows, SceneTokens};
pub use schedule::LrSchedule;
pub use sr_init::{init_dsr, init_itersr};
pub use sr_checkpoint::{export_sr_dir, SrModelDir, SrTrainerState};
pub use sr::{dsr_loss, draw_lopar_level, itersr_loss, lopar_mask, ModuleTrainer};
pub use tokens::{Modality, SpecialTokens};
pub use trainer::{masked_lm_loss, CogLmTrainer, ModalityLoss, StepReport, TrainerConfig};
