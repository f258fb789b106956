//! The text-to-image sequence layout of stage 1 (CogView2 `get_masks_and_position_ids_coglm`).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::attention::AttentionBias;

/// Position id of `<start_of_image>`; image token `k` (row-major) sits at `IMAGE_POSITION_OFFSET + 1 + k`.
pub const IMAGE_POSITION_OFFSET: usize = 512;

/// The text-image bias of the official recipes (`attn_plus`).
pub const DEFAULT_ATTN_PLUS: f32 = 1.4;

/// Positions, attention mask and log-attention bias of `text (txt_len) + <start_of_image> + image (num_image)`.
///
/// ```
/// use cogview2_core::TextToImageLayout;
/// let layout = TextToImageLayout::new(2, 3, 1.4);
/// assert_eq!(layout.position_ids, vec![0, 1, 512, 513, 514, 515]);
/// // Text is bidirectional: row 0 (text) sees column 1 (later text) ...
/// assert_eq!(layout.mask_at(0, 1), 1.0);
/// // ... but never the image; image rows are causal and see all text.
/// assert_eq!(layout.mask_at(1, 2), 0.0);
/// assert_eq!(layout.mask_at(5, 0), 1.0);
/// assert_eq!(layout.mask_at(3, 4), 0.0);
/// // Every row gets `attn_plus` on the text columns only.
/// assert_eq!(layout.log_weight_at(4, 1), 1.4);
/// assert_eq!(layout.log_weight_at(4, 2), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TextToImageLayout {
    /// Text tokens before `<start_of_image>`.
    pub txt_len: usize,
    /// Image tokens after it.
    pub num_image: usize,
    /// Position id of every slot: text `0..txt_len`, `<start_of_image>` 512, image 513….
    pub position_ids: Vec<i64>,
    /// Row-major `[len, len]`, 1 = may attend: causal, plus every row sees all text columns.
    pub attention_mask: Vec<f32>,
    /// Row-major `[len, len]`: `attn_plus` on text columns, 0 elsewhere.
    pub log_attention_weights: Vec<f32>,
}

impl TextToImageLayout {
    /// Builds the layout.
    pub fn new(txt_len: usize, num_image: usize, attn_plus: f32) -> Self {
        let len = txt_len + 1 + num_image;
        let position_ids = (0..len)
            .map(|i| if i < txt_len { i } else { IMAGE_POSITION_OFFSET + (i - txt_len) } as i64)
            .collect();
        let mut attention_mask = vec![0.0; len * len];
        let mut log_attention_weights = vec![0.0; len * len];
        for row in 0..len {
            for col in 0..len {
                let text_col = col < txt_len;
                if text_col || col <= row {
                    attention_mask[row * len + col] = 1.0;
                }
                if text_col {
                    log_attention_weights[row * len + col] = attn_plus;
                }
            }
        }
        Self {
            txt_len,
            num_image,
            position_ids,
            attention_mask,
            log_attention_weights,
        }
    }

    /// Sequence length `txt_len + 1 + num_image`.
    pub fn len(&self) -> usize {
        self.txt_len + 1 + self.num_image
    }

    /// Never empty: there is always `<start_of_image>`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Mask entry (1 = row may attend to column).
    pub fn mask_at(&self, row: usize, col: usize) -> f32 {
        self.attention_mask[row * self.len() + col]
    }

    /// Log-attention bias entry.
    pub fn log_weight_at(&self, row: usize, col: usize) -> f32 {
        self.log_attention_weights[row * self.len() + col]
    }

    /// Position ids as a `[1, len]` tensor.
    pub fn position_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2, Int> {
        Tensor::from_data(TensorData::new(self.position_ids.clone(), [1, self.len()]), device)
    }

    /// Mask and bias of rows `rows` over columns `0..rows.end` (what a forward of those rows attends to).
    pub fn bias_for_rows<B: Backend>(&self, rows: std::ops::Range<usize>, device: &B::Device) -> AttentionBias<B> {
        let cols = rows.end;
        let pick = |full: &[f32]| {
            rows.clone()
                .flat_map(|r| full[r * self.len()..r * self.len() + cols].iter().copied())
                .collect::<Vec<f32>>()
        };
        let n = rows.len();
        AttentionBias {
            mask: Some(Tensor::from_data(TensorData::new(pick(&self.attention_mask), [1, 1, n, cols]), device)),
            log_weights: Some(Tensor::from_data(TensorData::new(pick(&self.log_attention_weights), [n, cols]), device)),
        }
    }
}
