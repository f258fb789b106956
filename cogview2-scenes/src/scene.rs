//! A scene: a solid background and one to three coloured shapes, each inside its own grid cell.

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScenesError};
use crate::palette::Colour;
use crate::position::Position;
use crate::shape::Shape;

/// Smallest object box side the sampler draws by default, as a fraction of the cell side.
pub const MIN_SCALE: f32 = 0.45;
/// Largest object box side the sampler draws by default, as a fraction of the cell side.
pub const MAX_SCALE: f32 = 0.85;
/// Object box sides a scene may hold, as fractions of the cell side: from a tenth of the cell (a speck at every
/// grid size used here) up to the whole cell.
pub const SCALE_LIMITS: [f32; 2] = [0.1, 1.0];
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
    /// Side of the object's box as a fraction of the cell side, within [`SCALE_LIMITS`].
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
        let background = Self::plain_background(combo.colour);
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

    /// The plain background behind an object of `colour`: white, black for a white object.
    pub fn plain_background(colour: Colour) -> Colour {
        if colour == Colour::White {
            Colour::Black
        } else {
            Colour::White
        }
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
            let [lo, hi] = SCALE_LIMITS;
            if !(lo..=hi).contains(&object.scale) {
                return Err(ScenesError::InvalidScene(format!(
                    "object {i} has scale {}; allowed {lo}..={hi}",
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
}
