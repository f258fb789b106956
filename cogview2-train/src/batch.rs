//! Equal-length samples → the tensors of one training step.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{Result, TrainError};
use crate::masking::Sample;

/// A batch on the device, plus the host copies the loss bookkeeping needs.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    /// Input ids `[batch, len]`.
    pub tokens: Tensor<B, 2, Int>,
    /// Position ids `[batch, len]`.
    pub positions: Tensor<B, 2, Int>,
    /// Targets `[batch, len]`.
    pub labels: Tensor<B, 2, Int>,
    /// Attention masks `[batch, 1, len, len]` (1 = may attend; broadcast over heads).
    pub mask: Tensor<B, 4>,
    /// Loss masks `[batch, len]`.
    pub loss_mask: Tensor<B, 2>,
    /// Host copy of the targets, row-major.
    pub labels_host: Vec<i64>,
    /// Host copy of the loss masks, row-major.
    pub loss_mask_host: Vec<f32>,
}

impl<B: Backend> Batch<B> {
    /// Stacks samples of one length (the official batches are fixed 512-token rows).
    pub fn from_samples(samples: &[Sample], device: &B::Device) -> Result<Self> {
        let first = samples
            .first()
            .ok_or_else(|| TrainError::InvalidBatch("no samples".into()))?;
        let (b, len) = (samples.len(), first.len());
        if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != len) {
            return Err(TrainError::InvalidBatch(format!(
                "sample {i} has length {}, sample 0 has {len}: batch rows must have equal length",
                s.len()
            )));
        }
        let cat_i = |f: fn(&Sample) -> &Vec<i64>| samples.iter().flat_map(|s| f(s).iter().copied()).collect::<Vec<_>>();
        let cat_f = |f: fn(&Sample) -> &Vec<f32>| samples.iter().flat_map(|s| f(s).iter().copied()).collect::<Vec<_>>();
        let labels_host = cat_i(|s| &s.labels);
        let loss_mask_host = cat_f(|s| &s.loss_mask);
        Ok(Self {
            tokens: Tensor::from_data(TensorData::new(cat_i(|s| &s.tokens), [b, len]), device),
            positions: Tensor::from_data(TensorData::new(cat_i(|s| &s.position_ids), [b, len]), device),
            labels: Tensor::from_data(TensorData::new(labels_host.clone(), [b, len]), device),
            mask: Tensor::from_data(TensorData::new(cat_f(|s| &s.attention_mask), [b, 1, len, len]), device),
            loss_mask: Tensor::from_data(TensorData::new(loss_mask_host.clone(), [b, len]), device),
            labels_host,
            loss_mask_host,
        })
    }

    /// Number of samples.
    pub fn size(&self) -> usize {
        self.tokens.dims()[0]
    }

    /// Number of trained predictions (the loss denominator).
    pub fn loss_count(&self) -> f32 {
        self.loss_mask_host.iter().sum()
    }
}
