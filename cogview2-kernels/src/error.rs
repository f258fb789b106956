//! The one error type of this crate.

use thiserror::Error;

/// Why a local-attention or LoPAR call was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A tensor's shape does not fit the others.
    #[error("{op}: {what} has shape {got:?}, expected {want}")]
    Shape {
        /// The operation (`local_similar`, …).
        op: &'static str,
        /// Which argument.
        what: &'static str,
        /// Its actual shape.
        got: Vec<usize>,
        /// What was expected, in words.
        want: String,
    },
    /// A window with no rows or no columns.
    #[error("{op}: window {kh}x{kw} is empty; pass at least one row and one column (CogView2 uses 9x5 and 5x5)")]
    EmptyWindow {
        /// The operation.
        op: &'static str,
        /// Window rows.
        kh: usize,
        /// Window columns.
        kw: usize,
    },
    /// A LoPAR parameter out of range.
    #[error("{op}: {what}")]
    Parameter {
        /// The operation.
        op: &'static str,
        /// What is wrong and how to fix it.
        what: String,
    },
    /// The backend could not hand over or take back a tensor's values (host kernels).
    #[error("{op}: reading the tensor's values failed: {message}")]
    Backend {
        /// The operation.
        op: &'static str,
        /// The backend's error, in words.
        message: String,
    },
}

/// Result with [`KernelError`].
pub type Result<T> = std::result::Result<T, KernelError>;
