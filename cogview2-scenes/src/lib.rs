#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod analyze;
mod caption;
mod error;
mod palette;
mod position;
mod render;
mod sampler;
mod scene;
mod shape;
mod stats;

pub use analyze::{analyze, Analysis};
pub use caption::{caption, caption_with, lexicon, CaptionDetail, parse_prompt, Language, Mention, Prompt};
pub use error::{Result, ScenesError};
pub use palette::{distance2, Colour, BLACK, BLUE, GREEN, ORANGE, PURPLE, RED, WHITE, YELLOW};
pub use position::Position;
pub use render::render;
pub use sampler::{
    held_out_combos, is_held_out, training_combos, ComboSet, LanguageMix, SamplerConfig, SceneItem,
    SceneSampler,
};
pub use scene::{Combo, Scene, SceneObject, MAX_OBJECTS, MAX_SCALE, MIN_SCALE, SCALE_LIMITS};
pub use shape::Shape;
pub use stats::{wilson_interval, PairedChange};
