//! cogview2-vqvae integration tests: fixture parity, error paths, training.
//!
//! One test binary: each binary re-monomorphises burn's backends, so separate files would multiply build time.

mod common;
mod errors;
mod fixture;
mod train;
