//! `VectorQuantizeEMA` of ICE: icetk/vqvae/quantize.py (inference path, `pre_proj=True`).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::config::QuantizeParams;
use crate::conv::{self, conv1x1};

/// Rows of the distance matrix computed at once: bounds memory at rows × n_embed floats
/// (4096 × 20000 × 4 B ≈ 330 MB for the released codebook).
const DIST_CHUNK_ROWS: usize = 4096;

/// 1×1 projection, then the nearest codebook vector by squared L2 distance.
#[derive(Module, Debug)]
pub struct VectorQuantizeEma<B: Backend> {
    /// 1×1 conv `hidden_dim → embedding_dim` applied before the lookup.
    pub proj: Conv2d<B>,
    /// The codebook, `embed.weight` `[n_embed, embedding_dim]`; its row indices are the image token ids.
    pub embed: Embedding<B>,
    /// EMA buffer `[n_embed]` (training only; kept so a checkpoint round-trips).
    pub cluster_size: Param<Tensor<B, 1>>,
    /// EMA buffer `[n_embed, embedding_dim]` (training only).
    pub embed_avg: Param<Tensor<B, 2>>,
}

/// Result of [`VectorQuantizeEma::forward`].
#[derive(Debug, Clone)]
pub struct Quantized<B: Backend> {
    /// Nearest code per position, `[B, h, w]`.
    pub ids: Tensor<B, 3, Int>,
    /// The chosen codebook vectors, `[B, h, w, D]` (channels last, as the official `z_q`).
    pub quant: Tensor<B, 4>,
}

impl<B: Backend> VectorQuantizeEma<B> {
    /// Randomly initialised quantiser.
    pub fn new(p: &QuantizeParams, device: &B::Device) -> Self {
        Self {
            proj: conv1x1(p.hidden_dim, p.embedding_dim, device),
            embed: EmbeddingConfig::new(p.n_embed, p.embedding_dim).init(device),
            cluster_size: Param::from_tensor(Tensor::zeros([p.n_embed], device)),
            embed_avg: Param::from_tensor(Tensor::zeros([p.n_embed, p.embedding_dim], device)),
        }
    }

    /// Codebook size.
    pub fn n_embed(&self) -> usize {
        self.embed.weight.dims()[0]
    }

    /// The pre-projection `z_e = proj(z)`, channels last.
    ///
    /// # Shapes
    /// `z`: `[B, hidden_dim, h, w]` → `[B, h, w, embedding_dim]`.
    pub fn project(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        conv::forward(&self.proj, z).permute([0, 2, 3, 1])
    }

    /// Index of the nearest code for each row, first index on ties.
    ///
    /// # Shapes
    /// `flat`: `[N, D]` → `[N]`.
    pub fn nearest(&self, flat: Tensor<B, 2>) -> Tensor<B, 1, Int> {
        let [n, _] = flat.dims();
        let codebook = self.embed.weight.val();
        // |e|² as a row, and eᵀ, shared by all chunks.
        let code_sq = codebook.clone().square().sum_dim(1).transpose();
        let codebook_t = codebook.transpose();
        let mut chunks = Vec::with_capacity(n.div_ceil(DIST_CHUNK_ROWS));
        for start in (0..n).step_by(DIST_CHUNK_ROWS) {
            let rows = flat.clone().narrow(0, start, DIST_CHUNK_ROWS.min(n - start));
            // Same expression and order as quantize.py: |z|² − 2 z·e + |e|², then the first minimum.
            let dist =
                rows.clone().square().sum_dim(1) - rows.matmul(codebook_t.clone()) * 2.0 + code_sq.clone();
            chunks.push(dist.argmin(1).squeeze_dim::<1>(1));
        }
        Tensor::cat(chunks, 0)
    }

    /// Codebook vectors of `ids` (`F.embedding`); ids must be in range (checked by the caller).
    ///
    /// # Shapes
    /// `ids`: `[B, h, w]` → `[B, h, w, D]`.
    pub fn embed_code(&self, ids: Tensor<B, 3, Int>) -> Tensor<B, 4> {
        let [b, h, w] = ids.dims();
        let d = self.embed.weight.dims()[1];
        let rows = self.embed.weight.val().select(0, ids.reshape([b * h * w]));
        rows.reshape([b, h, w, d])
    }

    /// # Shapes
    /// `z`: `[B, hidden_dim, h, w]` → ids `[B, h, w]`, quant `[B, h, w, D]`.
    pub fn forward(&self, z: Tensor<B, 4>) -> Quantized<B> {
        let z_e = self.project(z);
        let [b, h, w, d] = z_e.dims();
        let ids = self.nearest(z_e.reshape([b * h * w, d])).reshape([b, h, w]);
        // The official straight-through value z_e + (z_q − z_e) equals z_q up to rounding.
        let quant = self.embed_code(ids.clone());
        Quantized { ids, quant }
    }
}
