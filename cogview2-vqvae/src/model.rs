//! `HVQVAE` of ICE: icetk/vqvae/vqvae_hierarchical.py with the tokenizer entry points of
//! ICE: icetk/image_tokenizer.py (`encode(image, l)`, `decode(codes, l)`).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};

use crate::compress::CompressRate;
use crate::config::HvqvaeConfig;
use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::error::{Result, VqvaeError};
use crate::normalize::{denormalize, normalize};
use crate::quantize::{Quantized, VectorQuantizeEma};
use crate::resample::ResidualDownSample;

/// The hierarchical VQ-VAE: one encoder trunk, `levels − 1` residual down-samplers, one shared codebook and one
/// decoder per level. Field names are the checkpoint's top-level keys.
#[derive(Module, Debug)]
pub struct Hvqvae<B: Backend> {
    /// Shared encoder trunk (stride 4 in the released model).
    pub enc: Encoder<B>,
    /// `decs[2 − l]` decodes level `l`.
    pub decs: Vec<Decoder<B>>,
    /// Pre-projection and codebook.
    pub quantize: VectorQuantizeEma<B>,
    /// `down_samplers[i]` takes level `i` features to level `i + 1`.
    pub down_samplers: Vec<ResidualDownSample<B>>,
}

impl<B: Backend> Hvqvae<B> {
    /// Builds the model with random weights (benchmarks; load a checkpoint with [`crate::load_safetensors`]).
    pub fn new(config: &HvqvaeConfig, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let p = &config.params;
        Ok(Self {
            enc: Encoder::new(&p.enc_config.params, device),
            decs: p.dec_configs.iter().map(|d| Decoder::new(&d.params, device)).collect(),
            quantize: VectorQuantizeEma::new(&p.quantize_config.params, device),
            down_samplers: p
                .down_sampler_configs
                .iter()
                .map(|d| ResidualDownSample::new(d.params.in_channels, device))
                .collect(),
        })
    }

    /// Image pixels per code along each side at `rate` (= the rate itself for the released layout).
    pub fn cell_size(&self, rate: CompressRate) -> usize {
        self.enc.stride() << rate.level()
    }

    /// `(x − mean) / std`, see [`crate::normalize()`].
    pub fn normalize(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        normalize(image)
    }

    /// The encoder trunk (`model.enc`), level-0 features.
    ///
    /// # Shapes
    /// `normalized`: `[B, 3, H, W]` → `[B, z, H/4, W/4]` (released stride).
    pub fn encoder(&self, normalized: Tensor<B, 4>) -> Tensor<B, 4> {
        self.enc.forward(normalized)
    }

    /// Applies `down_samplers[0..level]` to level-0 features.
    ///
    /// # Shapes
    /// `features`: `[B, z, h, w]` → `[B, z, ⌊h/2^level⌋, ⌊w/2^level⌋]`.
    pub fn down_sample_to_level(&self, features: Tensor<B, 4>, level: usize) -> Tensor<B, 4> {
        self.down_samplers.iter().take(level).fold(features, |h, ds| ds.forward(h))
    }

    /// Projection and nearest-code lookup (`model.quantize`).
    pub fn quantize(&self, features: Tensor<B, 4>) -> Quantized<B> {
        self.quantize.forward(features)
    }

    /// `single_decode_code(code, l)`: codebook vectors of `codes` through `decs[2 − l]`, NOT de-normalised.
    ///
    /// # Shapes
    /// `codes`: `[B, h, w]` → `[B, 3, h·2^(levels−1−l)·…, …]` (×4/×8/×16 for l = 0/1/2 in the released model).
    pub fn single_decode_code(&self, codes: Tensor<B, 3, Int>, level: usize) -> Result<Tensor<B, 4>> {
        let decoder = self
            .decs
            .len()
            .checked_sub(1 + level)
            .and_then(|i| self.decs.get(i))
            .ok_or(VqvaeError::BadCompressRate(4 << level))?;
        self.check_ids(&codes)?;
        let quant = self.quantize.embed_code(codes).permute([0, 3, 1, 2]);
        Ok(decoder.forward(quant))
    }

    /// Image → token ids (ImageTokenizer.encode).
    ///
    /// # Shapes
    /// `image` (RGB in [0, 1]): `[B, 3, H, W]`, H and W multiples of the compress rate → `[B, (H/r)·(W/r)]`.
    pub fn encode(&self, image: Tensor<B, 4>, rate: CompressRate) -> Result<Tensor<B, 2, Int>> {
        let [b, c, h, w] = image.dims();
        if c != 3 || b == 0 {
            return Err(VqvaeError::BadShape {
                what: "image batch".into(),
                found: vec![b, c, h, w],
                expected: "[B ≥ 1, 3, H, W] RGB in [0, 1]".into(),
            });
        }
        let cell = self.cell_size(rate);
        if h < cell || w < cell {
            return Err(VqvaeError::ImageTooSmall { width: w, height: h, cell });
        }
        if !h.is_multiple_of(cell) || !w.is_multiple_of(cell) {
            return Err(VqvaeError::NotDivisible { width: w, height: h, rate: cell });
        }
        let _span = tracing::debug_span!("vqvae_encode", b, h, w, rate = rate.rate()).entered();
        let features = self.encoder(self.normalize(image));
        let features = self.down_sample_to_level(features, rate.level());
        let ids = self.quantize(features).ids;
        let [b, gh, gw] = ids.dims();
        Ok(ids.reshape([b, gh * gw]))
    }

    /// Token ids → image (ImageTokenizer.decode): square grids of `[B, s·s]` ids, de-normalised, not clamped.
    ///
    /// # Shapes
    /// `ids`: `[B, s²]` → `[B, 3, s·r, s·r]`.
    pub fn decode(&self, ids: Tensor<B, 2, Int>, rate: CompressRate) -> Result<Tensor<B, 4>> {
        let [b, n] = ids.dims();
        let side = (n as f64).sqrt().round() as usize;
        if side * side != n || n == 0 {
            return Err(VqvaeError::NotSquare { len: n });
        }
        self.decode_grid(ids.reshape([b, side, side]), rate)
    }

    /// Like [`Self::decode`] for a `[B, h, w]` grid of any aspect ratio.
    pub fn decode_grid(&self, codes: Tensor<B, 3, Int>, rate: CompressRate) -> Result<Tensor<B, 4>> {
        let [b, h, w] = codes.dims();
        let _span = tracing::debug_span!("vqvae_decode", b, h, w, rate = rate.rate()).entered();
        Ok(denormalize(self.single_decode_code(codes, rate.level())?))
    }

    /// Rejects ids outside `[0, n_embed)` (one host read of the min and max).
    fn check_ids(&self, codes: &Tensor<B, 3, Int>) -> Result<()> {
        let [b, h, w] = codes.dims();
        if b == 0 || h == 0 || w == 0 {
            return Err(VqvaeError::BadShape {
                what: "code grid".into(),
                found: vec![b, h, w],
                expected: "[B ≥ 1, h ≥ 1, w ≥ 1]".into(),
            });
        }
        let n_embed = self.quantize.n_embed();
        let min: i64 = codes.clone().min().into_scalar().elem();
        let max: i64 = codes.clone().max().into_scalar().elem();
        for id in [min, max] {
            if id < 0 || id >= n_embed as i64 {
                return Err(VqvaeError::IdOutOfRange { id, n_embed });
            }
        }
        Ok(())
    }
}
