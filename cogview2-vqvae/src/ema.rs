//! The exponential-moving-average codebook update behind icetk's `VectorQuantizeEMA` (ICE: icetk/vqvae/quantize.py).
//!
//! The released quantize.py keeps only the inference path: the buffers `cluster_size` `[n_embed]` and
//! `embed_avg` `[n_embed, D]`, the `decay` / `eps` arguments and the initialisation (codebook uniform in
//! ±1/n_embed, `embed_avg` a copy of it, `cluster_size` zero). The update itself is the VQ-VAE-2 EMA rule these
//! buffers belong to, in icetk's row layout:
//!
//! - `cluster_size ← decay·cluster_size + (1 − decay)·counts` (codes chosen per code in the batch)
//! - `embed_avg ← decay·embed_avg + (1 − decay)·sums` (sum of the `z_e` rows assigned to each code)
//! - `n = Σ cluster_size`, `smoothed = (cluster_size + eps) / (n + n_embed·eps) · n` (Laplace smoothing)
//! - `embed = embed_avg / smoothed` (row-wise)
//!
//! The codebook never receives gradients. [`restart_dead_codes`] is this crate's extension (not in icetk): with
//! the official near-zero initialisation most codes are never picked and their EMA freezes them far away.

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, IndexingUpdateOp, Tensor, TensorData};

use crate::error::{Result, VqvaeError};

/// The codebook and its two EMA buffers, as stored under `quantize.embed.weight`, `quantize.cluster_size`,
/// `quantize.embed_avg`.
#[derive(Debug, Clone)]
pub struct EmaCodebook<B: Backend> {
    /// Codebook `[n_embed, D]`.
    pub embed: Tensor<B, 2>,
    /// EMA of per-code assignment counts `[n_embed]`.
    pub cluster_size: Tensor<B, 1>,
    /// EMA of per-code sums of assigned vectors `[n_embed, D]`.
    pub embed_avg: Tensor<B, 2>,
}

/// Per-code statistics of one batch assignment.
#[derive(Debug, Clone)]
pub struct Assignment<B: Backend> {
    /// How many rows chose each code, `[n_embed]`.
    pub counts: Tensor<B, 1>,
    /// Sum of the rows that chose each code, `[n_embed, D]` (`onehotᵀ · z_e`).
    pub sums: Tensor<B, 2>,
}

impl<B: Backend> EmaCodebook<B> {
    /// icetk's initialisation: codebook uniform in [−1/n_embed, 1/n_embed), `embed_avg` = codebook,
    /// `cluster_size` = 0. Draws from the backend's seeded generator.
    pub fn official_init(n_embed: usize, dim: usize, device: &B::Device) -> Self {
        let bound = 1.0 / n_embed as f64;
        let embed = Tensor::random([n_embed, dim], Distribution::Uniform(-bound, bound), device);
        Self { embed_avg: embed.clone(), cluster_size: Tensor::zeros([n_embed], device), embed }
    }

    /// Codebook size.
    pub fn n_embed(&self) -> usize {
        self.embed.dims()[0]
    }

    /// One EMA step (see the module docs) with the statistics of one batch.
    pub fn update(self, batch: &Assignment<B>, decay: f64, eps: f64) -> Self {
        let n_embed = self.n_embed();
        let cluster_size = self.cluster_size * decay + batch.counts.clone() * (1.0 - decay);
        let embed_avg = self.embed_avg * decay + batch.sums.clone() * (1.0 - decay);
        let n = cluster_size.clone().sum();
        let smoothed =
            (cluster_size.clone() + eps) / (n.clone() + n_embed as f64 * eps) * n;
        let embed = embed_avg.clone() / smoothed.unsqueeze_dim::<2>(1);
        Self { embed, cluster_size, embed_avg }
    }
}

/// Counts and sums of `flat` rows per assigned code (scatter-adds, no `[N, n_embed]` one-hot matrix).
///
/// # Shapes
/// `flat`: `[N, D]`, `ids`: `[N]` (each in `[0, n_embed)`) → counts `[n_embed]`, sums `[n_embed, D]`.
pub fn assignment<B: Backend>(flat: Tensor<B, 2>, ids: Tensor<B, 1, Int>, n_embed: usize) -> Assignment<B> {
    let [n, d] = flat.dims();
    let device = flat.device();
    let counts =
        Tensor::zeros([n_embed], &device).select_assign(0, ids.clone(), Tensor::ones([n], &device), IndexingUpdateOp::Add);
    let sums = Tensor::zeros([n_embed, d], &device).select_assign(0, ids, flat, IndexingUpdateOp::Add);
    Assignment { counts, sums }
}

/// Codebook usage of one set of assignments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// `exp(−Σ p log p)` of the code frequencies: n_embed for uniform use, 1 for a single code.
    pub perplexity: f64,
    /// Codes chosen at least once.
    pub used: usize,
}

/// Usage from per-code counts.
pub fn usage(counts: &[f32]) -> Usage {
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if total <= 0.0 {
        return Usage { perplexity: 0.0, used: 0 };
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.ln()
        })
        .sum();
    Usage { perplexity: entropy.exp(), used: counts.iter().filter(|&&c| c > 0.0).count() }
}

/// Reads a float tensor to the host.
pub(crate) fn to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| VqvaeError::Training(format!("reading a tensor back to the host failed: {e:?}")))
}

/// Dead-code restarts (an extension; icetk has none): codes whose bias-corrected usage
/// `cluster_size / (1 − decay^step)` is below `threshold` (expected hits per step) are re-seeded from distinct
/// random rows of `flat` (this batch's encodings), at most one code per row. A restarted code gets
/// `embed = embed_avg = row` and `cluster_size = 1`, a consistent EMA state that a few unused steps do not undo.
/// Returns the new codebook and how many codes were restarted. `seed` fixes the row choice.
pub fn restart_dead_codes<B: Backend>(
    codebook: EmaCodebook<B>,
    flat: Tensor<B, 2>,
    threshold: f64,
    decay: f64,
    step: u64,
    seed: u64,
) -> Result<(EmaCodebook<B>, usize)> {
    let [rows, d] = flat.dims();
    let correction = 1.0 - decay.powf(step.max(1) as f64);
    let sizes = to_host(codebook.cluster_size.clone())?;
    let dead: Vec<i64> = sizes
        .iter()
        .enumerate()
        .filter(|(_, &s)| (s as f64 / correction) < threshold)
        .map(|(i, _)| i as i64)
        .take(rows)
        .collect();
    if dead.is_empty() || rows == 0 {
        return Ok((codebook, 0));
    }
    // Partial Fisher–Yates over row indices with splitmix64: distinct rows, reproducible from (seed, step).
    let mut state = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut order: Vec<i64> = (0..rows as i64).collect();
    for i in 0..dead.len() {
        let j = i + (splitmix64(&mut state) % (rows - i) as u64) as usize;
        order.swap(i, j);
    }
    let device = flat.device();
    let k = dead.len();
    let dead_ids = Tensor::<B, 1, Int>::from_data(TensorData::new(dead, [k]), &device);
    let source = Tensor::<B, 1, Int>::from_data(TensorData::new(order[..k].to_vec(), [k]), &device);
    let seeds = flat.select(0, source);
    debug_assert_eq!(seeds.dims(), [k, d]);
    let mask = Tensor::<B, 1>::zeros([codebook.n_embed()], &device).select_assign(
        0,
        dead_ids.clone(),
        Tensor::ones([k], &device),
        IndexingUpdateOp::Add,
    );
    let restarted = EmaCodebook {
        embed: overwrite_rows(codebook.embed, &mask, dead_ids.clone(), seeds.clone()),
        embed_avg: overwrite_rows(codebook.embed_avg, &mask, dead_ids, seeds),
        cluster_size: codebook.cluster_size * (mask.clone().neg() + 1.0) + mask,
    };
    Ok((restarted, k))
}

/// `t[ids[i]] = rows[i]` for distinct `ids` marked by `mask` (burn's float `select_assign` only adds: clear the
/// rows, then add).
fn overwrite_rows<B: Backend>(t: Tensor<B, 2>, mask: &Tensor<B, 1>, ids: Tensor<B, 1, Int>, rows: Tensor<B, 2>) -> Tensor<B, 2> {
    let cleared = t * (mask.clone().neg() + 1.0).unsqueeze_dim::<2>(1);
    cleared.select_assign(0, ids, rows, IndexingUpdateOp::Add)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray;

    fn t1(v: &[f32]) -> Tensor<B, 1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
    }
    fn t2(v: &[f32], rows: usize) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [rows, v.len() / rows]), &Default::default())
    }

    /// Three codes of dimension 2, four rows; numbers worked by hand with decay 0.5, eps 0.1.
    #[test]
    fn ema_update_matches_hand_computation() {
        let codebook = EmaCodebook {
            embed: t2(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0], 3),
            cluster_size: t1(&[2.0, 1.0, 0.0]),
            embed_avg: t2(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0], 3),
        };
        let flat = t2(&[0.2, 0.0, 0.8, 1.2, 1.0, 1.0, -0.2, 0.4], 4);
        let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![0i64, 1, 1, 0], [4]), &Default::default());
        let stats = assignment(flat, ids, 3);
        assert_eq!(to_host(stats.counts.clone()).unwrap(), vec![2.0, 2.0, 0.0]);
        // sums: code 0 = (0.2,0)+(−0.2,0.4) = (0, 0.4); code 1 = (0.8,1.2)+(1,1) = (1.8, 2.2); code 2 = 0.
        let sums = to_host(stats.sums.clone()).unwrap();
        for (a, b) in sums.iter().zip([0.0, 0.4, 1.8, 2.2, 0.0, 0.0]) {
            assert!((a - b).abs() < 1e-6, "{sums:?}");
        }
        let next = codebook.update(&stats, 0.5, 0.1);
        // cluster_size = 0.5·[2,1,0] + 0.5·[2,2,0] = [2, 1.5, 0]
        assert_eq!(to_host(next.cluster_size.clone()).unwrap(), vec![2.0, 1.5, 0.0]);
        // embed_avg = 0.5·old + 0.5·sums = [(0, 0.2), (1.4, 1.6), (2.5, 2.5)]
        let avg = to_host(next.embed_avg.clone()).unwrap();
        for (a, b) in avg.iter().zip([0.0, 0.2, 1.4, 1.6, 2.5, 2.5]) {
            assert!((a - b).abs() < 1e-6, "{avg:?}");
        }
        // n = 3.5; smoothed = (cs + 0.1) / (3.5 + 0.3) · 3.5 = [2.1, 1.6, 0.1] · 3.5/3.8
        let scale = 3.5f32 / 3.8;
        let smoothed = [2.1 * scale, 1.6 * scale, 0.1 * scale];
        let expected = [
            0.0 / smoothed[0],
            0.2 / smoothed[0],
            1.4 / smoothed[1],
            1.6 / smoothed[1],
            2.5 / smoothed[2],
            2.5 / smoothed[2],
        ];
        let embed = to_host(next.embed).unwrap();
        for (a, b) in embed.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{embed:?} vs {expected:?}");
        }
    }

    #[test]
    fn usage_of_uniform_and_single_code() {
        let u = usage(&[1.0, 1.0, 1.0, 1.0]);
        assert!((u.perplexity - 4.0).abs() < 1e-9 && u.used == 4);
        let u = usage(&[0.0, 7.0, 0.0]);
        assert!((u.perplexity - 1.0).abs() < 1e-9 && u.used == 1);
    }

    #[test]
    fn dead_codes_take_distinct_batch_rows() {
        let codebook = EmaCodebook {
            embed: t2(&[0.0; 8], 4),
            cluster_size: t1(&[1.0, 0.0, 0.5, 0.0]),
            embed_avg: t2(&[0.0; 8], 4),
        };
        let flat = t2(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 3);
        // decay 0 → no bias correction; codes 1 and 3 are below 0.1.
        let (next, k) = restart_dead_codes(codebook, flat, 0.1, 0.0, 5, 7).unwrap();
        assert_eq!(k, 2);
        let embed = to_host(next.embed).unwrap();
        assert_eq!(&embed[0..2], &[0.0, 0.0]);
        assert_ne!(embed[2], 0.0);
        assert_ne!(embed[2], embed[6], "two dead codes must get different rows");
        assert_eq!(to_host(next.cluster_size).unwrap(), vec![1.0, 1.0, 0.5, 1.0]);
        assert_eq!(to_host(next.embed_avg).unwrap(), embed);
    }
}
