//! Token samplers: argmax, top-k, and CogView2's cluster sampling — batched, seeded, on the device.
//!
//! Randomness comes from the caller's seeded RNG as a few uniforms per row, uploaded with the logits' device; the
//! draw itself (softmax, cluster masses, top-k, inverse-CDF) stays on the device, so a batch needs no host round
//! trip per token.

use std::sync::Arc;

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use rand::RngCore;

use crate::error::{CoreError, Result};


/// A fixed grouping of image codes into clusters (the official `cluster_label.npy`: 20 000 codes, 500 clusters).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterTable {
    labels: Arc<Vec<i64>>,
    num_clusters: usize,
    /// Tokens ordered by cluster (stable), so each cluster is a contiguous run.
    by_cluster: Arc<Vec<i64>>,
    /// Start of each cluster's run in `by_cluster`.
    starts: Arc<Vec<i64>>,
    /// Size of each cluster.
    sizes: Arc<Vec<i64>>,
}

impl std::fmt::Debug for ClusterTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTable")
            .field("num_tokens", &self.labels.len())
            .field("num_clusters", &self.num_clusters)
            .finish()
    }
}

impl ClusterTable {
    /// A table from one label per token; there are `num_clusters` clusters (labels must be below it).
    pub fn new(labels: Vec<i64>, num_clusters: usize) -> Result<Self> {
        if labels.is_empty() || num_clusters == 0 {
            return Err(CoreError::InvalidSampler("cluster table is empty".into()));
        }
        if let Some((token, label)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= num_clusters) {
            return Err(CoreError::InvalidSampler(format!(
                "cluster label {label} of token {token} is outside [0, {num_clusters})"
            )));
        }
        let mut sizes = vec![0i64; num_clusters];
        for &l in &labels {
            sizes[l as usize] += 1;
        }
        let starts: Vec<i64> = sizes
            .iter()
            .scan(0, |acc, &n| {
                let start = *acc;
                *acc += n;
                Some(start)
            })
            .collect();
        let mut by_cluster: Vec<i64> = (0..labels.len() as i64).collect();
        by_cluster.sort_by_key(|&t| labels[t as usize]);
        Ok(Self {
            labels: Arc::new(labels),
            num_clusters,
            by_cluster: Arc::new(by_cluster),
            starts: Arc::new(starts),
            sizes: Arc::new(sizes),
        })
    }

    /// A table whose cluster count is the largest label + 1.
    pub fn from_labels(labels: Vec<i64>) -> Result<Self> {
        let n = labels.iter().copied().max().map_or(0, |m| (m.max(-1) + 1) as usize);
        Self::new(labels, n)
    }

    /// Label of each token.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// Number of tokens covered.
    pub fn num_tokens(&self) -> usize {
        self.labels.len()
    }

    /// Number of clusters.
    pub fn num_clusters(&self) -> usize {
        self.num_clusters
    }

    /// Tokens in the largest cluster.
    pub fn max_cluster_size(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0) as usize
    }
}

/// How a token is drawn from a row of logits.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// The most likely token (first on ties).
    Argmax,
    /// Keep the `k` largest of `logits / temperature` (ties at the threshold kept), softmax, draw (ITERSR).
    TopK {
        /// Tokens kept.
        k: usize,
        /// Temperature.
        temperature: f64,
    },
    /// CogView2 cluster sampling (`CoglmStrategy`, DSR's `IterativeEntfilterStrategy`): `logits / temperature` →
    /// softmax → mass per cluster → keep the `top_k_clusters` heaviest → pick one ∝ mass → softmax of the chosen
    /// cluster's logits `/ cluster_temperature` → draw.
    Cluster {
        /// First temperature.
        temperature: f64,
        /// Clusters kept.
        top_k_clusters: usize,
        /// Second temperature, inside the chosen cluster.
        cluster_temperature: f64,
        /// The grouping of tokens.
        table: ClusterTable,
    },
}

impl Sampler {
    /// Stage-1 sampler of the default ("mainbody") recipe: T = 1.15, 16 clusters, T₂ = 1.0.
    pub fn coglm(table: ClusterTable) -> Self {
        Self::Cluster {
            temperature: 1.15,
            top_k_clusters: 16,
            cluster_temperature: 1.0,
            table,
        }
    }

    /// Uniform draws consumed per row and call.
    pub fn uniforms_per_row(&self) -> usize {
        match self {
            Self::Argmax => 0,
            Self::TopK { .. } => 1,
            Self::Cluster { .. } => 2,
        }
    }

    /// Checks the parameters against a logit width.
    pub fn validate(&self, num_tokens: usize) -> Result<()> {
        let bad = |m: String| Err(CoreError::InvalidSampler(m));
        let temp_ok = |t: f64| t.is_finite() && t > 0.0;
        match self {
            Self::Argmax => Ok(()),
            Self::TopK { k, temperature } => {
                if *k == 0 || *k > num_tokens {
                    return bad(format!("top-k {k} must be in 1..={num_tokens}"));
                }
                if !temp_ok(*temperature) {
                    return bad(format!("temperature {temperature} must be positive"));
                }
                Ok(())
            }
            Self::Cluster {
                temperature,
                top_k_clusters,
                cluster_temperature,
                table,
            } => {
                if table.num_tokens() != num_tokens {
                    return bad(format!(
                        "cluster table covers {} tokens, logits have {num_tokens}",
                        table.num_tokens()
                    ));
                }
                if *top_k_clusters == 0 || *top_k_clusters > table.num_clusters() {
                    return bad(format!(
                        "top_k_clusters {top_k_clusters} must be in 1..={}",
                        table.num_clusters()
                    ));
                }
                if !temp_ok(*temperature) || !temp_ok(*cluster_temperature) {
                    return bad(format!(
                        "temperatures {temperature} and {cluster_temperature} must be positive"
                    ));
                }
                Ok(())
            }
        }
    }

    /// Prepares the sampler for logits of width `num_tokens` on `device` (uploads the cluster table once).
    pub fn to_device<B: Backend>(&self, num_tokens: usize, device: &B::Device) -> Result<DeviceSampler<B>> {
        self.validate(num_tokens)?;
        let clusters = match self {
            Self::Cluster { table, .. } => Some(DeviceClusters::new(table, device)),
            _ => None,
        };
        Ok(DeviceSampler {
            sampler: self.clone(),
            clusters,
            device: device.clone(),
        })
    }
}

/// A [`Sampler`] bound to a device.
#[derive(Debug, Clone)]
pub struct DeviceSampler<B: Backend> {
    sampler: Sampler,
    clusters: Option<DeviceClusters<B>>,
    device: B::Device,
}

/// A [`ClusterTable`] uploaded to a device.
#[derive(Debug, Clone)]
struct DeviceClusters<B: Backend> {
    /// `[1, num_tokens]` label of each token.
    labels: Tensor<B, 2, Int>,
    /// `[1, num_tokens]` tokens ordered by cluster.
    by_cluster: Tensor<B, 2, Int>,
    /// `[1, num_clusters]` start of each cluster in `by_cluster`.
    starts: Tensor<B, 2, Int>,
    /// `[1, num_clusters]` cluster sizes.
    sizes: Tensor<B, 2, Int>,
    /// `[1, max_cluster_size]` 0, 1, 2, …
    offsets: Tensor<B, 2, Int>,
}

impl<B: Backend> DeviceClusters<B> {
    fn new(table: &ClusterTable, device: &B::Device) -> Self {
        let row = |v: &[i64]| Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device);
        let m = table.max_cluster_size();
        Self {
            labels: row(&table.labels),
            by_cluster: row(&table.by_cluster),
            starts: row(&table.starts),
            sizes: row(&table.sizes),
            offsets: Tensor::arange(0..m as i64, device).reshape([1, m]),
        }
    }

    /// The tokens of each row's chosen cluster, `[batch, max_cluster_size]`, and which of those slots are padding.
    fn members(&self, cluster: Tensor<B, 2, Int>) -> (Tensor<B, 2, Int>, Tensor<B, 2, burn::tensor::Bool>) {
        let [b, _] = cluster.dims();
        let [_, m] = self.offsets.dims();
        let [_, n] = self.by_cluster.dims();
        let [_, c] = self.starts.dims();
        let start = self.starts.clone().expand([b, c]).gather(1, cluster.clone());
        let size = self.sizes.clone().expand([b, c]).gather(1, cluster);
        let offsets = self.offsets.clone().expand([b, m]);
        let padding = offsets.clone().greater_equal(size.expand([b, m]));
        let slots = (start.expand([b, m]) + offsets).clamp_max((n - 1) as i64);
        (self.by_cluster.clone().expand([b, n]).gather(1, slots), padding)
    }
}

/// A uniform in the open interval (0, 1): an exact 0 could select a zero-probability token in the inverse CDF.
fn open_uniform(rng: &mut dyn RngCore) -> f32 {
    ((rng.next_u32() >> 8) as f32 + 0.5) / 16_777_216.0
}

/// Draws one index per row with probability ∝ `weights` (non-negative), given a uniform per row.
///
/// Inverse CDF: the index is the number of cumulative sums below `u · total`, which always lands on an entry of
/// positive weight.
fn categorical<B: Backend>(weights: Tensor<B, 2>, u: Tensor<B, 2>) -> Tensor<B, 2, Int> {
    let [b, n] = weights.dims();
    let cum = weights.cumsum(1);
    let target = cum.clone().narrow(1, n - 1, 1) * u;
    cum.lower(target.expand([b, n])).int().sum_dim(1).clamp_max((n - 1) as i64)
}

impl<B: Backend> DeviceSampler<B> {
    /// The sampler.
    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// Draws one token per row.
    ///
    /// # Shapes
    /// - logits `[batch, num_tokens]` → `[batch]` token ids.
    pub fn sample(&self, logits: Tensor<B, 2>, rng: &mut dyn RngCore) -> Tensor<B, 1, Int> {
        let [b, _] = logits.dims();
        let mut uniform_column = || {
            let values: Vec<f32> = (0..b).map(|_| open_uniform(rng)).collect();
            Tensor::<B, 2>::from_data(TensorData::new(values, [b, 1]), &self.device)
        };
        let ids = match &self.sampler {
            Sampler::Argmax => logits.argmax(1),
            Sampler::TopK { k, temperature } => {
                categorical(top_k_probs(logits.div_scalar(*temperature), *k), uniform_column())
            }
            Sampler::Cluster {
                temperature,
                top_k_clusters,
                cluster_temperature,
                table,
            } => {
                let clusters = self.clusters(table);
                let scaled = logits.div_scalar(*temperature);
                let labels = clusters.labels.clone().expand(scaled.dims());
                let (top_mass, top_ids) = top_cluster_masses(scaled.clone(), labels, table.num_clusters(), *top_k_clusters);
                let cluster = top_ids.gather(1, categorical(top_mass, uniform_column()));
                // Only the chosen cluster's members can be drawn: softmax over them alone (≤ max cluster size
                // instead of all tokens; the official code masks the others to −65504, which gives them exactly 0).
                let (members, padding) = clusters.members(cluster);
                let member_logits = scaled.gather(1, members.clone()).mask_fill(padding, f64::NEG_INFINITY);
                let probs = softmax(member_logits.div_scalar(*cluster_temperature), 1);
                members.gather(1, categorical(probs, uniform_column()))
            }
        };
        ids.reshape([b])
    }

    /// The exact probability of emitting each token (what [`sample`](Self::sample) draws from).
    ///
    /// # Shapes
    /// - logits `[batch, num_tokens]` → `[batch, num_tokens]`, rows summing to 1.
    pub fn probabilities(&self, logits: Tensor<B, 2>) -> Tensor<B, 2> {
        let [b, n] = logits.dims();
        match &self.sampler {
            Sampler::Argmax => {
                let ids = logits.argmax(1);
                Tensor::zeros([b, n], &self.device).scatter(1, ids, Tensor::ones([b, 1], &self.device), IndexingUpdateOp::Add)
            }
            Sampler::TopK { k, temperature } => top_k_probs(logits.div_scalar(*temperature), *k),
            Sampler::Cluster {
                temperature,
                top_k_clusters,
                cluster_temperature,
                table,
            } => {
                let c = table.num_clusters();
                let labels = self.clusters(table).labels.clone().expand([b, n]);
                let scaled = logits.div_scalar(*temperature);
                let (top_mass, top_ids) = top_cluster_masses(scaled.clone(), labels.clone(), c, *top_k_clusters);
                let total = top_mass.clone().sum_dim(1);
                let pick = Tensor::zeros([b, c], &self.device).scatter(1, top_ids, top_mass / total, IndexingUpdateOp::Add);
                let token_pick = pick.gather(1, labels.clone());
                // Softmax inside each cluster: exp(l/T₂ − rowmax), normalised by its cluster's sum.
                let l2 = scaled.div_scalar(*cluster_temperature);
                let e = (l2.clone() - l2.max_dim(1)).exp();
                let sums = Tensor::zeros([b, c], &self.device).scatter(1, labels.clone(), e.clone(), IndexingUpdateOp::Add);
                let token_sum = sums.gather(1, labels);
                let within = (e / token_sum.clone()).mask_fill(token_sum.equal_elem(0.0), 0.0);
                token_pick * within
            }
        }
    }

    /// The cluster table on the device (uploaded once by [`Sampler::to_device`]).
    fn clusters(&self, table: &ClusterTable) -> DeviceClusters<B> {
        self.clusters.clone().unwrap_or_else(|| DeviceClusters::new(table, &self.device))
    }
}

/// Mass of each cluster under `softmax(scaled)`; returns the `k` heaviest masses and their cluster ids, `[batch, k]`.
fn top_cluster_masses<B: Backend>(
    scaled: Tensor<B, 2>,
    labels: Tensor<B, 2, Int>,
    num_clusters: usize,
    k: usize,
) -> (Tensor<B, 2>, Tensor<B, 2, Int>) {
    let [b, _] = scaled.dims();
    let device = scaled.device();
    let probs = softmax(scaled, 1);
    let mass = Tensor::zeros([b, num_clusters], &device).scatter(1, labels, probs, IndexingUpdateOp::Add);
    mass.topk_with_indices(k, 1)
}

/// Softmax over the `k` largest logits of each row (ties at the k-th value kept), 0 elsewhere.
fn top_k_probs<B: Backend>(logits: Tensor<B, 2>, k: usize) -> Tensor<B, 2> {
    let [b, n] = logits.dims();
    let kth = logits.clone().topk(k, 1).narrow(1, k - 1, 1);
    let dropped = logits.clone().lower(kth.expand([b, n]));
    softmax(logits.mask_fill(dropped, f64::NEG_INFINITY), 1)
}
