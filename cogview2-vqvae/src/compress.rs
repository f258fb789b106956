//! Compress rates and their code levels (ICE: icetk/ice_tokenizer.py: `l = log2(compress_rate) − 2`).

use crate::error::{Result, VqvaeError};

/// Pixels per code along each side; selects the code level and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressRate {
    /// 4 px per code, level 0 (decoded by `decs.2`).
    X4,
    /// 8 px per code, level 1 (decoded by `decs.1`): CogView2's setting (160 px ↔ 20×20, 480 px ↔ 60×60).
    X8,
    /// 16 px per code, level 2 (decoded by `decs.0`).
    X16,
}

impl CompressRate {
    /// Code level `l` (0, 1, 2).
    pub fn level(self) -> usize {
        match self {
            Self::X4 => 0,
            Self::X8 => 1,
            Self::X16 => 2,
        }
    }

    /// Pixels per code along each side (4, 8, 16).
    pub fn rate(self) -> usize {
        4 << self.level()
    }
}

impl TryFrom<u32> for CompressRate {
    type Error = VqvaeError;

    fn try_from(rate: u32) -> Result<Self> {
        match rate {
            4 => Ok(Self::X4),
            8 => Ok(Self::X8),
            16 => Ok(Self::X16),
            other => Err(VqvaeError::BadCompressRate(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_icetk() {
        for (rate, level) in [(4, 0), (8, 1), (16, 2)] {
            let r = CompressRate::try_from(rate).unwrap();
            assert_eq!((r.level(), r.rate()), (level, rate as usize));
        }
        assert!(matches!(CompressRate::try_from(32), Err(VqvaeError::BadCompressRate(32))));
    }
}
