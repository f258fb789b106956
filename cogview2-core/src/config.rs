//! CogLM hyper-parameters, named as SwissArmyTransformer's `model_config.json` arguments.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Where the LayerNorms sit in a transformer layer (SAT `layernorm_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LayerNormOrder {
    /// LN before attention and MLP only (GPT-2 style).
    Pre,
    /// Sandwich LN (CogView): also an LN on each sub-layer output before the residual add.
    #[default]
    Sandwich,
}

/// Precision-Bottleneck relaxation (CogView v1 paper): rescales attention scores and LayerNorm inputs so that
/// half-precision intermediates stay finite. Identity in exact arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PbRelax {
    /// The relaxation constant α (the paper uses 32).
    pub alpha: f64,
}

impl Default for PbRelax {
    fn default() -> Self {
        Self { alpha: 32.0 }
    }
}

fn default_epsilon() -> f64 {
    1e-5
}
fn default_num_image_tokens() -> usize {
    20_000
}
fn default_dropout() -> f64 {
    0.1
}

/// Configuration of the CogLM transformer.
///
/// Unknown keys in a `model_config.json` are ignored, so SAT's own files and the fixtures' configs load as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CogLmConfig {
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Attention heads (head dim = hidden_size / num_attention_heads).
    pub num_attention_heads: usize,
    /// Rows of the word embedding (the whole icetk id space, padded).
    pub vocab_size: usize,
    /// Rows of the learned 1-D position table.
    pub max_sequence_length: usize,
    /// LayerNorm placement.
    #[serde(default)]
    pub layernorm_order: LayerNormOrder,
    /// LayerNorm epsilon.
    #[serde(default = "default_epsilon")]
    pub layernorm_epsilon: f64,
    /// MLP width; `None` means 4 · hidden_size.
    #[serde(default)]
    pub inner_hidden_size: Option<usize>,
    /// Image codes occupy ids `[0, num_image_tokens)`; the image head projects onto these rows only.
    #[serde(default = "default_num_image_tokens")]
    pub num_image_tokens: usize,
    /// Dropout on attention probabilities (training only).
    #[serde(default = "default_dropout")]
    pub attention_dropout_prob: f64,
    /// Dropout on embeddings and sub-layer outputs (training only).
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// PB-relax; `None` (the official inference path) computes attention and LayerNorm plainly.
    #[serde(default)]
    pub pb_relax: Option<PbRelax>,
}

impl CogLmConfig {
    /// A config with the given sizes and SAT defaults elsewhere (sandwich LN, eps 1e-5, MLP 4·hidden, 20 000 image tokens).
    pub fn new(
        num_layers: usize,
        hidden_size: usize,
        num_attention_heads: usize,
        vocab_size: usize,
        max_sequence_length: usize,
    ) -> Self {
        Self {
            num_layers,
            hidden_size,
            num_attention_heads,
            vocab_size,
            max_sequence_length,
            layernorm_order: LayerNormOrder::Sandwich,
            layernorm_epsilon: default_epsilon(),
            inner_hidden_size: None,
            num_image_tokens: default_num_image_tokens(),
            attention_dropout_prob: default_dropout(),
            hidden_dropout_prob: default_dropout(),
            pb_relax: None,
        }
    }

    /// The released 6B CogLM (48 layers, hidden 3072, 48 heads, 150 010 word rows, 1024 positions).
    pub fn coglm_6b() -> Self {
        Self::new(48, 3072, 48, 150_010, 1024)
    }

    /// Reads a `model_config.json` (SAT's, or a fixture's `config.json`) and validates it.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| CoreError::ConfigParse {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Sets PB-relax.
    pub fn with_pb_relax(mut self, pb_relax: Option<PbRelax>) -> Self {
        self.pb_relax = pb_relax;
        self
    }

    /// Sets both dropout probabilities.
    pub fn with_dropout(mut self, prob: f64) -> Self {
        self.attention_dropout_prob = prob;
        self.hidden_dropout_prob = prob;
        self
    }

    /// MLP width.
    pub fn inner_size(&self) -> usize {
        self.inner_hidden_size.unwrap_or(4 * self.hidden_size)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(CoreError::InvalidConfig(msg));
        if self.num_layers == 0 || self.hidden_size == 0 || self.num_attention_heads == 0 {
            return fail("num_layers, hidden_size and num_attention_heads must be positive".into());
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return fail(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_image_tokens == 0 || self.num_image_tokens > self.vocab_size {
            return fail(format!(
                "num_image_tokens {} must be in 1..=vocab_size {}",
                self.num_image_tokens, self.vocab_size
            ));
        }
        if self.max_sequence_length == 0 {
            return fail("max_sequence_length must be positive".into());
        }
        if self.layernorm_epsilon.is_nan() || self.layernorm_epsilon <= 0.0 {
            return fail(format!("layernorm_epsilon {} must be positive", self.layernorm_epsilon));
        }
        for (name, p) in [
            ("attention_dropout_prob", self.attention_dropout_prob),
            ("hidden_dropout_prob", self.hidden_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return fail(format!("{name} {p} must be in [0, 1)"));
            }
        }
        if let Some(pb) = self.pb_relax {
            if pb.alpha.is_nan() || pb.alpha <= 0.0 {
                return fail(format!("pb_relax.alpha {} must be positive", pb.alpha));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_config_is_valid() {
        let c = CogLmConfig::coglm_6b();
        c.validate().unwrap();
        assert_eq!(c.head_dim(), 64);
        assert_eq!(c.inner_size(), 12288);
    }

    #[test]
    fn sat_json_with_extra_keys_parses() {
        let json = r#"{"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 600,
            "max_sequence_length": 1024, "layernorm_order": "sandwich", "activation": "gelu", "num_image_tokens": 512}"#;
        let c: CogLmConfig = serde_json::from_str(json).unwrap();
        c.validate().unwrap();
        assert_eq!(c.inner_size(), 256);
        assert_eq!(c.layernorm_epsilon, 1e-5);
    }

    #[test]
    fn inconsistent_sizes_are_rejected() {
        let mut c = CogLmConfig::new(2, 65, 4, 600, 1024);
        assert!(matches!(c.validate(), Err(CoreError::InvalidConfig(_))));
        c.hidden_size = 64;
        c.num_image_tokens = 700;
        assert!(matches!(c.validate(), Err(CoreError::InvalidConfig(_))));
    }
}
