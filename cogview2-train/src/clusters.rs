//! The cluster table (`cluster_label.npy`): k-means over the VQ-VAE codebook vectors, so that cluster sampling
//! groups image codes that decode alike. Seeded k-means++ initialisation, then Lloyd iterations until no label
//! changes.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// k-means settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub k: usize,
    /// Most Lloyd iterations.
    pub max_iters: usize,
    /// Seed of the k-means++ draws.
    pub seed: u64,
}

/// Labels `[n]` in `0..k` of the rows of `points` (`[n, dim]`, row-major). Every cluster is non-empty: a cluster
/// that loses all its points takes over the point farthest from its centre.
pub fn kmeans(points: &[f32], dim: usize, config: &KMeansConfig) -> Result<Vec<i64>> {
    let k = config.k;
    if dim == 0 || !points.len().is_multiple_of(dim) {
        return Err(TrainError::InvalidConfig(format!("{} values are not rows of {dim}", points.len())));
    }
    let n = points.len() / dim;
    if k == 0 || k > n {
        return Err(TrainError::InvalidConfig(format!("k = {k} clusters for {n} points")));
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err(TrainError::InvalidConfig("codebook has non-finite values".into()));
    }
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let dist2 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();

    // k-means++: each next centre drawn with probability ∝ squared distance to the nearest chosen one.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut centres: Vec<f32> = row(rng.random_range(0..n)).to_vec();
    let mut nearest: Vec<f64> = (0..n).map(|i| dist2(row(i), &centres[..dim])).collect();
    while centres.len() < k * dim {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            nearest.iter().position(|&d| {
                target -= d;
                target < 0.0
            })
            .unwrap_or(n - 1)
        } else {
            // All remaining points coincide with centres: any point will do.
            rng.random_range(0..n)
        };
        let c = row(pick).to_vec();
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(dist2(row(i), &c));
        }
        centres.extend(c);
    }

    let mut labels = vec![usize::MAX; n];
    for iter in 0..config.max_iters.max(1) {
        let mut changed = 0usize;
        for (i, label) in labels.iter_mut().enumerate() {
            let best = (0..k)
                .map(|c| (c, dist2(row(i), &centres[c * dim..(c + 1) * dim])))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c);
            if *label != best {
                *label = best;
                changed += 1;
            }
        }
        let mut sums = vec![0.0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            for (s, &v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row(i)) {
                *s += v as f64;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // An empty cluster takes the point farthest from its centre, so every label is used.
                let far = (0..n)
                    .map(|i| (i, dist2(row(i), &centres[labels[i] * dim..(labels[i] + 1) * dim])))
                    .filter(|&(i, _)| counts[labels[i]] > 1)
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i);
                if let Some(i) = far {
                    counts[labels[i]] -= 1;
                    labels[i] = c;
                    counts[c] = 1;
                    centres[c * dim..(c + 1) * dim].copy_from_slice(row(i));
                    changed += 1;
                }
                continue;
            }
            for (m, s) in centres[c * dim..(c + 1) * dim].iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                *m = (*s / counts[c] as f64) as f32;
            }
        }
        tracing::debug!(iter, changed, "k-means iteration");
        if changed == 0 {
            break;
        }
    }
    Ok(labels.into_iter().map(|l| l as i64).collect())
}

/// `.npy` bytes (format v1.0) of a 1-D little-endian int64 array.
pub fn npy_int64_bytes(values: &[i64]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}", values.len());
    // NumPy pads the header with spaces and a final newline so the data start is 64-byte aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// Clusters `codebook` (`[n_embed, dim]`) and writes the labels as `cluster_label.npy` (int64 `[n_embed]`).
pub fn write_cluster_table(codebook: &[f32], dim: usize, config: &KMeansConfig, path: impl AsRef<Path>) -> Result<Vec<i64>> {
    let path = path.as_ref();
    let labels = kmeans(codebook, dim, config)?;
    std::fs::write(path, npy_int64_bytes(&labels)).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::info!(path = %path.display(), codes = labels.len(), k = config.k, "cluster table written");
    Ok(labels)
}
