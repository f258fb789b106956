//! Training of one code level of the HVQVAE (ICE: icetk/vqvae/vqvae_hierarchical.py `HVQVAE.forward` restricted
//! to one level, icetk/vqvae/quantize.py `VectorQuantizeEMA`).
//!
//! Forward ([`forward_level`]): normalised image → `enc` → `down_samplers[0..l]` → `quantize.proj` → nearest code
//! → straight-through `z_e + sg(z_q − z_e)` → `decs[2 − l]` → reconstruction (normalised space).
//! Loss = `mean((x̂ − x)²) + commitment_cost · mean((z_e − sg(z_q))²)`, both means over elements as in
//! quantize.py's `diff`. The codebook gets no gradient: after each optimiser step it follows the EMA rule of
//! [`crate::ema`], then optionally dead-code restarts (an extension, see [`crate::ema::restart_dead_codes`]).
//!
//! [`Trainer`] runs AdamW on the encoder, the down-samplers on the path, the pre-projection and the level's
//! decoder (the other decoders get no gradient and stay as initialised), and writes checkpoints that
//! [`crate::load_safetensors`] reads: `config.json`, `weights.safetensors` (official names, EMA buffers included),
//! `optimizer.bin` (burn's recorder) and `trainer.json` (step and settings).

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::compress::CompressRate;
use crate::config::HvqvaeConfig;
use crate::ema::{self, EmaCodebook};
use crate::error::{Result, VqvaeError};
use crate::image_io::images_to_tensor;
use crate::model::Hvqvae;
use crate::normalize::normalize;
use crate::weights::{load_safetensors, save_safetensors};

/// Parameters updated by the EMA rule, never by the optimiser.
const CODEBOOK: [&str; 3] = ["quantize.embed.weight", "quantize.cluster_size", "quantize.embed_avg"];

/// File names inside a checkpoint directory.
const CONFIG_FILE: &str = "config.json";
const WEIGHTS_FILE: &str = "weights.safetensors";
const OPTIMIZER_STEM: &str = "optimizer";
const STATE_FILE: &str = "trainer.json";

/// Training settings (the model's own `commitment_cost`, `decay` and `eps` come from its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Compress rate of the trained level (8 = level 1, CogView2's).
    pub compress_rate: u32,
    /// AdamW learning rate (constant until `lr_decay` starts).
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Restart codes whose bias-corrected EMA usage falls below this many hits per step; `None` = icetk's
    /// plain EMA.
    pub restart_threshold: Option<f64>,
    /// Seeds the initial weights and the restart row choice.
    pub seed: u64,
    /// Steps at the start that train a plain autoencoder: the decoder reads `z_e` itself and the loss has no
    /// commitment term, while the EMA codebook (and its restarts) already follows the encodings. The small
    /// model, quantised from step 1, collapsed with 8 norm groups; unquantised it learnt the objects.
    #[serde(default)]
    pub ae_warmup_steps: u64,
    /// Cosine decay of the learning rate towards the end of a run: a constant rate leaves the reconstruction
    /// error on a plateau that a falling rate gets below.
    #[serde(default)]
    pub lr_decay: Option<LrDecay>,
    /// Train only the decoder, on the codes of the frozen encoder and codebook: every image keeps its codes, so
    /// the transformers trained on them stay valid while the decoder learns to draw them better (e.g. at the
    /// scale super-resolution decodes at).
    #[serde(default)]
    pub decoder_only: bool,
}

/// The learning rate falls from `TrainConfig::lr` at `from_step` to `final_lr` at `until_step` along a half
/// cosine, and stays at `final_lr` after.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrDecay {
    pub from_step: u64,
    pub until_step: u64,
    pub final_lr: f64,
}

impl TrainConfig {
    /// The learning rate of step `step` (counted from 1).
    pub fn lr_at(&self, step: u64) -> f64 {
        let Some(decay) = self.lr_decay else {
            return self.lr;
        };
        if step <= decay.from_step {
            return self.lr;
        }
        if step >= decay.until_step {
            return decay.final_lr;
        }
        let progress = (step - decay.from_step) as f64 / (decay.until_step - decay.from_step) as f64;
        decay.final_lr + 0.5 * (self.lr - decay.final_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(VqvaeError::Training(format!("learning rate {} must be positive", self.lr)));
        }
        if let Some(decay) = self.lr_decay {
            if !(decay.final_lr.is_finite() && decay.final_lr > 0.0 && decay.final_lr <= self.lr) {
                return Err(VqvaeError::Training(format!(
                    "final learning rate {} must be positive and at most the rate {}",
                    decay.final_lr, self.lr
                )));
            }
            if decay.until_step <= decay.from_step {
                return Err(VqvaeError::Training(format!(
                    "the decay must end after it starts (steps {} to {})",
                    decay.from_step, decay.until_step
                )));
            }
        }
        Ok(())
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        // 1e-3 collapsed the encoder of the small model within 30 steps (its output split the scenes into
        // white / not white and the encoder gradient fell 1000×); 1e-4 trains.
        Self {
            compress_rate: 8,
            lr: 1e-4,
            weight_decay: 1e-4,
            restart_threshold: Some(0.03),
            seed: 0,
            ae_warmup_steps: 0,
            lr_decay: None,
            decoder_only: false,
        }
    }
}

/// What one training step measured (losses before the update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Steps done, this one included.
    pub step: u64,
    /// Total loss.
    pub loss: f64,
    /// Reconstruction MSE in normalised space.
    pub reconstruction: f64,
    /// Commitment term, already weighted.
    pub commitment: f64,
    /// Perplexity of this batch's code choices.
    pub perplexity: f64,
    /// Distinct codes chosen in this batch.
    pub used_codes: usize,
    /// Codes re-seeded after this step.
    pub restarted: usize,
    /// Whether the decoder read the codes (false during the autoencoder warm-up).
    pub quantized: bool,
}

/// The tensors of one training forward.
#[derive(Debug, Clone)]
pub struct LevelOutput<B: Backend> {
    /// Decoder output in normalised image space, `[B, 3, H, W]`.
    pub reconstruction: Tensor<B, 4>,
    /// Projected encodings `z_e`, one row per code position, `[B·h·w, D]` (in the graph).
    pub z_e: Tensor<B, 2>,
    /// Nearest code per row, `[B·h·w]`.
    pub ids: Tensor<B, 1, Int>,
    /// `mean((x̂ − x)²)`, `[1]`.
    pub reconstruction_loss: Tensor<B, 1>,
    /// `commitment_cost · mean((z_e − sg(z_q))²)`, `[1]`.
    pub commitment_loss: Tensor<B, 1>,
    /// Sum of the two, `[1]`.
    pub loss: Tensor<B, 1>,
}

/// What the decoder reads in [`forward_level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottleneck {
    /// The nearest codes, straight-through (the VQ-VAE objective).
    Quantized,
    /// The encodings `z_e` themselves, no commitment term (autoencoder warm-up).
    Continuous,
    /// The nearest codes with no gradient through them: only the decoder learns (the commitment term is still
    /// measured but not part of `loss`).
    Frozen,
}

/// Training forward of one level on normalised images (see the module docs). With
/// [`Bottleneck::Continuous`] and [`Bottleneck::Frozen`] the commitment term is still measured but not part of
/// `loss`.
///
/// # Shapes
/// `normalized`: `[B, 3, H, W]`, H and W multiples of the cell size → reconstruction `[B, 3, H, W]`.
pub fn forward_level<B: Backend>(
    model: &Hvqvae<B>,
    normalized: Tensor<B, 4>,
    rate: CompressRate,
    commitment_cost: f64,
    bottleneck: Bottleneck,
) -> Result<LevelOutput<B>> {
    let [b, c, h, w] = normalized.dims();
    let cell = model.cell_size(rate);
    if c != 3 || b == 0 || h < cell || w < cell || !h.is_multiple_of(cell) || !w.is_multiple_of(cell) {
        return Err(VqvaeError::BadShape {
            what: "training batch".into(),
            found: vec![b, c, h, w],
            expected: format!("[B ≥ 1, 3, H, W] with H and W positive multiples of {cell}"),
        });
    }
    let level = rate.level();
    let decoder = model
        .decs
        .len()
        .checked_sub(1 + level)
        .and_then(|i| model.decs.get(i))
        .ok_or(VqvaeError::BadCompressRate(rate.rate() as u32))?;
    let features = model.down_sample_to_level(model.encoder(normalized.clone()), level);
    let z_e = model.quantize.project(features);
    let [_, gh, gw, d] = z_e.dims();
    let z_e = z_e.reshape([b * gh * gw, d]);
    let ids = model.quantize.nearest(z_e.clone().detach());
    let z_q = model.quantize.embed.weight.val().detach().select(0, ids.clone());
    let commitment_loss = (z_e.clone() - z_q.clone()).square().mean() * commitment_cost;
    let decoder_input = match bottleneck {
        // Straight-through: the value of z_q, the gradient of z_e.
        Bottleneck::Quantized => z_e.clone() + (z_q - z_e.clone()).detach(),
        Bottleneck::Continuous => z_e.clone(),
        Bottleneck::Frozen => z_q,
    };
    let quant = decoder_input.reshape([b, gh, gw, d]).permute([0, 3, 1, 2]);
    let reconstruction = decoder.forward(quant);
    let reconstruction_loss = (reconstruction.clone() - normalized).square().mean();
    let loss = match bottleneck {
        Bottleneck::Quantized => reconstruction_loss.clone() + commitment_loss.clone(),
        Bottleneck::Continuous | Bottleneck::Frozen => reconstruction_loss.clone(),
    };
    Ok(LevelOutput { reconstruction, z_e, ids, reconstruction_loss, commitment_loss, loss })
}

/// Reconstruction quality and code usage through the tokenizer path (`encode` → ids → `decode`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalStats {
    /// Images evaluated.
    pub images: usize,
    /// Mean squared error in [0, 1] pixel units (reconstructions clamped to [0, 1]).
    pub mse: f64,
    /// Mean over images of `10·log10(1 / mse_image)`, in dB.
    pub psnr: f64,
    /// Perplexity of all code choices.
    pub perplexity: f64,
    /// Distinct codes chosen.
    pub used_codes: usize,
}

/// Encodes and decodes `images` in batches of `batch_size` and measures PSNR and code usage.
pub fn evaluate<B: Backend>(
    model: &Hvqvae<B>,
    images: &[RgbImage],
    rate: CompressRate,
    batch_size: usize,
    device: &B::Device,
) -> Result<EvalStats> {
    if images.is_empty() {
        return Err(VqvaeError::EmptyBatch);
    }
    let n_embed = model.quantize.n_embed();
    let mut counts = vec![0f32; n_embed];
    let mut errors = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch_size.max(1)) {
        let x = images_to_tensor::<B>(chunk, device)?;
        let [b, _, h, w] = x.dims();
        let cell = model.cell_size(rate);
        let ids = model.encode(x.clone(), rate)?;
        let grid = ids.clone().reshape([b, h / cell, w / cell]);
        let decoded = model.decode_grid(grid, rate)?.clamp(0.0, 1.0);
        let per_image = (decoded - x).square().reshape([b, 3 * h * w]).mean_dim(1).reshape([b]);
        errors.extend(ema::to_host(per_image)?.into_iter().map(f64::from));
        let flat_ids = ids.reshape([b * (h / cell) * (w / cell)]);
        let n = flat_ids.dims()[0];
        let batch_counts = Tensor::<B, 1>::zeros([n_embed], device).select_assign(
            0,
            flat_ids,
            Tensor::ones([n], device),
            burn::tensor::IndexingUpdateOp::Add,
        );
        for (total, c) in counts.iter_mut().zip(ema::to_host(batch_counts)?) {
            *total += c;
        }
    }
    let usage = ema::usage(&counts);
    let mse = errors.iter().sum::<f64>() / errors.len() as f64;
    // A perfect image has infinite PSNR; cap at 100 dB so the mean stays finite.
    let psnr =
        errors.iter().map(|e| (10.0 * (1.0 / e.max(1e-10)).log10()).min(100.0)).sum::<f64>() / errors.len() as f64;
    Ok(EvalStats { images: images.len(), mse, psnr, perplexity: usage.perplexity, used_codes: usage.used })
}

/// `trainer.json`: what a resume needs besides weights and optimiser state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    step: u64,
    config: TrainConfig,
}

type Adam<B> = OptimizerAdaptor<AdamW, Hvqvae<B>, B>;

/// AdamW + EMA training of one level of an [`Hvqvae`], with checkpoint and resume.
pub struct Trainer<B: AutodiffBackend> {
    model: Hvqvae<B>,
    model_config: HvqvaeConfig,
    optim: Adam<B>,
    config: TrainConfig,
    rate: CompressRate,
    step: u64,
    device: B::Device,
}

impl<B: AutodiffBackend> std::fmt::Debug for Trainer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("config", &self.config).field("step", &self.step).finish_non_exhaustive()
    }
}

impl<B: AutodiffBackend> Trainer<B> {
    /// A fresh model (seeded by `config.seed`, codebook initialised as icetk's) and optimiser.
    pub fn new(model_config: HvqvaeConfig, config: TrainConfig, device: &B::Device) -> Result<Self> {
        B::seed(device, config.seed);
        let mut model = Hvqvae::<B>::new(&model_config, device)?;
        let q = &model_config.params.quantize_config.params;
        let codebook = EmaCodebook::<B>::official_init(q.n_embed, q.embedding_dim, device);
        model = with_codebook(model, codebook);
        Self::assemble(model, model_config, config, 0, device)
    }

    /// Fine-tunes trained weights (a model directory's `weights.safetensors`, f16 or f32, EMA buffers included)
    /// from step 0 with a fresh optimiser, e.g. to continue a shipped codec whose checkpoint is gone.
    pub fn from_weights(
        model_config: HvqvaeConfig,
        weights: impl AsRef<Path>,
        config: TrainConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let model = load_safetensors::<B>(&model_config, weights, device)?;
        Self::assemble(model, model_config, config, 0, device)
    }

    /// Continues from a checkpoint written by [`Self::save_checkpoint`]: same weights, EMA buffers, AdamW
    /// moments, step and settings, so the next step equals the one an uninterrupted run would take.
    pub fn resume(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let model_config = HvqvaeConfig::from_json_file(dir.join(CONFIG_FILE))?;
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path)
            .map_err(|source| VqvaeError::Io { path: state_path.clone(), source })?;
        let state: TrainerState = serde_json::from_str(&text).map_err(|e| VqvaeError::Checkpoint {
            path: state_path.clone(),
            reason: format!("not a trainer state ({e}); was the checkpoint written completely?"),
        })?;
        let model = load_safetensors::<B>(&model_config, dir.join(WEIGHTS_FILE), device)?;
        let mut trainer = Self::assemble(model, model_config, state.config, state.step, device)?;
        let optimizer_path = dir.join(OPTIMIZER_STEM);
        let record =
            BinFileRecorder::<FullPrecisionSettings>::new().load(optimizer_path.clone(), device).map_err(|e| {
                VqvaeError::Checkpoint { path: optimizer_path, reason: format!("cannot load optimizer state: {e}") }
            })?;
        trainer.optim = trainer.optim.load_record(record);
        tracing::info!(dir = %dir.display(), step = trainer.step, "resumed VQ-VAE training");
        Ok(trainer)
    }

    fn assemble(
        model: Hvqvae<B>,
        model_config: HvqvaeConfig,
        config: TrainConfig,
        step: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let rate = CompressRate::try_from(config.compress_rate)?;
        config.validate()?;
        // Decoder-only: every other parameter is a constant to autodiff, so no graph is recorded for the encoder
        // (a recorded graph that the backward pass never reaches is kept, and filled 24 GB in 60 steps).
        let trained_decoder = config
            .decoder_only
            .then(|| model.decs.len().checked_sub(1 + rate.level()).map(|i| format!("decs.{i}.")))
            .map(|prefix| prefix.ok_or(VqvaeError::BadCompressRate(rate.rate() as u32)))
            .transpose()?;
        let model = model.map(&mut Prepare { path: Vec::new(), trained_decoder });
        let optim = AdamWConfig::new().with_weight_decay(config.weight_decay as f32).init::<B, Hvqvae<B>>();
        Ok(Self { model, model_config, optim, config, rate, step, device: device.clone() })
    }

    /// The model being trained.
    pub fn model(&self) -> &Hvqvae<B> {
        &self.model
    }

    /// Its config.
    pub fn model_config(&self) -> &HvqvaeConfig {
        &self.model_config
    }

    /// Training settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Sets (or, with `None`, removes) the learning-rate decay, e.g. to end a resumed run on a falling rate; it is
    /// saved with the next checkpoint.
    pub fn set_lr_decay(&mut self, decay: Option<LrDecay>) -> Result<()> {
        let config = TrainConfig { lr_decay: decay, ..self.config.clone() };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Steps done.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The trained compress rate.
    pub fn rate(&self) -> CompressRate {
        self.rate
    }

    /// One step on a batch of same-sized RGB images: forward, AdamW on the gradients, EMA codebook update,
    /// dead-code restarts (neither of the last two with [`TrainConfig::decoder_only`]).
    pub fn step(&mut self, images: &[RgbImage]) -> Result<StepStats> {
        let _span = tracing::debug_span!("vqvae_train_step", step = self.step + 1, batch = images.len()).entered();
        let q = self.model_config.params.quantize_config.params.clone();
        let target = normalize(images_to_tensor::<B>(images, &self.device)?);
        let bottleneck = if self.config.decoder_only {
            Bottleneck::Frozen
        } else if self.step < self.config.ae_warmup_steps {
            Bottleneck::Continuous
        } else {
            Bottleneck::Quantized
        };
        let out = forward_level(&self.model, target, self.rate, q.commitment_cost, bottleneck)?;
        let loss = scalar(out.loss.clone())?;
        let lr = self.config.lr_at(self.step + 1);
        if !loss.is_finite() {
            return Err(VqvaeError::Training(format!(
                "loss is {loss} at step {}; lower the learning rate ({lr})",
                self.step + 1
            )));
        }
        let reconstruction = scalar(out.reconstruction_loss.clone())?;
        let commitment = scalar(out.commitment_loss.clone())?;
        let grads = GradientsParams::from_grads(out.loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;

        let z_e = out.z_e.detach();
        let stats = ema::assignment(z_e.clone(), out.ids, q.n_embed);
        let usage = ema::usage(&ema::to_host(stats.counts.clone())?);
        let mut restarted = 0;
        if bottleneck != Bottleneck::Frozen {
            let mut codebook = codebook_of(&self.model).update(&stats, q.decay, q.eps);
            if let Some(threshold) = self.config.restart_threshold {
                (codebook, restarted) =
                    ema::restart_dead_codes(codebook, z_e, threshold, q.decay, self.step, self.config.seed)?;
            }
            self.model = with_codebook(self.model.clone(), codebook);
        }
        if restarted > 0 {
            tracing::debug!(step = self.step, restarted, "dead codes re-seeded");
        }
        Ok(StepStats {
            step: self.step,
            loss,
            reconstruction,
            commitment,
            perplexity: usage.perplexity,
            used_codes: usage.used,
            restarted,
            quantized: bottleneck != Bottleneck::Continuous,
        })
    }

    /// Writes `config.json`, `weights.safetensors`, `optimizer.bin` and, last, `trainer.json` into `dir`.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| VqvaeError::Io { path: dir.into(), source })?;
        let config_json = serde_json::to_string_pretty(&self.model_config)
            .map_err(|e| VqvaeError::Checkpoint { path: dir.join(CONFIG_FILE), reason: e.to_string() })?;
        write(&dir.join(CONFIG_FILE), &config_json)?;
        save_safetensors(&self.model, dir.join(WEIGHTS_FILE))?;
        let optimizer_path = dir.join(OPTIMIZER_STEM);
        BinFileRecorder::<FullPrecisionSettings>::new()
            .record(self.optim.to_record(), optimizer_path.clone())
            .map_err(|e| VqvaeError::Checkpoint {
                path: optimizer_path,
                reason: format!("cannot save optimizer state: {e}"),
            })?;
        let state = TrainerState { step: self.step, config: self.config.clone() };
        let state_json = serde_json::to_string_pretty(&state)
            .map_err(|e| VqvaeError::Checkpoint { path: dir.join(STATE_FILE), reason: e.to_string() })?;
        write(&dir.join(STATE_FILE), &state_json)?;
        tracing::info!(dir = %dir.display(), step = self.step, "checkpoint written");
        Ok(())
    }
}

fn write(path: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| VqvaeError::Io { path: path.clone(), source })
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> Result<f64> {
    ema::to_host(t)?.first().map(|&v| f64::from(v)).ok_or_else(|| VqvaeError::Training("empty loss tensor".into()))
}

/// The codebook and buffers as plain (untracked) tensors.
fn codebook_of<B: Backend>(model: &Hvqvae<B>) -> EmaCodebook<B> {
    let q = &model.quantize;
    EmaCodebook {
        embed: q.embed.weight.val().detach(),
        cluster_size: q.cluster_size.val().detach(),
        embed_avg: q.embed_avg.val().detach(),
    }
}

/// Puts a codebook back, keeping the parameter ids (the optimiser state is keyed by them).
fn with_codebook<B: Backend>(mut model: Hvqvae<B>, codebook: EmaCodebook<B>) -> Hvqvae<B> {
    fn replace<B: Backend, const D: usize>(param: Param<Tensor<B, D>>, value: Tensor<B, D>) -> Param<Tensor<B, D>> {
        Param::initialized(param.id, value.detach())
    }
    let q = &mut model.quantize;
    q.embed.weight = replace(q.embed.weight.clone(), codebook.embed);
    q.cluster_size = replace(q.cluster_size.clone(), codebook.cluster_size);
    q.embed_avg = replace(q.embed_avg.clone(), codebook.embed_avg);
    model
}

/// Gives every parameter an id derived from its path, so optimiser state saved by one process maps onto the
/// model rebuilt by another (fresh ids are random), and marks which parameters take gradients: everything but
/// the codebook (also after [`load_safetensors`], whose tensors start untracked), and with
/// [`TrainConfig::decoder_only`] only the trained level's decoder.
struct Prepare {
    path: Vec<String>,
    /// With [`TrainConfig::decoder_only`], the name prefix of the one trained decoder (`decs.1.`).
    trained_decoder: Option<String>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Prepare {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = self.path.join(".");
        let trainable = !CODEBOOK.contains(&name.as_str())
            && self.trained_decoder.as_ref().is_none_or(|prefix| name.starts_with(prefix.as_str()));
        let (_, tensor, mapper) = param.consume();
        Param::from_mapped_value(ParamId::from(fnv1a(&name)), tensor.set_require_grad(trainable), mapper)
    }
}

/// FNV-1a 64-bit: a stable hash of a parameter path.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
