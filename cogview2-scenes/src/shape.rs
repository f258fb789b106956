//! The shape vocabulary and each shape's geometry: a conservative signed distance (used by the renderer to
//! find the pixels that need supersampling) and an exact inside test.

use serde::{Deserialize, Serialize};

/// A shape. Every shape is drawn inside an axis-aligned square box of side `2h` centred on the object's centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Disc of radius `h`: fills π/4 of its box.
    Circle,
    /// Axis-aligned square of side `2h`: fills its box.
    Square,
    /// Upward isosceles triangle, base and height `2h`: fills half its box.
    Triangle,
}

impl Shape {
    /// Every shape, in index order.
    pub const ALL: [Shape; 3] = [Shape::Circle, Shape::Square, Shape::Triangle];

    /// Position in [`Shape::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// English name ("circle").
    pub fn english(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
        }
    }

    /// Chinese name ("圆形").
    pub fn chinese(self) -> &'static str {
        match self {
            Shape::Circle => "圆形",
            Shape::Square => "方形",
            Shape::Triangle => "三角形",
        }
    }

    /// Area of the shape divided by the area of its bounding box.
    pub fn fill_ratio(self) -> f64 {
        match self {
            Shape::Circle => std::f64::consts::FRAC_PI_4,
            Shape::Square => 1.0,
            Shape::Triangle => 0.5,
        }
    }

    /// A lower bound on the Euclidean distance from `(dx, dy)` (relative to the centre, y down) to the shape's
    /// boundary, negative inside. For the polygons it is the largest signed distance to an edge line, which is
    /// exact inside and never more than the true distance outside: a pixel with `|d|` above its half-diagonal
    /// is entirely in or out.
    pub fn signed_distance(self, dx: f64, dy: f64, h: f64) -> f64 {
        match self {
            Shape::Circle => (dx * dx + dy * dy).sqrt() - h,
            Shape::Square => (dx.abs() - h).max(dy.abs() - h),
            Shape::Triangle => {
                // Apex (0, -h), base corners (±h, h). Side edges have normals (±2, -1)/√5.
                let base = dy - h;
                let side = (2.0 * dx.abs() - dy - h) / 5f64.sqrt();
                base.max(side)
            }
        }
    }

    /// Whether `(dx, dy)` (relative to the centre, y down) lies inside the shape of half-size `h`.
    pub fn contains(self, dx: f64, dy: f64, h: f64) -> bool {
        self.signed_distance(dx, dy, h) <= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monte_carlo_fill_ratio_matches() {
        for shape in Shape::ALL {
            let n = 400;
            let mut inside = 0;
            for i in 0..n {
                for j in 0..n {
                    let x = (i as f64 + 0.5) / n as f64 * 2.0 - 1.0;
                    let y = (j as f64 + 0.5) / n as f64 * 2.0 - 1.0;
                    inside += usize::from(shape.contains(x, y, 1.0));
                }
            }
            let ratio = inside as f64 / (n * n) as f64;
            assert!(
                (ratio - shape.fill_ratio()).abs() < 0.01,
                "{shape:?}: {ratio}"
            );
        }
    }
}
