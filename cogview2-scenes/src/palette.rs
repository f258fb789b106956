//! The colour vocabulary: eight colours far apart in RGB, so the nearest palette entry of a rendered pixel is
//! unambiguous even after anti-aliasing and mild noise.

use serde::{Deserialize, Serialize};

/// RGB of [`Colour::Red`].
pub const RED: [u8; 3] = [220, 30, 30];
/// RGB of [`Colour::Green`].
pub const GREEN: [u8; 3] = [30, 160, 40];
/// RGB of [`Colour::Blue`].
pub const BLUE: [u8; 3] = [30, 60, 220];
/// RGB of [`Colour::Yellow`].
pub const YELLOW: [u8; 3] = [250, 230, 30];
/// RGB of [`Colour::Orange`].
pub const ORANGE: [u8; 3] = [245, 125, 0];
/// RGB of [`Colour::Purple`].
pub const PURPLE: [u8; 3] = [140, 40, 170];
/// RGB of [`Colour::White`].
pub const WHITE: [u8; 3] = [250, 250, 250];
/// RGB of [`Colour::Black`].
pub const BLACK: [u8; 3] = [15, 15, 15];

/// A palette colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Yellow.
    Yellow,
    /// Orange.
    Orange,
    /// Purple.
    Purple,
    /// White.
    White,
    /// Black.
    Black,
}

impl Colour {
    /// Every colour, in index order.
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Orange,
        Colour::Purple,
        Colour::White,
        Colour::Black,
    ];

    /// Position in [`Colour::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The colour's RGB value.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => RED,
            Colour::Green => GREEN,
            Colour::Blue => BLUE,
            Colour::Yellow => YELLOW,
            Colour::Orange => ORANGE,
            Colour::Purple => PURPLE,
            Colour::White => WHITE,
            Colour::Black => BLACK,
        }
    }

    /// English name ("red").
    pub fn english(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Purple => "purple",
            Colour::White => "white",
            Colour::Black => "black",
        }
    }

    /// Chinese name ("红色").
    pub fn chinese(self) -> &'static str {
        match self {
            Colour::Red => "红色",
            Colour::Green => "绿色",
            Colour::Blue => "蓝色",
            Colour::Yellow => "黄色",
            Colour::Orange => "橙色",
            Colour::Purple => "紫色",
            Colour::White => "白色",
            Colour::Black => "黑色",
        }
    }

    /// Palette colour nearest to `rgb` (squared Euclidean distance; ties go to the earlier colour).
    pub fn nearest(rgb: [u8; 3]) -> Colour {
        let mut best = (Colour::Red, u32::MAX);
        for colour in Colour::ALL {
            let d = distance2(rgb, colour.rgb());
            if d < best.1 {
                best = (colour, d);
            }
        }
        best.0
    }
}

/// Squared Euclidean distance between two RGB values.
pub fn distance2(a: [u8; 3], b: [u8; 3]) -> u32 {
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u32
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_is_well_separated() {
        for a in Colour::ALL {
            assert_eq!(Colour::nearest(a.rgb()), a);
            for b in Colour::ALL {
                if a != b {
                    // At least 100 RGB units apart: blends and noise cannot flip the nearest colour.
                    assert!(distance2(a.rgb(), b.rgb()) >= 100 * 100, "{a:?} vs {b:?}");
                }
            }
        }
    }
}
