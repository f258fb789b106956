//! The hierarchical VQ-VAE image codec (in progress).
