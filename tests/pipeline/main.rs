//! End-to-end tests of the root crate on a tiny model set (the fixtures' seeded CogLM / DSR / ITERSR, a
//! random-weight VQ-VAE with their codebook size, a tokenizer filling their id space): text-to-image, post-selection
//! and text-guided editing; and the default model shipped in `model/`.
//!
//! One test binary: each binary re-monomorphises burn's backends, so separate files would multiply build time.

mod common;
mod default_model;
mod edit;
mod post_select;
mod text_to_image;
