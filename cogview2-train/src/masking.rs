//! The three pretraining sample constructions of CogLM (CV2: `pretrain_coglm.py`; spec §8.1, §8.1b), as pure
//! functions of their random choices, so that the official samples can be reproduced exactly given the recorded
//! draws. [`crate::sampler::MaskingSampler`] draws the choices.
//!
//! Every construction returns a [`Sample`]: tokens, position ids, next-token labels, a dense `[L, L]` attention mask
//! (1 = may attend) and a loss mask, all of the row's length `L`.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::tokens::SpecialTokens;

/// Sizes and ratios of the sample construction (the official values by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskingConfig {
    /// Side of the square image patches that image→text samples infill (official 4).
    pub patch_size: usize,
    /// Share of the image covered (with overlap) by infilled patches: `int(ratio · grid² / patch²)` patches (0.8).
    pub pseudo_mask_ratio: f64,
    /// Mean span length of text infilling (Poisson λ = 3).
    pub poisson_rate: f64,
    /// Share of a text row masked into spans (0.15).
    pub mask_ratio: f64,
    /// Probability that a text–image row becomes an image→text sample (0.3).
    pub image_caption_ratio: f64,
    /// Longest row accepted for text–image samples (official 512: text positions must stay below the image's).
    pub max_row_len: usize,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            patch_size: 4,
            pseudo_mask_ratio: 0.8,
            poisson_rate: 3.0,
            mask_ratio: 0.15,
            image_caption_ratio: 0.3,
            max_row_len: 512,
        }
    }
}

impl MaskingConfig {
    /// Checks ratios and sizes against the image grid.
    pub fn validate(&self, tokens: &SpecialTokens) -> Result<()> {
        let fail = |m: String| Err(TrainError::InvalidConfig(m));
        if self.patch_size == 0 || self.patch_size > tokens.image_grid {
            return fail(format!("patch_size {} must be in 1..={}", self.patch_size, tokens.image_grid));
        }
        if self.poisson_rate.is_nan() || self.poisson_rate <= 0.0 {
            return fail(format!("poisson_rate {} must be positive", self.poisson_rate));
        }
        for (name, p) in [
            ("pseudo_mask_ratio", self.pseudo_mask_ratio),
            ("mask_ratio", self.mask_ratio),
            ("image_caption_ratio", self.image_caption_ratio),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return fail(format!("{name} {p} must be in [0, 1]"));
            }
        }
        if self.patch_count(tokens) > self.corner_count(tokens) {
            return fail(format!(
                "{} patches of {}×{} cannot be drawn without repetition from {} corners",
                self.patch_count(tokens),
                self.patch_size,
                self.patch_size,
                self.corner_count(tokens)
            ));
        }
        Ok(())
    }

    /// Patches per image→text sample: `int(pseudo_mask_ratio · grid² / patch²)` (20 officially).
    pub fn patch_count(&self, tokens: &SpecialTokens) -> usize {
        let cells = (tokens.image_grid * tokens.image_grid) as f64;
        (self.pseudo_mask_ratio * cells / (self.patch_size * self.patch_size) as f64) as usize
    }

    /// Number of possible top-left corners, `(grid − patch)²`; corner `c` is row `c / (grid − patch)`, column
    /// `c % (grid − patch)` (the official code never puts a patch on the last row or column).
    pub fn corner_count(&self, tokens: &SpecialTokens) -> usize {
        let side = tokens.image_grid.saturating_sub(self.patch_size);
        side * side
    }

    /// Poisson draws per text row of length `len`: `int(len / λ · mask_ratio) + 10` (the +10 makes sure the
    /// drawn spans exceed the masking budget).
    pub fn poisson_draw_count(&self, len: usize) -> usize {
        (len as f64 / self.poisson_rate * self.mask_ratio) as usize + 10
    }
}

/// Which construction produced a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SampleKind {
    /// `make_text_image_generation`: predict the 400 image tokens from one caption.
    TextToImage,
    /// `make_image_text_understanding`: caption the image and infill image patches.
    ImageToText,
    /// `make_text_understanding`: GLM-style span infilling of a text row.
    TextInfilling,
}

/// One training sample of length `L`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The construction used.
    pub kind: SampleKind,
    /// Input ids `[L]`.
    pub tokens: Vec<i64>,
    /// Position ids `[L]`.
    pub position_ids: Vec<i64>,
    /// Next-token targets `[L]` (the last slot keeps its own id, as the official code does).
    pub labels: Vec<i64>,
    /// Row-major `[L, L]`, 1 = row may attend to column.
    pub attention_mask: Vec<f32>,
    /// `[L]`, 1 = the prediction at this slot is trained.
    pub loss_mask: Vec<f32>,
}

impl Sample {
    /// Sequence length.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the sample is empty (never for constructed samples).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Mask entry (1 = row may attend to column).
    pub fn mask_at(&self, row: usize, col: usize) -> f32 {
        self.attention_mask[row * self.len() + col]
    }

    fn zeros(kind: SampleKind, tokens: Vec<i64>) -> Self {
        let len = tokens.len();
        Self {
            kind,
            labels: shift_left(&tokens),
            tokens,
            position_ids: vec![0; len],
            attention_mask: vec![0.0; len * len],
            loss_mask: vec![0.0; len],
        }
    }

    fn set_mask(&mut self, row: usize, col: usize, value: f32) {
        let len = self.len();
        self.attention_mask[row * len + col] = value;
    }
}

/// `labels[i] = x[i + 1]`, the last kept.
fn shift_left(x: &[i64]) -> Vec<i64> {
    let mut labels = x.to_vec();
    if x.len() > 1 {
        labels[..x.len() - 1].copy_from_slice(&x[1..]);
    }
    labels
}

/// The texts of a text–image row `text1 <pad> [text2 <pad>] <pad>* image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextImageRow {
    /// The first text, `0..first_pad`.
    pub first: Range<usize>,
    /// The second text (between the first two pads) when they are not adjacent.
    pub second: Option<Range<usize>>,
}

impl TextImageRow {
    /// Finds the texts and checks the row: length, a non-empty first text, a pad before the image, image codes in
    /// the last `grid²` slots.
    pub fn parse(row: &[i64], tokens: &SpecialTokens, config: &MaskingConfig) -> Result<Self> {
        let len = row.len();
        let n_img = tokens.image_len();
        if len < n_img + 2 {
            return Err(TrainError::InvalidRow(format!(
                "a text–image row needs at least {} tokens (text, <pad>, {n_img} image codes), got {len}",
                n_img + 2
            )));
        }
        if len > config.max_row_len {
            return Err(TrainError::InvalidRow(format!(
                "text–image row of {len} tokens is longer than max_row_len {}",
                config.max_row_len
            )));
        }
        let text_end = len - n_img;
        if let Some(k) = row[text_end..].iter().position(|&id| !tokens.is_image(id)) {
            return Err(TrainError::InvalidRow(format!(
                "no image region: id {} at slot {} of the last {n_img} is not an image code (< {})",
                row[text_end + k],
                text_end + k,
                tokens.num_image_tokens
            )));
        }
        let mut pads = row[..text_end].iter().enumerate().filter(|(_, &id)| id == tokens.pad).map(|(i, _)| i);
        let first_pad = pads.next().ok_or_else(|| {
            TrainError::InvalidRow(format!("no <pad> ({}) before the image: not a text–image row", tokens.pad))
        })?;
        if first_pad == 0 {
            return Err(TrainError::InvalidRow("the row starts with <pad>: it has no text".into()));
        }
        let second = pads.next().filter(|&p| p > first_pad + 1).map(|p| first_pad + 1..p);
        Ok(Self {
            first: 0..first_pad,
            second,
        })
    }
}

/// Text→image generation (`make_text_image_generation`).
///
/// `swap` is the official coin `random() < 0.5`: with two texts it selects the second one; with one text it is
/// ignored (the official code draws no coin then).
pub fn text_image_generation(row: &[i64], tokens: &SpecialTokens, config: &MaskingConfig, swap: bool) -> Result<Sample> {
    let parsed = TextImageRow::parse(row, tokens, config)?;
    let selected = match parsed.second {
        Some(second) if swap => second,
        _ => parsed.first,
    };
    let len = row.len();
    let soi = len - tokens.image_len() - 1;
    // Labels come from the raw row: the slot before <start_of_image> predicts the <pad> it overwrote.
    let mut sample = Sample::zeros(SampleKind::TextToImage, row.to_vec());
    sample.tokens[soi] = tokens.start_of_image;
    for (k, i) in selected.clone().enumerate() {
        sample.position_ids[i] = k as i64;
    }
    for (k, i) in (soi..len).enumerate() {
        sample.position_ids[i] = tokens.image_position_offset + k as i64;
    }
    for i in soi..len - 1 {
        sample.loss_mask[i] = 1.0;
    }
    for r in 0..len {
        for c in selected.clone() {
            sample.set_mask(r, c, 1.0);
        }
    }
    for r in soi..len {
        for c in soi..=r {
            sample.set_mask(r, c, 1.0);
        }
    }
    Ok(sample)
}

/// Image→text understanding with local patch infilling (`make_image_text_understanding`).
///
/// `corners` are the drawn top-left patch corners (the official `random.sample(range((grid − patch)²), k)`, in draw
/// order): exactly [`MaskingConfig::patch_count`] distinct values below [`MaskingConfig::corner_count`].
pub fn image_text_understanding(
    row: &[i64],
    tokens: &SpecialTokens,
    config: &MaskingConfig,
    corners: &[usize],
) -> Result<Sample> {
    let parsed = TextImageRow::parse(row, tokens, config)?;
    check_corners(corners, tokens, config)?;
    let len = row.len();
    let n_img = tokens.image_len();
    let img = len - n_img;
    // Blocks [start token + text] after the shift right by one.
    let mut blocks = Vec::with_capacity(2);
    blocks.push(0..parsed.first.end + 1);
    if let Some(second) = &parsed.second {
        blocks.push(second.start..second.end + 1);
    }

    let mut shifted = row.to_vec();
    shifted[1..img].copy_from_slice(&row[..img - 1]);
    for block in &blocks {
        let english = shifted[block.start + 1..block.end].iter().all(|&id| id < tokens.first_chinese_id);
        shifted[block.start] = if english { tokens.start_of_english } else { tokens.start_of_chinese };
    }
    let mut sample = Sample::zeros(SampleKind::ImageToText, shifted);

    for block in &blocks {
        for (k, i) in block.clone().enumerate() {
            sample.position_ids[i] = k as i64;
        }
        for i in block.start..block.end - 1 {
            sample.loss_mask[i] = 1.0;
        }
        for r in block.clone() {
            for c in block.start..=r {
                sample.set_mask(r, c, 1.0);
            }
            for c in img..len {
                sample.set_mask(r, c, 1.0);
            }
        }
    }
    for k in 0..n_img {
        sample.position_ids[img + k] = tokens.image_position_offset + 1 + k as i64;
    }

    // Context = image cells outside every patch. Loss on patch cells except each patch row's last column.
    let grid = tokens.image_grid;
    let p = config.patch_size;
    let side = grid - p;
    let mut context = vec![true; n_img];
    for &c in corners {
        let (x, y) = (c / side, c % side);
        for i in x..x + p {
            for j in y..y + p {
                context[i * grid + j] = false;
                if j < y + p - 1 {
                    sample.loss_mask[img + i * grid + j] = 1.0;
                }
            }
        }
    }
    for r in img..len {
        for c in img..=r {
            sample.set_mask(r, c, 1.0);
        }
    }
    // Context rows see only the context; every row sees the context.
    for (k, _) in context.iter().enumerate().filter(|(_, &is_context)| is_context) {
        for c in 0..len {
            sample.set_mask(img + k, c, 0.0);
        }
    }
    for (k, _) in context.iter().enumerate().filter(|(_, &is_context)| is_context) {
        for r in 0..len {
            sample.set_mask(r, img + k, 1.0);
        }
    }
    Ok(sample)
}

fn check_corners(corners: &[usize], tokens: &SpecialTokens, config: &MaskingConfig) -> Result<()> {
    let want = config.patch_count(tokens);
    let bound = config.corner_count(tokens);
    if corners.len() != want {
        return Err(TrainError::InvalidChoices(format!("{} patch corners given, the config needs {want}", corners.len())));
    }
    let mut seen = vec![false; bound];
    for &c in corners {
        if c >= bound {
            return Err(TrainError::InvalidChoices(format!("patch corner {c} is outside 0..{bound}")));
        }
        if std::mem::replace(&mut seen[c], true) {
            return Err(TrainError::InvalidChoices(format!("patch corner {c} drawn twice")));
        }
    }
    Ok(())
}

/// Span lengths from raw Poisson draws (official quirks kept): draws are clipped to ≥ 1, and the prefix up to
/// (excluding) the first span whose running sum exceeds `mask_ratio · len` is kept; if no prefix exceeds it, the
/// last draw is dropped anyway.
pub fn span_lengths(poisson_draws: &[i64], len: usize, mask_ratio: f64) -> Result<Vec<usize>> {
    if poisson_draws.is_empty() {
        return Err(TrainError::InvalidChoices("no Poisson draws".into()));
    }
    if let Some(d) = poisson_draws.iter().find(|&&d| d < 0) {
        return Err(TrainError::InvalidChoices(format!("negative Poisson draw {d}")));
    }
    let budget = len as f64 * mask_ratio;
    let mut sum = 0usize;
    let mut keep = poisson_draws.len() - 1;
    for (i, &d) in poisson_draws.iter().enumerate() {
        sum += d.max(1) as usize;
        if sum as f64 > budget {
            keep = i;
            break;
        }
    }
    Ok(poisson_draws[..keep].iter().map(|&d| d.max(1) as usize).collect())
}

/// GLM-style text span infilling (`make_text_understanding`).
///
/// `poisson_draws` are the raw draws ([`MaskingConfig::poisson_draw_count`] of them, before clipping);
/// `span_starts` the values sampled without repetition from `0..len − Σ span lengths`, one per kept span, in draw
/// order (they are sorted here, as the official code does).
pub fn text_infilling(row: &[i64], config: &MaskingConfig, poisson_draws: &[i64], span_starts: &[usize]) -> Result<Sample> {
    let len = row.len();
    if len < 2 {
        return Err(TrainError::InvalidRow(format!("a text row needs at least 2 tokens, got {len}")));
    }
    let want = config.poisson_draw_count(len);
    if poisson_draws.len() != want {
        return Err(TrainError::InvalidChoices(format!(
            "{} Poisson draws given, a row of {len} needs {want}",
            poisson_draws.len()
        )));
    }
    let lens = span_lengths(poisson_draws, len, config.mask_ratio)?;
    let population = len.saturating_sub(lens.iter().sum());
    check_starts(span_starts, lens.len(), population)?;
    let mut starts = span_starts.to_vec();
    starts.sort_unstable();

    let mut sample = Sample::zeros(SampleKind::TextInfilling, row.to_vec());
    for (i, p) in sample.position_ids.iter_mut().enumerate() {
        *p = i as i64;
    }
    for r in 0..len {
        for c in 0..=r {
            sample.set_mask(r, c, 1.0);
        }
    }
    // Context stops one token after each span: the token following a span is predicted causally too.
    let mut context = vec![false; len];
    let (mut shift, mut end_of_last) = (0, 0);
    for (start, span) in starts.iter().zip(&lens) {
        let s = start + shift;
        shift += span;
        for flag in &mut context[end_of_last.min(s)..s] {
            *flag = true;
        }
        for l in &mut sample.loss_mask[s..s + span] {
            *l = 1.0;
        }
        end_of_last = s + span + 1;
    }
    for r in (0..len).filter(|&r| context[r]) {
        for c in 0..len {
            sample.set_mask(r, c, 0.0);
        }
    }
    for c in (0..len).filter(|&c| context[c]) {
        for r in 0..len {
            sample.set_mask(r, c, 1.0);
        }
    }
    Ok(sample)
}

fn check_starts(starts: &[usize], spans: usize, population: usize) -> Result<()> {
    if starts.len() != spans {
        return Err(TrainError::InvalidChoices(format!("{} span starts given, {spans} spans were kept", starts.len())));
    }
    if spans > population {
        return Err(TrainError::InvalidRow(format!(
            "{spans} spans cannot get distinct starts from {population} free slots: row too short"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for &s in starts {
        if s >= population {
            return Err(TrainError::InvalidChoices(format!("span start {s} is outside 0..{population}")));
        }
        if !seen.insert(s) {
            return Err(TrainError::InvalidChoices(format!("span start {s} drawn twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_tokens() -> SpecialTokens {
        SpecialTokens {
            image_grid: 4,
            ..SpecialTokens::icetk()
        }
    }

    fn small_config() -> MaskingConfig {
        MaskingConfig {
            patch_size: 2,
            pseudo_mask_ratio: 0.5,
            ..MaskingConfig::default()
        }
    }

    /// `en1 en2 <pad> zh1 <pad> <pad> | 16 image codes`.
    fn two_lang_row() -> Vec<i64> {
        let mut row = vec![30_000, 30_001, 20_003, 90_000, 20_003, 20_003];
        row.extend(0..16);
        row
    }

    #[test]
    fn shift_left_keeps_the_last_id() {
        assert_eq!(shift_left(&[1, 2, 3]), vec![2, 3, 3]);
    }

    #[test]
    fn text_image_generation_selects_the_second_text_when_swapped() {
        let (t, c) = (small_tokens(), small_config());
        let s = text_image_generation(&two_lang_row(), &t, &c, true).unwrap();
        // slot L−17 = 5 becomes <start_of_image>; the zh text (slot 3) is the only visible text column.
        assert_eq!(s.tokens[5], t.start_of_image);
        assert_eq!(s.position_ids[3], 0);
        assert_eq!(s.position_ids[5..8], [512, 513, 514]);
        assert_eq!(s.mask_at(0, 3), 1.0);
        assert_eq!(s.mask_at(7, 0), 0.0);
        assert_eq!(s.mask_at(7, 6), 1.0);
        assert_eq!(s.mask_at(6, 7), 0.0);
        assert_eq!(s.loss_mask.iter().sum::<f32>(), 16.0);
    }

    #[test]
    fn image_text_understanding_prefixes_language_tokens() {
        let (t, c) = (small_tokens(), small_config());
        let corners: Vec<usize> = vec![0, 3];
        assert_eq!(c.patch_count(&t), 2);
        let s = image_text_understanding(&two_lang_row(), &t, &c, &corners).unwrap();
        assert_eq!(s.tokens[..6], [t.start_of_english, 30_000, 30_001, t.start_of_chinese, 90_000, 20_003]);
        assert_eq!(s.position_ids[..6], [0, 1, 2, 0, 1, 0]);
        // Corner 3 = (1, 1): cells 5, 6, 9, 10 are a patch, cell 15 is context and sees no patch cell.
        let img = 6;
        assert_eq!(s.mask_at(img + 15, img + 10), 0.0);
        assert_eq!(s.mask_at(img + 15, img + 14), 1.0);
        assert_eq!(s.mask_at(img + 5, img + 15), 1.0);
        assert_eq!(s.loss_mask[img + 5], 1.0);
        assert_eq!(s.loss_mask[img + 6], 0.0);
    }

    #[test]
    fn bad_rows_and_choices_are_typed_errors() {
        let (t, c) = (small_tokens(), small_config());
        let short = vec![30_000, 20_003, 1, 2];
        assert!(matches!(text_image_generation(&short, &t, &c, false), Err(TrainError::InvalidRow(_))));
        let mut no_image = two_lang_row();
        no_image[10] = 30_000;
        assert!(matches!(text_image_generation(&no_image, &t, &c, false), Err(TrainError::InvalidRow(_))));
        let mut no_pad = two_lang_row();
        for id in &mut no_pad[..6] {
            *id = 30_000;
        }
        assert!(matches!(text_image_generation(&no_pad, &t, &c, false), Err(TrainError::InvalidRow(_))));
        let row = two_lang_row();
        assert!(matches!(image_text_understanding(&row, &t, &c, &[0]), Err(TrainError::InvalidChoices(_))));
        assert!(matches!(image_text_understanding(&row, &t, &c, &[1, 1]), Err(TrainError::InvalidChoices(_))));
        assert!(matches!(image_text_understanding(&row, &t, &c, &[0, 4]), Err(TrainError::InvalidChoices(_))));
        let text: Vec<i64> = (30_000..30_020).collect();
        let n = c.poisson_draw_count(text.len());
        assert!(matches!(text_infilling(&text, &c, &vec![1; n - 1], &[0]), Err(TrainError::InvalidChoices(_))));
    }

    #[test]
    fn span_lengths_stop_before_the_budget_is_exceeded() {
        // budget 0.15 · 40 = 6: 1 (clipped 0) + 2 + 3 = 6 ≤ 6, + 4 > 6.
        assert_eq!(span_lengths(&[0, 2, 3, 4, 1], 40, 0.15).unwrap(), vec![1, 2, 3]);
        // Never exceeded: the last draw is dropped all the same.
        assert_eq!(span_lengths(&[1, 1, 1], 100, 0.15).unwrap(), vec![1, 1]);
    }
}
