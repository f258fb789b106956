#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod attention;
pub mod cache;
pub mod completion;
pub mod config;
pub mod edit_geometry;
pub mod error;
pub mod generation;
pub mod inverse_prompt;
pub mod layer;
pub mod layernorm;
pub mod layout;
pub mod likelihood;
pub mod mlp;
pub mod npy;
pub mod sampling;
pub mod transformer;
pub mod weights;

pub use attention::{AttentionBias, SelfAttention};
pub use cache::KvCache;
pub use completion::{complete, complete_with, CompletionLayout, CompletionSlot};
pub use config::{CogLmConfig, LayerNormOrder, PbRelax};
pub use error::{CoreError, Result};
pub use edit_geometry::{
    box_to_pixel_mask, crop_mask, downsample_mask, mask_bounding_box, surrounding_box_crop, PixelBox, SurroundingCrop,
};
pub use generation::{generate_image_tokens, GenerationOptions, ImagePrompt, Stage1Decoder};
pub use inverse_prompt::{
    caption_logits, caption_scores, caption_scores_chunked, caption_token_log_probs, rank_by_caption_score, CaptionLayout,
};
pub use layer::TransformerLayer;
pub use layernorm::LayerNorm;
pub use layout::{TextToImageLayout, DEFAULT_ATTN_PLUS, IMAGE_POSITION_OFFSET};
pub use likelihood::{image_log_likelihood, image_token_log_probs};
pub use mlp::Mlp;
pub use sampling::{ClusterTable, DeviceSampler, Sampler};
pub use transformer::{CogLm, Transformer};
pub use weights::SafetensorsWeights;
