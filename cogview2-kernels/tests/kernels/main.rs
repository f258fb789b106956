//! cogview2-kernels integration tests: references and host loops vs fixtures, LoPAR, and (feature `wgpu`) the cubecl kernels.
//!
//! One test binary per crate: each binary links and monomorphises burn's backends again, so separate files
//! would multiply the build time.

mod autodiff;
mod common;
mod host;
mod kernels_wgpu;
mod lopar;
mod reference_fixture;
