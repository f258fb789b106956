//! The seeded scene sampler and the held-out combinations.
//!
//! Held-out rule: combination (colour `c`, shape `s`, position `p`, as indices into `Colour::ALL`, `Shape::ALL`,
//! `Position::ALL`) is held out iff `(c + 3·s + 7·p) mod 10 == 7`. That holds out 22 of the 216 combinations
//! (about 10 %), spread so that every colour, shape and position occurs both in the held-out set and in
//! training, and every pair of attribute values still occurs in training: a model can only get held-out
//! prompts right by composing attributes it saw separately.

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::caption::{caption, Language};
use crate::error::{Result, ScenesError};
use crate::palette::Colour;
use crate::render::render;
use crate::scene::{Combo, Scene, SceneObject, MAX_OBJECTS, MAX_SCALE, MIN_SCALE, SCALE_LIMITS};

/// Whether `combo` belongs to the held-out evaluation set (see the module docs for the rule).
pub fn is_held_out(combo: Combo) -> bool {
    (combo.colour.index() + 3 * combo.shape.index() + 7 * combo.position.index()) % 10 == 7
}

/// The held-out combinations, in [`Combo::all`] order.
pub fn held_out_combos() -> Vec<Combo> {
    Combo::all().filter(|&c| is_held_out(c)).collect()
}

/// The training combinations (all but the held-out ones), in [`Combo::all`] order.
pub fn training_combos() -> Vec<Combo> {
    Combo::all().filter(|&c| !is_held_out(c)).collect()
}

/// Which combinations the sampler may draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ComboSet {
    /// Everything but the held-out combinations (for training).
    #[default]
    Training,
    /// Only the held-out combinations (for evaluation).
    HeldOut,
    /// All 216 combinations.
    All,
}

impl ComboSet {
    fn admits(self, combo: Combo) -> bool {
        match self {
            ComboSet::Training => !is_held_out(combo),
            ComboSet::HeldOut => is_held_out(combo),
            ComboSet::All => true,
        }
    }
}

/// Caption languages the sampler emits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LanguageMix {
    /// English only.
    English,
    /// Chinese only.
    Chinese,
    /// Chinese with this probability, else English.
    Mixed {
        /// Probability of a Chinese caption, in [0, 1].
        chinese: f32,
    },
}

/// Sampler settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// Seed of the ChaCha8 stream: equal configs give equal item sequences.
    pub seed: u64,
    /// Side of the rendered images in pixels.
    pub size: u32,
    /// Fewest objects per scene (at least 1).
    pub min_objects: usize,
    /// Most objects per scene (at most [`MAX_OBJECTS`]).
    pub max_objects: usize,
    /// Caption languages.
    pub languages: LanguageMix,
    /// Combinations objects are drawn from.
    pub combos: ComboSet,
    /// Range `[min, max]` the side of each object's box is drawn from, as a fraction of its cell side, within
    /// [`SCALE_LIMITS`]. Larger objects give a small code grid more codes per outline.
    #[serde(default = "default_object_scale")]
    pub object_scale: [f32; 2],
    /// Share of scenes on the plain background of their first object ([`Scene::plain_background`]: white, black
    /// for a white object) instead of a uniformly drawn one, in [0, 1]. Plain scenes are what prompts without a
    /// background ask for and what the evaluation draws; 0 keeps every background equally likely.
    #[serde(default)]
    pub plain_background: f32,
}

fn default_object_scale() -> [f32; 2] {
    [MIN_SCALE, MAX_SCALE]
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            size: 160,
            min_objects: 1,
            max_objects: 1,
            languages: LanguageMix::Mixed { chinese: 0.5 },
            combos: ComboSet::Training,
            object_scale: default_object_scale(),
            plain_background: 0.0,
        }
    }
}

/// One sampled training or evaluation item.
#[derive(Debug, Clone)]
pub struct SceneItem {
    /// The scene description.
    pub scene: Scene,
    /// The rendered scene.
    pub image: RgbImage,
    /// Caption of the scene.
    pub caption: String,
    /// Language of the caption.
    pub language: Language,
}

/// Seeded stream of scenes; an [`Iterator`] over [`SceneItem`]s that never ends.
#[derive(Debug, Clone)]
pub struct SceneSampler {
    config: SamplerConfig,
    combos: Vec<Combo>,
    rng: ChaCha8Rng,
    /// The plain-background draws' own stream, so that share 0 leaves the scene stream as it always was.
    plain_rng: ChaCha8Rng,
}

/// Stream 1 of the seed (the scenes use stream 0).
fn plain_stream(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    rng
}

impl SceneSampler {
    /// Checks `config` and seeds the stream.
    pub fn new(config: SamplerConfig) -> Result<Self> {
        if config.size == 0 {
            return Err(ScenesError::ZeroSize);
        }
        if config.min_objects == 0
            || config.min_objects > config.max_objects
            || config.max_objects > MAX_OBJECTS
        {
            return Err(ScenesError::ObjectCount {
                min: config.min_objects,
                max: config.max_objects,
                limit: MAX_OBJECTS,
            });
        }
        let [lo, hi] = config.object_scale;
        // Written so that NaN bounds fail too.
        if !(SCALE_LIMITS[0] <= lo && lo <= hi && hi <= SCALE_LIMITS[1]) {
            return Err(ScenesError::ObjectScale { min: lo, max: hi });
        }
        let mut shares = vec![("SamplerConfig::plain_background", config.plain_background)];
        if let LanguageMix::Mixed { chinese } = config.languages {
            shares.push(("LanguageMix::Mixed::chinese", chinese));
        }
        if let Some(&(name, value)) = shares.iter().find(|(_, p)| !(0.0..=1.0).contains(p)) {
            return Err(ScenesError::Probability { name, value });
        }
        let combos: Vec<Combo> = Combo::all().filter(|&c| config.combos.admits(c)).collect();
        tracing::debug!(
            seed = config.seed,
            combos = combos.len(),
            "scene sampler ready"
        );
        Ok(Self {
            config,
            combos,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            plain_rng: plain_stream(config.seed),
        })
    }

    /// The settings this sampler was made with.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Draws the next scene (without rendering it).
    pub fn sample_scene(&mut self) -> Result<Scene> {
        let count = self
            .rng
            .random_range(self.config.min_objects..=self.config.max_objects);
        let mut background = Colour::ALL[self.rng.random_range(0..Colour::ALL.len())];
        // A draw in [0, 1) is never plain at share 0.
        let plain = self.plain_rng.random::<f32>() < self.config.plain_background;
        let mut objects: Vec<SceneObject> = Vec::with_capacity(count);
        for i in 0..count {
            // On a plain scene the first object picks the background, so every colour stays drawable.
            let free_colour = |c: &Combo| (plain && i == 0) || c.colour != background;
            let candidates: Vec<Combo> = self
                .combos
                .iter()
                .copied()
                .filter(free_colour)
                .filter(|c| objects.iter().all(|o| o.position != c.position))
                .collect();
            if candidates.is_empty() {
                return Err(ScenesError::NothingToSample(format!(
                    "{:?} combinations with a free cell and a colour other than the {} background",
                    self.config.combos,
                    background.english()
                )));
            }
            let combo = candidates[self.rng.random_range(0..candidates.len())];
            if plain && i == 0 {
                background = Scene::plain_background(combo.colour);
            }
            let [lo, hi] = self.config.object_scale;
            let scale = self.rng.random_range(lo..=hi);
            // Keep a margin inside the cell so the anti-aliased fringe never crosses into a neighbour.
            let reach = SceneObject::max_offset(scale) * 0.8;
            let offset = [
                self.rng.random_range(-reach..=reach),
                self.rng.random_range(-reach..=reach),
            ];
            objects.push(SceneObject {
                colour: combo.colour,
                shape: combo.shape,
                position: combo.position,
                scale,
                offset,
            });
        }
        Scene::new(background, objects)
    }

    fn sample_language(&mut self) -> Language {
        match self.config.languages {
            LanguageMix::English => Language::English,
            LanguageMix::Chinese => Language::Chinese,
            LanguageMix::Mixed { chinese } => {
                if self.rng.random::<f32>() < chinese {
                    Language::Chinese
                } else {
                    Language::English
                }
            }
        }
    }

    /// Draws, renders and captions the next item.
    pub fn next_item(&mut self) -> Result<SceneItem> {
        let scene = self.sample_scene()?;
        let language = self.sample_language();
        let image = render(&scene, self.config.size)?;
        let caption = caption(&scene, language);
        Ok(SceneItem {
            scene,
            image,
            caption,
            language,
        })
    }
}

impl Iterator for SceneSampler {
    type Item = Result<SceneItem>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_item())
    }
}
