//! cogview2-sr integration tests: DSR, ITERSR/LoPAR, local attention and sampling against the fixtures.
//!
//! One test binary per crate: each binary links and monomorphises burn's backends again, so separate files
//! would multiply the build time.

mod dsr_fixture;
mod itersr_lopar_fixture;
mod local_attention_fixture;
mod sampling_fixture;
