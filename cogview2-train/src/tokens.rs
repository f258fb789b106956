//! The special ids and id ranges the sample construction needs (icetk's global id space, spec §2.1).

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Special token ids, id ranges and the stage-1 image layout, as a value rather than literals so that a
/// tokenizer with other ids (or a fixture's stand-ins) can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialTokens {
    /// `<pad>`: separates the texts of a text–image row and fills up to the image.
    pub pad: i64,
    /// `<start_of_image>`, written at slot `L − 401` of text→image samples.
    pub start_of_image: i64,
    /// `<start_of_english>`, prefixed to an English caption in image→text samples.
    pub start_of_english: i64,
    /// `<start_of_chinese>`, prefixed to a Chinese caption.
    pub start_of_chinese: i64,
    /// Image codes are ids `[0, num_image_tokens)`.
    pub num_image_tokens: i64,
    /// First English id counted in the English loss (the official code logs `20100 < label`).
    pub first_english_id: i64,
    /// First Chinese id: a caption with every id below it is English.
    pub first_chinese_id: i64,
    /// One past the last Chinese id (the rare-token block starts here).
    pub end_chinese_id: i64,
    /// The image is the last `image_grid²` tokens of a row, row-major.
    pub image_grid: usize,
    /// Position id of the slot before the image (`<start_of_image>`); image token k gets `offset + 1 + k`.
    pub image_position_offset: i64,
}

impl SpecialTokens {
    /// A tiny id space for smoke runs and tests: 32 image codes, `<pad>` 33, English [40, 56), Chinese [56, 72),
    /// `<start_of_image|english|chinese>` 72/73/74, 4×4 images, image positions 512….
    pub fn demo() -> Self {
        Self {
            pad: 33,
            start_of_image: 72,
            start_of_english: 73,
            start_of_chinese: 74,
            num_image_tokens: 32,
            first_english_id: 40,
            first_chinese_id: 56,
            end_chinese_id: 72,
            image_grid: 4,
            image_position_offset: 512,
        }
    }

    /// The released icetk ids (spec §12): `<pad>` 20003, `<start_of_image|english|chinese>` 150000/1/2,
    /// 20 000 image codes, English (20100, 83823), Chinese [83823, 145653), 20×20 grid, image positions 512….
    pub fn icetk() -> Self {
        Self {
            pad: 20_003,
            start_of_image: 150_000,
            start_of_english: 150_001,
            start_of_chinese: 150_002,
            num_image_tokens: 20_000,
            first_english_id: 20_101,
            first_chinese_id: 83_823,
            end_chinese_id: 145_653,
            image_grid: 20,
            image_position_offset: 512,
        }
    }

    /// Number of image tokens at the end of a text–image row.
    pub fn image_len(&self) -> usize {
        self.image_grid * self.image_grid
    }

    /// Whether `id` is an image code.
    pub fn is_image(&self, id: i64) -> bool {
        (0..self.num_image_tokens).contains(&id)
    }

    /// Which loss bucket a label belongs to (the official per-modality logging).
    pub fn modality(&self, label: i64) -> Option<Modality> {
        if label < self.num_image_tokens {
            Some(Modality::Image)
        } else if (self.first_english_id..self.first_chinese_id).contains(&label) {
            Some(Modality::English)
        } else if (self.first_chinese_id..self.end_chinese_id).contains(&label) {
            Some(Modality::Chinese)
        } else {
            None
        }
    }

    /// Checks that the ranges are ordered and the grid is usable.
    pub fn validate(&self) -> Result<()> {
        let ok = self.num_image_tokens > 0
            && self.num_image_tokens <= self.first_english_id
            && self.first_english_id <= self.first_chinese_id
            && self.first_chinese_id <= self.end_chinese_id
            && self.image_grid > 0
            && self.image_position_offset >= 0;
        if ok {
            Ok(())
        } else {
            Err(TrainError::InvalidConfig(format!(
                "special tokens {self:?}: need 0 < num_image_tokens ≤ first_english_id ≤ first_chinese_id ≤ \
                 end_chinese_id, a positive image grid and a non-negative position offset"
            )))
        }
    }
}

impl Default for SpecialTokens {
    fn default() -> Self {
        Self::icetk()
    }
}

/// The loss buckets of the official training log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Modality {
    /// Labels below `num_image_tokens`.
    Image,
    /// English text labels.
    English,
    /// Chinese text labels.
    Chinese,
}
