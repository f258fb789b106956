//! Rare-code emphasis: a training-only reweighting of the image-code targets by inverse code frequency.
//!
//! On the synthetic scenes most image codes are flat background or flat object interior. The few codes that carry
//! an outline are rare, so the plain loss spends little of its gradient on shape. Weighting each image-code target
//! by `count(code)^-α`, normalised so that the mean weight over all image targets is 1 and capped, shifts the
//! gradient towards them. `α = 0` is the official loss (every weight 1); text targets always keep weight 1.

use crate::data::RowSource;
use crate::error::{Result, TrainError};
use crate::masking::Sample;
use crate::tokens::SpecialTokens;

/// Per-code loss weights for image targets.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeEmphasis {
    weights: Vec<f32>,
    num_image_tokens: i64,
}

impl CodeEmphasis {
    /// Counts the image codes of every row and weights each code by `count^-alpha`, scaled so that the
    /// count-weighted mean is 1, then capped at `max_weight`. Codes that never occur get weight 1 (they are never
    /// targets of these rows).
    pub fn from_rows(rows: &dyn RowSource, tokens: &SpecialTokens, alpha: f32, max_weight: f32) -> Result<Self> {
        if !(alpha.is_finite() && alpha >= 0.0 && max_weight.is_finite() && max_weight >= 1.0) {
            return Err(TrainError::InvalidConfig(format!(
                "rare-code emphasis needs a finite alpha ≥ 0 and a finite cap ≥ 1, got alpha {alpha}, cap {max_weight}"
            )));
        }
        let mut counts = vec![0u64; tokens.num_image_tokens as usize];
        for index in 0..rows.len() {
            for id in rows.row(index)? {
                if tokens.is_image(id) {
                    counts[id as usize] += 1;
                }
            }
        }
        Ok(Self::from_counts(&counts, alpha, max_weight))
    }

    /// The weights for known code counts (index = code id).
    pub fn from_counts(counts: &[u64], alpha: f32, max_weight: f32) -> Self {
        let raw: Vec<f64> = counts
            .iter()
            .map(|&c| if c > 0 { (c as f64).powf(-alpha as f64) } else { 0.0 })
            .collect();
        let total: u64 = counts.iter().sum();
        let weighted: f64 = counts.iter().zip(&raw).map(|(&c, &w)| c as f64 * w).sum();
        let scale = if weighted > 0.0 { total as f64 / weighted } else { 1.0 };
        let weights = counts
            .iter()
            .zip(&raw)
            .map(|(&c, &w)| if c > 0 { ((w * scale) as f32).min(max_weight) } else { 1.0 })
            .collect();
        Self {
            weights,
            num_image_tokens: counts.len() as i64,
        }
    }

    /// The loss weight of an image-code target (1 for ids outside the counted range).
    pub fn weight(&self, code: i64) -> f32 {
        if (0..self.num_image_tokens).contains(&code) {
            self.weights[code as usize]
        } else {
            1.0
        }
    }

    /// Every code's weight (index = code id).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Scales the loss mask of every trained image-code target by its weight.
    pub fn apply(&self, sample: &mut Sample) {
        for (m, &label) in sample.loss_mask.iter_mut().zip(&sample.labels) {
            if *m > 0.0 {
                *m *= self.weight(label);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InMemoryRows;
    use crate::masking::SampleKind;

    #[test]
    fn rarer_codes_weigh_more_and_the_mean_is_one() {
        let counts = [900, 90, 10, 0];
        let e = CodeEmphasis::from_counts(&counts, 0.5, 100.0);
        assert!(e.weight(0) < e.weight(1) && e.weight(1) < e.weight(2));
        let mean: f64 = counts.iter().enumerate().map(|(c, &n)| n as f64 * e.weight(c as i64) as f64).sum::<f64>()
            / counts.iter().sum::<u64>() as f64;
        assert!((mean - 1.0).abs() < 1e-5, "count-weighted mean {mean}");
        assert_eq!(e.weight(3), 1.0, "an unseen code keeps weight 1");
        // count^-0.5: 900 → 1/30, 10 → 1/√10, so the ratio is 30/√10.
        assert!((e.weight(2) / e.weight(0) - 30.0 / 10f32.sqrt()).abs() < 1e-3);
    }

    #[test]
    fn alpha_zero_is_the_plain_loss_and_the_cap_holds() {
        let plain = CodeEmphasis::from_counts(&[5, 1, 1000], 0.0, 10.0);
        assert!((0..3).all(|c| (plain.weight(c) - 1.0).abs() < 1e-6));
        let capped = CodeEmphasis::from_counts(&[10_000, 1], 1.0, 4.0);
        assert_eq!(capped.weight(1), 4.0);
    }

    #[test]
    fn apply_scales_only_trained_image_targets() {
        let e = CodeEmphasis::from_counts(&[8, 2], 1.0, 100.0);
        let mut s = Sample {
            kind: SampleKind::TextToImage,
            tokens: vec![0; 4],
            position_ids: vec![0; 4],
            labels: vec![1, 0, 1, 7],
            attention_mask: vec![1.0; 16],
            loss_mask: vec![1.0, 1.0, 0.0, 1.0],
        };
        e.apply(&mut s);
        assert_eq!(s.loss_mask, vec![e.weight(1), e.weight(0), 0.0, 1.0]);
        assert!(e.weight(1) > 1.0 && e.weight(0) < 1.0);
    }

    #[test]
    fn counts_come_from_the_rows_and_bad_settings_are_rejected() {
        let tokens = SpecialTokens::demo();
        let rows = InMemoryRows::new(vec![vec![0, 0, 0, 1, 40], vec![0, 1, 1, 1, 40]]).unwrap();
        let e = CodeEmphasis::from_rows(&rows, &tokens, 1.0, 100.0).unwrap();
        // Four of each code: equal weights.
        assert!((e.weight(0) - e.weight(1)).abs() < 1e-6);
        assert!(CodeEmphasis::from_rows(&rows, &tokens, -0.5, 10.0).is_err());
        assert!(CodeEmphasis::from_rows(&rows, &tokens, f32::NAN, 10.0).is_err());
        assert!(CodeEmphasis::from_rows(&rows, &tokens, 0.5, 0.5).is_err());
    }
}
