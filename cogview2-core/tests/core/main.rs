//! cogview2-core integration tests: fixture parity, samplers, PB-relax, weight errors, training, completion, post-selection.
//!
//! One test binary per crate: each binary links and monomorphises burn's backends again, so separate files
//! would multiply the build time.

mod common;
mod coglm_fixtures;
mod completion_fixture;
mod inverse_prompt_fixture;
mod pb_relax;
mod sampling_fixture;
mod training;
mod weights_errors;
