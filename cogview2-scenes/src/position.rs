//! The position vocabulary: the cells of a 3×3 grid.

use serde::{Deserialize, Serialize};

/// One cell of the 3×3 grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Row 0, column 0.
    TopLeft,
    /// Row 0, column 1.
    Top,
    /// Row 0, column 2.
    TopRight,
    /// Row 1, column 0.
    Left,
    /// Row 1, column 1.
    Center,
    /// Row 1, column 2.
    Right,
    /// Row 2, column 0.
    BottomLeft,
    /// Row 2, column 1.
    Bottom,
    /// Row 2, column 2.
    BottomRight,
}

impl Position {
    /// Every position, in row-major order.
    pub const ALL: [Position; 9] = [
        Position::TopLeft,
        Position::Top,
        Position::TopRight,
        Position::Left,
        Position::Center,
        Position::Right,
        Position::BottomLeft,
        Position::Bottom,
        Position::BottomRight,
    ];

    /// Row-major index in [`Position::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Grid row, 0 (top) to 2 (bottom).
    pub fn row(self) -> usize {
        self.index() / 3
    }

    /// Grid column, 0 (left) to 2 (right).
    pub fn column(self) -> usize {
        self.index() % 3
    }

    /// The cell at `row`, `column` (each 0..3), or `None` outside the grid.
    pub fn from_cell(row: usize, column: usize) -> Option<Position> {
        (row < 3 && column < 3).then(|| Position::ALL[row * 3 + column])
    }

    /// English name without preposition ("top left").
    pub fn english(self) -> &'static str {
        match self {
            Position::TopLeft => "top left",
            Position::Top => "top",
            Position::TopRight => "top right",
            Position::Left => "left",
            Position::Center => "center",
            Position::Right => "right",
            Position::BottomLeft => "bottom left",
            Position::Bottom => "bottom",
            Position::BottomRight => "bottom right",
        }
    }

    /// English phrase as captions use it ("at the top left", "on the left", "in the center").
    pub fn english_phrase(self) -> &'static str {
        match self {
            Position::TopLeft => "at the top left",
            Position::Top => "at the top",
            Position::TopRight => "at the top right",
            Position::Left => "on the left",
            Position::Center => "in the center",
            Position::Right => "on the right",
            Position::BottomLeft => "at the bottom left",
            Position::Bottom => "at the bottom",
            Position::BottomRight => "at the bottom right",
        }
    }

    /// Chinese name ("左上角"), as captions use it before "的".
    pub fn chinese(self) -> &'static str {
        match self {
            Position::TopLeft => "左上角",
            Position::Top => "上方",
            Position::TopRight => "右上角",
            Position::Left => "左侧",
            Position::Center => "中央",
            Position::Right => "右侧",
            Position::BottomLeft => "左下角",
            Position::Bottom => "下方",
            Position::BottomRight => "右下角",
        }
    }

    /// Cell containing the point `(x, y)` of a square image of side `size` (points on the far edge belong to
    /// the last cell).
    pub fn from_point(x: f64, y: f64, size: f64) -> Position {
        let cell = |v: f64| ((v / size * 3.0).floor().clamp(0.0, 2.0)) as usize;
        Position::ALL[cell(y) * 3 + cell(x)]
    }
}
