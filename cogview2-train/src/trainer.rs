//! The CogLM training step (CV2 `pretrain_coglm.py: forward_step`): cross-entropy of the full-vocabulary head
//! under each sample's attention mask, averaged over the loss mask, with AdamW and an LR schedule.

use std::collections::HashMap;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use cogview2_core::{AttentionBias, CogLm, CogLmConfig};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::{Result, TrainError};
use crate::schedule::LrSchedule;
use crate::tokens::{Modality, SpecialTokens};

/// Optimiser settings (defaults: SAT's argument defaults — weight decay 0.01, β = (0.9, 0.999), ε = 1e-8, gradient
/// clipping 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Learning rate per step.
    pub schedule: LrSchedule,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f32,
    /// Adam β₁.
    pub beta_1: f32,
    /// Adam β₂.
    pub beta_2: f32,
    /// Adam ε.
    pub epsilon: f32,
    /// Bound on the global L2 norm of all gradients (SAT's `clip_grad_norm_`; see [`crate::clip`]).
    pub grad_clip_norm: Option<f32>,
}

impl TrainerConfig {
    /// The SAT defaults with the given schedule.
    pub fn new(schedule: LrSchedule) -> Self {
        Self {
            schedule,
            weight_decay: 0.01,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: Some(1.0),
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        let ok = self.weight_decay >= 0.0
            && (0.0..1.0).contains(&self.beta_1)
            && (0.0..1.0).contains(&self.beta_2)
            && self.epsilon > 0.0
            && self.grad_clip_norm.is_none_or(|n| n > 0.0);
        if ok {
            Ok(())
        } else {
            Err(TrainError::InvalidConfig(format!(
                "optimiser settings {self:?}: need weight_decay ≥ 0, betas in [0, 1), ε > 0, clip norm > 0"
            )))
        }
    }

    /// burn's AdamW with these settings (without burn's per-tensor clipping: the trainers clip the global norm).
    pub fn adamw<B: AutodiffBackend, M: AutodiffModule<B>>(&self) -> OptimizerAdaptor<AdamW, M, B> {
        AdamWConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
            .init()
    }
}

/// Mean loss of one modality's trained predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModalityLoss {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Number of predictions.
    pub count: usize,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 0-based index of the step just taken.
    pub step: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean loss over the loss mask, before the update.
    pub loss: f32,
    /// Labels below `num_image_tokens`.
    pub image: Option<ModalityLoss>,
    /// English labels.
    pub english: Option<ModalityLoss>,
    /// Chinese labels.
    pub chinese: Option<ModalityLoss>,
}

/// Masked-LM loss of a batch: `Σ nll · loss_mask / Σ loss_mask` over the full-vocabulary logits, plus the
/// per-position negative log-likelihood `[batch, len]` for the per-modality log. No `attn_plus` bias: the
/// official training forward passes only the mask.
pub fn masked_lm_loss<B: Backend>(model: &CogLm<B>, batch: &Batch<B>) -> Result<(Tensor<B, 1>, Tensor<B, 2>)> {
    let count = batch.loss_count();
    if count <= 0.0 {
        return Err(TrainError::InvalidBatch("the loss mask selects no prediction".into()));
    }
    let bias = AttentionBias {
        mask: Some(batch.mask.clone()),
        log_weights: None,
    };
    let hidden = model.forward_hidden(batch.tokens.clone(), batch.positions.clone(), &bias, None)?;
    let logp = log_softmax(model.vocab_logits(hidden), 2);
    let nll = logp.gather(2, batch.labels.clone().unsqueeze_dim(2)).squeeze_dim::<2>(2).neg();
    let loss = (nll.clone() * batch.loss_mask.clone()).sum().div_scalar(count);
    Ok((loss, nll))
}

/// Splits the trained predictions' losses by label modality (as the official log does).
pub fn modality_losses(
    nll: &[f32],
    labels: &[i64],
    loss_mask: &[f32],
    tokens: &SpecialTokens,
) -> HashMap<Modality, ModalityLoss> {
    let mut sums: HashMap<Modality, (f64, usize)> = HashMap::new();
    for ((&l, &label), &m) in nll.iter().zip(labels).zip(loss_mask) {
        if m > 0.0 {
            if let Some(modality) = tokens.modality(label) {
                let e = sums.entry(modality).or_default();
                e.0 += l as f64;
                e.1 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(k, (sum, count))| {
            (
                k,
                ModalityLoss {
                    loss: (sum / count as f64) as f32,
                    count,
                },
            )
        })
        .collect()
}

/// CogLM, its AdamW state and the step counter.
pub struct CogLmTrainer<B: AutodiffBackend> {
    pub(crate) model: CogLm<B>,
    pub(crate) optim: OptimizerAdaptor<AdamW, CogLm<B>, B>,
    pub(crate) model_config: CogLmConfig,
    pub(crate) config: TrainerConfig,
    pub(crate) tokens: SpecialTokens,
    pub(crate) step: usize,
}

impl<B: AutodiffBackend> std::fmt::Debug for CogLmTrainer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CogLmTrainer")
            .field("model_config", &self.model_config)
            .field("config", &self.config)
            .field("step", &self.step)
            .finish()
    }
}

impl<B: AutodiffBackend> CogLmTrainer<B> {
    /// A trainer at step 0 with a fresh optimiser.
    pub fn new(model: CogLm<B>, model_config: CogLmConfig, config: TrainerConfig, tokens: SpecialTokens) -> Result<Self> {
        config.validate()?;
        tokens.validate()?;
        model_config.validate()?;
        Ok(Self {
            model,
            optim: config.adamw(),
            model_config,
            config,
            tokens,
            step: 0,
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &CogLm<B> {
        &self.model
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &CogLmConfig {
        &self.model_config
    }

    /// Optimiser settings.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Special ids used for the per-modality log.
    pub fn tokens(&self) -> &SpecialTokens {
        &self.tokens
    }

    /// Steps taken so far (the index of the next step).
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Sets the step counter (the LR schedule position), e.g. to continue from bare weights without optimiser state.
    pub fn with_step(mut self, step: usize) -> Self {
        self.step = step;
        self
    }

    /// The loss of a batch without updating anything.
    pub fn evaluate(&self, batch: &Batch<B>) -> Result<f32> {
        let (loss, _) = masked_lm_loss(&self.model.valid(), &inner_batch(batch))?;
        Ok(loss.into_scalar().elem::<f32>())
    }

    /// One optimisation step on `batch`.
    pub fn step(&mut self, batch: &Batch<B>) -> Result<StepReport> {
        let _span = tracing::debug_span!("coglm_step", step = self.step).entered();
        let lr = self.config.schedule.lr(self.step);
        let (loss, nll) = masked_lm_loss(&self.model, batch)?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if let Some(max) = self.config.grad_clip_norm {
            crate::clip::clip_global_norm(&self.model, &mut grads, max);
        }
        let nll_host: Vec<f32> = nll.into_data().iter::<f32>().collect();
        let loss_value = loss.into_scalar().elem::<f32>();
        if !loss_value.is_finite() {
            return Err(TrainError::InvalidBatch(format!("loss is {loss_value} at step {}", self.step)));
        }
        self.model = self.optim.step(lr, self.model.clone(), grads);
        let mut by = modality_losses(&nll_host, &batch.labels_host, &batch.loss_mask_host, &self.tokens);
        let report = StepReport {
            step: self.step,
            lr,
            loss: loss_value,
            image: by.remove(&Modality::Image),
            english: by.remove(&Modality::English),
            chinese: by.remove(&Modality::Chinese),
        };
        tracing::debug!(step = report.step, lr, loss = report.loss, "coglm step");
        self.step += 1;
        Ok(report)
    }

    /// Runs `steps` steps, asking `next_batch` for each step's batch and reporting each step to `on_step` (the CLI
    /// turns this into a progress bar).
    pub fn run(
        &mut self,
        steps: usize,
        mut next_batch: impl FnMut(usize) -> Result<Batch<B>>,
        mut on_step: impl FnMut(&StepReport),
    ) -> Result<Vec<StepReport>> {
        let mut reports = Vec::with_capacity(steps);
        for _ in 0..steps {
            let batch = next_batch(self.step)?;
            let report = self.step(&batch)?;
            on_step(&report);
            reports.push(report);
        }
        Ok(reports)
    }
}

/// The batch on the inner (non-autodiff) backend, for evaluation.
fn inner_batch<B: AutodiffBackend>(batch: &Batch<B>) -> Batch<B::InnerBackend> {
    Batch {
        tokens: batch.tokens.clone().inner(),
        positions: batch.positions.clone().inner(),
        labels: batch.labels.clone().inner(),
        mask: batch.mask.clone().inner(),
        loss_mask: batch.loss_mask.clone().inner(),
        labels_host: batch.labels_host.clone(),
        loss_mask_host: batch.loss_mask_host.clone(),
    }
}
