//! Input sequences of DSR (`filling_sequence_dsr`) and ITERSR (`filling_sequence_itersr`): slots, position ids and
//! the masks of the dense (text / low-res) part.

use cogview2_core::IMAGE_POSITION_OFFSET;

use crate::config::{DsrConfig, ItersrConfig};
use crate::error::{Result, SrError};

/// `[n_pad × 0 | text | low-res | hi-res placeholders]`, as the DSR model is fed (`tokens[:, :-1]` of the official
/// 4097-long array).
///
/// ```
/// use cogview2_sr::{DsrConfig, DsrLayout};
/// let config = DsrConfig::cogview2_dsr();
/// let layout = DsrLayout::new(&config, 3).unwrap();
/// assert_eq!(layout.n_pad, 93);
/// assert_eq!(&layout.position_ids[92..97], &[0, 0, 1, 2, 513]);
/// assert_eq!(layout.position_ids[496], 1024);
/// // Text sees text, never the image; the low-res image sees text and itself; nobody but pads sees pads.
/// assert_eq!(layout.mask_at(93, 95), 1.0);
/// assert_eq!(layout.mask_at(93, 96), 0.0);
/// assert_eq!(layout.mask_at(300, 95), 1.0);
/// assert_eq!(layout.mask_at(300, 0), 0.0);
/// assert_eq!(layout.mask_at(0, 5), 1.0);
/// // The official code fails past 95 text tokens; here it is a typed error.
/// assert!(DsrLayout::new(&config, 96).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DsrLayout {
    /// Text tokens.
    pub txt_len: usize,
    /// Zero-id pad slots before the text (`layout[0] − txt_len`, at least 1).
    pub n_pad: usize,
    /// Pad + text slots (`layout[0]`).
    pub text_region: usize,
    /// Slots of the dense level 0 (text region + low-res, `layout[1]`).
    pub level0_len: usize,
    /// All slots (`layout[2]`).
    pub len: usize,
    /// Position ids: pads 0, text `0..txt_len`, low-res 513…, hi-res `max_sequence_length`….
    pub position_ids: Vec<i64>,
    /// Row-major `[level0_len, level0_len]`, 1 = may attend.
    pub level0_mask: Vec<f32>,
}

impl DsrLayout {
    /// The layout of a prompt of `txt_len` text tokens.
    pub fn new(config: &DsrConfig, txt_len: usize) -> Result<Self> {
        let [t0, t1, len] = config.layout;
        if txt_len > config.max_text_len() {
            return Err(SrError::TextTooLong {
                txt_len,
                max: config.max_text_len(),
            });
        }
        let n_pad = t0 - txt_len;
        let hi_base = config.base.max_sequence_length;
        let position_ids = (0..len)
            .map(|i| match i {
                i if i < n_pad => 0,
                i if i < t0 => i - n_pad,
                i if i < t1 => IMAGE_POSITION_OFFSET + 1 + (i - t0),
                i => hi_base + (i - t1),
            } as i64)
            .collect();
        let mut level0_mask = vec![1.0f32; t1 * t1];
        for row in 0..t1 {
            for col in 0..t1 {
                let text_sees_image = row < t0 && col >= t0;
                let sees_pad = row >= n_pad && col < n_pad;
                if text_sees_image || sees_pad {
                    level0_mask[row * t1 + col] = 0.0;
                }
            }
        }
        Ok(Self {
            txt_len,
            n_pad,
            text_region: t0,
            level0_len: t1,
            len,
            position_ids,
            level0_mask,
        })
    }

    /// Level-0 mask entry (1 = row may attend to column).
    pub fn mask_at(&self, row: usize, col: usize) -> f32 {
        self.level0_mask[row * self.level0_len + col]
    }

    /// `n_pad` zeros followed by the text: the first `text_region` token ids.
    pub fn text_slots(&self, text: &[i64]) -> Vec<i64> {
        std::iter::repeat_n(0, self.n_pad).chain(text.iter().copied()).collect()
    }
}

/// `[n_pad × 0 | first text tokens | hi-res]`, as the ITERSR model is fed.
///
/// ```
/// use cogview2_sr::{ItersrConfig, ItersrLayout};
/// let config = ItersrConfig::cogview2_itersr();
/// let layout = ItersrLayout::new(&config, 20);
/// // Only the first 16 text tokens are read (official quirk), so there is no padding here.
/// assert_eq!((layout.txt_len, layout.n_pad), (16, 0));
/// let layout = ItersrLayout::new(&config, 9);
/// assert_eq!(&layout.position_ids[6..9], &[0, 0, 1]);
/// assert_eq!(layout.position_ids[16], 1024);
/// assert_eq!(&layout.text_key_mask[6..8], &[0.0, 1.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ItersrLayout {
    /// Text tokens used (at most `layout[0]`).
    pub txt_len: usize,
    /// Zero-id pad slots before the text.
    pub n_pad: usize,
    /// Text slots (`layout[0]`).
    pub text_region: usize,
    /// All slots (`layout[1]`).
    pub len: usize,
    /// Position ids: pads 0, text `0..txt_len`, hi-res `max_sequence_length`….
    pub position_ids: Vec<i64>,
    /// `[text_region]`: 1 on text keys, 0 on pad keys (every query masks pads).
    pub text_key_mask: Vec<f32>,
}

impl ItersrLayout {
    /// The layout for a prompt of `txt_len` text tokens; only the first `layout[0]` are used.
    pub fn new(config: &ItersrConfig, txt_len: usize) -> Self {
        let [t0, len] = config.layout;
        let txt_len = txt_len.min(t0);
        let n_pad = t0 - txt_len;
        let hi_base = config.base.max_sequence_length;
        let position_ids = (0..len)
            .map(|i| match i {
                i if i < n_pad => 0,
                i if i < t0 => i - n_pad,
                i => hi_base + (i - t0),
            } as i64)
            .collect();
        let text_key_mask = (0..t0).map(|i| if i < n_pad { 0.0 } else { 1.0 }).collect();
        Self {
            txt_len,
            n_pad,
            text_region: t0,
            len,
            position_ids,
            text_key_mask,
        }
    }

    /// `n_pad` zeros followed by the first `txt_len` text tokens.
    pub fn text_slots(&self, text: &[i64]) -> Vec<i64> {
        std::iter::repeat_n(0, self.n_pad)
            .chain(text.iter().take(self.txt_len).copied())
            .collect()
    }
}
