#![doc = include_str!("../README.md")]

pub mod attention;
pub mod compress;
pub mod config;
pub mod conv;
pub mod decoder;
pub mod ema;
pub mod encoder;
pub mod error;
pub mod image_io;
pub mod mid;
pub mod model;
pub mod norm;
pub mod normalize;
pub mod quantize;
pub mod resample;
pub mod resnet;
pub mod train;
pub mod weights;

pub use compress::CompressRate;
pub use config::HvqvaeConfig;
pub use error::{Result, VqvaeError};
pub use image_io::{center_crop, images_to_tensor, load_image, resize_and_center_crop, save_png, tensor_to_images};
pub use model::Hvqvae;
pub use normalize::{denormalize, normalize};
pub use quantize::Quantized;
pub use train::{
    evaluate, forward_level, Bottleneck, EvalStats, LevelOutput, LrDecay, StepStats, TrainConfig, Trainer,
};
pub use weights::{load_safetensors, save_safetensors, WeightFile};
