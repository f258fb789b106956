//! Errors of the VQ-VAE crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading or running the VQ-VAE, or reading and writing images.
#[derive(Debug, thiserror::Error)]
pub enum VqvaeError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A configuration file is not valid JSON for the HVQVAE constructor config.
    #[error("invalid VQ-VAE config {path}: {source}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A configuration value is inconsistent or unsupported.
    #[error("invalid VQ-VAE config: {0}")]
    InvalidConfig(String),

    /// The weights file is not a valid safetensors file (truncated, corrupt header, bad offsets).
    #[error("{file} is not a valid safetensors file ({reason}); re-export or re-download it")]
    InvalidWeightsFile {
        /// The file.
        file: String,
        /// What the parser said.
        reason: String,
    },

    /// A parameter the model needs is absent from the weights file.
    #[error("tensor {name} is missing from {file}: is this an icetk HVQVAE checkpoint with this config?")]
    MissingTensor {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
    },

    /// Tensors were left over after every parameter was filled: the file is for another model or config.
    #[error("{file} has {count} tensor(s) this model does not use, e.g. {first}: wrong model or config?")]
    UnexpectedTensors {
        /// The file.
        file: String,
        /// How many were left over.
        count: usize,
        /// The first left-over name (sorted).
        first: String,
    },

    /// A tensor has another shape than the config implies.
    #[error("tensor {name} in {file} has shape {found:?}, the config says {expected:?}")]
    ShapeMismatch {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the model needs.
        expected: Vec<usize>,
    },

    /// A tensor is stored in a dtype this loader does not convert.
    #[error("tensor {name} in {file} is {dtype}; only F32, F16 and BF16 weights are supported")]
    UnsupportedDtype {
        /// Official parameter name.
        name: String,
        /// The file.
        file: String,
        /// The stored dtype.
        dtype: String,
    },

    /// An image file could not be decoded.
    #[error("cannot decode image {path}: {source}; PNG and JPEG are supported")]
    ImageDecode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },

    /// An image could not be encoded or written.
    #[error("cannot write image {path}: {source}")]
    ImageWrite {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },

    /// An image (or a requested size) has zero width or height.
    #[error("image {what} has zero size ({width}x{height})")]
    EmptyImage {
        /// Which image.
        what: String,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },

    /// An image is smaller than one code cell at the requested compress rate.
    #[error("image of {width}x{height} px is smaller than one {cell}x{cell} code cell; resize it up first")]
    ImageTooSmall {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Side of one code cell in pixels.
        cell: usize,
    },

    /// An image side is not a multiple of the compress rate.
    #[error("image of {width}x{height} px is not divisible by the compress rate {rate}; crop or resize it to a multiple")]
    NotDivisible {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Pixels per code along each side.
        rate: usize,
    },

    /// The images of one batch differ in size.
    #[error("batch image {index} is {found:?} (WxH) but the first is {expected:?}; resize them to one size")]
    BatchSizeMismatch {
        /// Index of the offending image.
        index: usize,
        /// Its size.
        found: (u32, u32),
        /// Size of the first image.
        expected: (u32, u32),
    },

    /// A batch is empty.
    #[error("empty batch: give at least one image or code grid")]
    EmptyBatch,

    /// A code id lies outside the codebook.
    #[error("code id {id} is outside the codebook [0, {n_embed}); image token ids must be < {n_embed}")]
    IdOutOfRange {
        /// The offending id.
        id: i64,
        /// Codebook size.
        n_embed: usize,
    },

    /// A flat id list cannot be laid out as a square grid.
    #[error("{len} code ids per image do not form a square grid; pass a [B, h, w] grid instead")]
    NotSquare {
        /// Ids per image.
        len: usize,
    },

    /// The compress rate is not one of the three levels.
    #[error("compress rate {0} is not supported; use 4, 8 or 16")]
    BadCompressRate(u32),

    /// A tensor handed to the codec has the wrong layout.
    #[error("{what} has shape {found:?}; expected {expected}")]
    BadShape {
        /// Which tensor.
        what: String,
        /// Its shape.
        found: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },

    /// A training step could not proceed (non-finite loss, bad batch, host read failure).
    #[error("training: {0}")]
    Training(String),

    /// A training checkpoint could not be written or read back.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file or directory.
        path: PathBuf,
        /// What failed, and what to do about it.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, VqvaeError>;
