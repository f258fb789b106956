//! Styles (the official prompt templates) and the sampling recipe of each stage.

use std::fmt;
use std::str::FromStr;

use cogview2_core::DEFAULT_ATTN_PLUS;
use cogview2_sr::{DSR_CLUSTER_TEMPERATURE, DSR_TOP_K_CLUSTERS, OFFICIAL_TOP_K};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A prompt style of the official `get_recipe`: a template around the prompt and its own sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// The prompt as is (the completion script's default).
    None,
    /// `高清摄影 隔绝` (HD photo, isolated subject): the text-to-image script's default.
    #[default]
    Mainbody,
    /// `高清摄影` (HD photo).
    Photo,
    /// `平面风格` (flat).
    Flat,
    /// `漫画 隔绝` (comics, isolated).
    Comics,
    /// `油画风格` (oil painting).
    Oil,
    /// `素描风格` (sketch).
    Sketch,
    /// `等距矢量图` (isometric vector art).
    Isometric,
    /// `水墨国画` (Chinese ink painting).
    Chinese,
    /// `水彩画风格` (watercolour).
    Watercolor,
}

impl Style {
    /// Every style, in the official order.
    pub const ALL: [Style; 10] = [
        Style::None,
        Style::Mainbody,
        Style::Photo,
        Style::Flat,
        Style::Comics,
        Style::Oil,
        Style::Sketch,
        Style::Isometric,
        Style::Chinese,
        Style::Watercolor,
    ];

    /// The lowercase name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Style::None => "none",
            Style::Mainbody => "mainbody",
            Style::Photo => "photo",
            Style::Flat => "flat",
            Style::Comics => "comics",
            Style::Oil => "oil",
            Style::Sketch => "sketch",
            Style::Isometric => "isometric",
            Style::Chinese => "chinese",
            Style::Watercolor => "watercolor",
        }
    }

    /// What the template appends to the prompt (before `<start_of_image>`).
    pub fn suffix(self) -> &'static str {
        match self {
            Style::None => "",
            Style::Mainbody => " 高清摄影 隔绝",
            Style::Photo => " 高清摄影",
            Style::Flat => " 平面风格",
            Style::Comics => " 漫画 隔绝",
            Style::Oil => " 油画风格",
            Style::Sketch => " 素描风格",
            Style::Isometric => " 等距矢量图",
            Style::Chinese => " 水墨国画",
            Style::Watercolor => " 水彩画风格",
        }
    }

    /// The templated prompt text, without the final `<start_of_image>` (which the pipeline appends as an id).
    pub fn apply(self, prompt: &str) -> String {
        format!("{prompt}{}", self.suffix())
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Style {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Style::ALL
            .into_iter()
            .find(|style| style.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownStyle(s.to_string()))
    }
}

/// Sampling settings of every stage (the official `get_recipe` values that the pipeline actually uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Log-attention bias on the text columns in stage 1 (`attn_plus`).
    pub attn_plus: f32,
    /// Stage-1 temperature (`temp_all_gen`).
    pub temperature: f64,
    /// Stage-1 clusters kept (`topk_gen`).
    pub top_k_clusters: usize,
    /// Stage-1 temperature inside the chosen cluster (`temp_cluster_gen`).
    pub cluster_temperature: f64,
    /// DSR clusters kept (`topk_dsr`).
    pub dsr_top_k_clusters: usize,
    /// DSR temperature inside the chosen cluster (`temp_cluster_dsr`).
    pub dsr_cluster_temperature: f64,
    /// Top-k of each LoPAR iteration (hard-coded officially: 40, 40, 40, 20, 20, 10). Empty skips ITERSR: the
    /// images are DSR's tokens decoded as they are (what ITERSR adds can be measured that way).
    pub itersr_top_k: Vec<usize>,
    /// Take the most likely token everywhere instead of sampling (deterministic; benchmarks and parity checks
    /// against reference implementations, which use argmax).
    #[serde(default)]
    pub argmax: bool,
}

impl Recipe {
    /// The official recipe of `style`.
    pub fn for_style(style: Style) -> Self {
        let temperature = match style {
            Style::Flat | Style::Comics | Style::Sketch | Style::Isometric => 1.1,
            Style::Chinese => 1.12,
            _ => 1.15,
        };
        let (dsr_top_k_clusters, dsr_cluster_temperature) = match style {
            Style::Flat | Style::Comics => (5, 0.4),
            _ => (DSR_TOP_K_CLUSTERS, DSR_CLUSTER_TEMPERATURE),
        };
        Self {
            attn_plus: DEFAULT_ATTN_PLUS,
            temperature,
            top_k_clusters: 16,
            cluster_temperature: 1.0,
            dsr_top_k_clusters,
            dsr_cluster_temperature,
            itersr_top_k: OFFICIAL_TOP_K.to_vec(),
            argmax: false,
        }
    }
}

/// Image codes of the released models, which the official top-k values were tuned for.
pub const OFFICIAL_IMAGE_TOKENS: usize = 20_000;
/// Clusters of the released cluster table.
pub const OFFICIAL_CLUSTERS: usize = 500;

impl Recipe {
    /// This recipe with every top-k scaled to keep the same share of a smaller (or larger) vocabulary: cluster
    /// counts by `num_clusters / 500`, LoPAR's code counts by `num_image_tokens / 20 000`, rounded, at least 1.
    /// Unscaled, the official values keep all 16 clusters of a 512-code model, where they keep 3 % of the
    /// released one's, and sampling turns to noise.
    pub fn scaled_to(&self, num_image_tokens: usize, num_clusters: usize) -> Self {
        let scale = |k: usize, have: usize, official: usize| ((k * have) as f64 / official as f64).round().max(1.0) as usize;
        Self {
            top_k_clusters: scale(self.top_k_clusters, num_clusters, OFFICIAL_CLUSTERS),
            dsr_top_k_clusters: scale(self.dsr_top_k_clusters, num_clusters, OFFICIAL_CLUSTERS),
            itersr_top_k: self.itersr_top_k.iter().map(|&k| scale(k, num_image_tokens, OFFICIAL_IMAGE_TOKENS)).collect(),
            ..self.clone()
        }
    }
}

impl Default for Recipe {
    fn default() -> Self {
        Self::for_style(Style::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_names_round_trip_and_unknown_is_an_error() {
        for style in Style::ALL {
            assert_eq!(style.name().parse::<Style>().unwrap(), style);
        }
        assert!(matches!("cubism".parse::<Style>(), Err(Error::UnknownStyle(_))));
    }

    #[test]
    fn official_templates_and_recipes() {
        assert_eq!(Style::Mainbody.apply("a cat"), "a cat 高清摄影 隔绝");
        assert_eq!(Style::None.apply("a cat"), "a cat");
        assert_eq!(Recipe::for_style(Style::Flat).dsr_top_k_clusters, 5);
        assert_eq!(Recipe::for_style(Style::Chinese).temperature, 1.12);
        assert_eq!(Recipe::default().temperature, 1.15);
        assert_eq!(Recipe::default().itersr_top_k, vec![40, 40, 40, 20, 20, 10]);
    }

    #[test]
    fn scaled_recipes_keep_the_official_share_of_the_vocabulary() {
        let official = Recipe::default();
        assert_eq!(official.scaled_to(OFFICIAL_IMAGE_TOKENS, OFFICIAL_CLUSTERS), official);
        let small = official.scaled_to(512, 16);
        assert_eq!((small.top_k_clusters, small.dsr_top_k_clusters), (1, 3)); // 16·16/500, 100·16/500
        assert_eq!(small.itersr_top_k, vec![1; 6]); // 40·512/20 000 ≈ 1, never 0
        assert_eq!(official.scaled_to(40_000, 1000).itersr_top_k, vec![80, 80, 80, 40, 40, 20]);
        assert_eq!(small.temperature, official.temperature);
    }
}
