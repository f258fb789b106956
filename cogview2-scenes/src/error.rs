//! The one error type of this crate.

/// Everything that can go wrong while building, rendering, sampling or analysing scenes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenesError {
    /// An image side length of zero was requested.
    #[error(
        "image size must be at least 1 pixel (got 0); pass a positive side length such as 160"
    )]
    ZeroSize,

    /// The requested object count range cannot be satisfied.
    #[error("object count range {min}..={max} is impossible: counts must satisfy 1 <= min <= max <= {limit}")]
    ObjectCount {
        /// Smallest requested count.
        min: usize,
        /// Largest requested count.
        max: usize,
        /// Largest count the grid allows.
        limit: usize,
    },

    /// The sampler's object scale range is empty or leaves [`crate::SCALE_LIMITS`].
    #[error(
        "object scale range {min}..={max} is invalid: it must satisfy {} <= min <= max <= {}",
        crate::SCALE_LIMITS[0],
        crate::SCALE_LIMITS[1]
    )]
    ObjectScale {
        /// Requested smallest scale.
        min: f32,
        /// Requested largest scale.
        max: f32,
    },

    /// A scene violates the rules every scene obeys (distinct cells, object colour unlike the background, sizes in range).
    #[error("invalid scene: {0}")]
    InvalidScene(String),

    /// A probability outside [0, 1].
    #[error("{name} must be within [0, 1] (got {value})")]
    Probability {
        /// Which setting.
        name: &'static str,
        /// The offending value.
        value: f32,
    },

    /// The sampler's filters leave no combination to draw from.
    #[error("no (colour, shape, position) combination is left to sample: {0}")]
    NothingToSample(String),

    /// The analyzer found no object in the image.
    #[error(
        "no object found: every pixel of the {width}x{height} image matches the background colour"
    )]
    NoObject {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ScenesError>;
