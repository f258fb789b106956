//! The HVQVAE constructor config, field for field as icetk's `new_module` dict (ICE: icetk/vqvae/api.py).
//!
//! Every `{"target": ..., "params": {...}}` node maps to a [`Target`]; omitted params take the defaults of the
//! official Python constructors (enc_dec.py, quantize.py), so the dict of `load_default_HVQVAE` (which leaves
//! channels and z_channels out) parses to the released model.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VqvaeError};

/// GroupNorm group count of every block in the released model (enc_dec.py `Normalize`); the default of
/// [`CoderParams::norm_groups`].
pub const GROUP_NORM_GROUPS: usize = 32;
/// GroupNorm epsilon used by every block.
pub const GROUP_NORM_EPS: f64 = 1e-6;

/// One `{"target", "params"}` node of the official config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target<P> {
    /// Python class path, e.g. `..vqvae.Encoder`.
    pub target: String,
    /// Constructor arguments.
    pub params: P,
}

/// Arguments of `HVQVAE.__init__`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HvqvaeParams {
    /// Number of code levels (3: compress rates 4, 8, 16).
    pub levels: usize,
    /// Codebook vector size.
    pub embedding_dim: usize,
    /// Encoder trunk.
    pub enc_config: Target<CoderParams>,
    /// Nearest-code quantiser.
    pub quantize_config: Target<QuantizeParams>,
    /// `levels - 1` residual down-samplers.
    pub down_sampler_configs: Vec<Target<DownSamplerParams>>,
    /// `levels` decoders; `decs[2 - l]` decodes level `l`.
    pub dec_configs: Vec<Target<CoderParams>>,
    /// Loss weight between levels (training only).
    #[serde(default = "one")]
    pub codebook_scale: f64,
}

/// Arguments shared by `Encoder.__init__` and `Decoder.__init__` (same names, same defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoderParams {
    /// Image channels in.
    pub in_channels: usize,
    /// Image channels out.
    pub out_channels: usize,
    /// Latent channels.
    pub z_channels: usize,
    /// Base channel count, multiplied per level by `channels_mult`.
    pub channels: usize,
    /// ResnetBlocks per down level (the decoder uses `num_res_blocks + 1` per up level).
    pub num_res_blocks: usize,
    /// Nominal input resolution; only decides where attention blocks sit.
    pub resolution: usize,
    /// Nominal resolutions that get an AttnBlock after each ResnetBlock.
    pub attn_resolutions: Vec<usize>,
    /// Conv in the resamplers (only `true` is supported, as released).
    pub resample_with_conv: bool,
    /// Channel multiplier per resolution level.
    pub channels_mult: Vec<usize>,
    /// Dropout (inference ignores it).
    pub dropout: f64,
    /// GroupNorm groups (not an icetk argument: 32 there, the default here, and left out of the JSON when 32).
    /// Small models need fewer: at 32 channels, 32 groups normalise every channel on its own, which erases each
    /// channel's spatial mean, so flat colours reach the decoder only through the skip paths and training
    /// stalls at the mean colour (measured on the synthetic scenes; one group trains).
    #[serde(skip_serializing_if = "is_released_groups")]
    pub norm_groups: usize,
}

impl Default for CoderParams {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            z_channels: 256,
            channels: 128,
            num_res_blocks: 0,
            resolution: 256,
            attn_resolutions: vec![16],
            resample_with_conv: true,
            channels_mult: vec![1, 2, 4, 8],
            dropout: 0.0,
            norm_groups: GROUP_NORM_GROUPS,
        }
    }
}

/// Arguments of `VectorQuantizeEMA.__init__`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizeParams {
    /// Channels of the features entering the quantiser.
    pub hidden_dim: usize,
    /// Codebook vector size.
    pub embedding_dim: usize,
    /// Codebook size (= number of image tokens).
    pub n_embed: usize,
    /// Commitment loss weight (training only).
    #[serde(default = "one")]
    pub commitment_cost: f64,
    /// EMA decay (training only).
    #[serde(default = "default_decay")]
    pub decay: f64,
    /// EMA epsilon (training only).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// 1x1 projection before the lookup (only `true` is supported, as released).
    #[serde(default = "yes")]
    pub pre_proj: bool,
    /// Training-time flag (unused by inference).
    #[serde(default = "yes")]
    pub training_loc: bool,
}

/// Arguments of `ResidualDownSample.__init__`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownSamplerParams {
    /// Channels in and out.
    pub in_channels: usize,
}

fn is_released_groups(groups: &usize) -> bool {
    *groups == GROUP_NORM_GROUPS
}

fn one() -> f64 {
    1.0
}
fn default_decay() -> f64 {
    0.99
}
fn default_eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}

/// The whole HVQVAE config: `{"target": "..vqvae.HVQVAE", "params": {...}}`.
pub type HvqvaeConfig = Target<HvqvaeParams>;

impl HvqvaeConfig {
    /// The released icetk image tokenizer (`load_default_HVQVAE`): channels 128, z 256, 20000 codes of 256.
    pub fn icetk() -> Self {
        Self::with_sizes(128, 256, 20000)
    }

    /// A model small enough to train on two CPU cores (the `train_vqvae` example's default): the released
    /// class layout and parameter names with base channels 32, z 32 and `n_embed` codes, one GroupNorm group (see
    /// [`CoderParams::norm_groups`]), one ResnetBlock per encoder level and self-attention only in the middle
    /// sections (level attention at resolution 16 costs time on two cores).
    /// At rate 8 a 32 px image is a 4×4 code grid.
    pub fn small(n_embed: usize) -> Self {
        let mut config = Self::with_sizes(32, 32, n_embed);
        let p = &mut config.params;
        for coder in std::iter::once(&mut p.enc_config).chain(p.dec_configs.iter_mut()) {
            coder.params.attn_resolutions.clear();
        }
        p.enc_config.params.num_res_blocks = 1;
        config.with_norm_groups(1)
    }

    /// The same model with `groups` GroupNorm groups in the encoder and every decoder (checked by
    /// [`Self::validate`] when the model is built).
    pub fn with_norm_groups(mut self, groups: usize) -> Self {
        let p = &mut self.params;
        for coder in std::iter::once(&mut p.enc_config).chain(p.dec_configs.iter_mut()) {
            coder.params.norm_groups = groups;
        }
        self
    }

    /// The released layout (3 levels, encoder mult [1,2,4], decoder mults [[1,1,1,2,4],[1,1,2,4],[1,2,4]],
    /// resolution 256, attention at 16) with other channel sizes, e.g. for benchmarks with random weights.
    pub fn with_sizes(channels: usize, z_channels: usize, n_embed: usize) -> Self {
        let coder = |target: &str, mult: &[usize], num_res_blocks: usize| Target {
            target: target.to_string(),
            params: CoderParams {
                channels,
                z_channels,
                num_res_blocks,
                channels_mult: mult.to_vec(),
                ..CoderParams::default()
            },
        };
        let down = Target {
            target: "..vqvae.ResidualDownSample".to_string(),
            params: DownSamplerParams { in_channels: z_channels },
        };
        Target {
            target: "..vqvae.HVQVAE".to_string(),
            params: HvqvaeParams {
                levels: 3,
                embedding_dim: z_channels,
                enc_config: coder("..vqvae.Encoder", &[1, 2, 4], 2),
                quantize_config: Target {
                    target: "..vqvae.VectorQuantizeEMA".to_string(),
                    params: QuantizeParams {
                        hidden_dim: z_channels,
                        embedding_dim: z_channels,
                        n_embed,
                        commitment_cost: 1.0,
                        decay: 0.99,
                        eps: 1e-5,
                        pre_proj: true,
                        training_loc: false,
                    },
                },
                down_sampler_configs: vec![down.clone(), down],
                dec_configs: vec![
                    coder("..vqvae.Decoder", &[1, 1, 1, 2, 4], 0),
                    coder("..vqvae.Decoder", &[1, 1, 2, 4], 0),
                    coder("..vqvae.Decoder", &[1, 2, 4], 0),
                ],
                codebook_scale: 1.0,
            },
        }
    }

    /// Reads and validates a config JSON file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| VqvaeError::Io { path: path.into(), source })?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| VqvaeError::ConfigParse { path: path.into(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that the config describes a model this crate builds: the released class layout and consistent sizes.
    pub fn validate(&self) -> Result<()> {
        let p = &self.params;
        expect_class(&self.target, "HVQVAE")?;
        expect_class(&p.enc_config.target, "Encoder")?;
        expect_class(&p.quantize_config.target, "VectorQuantizeEMA")?;
        if p.levels != 3 {
            return invalid(format!("levels = {}; icetk's level indexing (decs[2 - l]) needs 3", p.levels));
        }
        if p.dec_configs.len() != p.levels || p.down_sampler_configs.len() + 1 != p.levels {
            return invalid(format!(
                "{} levels need {} decoders and {} down-samplers, found {} and {}",
                p.levels,
                p.levels,
                p.levels - 1,
                p.dec_configs.len(),
                p.down_sampler_configs.len()
            ));
        }
        let enc = &p.enc_config.params;
        check_coder("enc_config", enc)?;
        if enc.in_channels != 3 {
            return invalid(format!("enc_config.in_channels = {}; images are RGB (3)", enc.in_channels));
        }
        let q = &p.quantize_config.params;
        if !q.pre_proj {
            return invalid("quantize_config.pre_proj = false is not supported (the released model projects)".into());
        }
        if q.n_embed == 0 {
            return invalid("quantize_config.n_embed = 0: the codebook needs at least one code".into());
        }
        if q.hidden_dim != enc.z_channels || q.embedding_dim != p.embedding_dim {
            return invalid(format!(
                "quantize_config hidden_dim {} / embedding_dim {} must equal enc z_channels {} / embedding_dim {}",
                q.hidden_dim, q.embedding_dim, enc.z_channels, p.embedding_dim
            ));
        }
        for (i, d) in p.down_sampler_configs.iter().enumerate() {
            expect_class(&d.target, "ResidualDownSample")?;
            if d.params.in_channels != enc.z_channels {
                return invalid(format!(
                    "down_sampler_configs[{i}].in_channels = {}, the encoder emits {}",
                    d.params.in_channels, enc.z_channels
                ));
            }
        }
        for (i, d) in p.dec_configs.iter().enumerate() {
            expect_class(&d.target, "Decoder")?;
            check_coder(&format!("dec_configs[{i}]"), &d.params)?;
            if d.params.z_channels != p.embedding_dim {
                return invalid(format!(
                    "dec_configs[{i}].z_channels = {}, codes have embedding_dim {}",
                    d.params.z_channels, p.embedding_dim
                ));
            }
            if d.params.out_channels != 3 {
                return invalid(format!("dec_configs[{i}].out_channels = {}; images are RGB (3)", d.params.out_channels));
            }
        }
        Ok(())
    }

    /// Pixels per encoder-trunk feature (2^(levels of the encoder - 1)); 4 for the released model.
    pub fn encoder_stride(&self) -> usize {
        1 << (self.params.enc_config.params.channels_mult.len() - 1)
    }

    /// Codebook size.
    pub fn n_embed(&self) -> usize {
        self.params.quantize_config.params.n_embed
    }
}

fn check_coder(what: &str, c: &CoderParams) -> Result<()> {
    if c.channels_mult.is_empty() || c.channels_mult.contains(&0) {
        return invalid(format!("{what}.channels_mult {:?} must be non-empty and positive", c.channels_mult));
    }
    if !c.resample_with_conv {
        return invalid(format!("{what}.resample_with_conv = false is not supported (the released model uses conv)"));
    }
    if c.z_channels == 0 || c.channels == 0 {
        return invalid(format!("{what}: channels and z_channels must be positive"));
    }
    if c.norm_groups == 0 {
        return invalid(format!("{what}.norm_groups must be positive"));
    }
    for m in &c.channels_mult {
        if !(c.channels * m).is_multiple_of(c.norm_groups) {
            return invalid(format!(
                "{what}: {} channels (channels {} x mult {m}) are not divisible by the {} GroupNorm groups",
                c.channels * m,
                c.channels,
                c.norm_groups
            ));
        }
    }
    Ok(())
}

fn expect_class(target: &str, class: &str) -> Result<()> {
    if target.rsplit('.').next() == Some(class) {
        Ok(())
    } else {
        invalid(format!("target {target:?} where the HVQVAE layout needs a {class}"))
    }
}

fn invalid<T>(msg: String) -> Result<T> {
    Err(VqvaeError::InvalidConfig(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `load_default_HVQVAE`'s dict leaves channels/z_channels out: the Python defaults must fill them.
    #[test]
    fn official_default_dict_parses_to_the_released_model() {
        let json = r#"{"target": "..vqvae.HVQVAE", "params": {"levels": 3, "embedding_dim": 256, "codebook_scale": 1,
          "down_sampler_configs": [{"target": "..vqvae.ResidualDownSample", "params": {"in_channels": 256}},
                                   {"target": "..vqvae.ResidualDownSample", "params": {"in_channels": 256}}],
          "enc_config": {"target": "..vqvae.Encoder", "params": {"num_res_blocks": 2, "channels_mult": [1,2,4]}},
          "quantize_config": {"target": "..vqvae.VectorQuantizeEMA",
                              "params": {"hidden_dim": 256, "embedding_dim": 256, "n_embed": 20000, "training_loc": false}},
          "dec_configs": [{"target": "..vqvae.Decoder", "params": {"channels_mult": [1,1,1,2,4]}},
                          {"target": "..vqvae.Decoder", "params": {"channels_mult": [1,1,2,4]}},
                          {"target": "..vqvae.Decoder", "params": {"channels_mult": [1,2,4]}}]}}"#;
        let parsed: HvqvaeConfig = serde_json::from_str(json).unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed, HvqvaeConfig::icetk());
        assert_eq!(parsed.encoder_stride(), 4);
    }

    #[test]
    fn unknown_argument_is_rejected_like_python() {
        let mut v = serde_json::to_value(HvqvaeConfig::icetk()).unwrap();
        v["params"]["enc_config"]["params"]["bogus"] = serde_json::json!(1);
        assert!(serde_json::from_value::<HvqvaeConfig>(v).is_err());
    }

    #[test]
    fn group_norm_divisibility_is_checked() {
        let c = HvqvaeConfig::with_sizes(48, 256, 10);
        assert!(matches!(c.validate(), Err(VqvaeError::InvalidConfig(_))));
    }
}
