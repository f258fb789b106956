//! cogview2-train integration tests: the pretrain_masks fixture, loss falls per stage, resume, export, scenes data,
//! cluster table.
//!
//! One test binary: each binary re-monomorphises burn's backends, so separate files would multiply build time.

mod cluster_table;
mod coglm_training;
mod pretrain_masks;
mod scene_stages;
mod sr_training;
