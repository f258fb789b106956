//! Post-selection by caption perplexity, "inverse prompting" (CV2: `cogview2_text2image.py` `--inverse-prompt`,
//! scored as SAT `generation/autoregressive_sampling.py` `evaluate_perplexity`).
//!
//! Each candidate image is scored by how well CogLM, reading the image first, predicts the raw caption after it:
//! `image codes ++ <start_of_chinese> ++ caption ids`, scored with the full-vocabulary head. Higher is better.

use std::ops::Range;

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

use crate::attention::AttentionBias;
use crate::error::{CoreError, Result};
use crate::layout::IMAGE_POSITION_OFFSET;
use crate::transformer::CogLm;

/// Sequence layout of caption scoring: `num_image` image codes, `<start_of_chinese>`, then the raw caption.
///
/// - positions: image cell `k` at `IMAGE_POSITION_OFFSET + 1 + k` (513…), the caption part restarts at 0
///   (`<start_of_chinese>` 0, caption token `j` at `j + 1`);
/// - mask: every row sees all image columns; image rows see nothing else (bidirectional image), caption rows are
///   causal over the caption part; no log-attention bias;
/// - loss mask: 1 on the caption tokens only (`<start_of_chinese>` is context, not a target).
///
/// ```
/// use cogview2_core::CaptionLayout;
/// let l = CaptionLayout::new(3, &[700, 701], 599).unwrap();
/// assert_eq!(l.sequence(&[5, 6, 7]).unwrap(), vec![5, 6, 7, 599, 700, 701]);
/// assert_eq!(l.position_ids, vec![513, 514, 515, 0, 1, 2]);
/// assert_eq!(l.loss_mask, vec![0, 0, 0, 0, 1, 1]);
/// assert_eq!(l.mask_at(0, 2), 1.0); // image rows see all the image …
/// assert_eq!(l.mask_at(0, 3), 0.0); // … and no text
/// assert_eq!(l.mask_at(4, 3), 1.0); // text rows: causal over text
/// assert_eq!(l.mask_at(4, 5), 0.0);
/// assert_eq!(l.scored_rows(), 3..5); // rows whose next token is a caption token
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionLayout {
    /// Image codes before the caption.
    pub num_image: usize,
    /// `<start_of_chinese>` followed by the caption ids (the official code uses the Chinese marker for every
    /// language).
    pub text_part: Vec<i64>,
    /// Position id of every slot.
    pub position_ids: Vec<i64>,
    /// Row-major `[len, len]`, 1 = may attend.
    pub attention_mask: Vec<f32>,
    /// 1 where the slot's token is a scored target.
    pub loss_mask: Vec<i64>,
}

impl CaptionLayout {
    /// The layout for `num_image` image codes and a caption `text_ids` (icetk ids of the raw text, without any
    /// style template).
    pub fn new(num_image: usize, text_ids: &[i64], start_of_chinese: i64) -> Result<Self> {
        if num_image == 0 {
            return Err(CoreError::Shape("caption scoring needs at least one image token".into()));
        }
        if text_ids.is_empty() {
            return Err(CoreError::InvalidPrompt("the caption to score has no tokens".into()));
        }
        let text_part: Vec<i64> = std::iter::once(start_of_chinese).chain(text_ids.iter().copied()).collect();
        let len = num_image + text_part.len();
        let position_ids = (0..len)
            .map(|i| if i < num_image { IMAGE_POSITION_OFFSET + 1 + i } else { i - num_image } as i64)
            .collect();
        let mut attention_mask = vec![0.0; len * len];
        for row in 0..len {
            for col in 0..len {
                if col < num_image || (row >= num_image && col <= row) {
                    attention_mask[row * len + col] = 1.0;
                }
            }
        }
        let loss_mask = (0..len).map(|i| i64::from(i > num_image)).collect();
        Ok(Self { num_image, text_part, position_ids, attention_mask, loss_mask })
    }

    /// Sequence length: image codes, `<start_of_chinese>`, caption.
    pub fn len(&self) -> usize {
        self.num_image + self.text_part.len()
    }

    /// Never empty (there is always an image and the marker).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Caption tokens scored.
    pub fn num_targets(&self) -> usize {
        self.text_part.len() - 1
    }

    /// Mask entry (1 = row may attend to column).
    pub fn mask_at(&self, row: usize, col: usize) -> f32 {
        self.attention_mask[row * self.len() + col]
    }

    /// Rows whose output predicts a caption token: `<start_of_chinese>` up to the second-to-last caption token.
    pub fn scored_rows(&self) -> Range<usize> {
        self.num_image..self.len() - 1
    }

    /// The full id sequence for one image's codes.
    pub fn sequence(&self, image: &[i64]) -> Result<Vec<i64>> {
        if image.len() != self.num_image {
            return Err(CoreError::Shape(format!(
                "{} image tokens given, the caption layout expects {}",
                image.len(),
                self.num_image
            )));
        }
        Ok(image.iter().chain(&self.text_part).copied().collect())
    }

    /// The batch of sequences on the device, `[batch, len]`, from image codes `[batch, num_image]`.
    fn sequences<B: Backend>(&self, image_tokens: Tensor<B, 2, Int>) -> Result<Tensor<B, 2, Int>> {
        let [b, n] = image_tokens.dims();
        if n != self.num_image || b == 0 {
            return Err(CoreError::Shape(format!(
                "image tokens {:?}, the caption layout expects [batch >= 1, {}]",
                [b, n],
                self.num_image
            )));
        }
        let device = image_tokens.device();
        let text = Tensor::<B, 2, Int>::from_data(TensorData::new(self.text_part.clone(), [1, self.text_part.len()]), &device);
        Ok(Tensor::cat(vec![image_tokens, text.expand([b, self.text_part.len()])], 1))
    }

    fn positions<B: Backend>(&self, batch: usize, device: &B::Device) -> Tensor<B, 2, Int> {
        Tensor::<B, 2, Int>::from_data(TensorData::new(self.position_ids.clone(), [1, self.len()]), device)
            .expand([batch, self.len()])
    }

    fn bias<B: Backend>(&self, device: &B::Device) -> AttentionBias<B> {
        let len = self.len();
        AttentionBias {
            mask: Some(Tensor::from_data(TensorData::new(self.attention_mask.clone(), [1, 1, len, len]), device)),
            log_weights: None,
        }
    }
}

/// Full-vocabulary logits of every slot of the caption sequences (for inspection and parity tests: the scores need
/// only [`CaptionLayout::scored_rows`], which [`caption_token_log_probs`] computes alone).
///
/// # Shapes
/// - image tokens `[batch, num_image]` → `[batch, len, vocab_size]`.
pub fn caption_logits<B: Backend>(model: &CogLm<B>, layout: &CaptionLayout, image_tokens: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
    let device = image_tokens.device();
    let [b, _] = image_tokens.dims();
    let tokens = layout.sequences(image_tokens)?;
    let hidden = model.forward_hidden(tokens, layout.positions(b, &device), &layout.bias(&device), None)?;
    Ok(model.vocab_logits(hidden))
}

/// `log p(caption token j | image, earlier caption)` for every caption token, fp32 log-softmax over the whole
/// vocabulary (the official `evaluate_perplexity` per-token terms).
///
/// The head is applied to the scored rows only: with the released sizes the 400 image rows would otherwise cost
/// 400 × 150 000-wide products per image for nothing.
///
/// # Shapes
/// - image tokens `[batch, num_image]` → `[batch, num_targets]`.
pub fn caption_token_log_probs<B: Backend>(
    model: &CogLm<B>,
    layout: &CaptionLayout,
    image_tokens: Tensor<B, 2, Int>,
) -> Result<Tensor<B, 2>> {
    let device = image_tokens.device();
    let [b, _] = image_tokens.dims();
    let tokens = layout.sequences(image_tokens)?;
    let hidden = model.forward_hidden(tokens, layout.positions(b, &device), &layout.bias(&device), None)?;
    let rows = layout.scored_rows();
    let t = rows.len();
    let h = model.hidden_size();
    let logits = model.vocab_logits(hidden.slice([0..b, rows, 0..h])).cast(FloatDType::F32);
    let log_probs = log_softmax(logits, 2);
    let targets = Tensor::<B, 3, Int>::from_data(TensorData::new(layout.text_part[1..].to_vec(), [1, t, 1]), &device)
        .expand([b, t, 1]);
    Ok(log_probs.gather(2, targets).reshape([b, t]))
}

/// Caption score of each image: the mean log-probability of the caption tokens given the image (one forward for
/// the whole batch). Higher is better; rank with [`rank_by_caption_score`].
///
/// `text_ids` is the raw caption (no style template, no `<start_of_image>`); `start_of_chinese` is that token's
/// id (150 002 in the released vocabulary).
///
/// # Shapes
/// - image tokens `[batch, num_image]` → `batch` scores.
pub fn caption_scores<B: Backend>(
    model: &CogLm<B>,
    image_tokens: Tensor<B, 2, Int>,
    text_ids: &[i64],
    start_of_chinese: i64,
) -> Result<Vec<f32>> {
    let [_, n] = image_tokens.dims();
    let layout = CaptionLayout::new(n, text_ids, start_of_chinese)?;
    let scores = caption_token_log_probs(model, &layout, image_tokens)?.mean_dim(1);
    scores
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| CoreError::Shape(format!("cannot read the caption scores back: {e:?}")))
}

/// [`caption_scores`] in chunks of at most `max_batch` images (memory bound); equal to one call on the whole batch.
pub fn caption_scores_chunked<B: Backend>(
    model: &CogLm<B>,
    image_tokens: Tensor<B, 2, Int>,
    text_ids: &[i64],
    start_of_chinese: i64,
    max_batch: usize,
) -> Result<Vec<f32>> {
    if max_batch == 0 {
        return Err(CoreError::InvalidPrompt("max_batch must be positive".into()));
    }
    let [b, n] = image_tokens.dims();
    let mut scores = Vec::with_capacity(b);
    let mut start = 0;
    while start < b {
        let end = (start + max_batch).min(b);
        let _span = tracing::debug_span!("caption_scores_chunk", start, end).entered();
        let chunk = image_tokens.clone().slice([start..end, 0..n]);
        scores.extend(caption_scores(model, chunk, text_ids, start_of_chinese)?);
        start = end;
    }
    Ok(scores)
}

/// Indices of the images from best to worst caption score.
///
/// Descending and stable: equal scores keep their input order (the official `argsort(scores)[::-1]` leaves ties
/// to numpy's sort); NaN scores go last.
///
/// ```
/// use cogview2_core::rank_by_caption_score;
/// assert_eq!(rank_by_caption_score(&[-3.0, -1.0, f32::NAN, -1.0, -2.0]), vec![1, 3, 4, 0, 2]);
/// ```
pub fn rank_by_caption_score(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // sort_by is stable; NaN compares below every number.
    order.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
    order
}
