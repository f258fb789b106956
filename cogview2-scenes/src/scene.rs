//! A scene: a solid background and one to three coloured shapes, each inside its own grid cell.

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScenesError};
use crate::palette::Colour;
use crate::position::Position;
use crate::shape::Shape;

/// Smallest object box side, as a fraction of the cell side.
pub const MIN_SCALE: f32 = 0.45;
/// Largest object box side, as a fraction of the cell side.
pub const MAX_SCALE: f32 = 0.85;
/// Most objects a scene may hold (objects need distinct cells; three keeps captions short).
pub const MAX_OBJECTS: usize = 3;

/// A (colour, shape, position) combination: what a caption says about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Combo {
    /// Object colour.
    pub colour: Colour,
    /// Object shape.
    pub shape: Shape,
    /// Grid cell.
    pub position: Position,
}

impl Combo {
    /// All 8 × 3 × 9 = 216 combinations, colour-major.
    pub fn all() -> impl Iterator<Item = Combo> {
        Colour::ALL.into_iter().flat_map(|colour| {
            Shape::ALL.into_iter().flat_map(move |shape| {
                Position::ALL.into_iter().map(move |position| Combo {
                    colour,
                    shape,
                    position,
                })
            })
        })
    }
}

/// One object of a scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    /// Object colour.
    pub colour: Colour,
    /// Object shape.
    pub shape: Shape,
    /// Grid cell holding the object.
    pub position: Position,
    /// Side of the object's box as a fraction of the cell side, in [`MIN_SCALE`, `MAX_SCALE`].
    pub scale: f32,
    /// Offset of the object's centre from the cell centre, as a fraction of the cell side; each component is at
    /// most `(1 - scale) / 2` in magnitude so the object stays inside its cell.
    pub offset: [f32; 2],
}

impl SceneObject {
    /// The object's (colour, shape, position).
    pub fn combo(&self) -> Combo {
        Combo {
            colour: self.colour,
            shape: self.shape,
            position: self.position,
        }
    }

    /// Largest centre offset (fraction of the cell side) that keeps an object of `scale` inside its cell.
    pub fn max_offset(scale: f32) -> f32 {
        (1.0 - scale) / 2.0
    }

    /// The object moved and resized so that its box edges fall on the lines of a `grid`×`grid` token grid: the
    /// side becomes the whole number of tokens whose scale is nearest (within [`MIN_SCALE`, `MAX_SCALE`]), the
    /// box the aligned one nearest to the current centre that still lies inside the cell. Training scenes drawn
    /// this way give each shape the same few codes on a small code grid, instead of one per sub-token offset.
    pub fn snapped_to_grid(&self, grid: u32) -> Result<SceneObject> {
        let per_cell = f64::from(grid) / 3.0;
        let side = (1..=grid)
            .map(f64::from)
            .filter(|&n| (f64::from(MIN_SCALE)..=f64::from(MAX_SCALE)).contains(&(n / per_cell)))
            .min_by(|a, b| {
                let target = f64::from(self.scale) * per_cell;
                (a - target).abs().total_cmp(&(b - target).abs())
            })
            .ok_or_else(|| {
                ScenesError::InvalidScene(format!(
                    "a {grid}×{grid} grid has no whole-token object side with a scale in {MIN_SCALE}..={MAX_SCALE}"
                ))
            })?;
        let scale = (side / per_cell) as f32;
        let snap = |cell: usize, offset: f32| -> Result<f32> {
            let (lo, hi) = (cell as f64 * per_cell, (cell + 1) as f64 * per_cell);
            // A small tolerance so that cell edges that are whole numbers up to rounding count as lines.
            let (first, last) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor() - side);
            if first > last {
                return Err(ScenesError::InvalidScene(format!(
                    "cell {cell} of a {grid}×{grid} grid holds no aligned box of {side} tokens"
                )));
            }
            let start = ((cell as f64 + 0.5 + f64::from(offset)) * per_cell - side / 2.0).round().clamp(first, last);
            let offset = ((start + side / 2.0) / per_cell - cell as f64 - 0.5) as f32;
            let limit = SceneObject::max_offset(scale);
            Ok(offset.clamp(-limit, limit))
        };
        Ok(SceneObject {
            scale,
            offset: [
                snap(self.position.column(), self.offset[0])?,
                snap(self.position.row(), self.offset[1])?,
            ],
            ..*self
        })
    }

    /// Centre `(x, y)` and half-size `h` in pixels for a square image of side `size`.
    pub fn geometry(&self, size: u32) -> ([f64; 2], f64) {
        let cell = f64::from(size) / 3.0;
        let x = (self.position.column() as f64 + 0.5 + f64::from(self.offset[0])) * cell;
        let y = (self.position.row() as f64 + 0.5 + f64::from(self.offset[1])) * cell;
        ([x, y], f64::from(self.scale) * cell / 2.0)
    }
}

/// A solid background with objects in distinct cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Background colour (never the colour of an object).
    pub background: Colour,
    /// The objects, in caption order.
    pub objects: Vec<SceneObject>,
}

impl Scene {
    /// Builds a scene, checking it with [`Scene::validate`].
    pub fn new(background: Colour, objects: Vec<SceneObject>) -> Result<Self> {
        let scene = Self {
            background,
            objects,
        };
        scene.validate()?;
        Ok(scene)
    }

    /// The plainest scene of `combo`: the object centred in its cell at a middle scale, on white (black for a
    /// white object). The scene a prompt naming only the combination is scored against.
    pub fn of_combo(combo: Combo) -> Self {
        let background = if combo.colour == Colour::White {
            Colour::Black
        } else {
            Colour::White
        };
        let object = SceneObject {
            colour: combo.colour,
            shape: combo.shape,
            position: combo.position,
            scale: 0.7,
            offset: [0.0; 2],
        };
        Self {
            background,
            objects: vec![object],
        }
    }

    /// The scene with every object snapped to a `grid`×`grid` token grid ([`SceneObject::snapped_to_grid`]).
    pub fn snapped_to_grid(&self, grid: u32) -> Result<Scene> {
        let objects = self.objects.iter().map(|o| o.snapped_to_grid(grid)).collect::<Result<Vec<_>>>()?;
        Scene::new(self.background, objects)
    }

    /// Checks the scene rules: 1 to [`MAX_OBJECTS`] objects in distinct cells, none of the background colour,
    /// scales within range and offsets that keep each object inside its cell.
    pub fn validate(&self) -> Result<()> {
        let n = self.objects.len();
        if n == 0 || n > MAX_OBJECTS {
            return Err(ScenesError::InvalidScene(format!(
                "{n} objects; a scene holds 1 to {MAX_OBJECTS}"
            )));
        }
        for (i, object) in self.objects.iter().enumerate() {
            if object.colour == self.background {
                return Err(ScenesError::InvalidScene(format!(
                    "object {i} is {} on a {} background and would be invisible",
                    object.colour.english(),
                    self.background.english()
                )));
            }
            if !(MIN_SCALE..=MAX_SCALE).contains(&object.scale) {
                return Err(ScenesError::InvalidScene(format!(
                    "object {i} has scale {}; allowed {MIN_SCALE}..={MAX_SCALE}",
                    object.scale
                )));
            }
            let limit = SceneObject::max_offset(object.scale);
            // Written so that NaN offsets fail too.
            if !object.offset.iter().all(|o| o.abs() <= limit) {
                return Err(ScenesError::InvalidScene(format!(
                    "object {i} has offset {:?}; with scale {} each component must be within ±{limit}",
                    object.offset, object.scale
                )));
            }
            if self.objects[..i]
                .iter()
                .any(|other| other.position == object.position)
            {
                return Err(ScenesError::InvalidScene(format!(
                    "two objects share the {} cell",
                    object.position.english()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(position: Position) -> SceneObject {
        SceneObject {
            colour: Colour::Red,
            shape: Shape::Circle,
            position,
            scale: 0.6,
            offset: [0.0, 0.0],
        }
    }

    #[test]
    fn rules_are_enforced() {
        assert!(Scene::new(Colour::White, vec![object(Position::Top)]).is_ok());
        assert!(Scene::new(Colour::Red, vec![object(Position::Top)]).is_err());
        assert!(Scene::new(Colour::White, vec![]).is_err());
        assert!(Scene::new(Colour::White, vec![object(Position::Top); 2]).is_err());
        let mut far = object(Position::Top);
        far.offset = [0.3, 0.0];
        assert!(Scene::new(Colour::White, vec![far]).is_err());
        let mut nan = object(Position::Top);
        nan.offset = [f32::NAN, 0.0];
        assert!(Scene::new(Colour::White, vec![nan]).is_err());
        assert_eq!(Combo::all().count(), 216);
    }

    #[test]
    fn every_combo_has_a_valid_plain_scene() {
        for combo in Combo::all() {
            let scene = Scene::of_combo(combo);
            scene.validate().unwrap_or_else(|e| panic!("{combo:?}: {e}"));
            assert_eq!(scene.objects.len(), 1);
            assert_eq!(scene.objects[0].combo(), combo);
        }
    }

    #[test]
    fn snapped_objects_sit_on_token_lines_inside_their_cells() {
        for (grid, sides) in [(10u32, &[2.0][..]), (20, &[3.0, 4.0, 5.0][..])] {
            let px = grid * 8;
            for position in Position::ALL {
                for (scale, dx, dy) in [(0.45, -0.2, 0.1), (0.6, 0.0, 0.0), (0.85, 0.07, -0.07), (0.7, 0.15, 0.15)] {
                    let o = SceneObject { scale, offset: [dx, dy], ..object(position) };
                    let snapped = o.snapped_to_grid(grid).unwrap();
                    Scene::new(Colour::White, vec![snapped]).unwrap();
                    let ([x, y], h) = snapped.geometry(px);
                    let side = 2.0 * h / 8.0;
                    assert!(sides.iter().any(|s| (s - side).abs() < 1e-3), "grid {grid}: side {side} tokens");
                    for edge in [x - h, x + h, y - h, y + h] {
                        assert!((edge / 8.0 - (edge / 8.0).round()).abs() < 1e-3, "grid {grid}: edge {edge} px");
                    }
                    assert_eq!((snapped.colour, snapped.shape, snapped.position), (o.colour, o.shape, o.position));
                }
            }
        }
        // The nearest side wins: scale 0.45 on a 20-grid is 3 tokens, 0.85 is 5.
        let side = |scale| {
            let o = SceneObject { scale, ..object(Position::Center) };
            o.snapped_to_grid(20).map(|o| o.scale * 20.0 / 3.0)
        };
        assert!((side(0.45).unwrap() - 3.0).abs() < 1e-4 && (side(0.85).unwrap() - 5.0).abs() < 1e-4);
    }

    #[test]
    fn grids_without_aligned_boxes_are_errors() {
        // A 4-grid's centre cell spans tokens 1.33..2.67: no whole token fits inside it.
        assert!(object(Position::Center).snapped_to_grid(4).is_err());
        // A 2-grid has no whole-token side within the scale range.
        assert!(object(Position::TopLeft).snapped_to_grid(2).is_err());
    }
}
