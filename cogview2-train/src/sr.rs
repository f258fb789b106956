//! Training objectives of the super-resolution stages (CV2 `sr_pipeline`; spec §5, §6), and a generic AdamW
//! step for any module.
//!
//! - DSR: predict every hi-res token in place from the text and the low-res tokens (the model sees only
//!   `<start_of_image>` placeholders at the hi-res slots, as at inference).
//! - ITERSR: LoPAR re-masking. A level `k` in `1..=max` is drawn; the hi-res cells whose tiled order value is ≥ k
//!   are replaced by `<start_of_image>` and predicted from the rest, exactly what inference iteration `k` asks.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, ElementConversion, Int, Tensor, TensorData};
use cogview2_sr::{DsrModel, ItersrModel, LocalAttentionBackend, LoparPattern};
use rand::Rng;

use crate::error::{Result, TrainError};
use crate::trainer::TrainerConfig;

/// Mean cross-entropy of `logits [b, n, V]` against `targets [b, n]`.
pub fn mean_cross_entropy<B: Backend>(logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    log_softmax(logits, 2).gather(2, targets.unsqueeze_dim(2)).neg().mean()
}

/// DSR loss: mean cross-entropy of the hi-res tokens `[b, hi_rows·hi_cols]` given the text and low-res tokens
/// `[b, lo_rows·lo_cols]`.
pub fn dsr_loss<B: LocalAttentionBackend>(
    model: &DsrModel<B>,
    text: &[i64],
    lowres: Tensor<B, 2, Int>,
    hires: Tensor<B, 2, Int>,
) -> Result<Tensor<B, 1>> {
    let logits = model.hires_logits(text, lowres)?;
    if logits.dims()[..2] != hires.dims() {
        return Err(TrainError::InvalidBatch(format!(
            "hi-res targets {:?} do not match the model's hi-res grid {:?}",
            hires.dims(),
            &logits.dims()[..2]
        )));
    }
    Ok(mean_cross_entropy(logits, hires))
}

/// Cells re-masked at LoPAR level `level`: tiled order value ≥ `level` (row-major over `grid`).
pub fn lopar_mask(pattern: &LoparPattern, grid: [usize; 2], level: i8) -> Result<Vec<bool>> {
    Ok(pattern.tile(grid)?.into_iter().map(|v| v >= level).collect())
}

/// A LoPAR level drawn uniformly from `1..=pattern.max_value()` (each inference iteration equally often).
pub fn draw_lopar_level(rng: &mut impl Rng, pattern: &LoparPattern) -> Result<i8> {
    let max = pattern.max_value();
    if max < 1 {
        return Err(TrainError::InvalidConfig("the LoPAR pattern has no cell to re-sample".into()));
    }
    Ok(rng.random_range(1..=max))
}

/// ITERSR loss: the cells of `masked` (row-major, one per hi-res cell) are replaced by `<start_of_image>`, and the
/// model's predictions there are scored against `hires [b, cells]`.
pub fn itersr_loss<B: LocalAttentionBackend>(
    model: &ItersrModel<B>,
    text: &[i64],
    hires: Tensor<B, 2, Int>,
    masked: &[bool],
) -> Result<Tensor<B, 1>> {
    let [b, n] = hires.dims();
    if masked.len() != n {
        return Err(TrainError::InvalidBatch(format!("mask of {} cells for {n} hi-res tokens", masked.len())));
    }
    let rows: Vec<usize> = (0..n).filter(|&i| masked[i]).collect();
    if rows.is_empty() {
        return Err(TrainError::InvalidBatch("the LoPAR mask selects no cell".into()));
    }
    let device = hires.device();
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(masked.to_vec(), [1, n]), &device).expand([b, n]);
    let input = hires.clone().mask_fill(mask, model.config().start_of_image_id);
    let logits = model.logits(text, input, Some(&rows))?;
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [rows.len()]), &device);
    Ok(mean_cross_entropy(logits, hires.select(1, index)))
}

/// AdamW + LR schedule + step counter around any module (the SR models here).
pub struct ModuleTrainer<B: AutodiffBackend, M: AutodiffModule<B>> {
    pub(crate) model: M,
    pub(crate) optim: OptimizerAdaptor<AdamW, M, B>,
    pub(crate) config: TrainerConfig,
    pub(crate) step: usize,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> ModuleTrainer<B, M> {
    /// A trainer at step 0.
    pub fn new(model: M, config: TrainerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            model,
            optim: config.adamw(),
            config,
            step: 0,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Optimiser settings and schedule.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Steps taken.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// One step on the loss `loss(model)`; returns the learning rate used and the loss before the update.
    pub fn step(&mut self, loss: impl FnOnce(&M) -> Result<Tensor<B, 1>>) -> Result<(f64, f32)> {
        let lr = self.config.schedule.lr(self.step);
        let loss = loss(&self.model)?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if let Some(max) = self.config.grad_clip_norm {
            crate::clip::clip_global_norm(&self.model, &mut grads, max);
        }
        let value = loss.into_scalar().elem::<f32>();
        if !value.is_finite() {
            return Err(TrainError::InvalidBatch(format!("loss is {value} at step {}", self.step)));
        }
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        Ok((lr, value))
    }
}
