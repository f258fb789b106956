//! Seeded drawing of the random choices of [`crate::masking`], with the official ratios and the official dispatch
//! (`get_batch` in CV2 `pretrain_coglm.py`): a row containing `<pad>` is a text–image row (image→text with
//! probability `image_caption_ratio`, else text→image); a row without `<pad>` starting with a text id is a text
//! row; pure image rows are rejected.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};
use crate::masking::{
    image_text_understanding, span_lengths, text_image_generation, text_infilling, MaskingConfig, Sample, TextImageRow,
};
use crate::tokens::SpecialTokens;

/// The random choices of one sample, as the pure constructions take them.
#[derive(Debug, Clone, PartialEq)]
pub enum Choices {
    /// Text→image; `swap` selects the second text (only drawn when there are two).
    TextToImage {
        /// The coin `random() < 0.5`.
        swap: bool,
    },
    /// Image→text with these patch corners.
    ImageToText {
        /// Top-left corners in draw order.
        corners: Vec<usize>,
    },
    /// Text infilling.
    TextInfilling {
        /// Raw Poisson draws (before clipping to ≥ 1).
        poisson_draws: Vec<i64>,
        /// Span starts, unsorted, in draw order.
        span_starts: Vec<usize>,
    },
}

/// Draws choices from a seeded ChaCha8 stream and builds samples.
#[derive(Debug, Clone)]
pub struct MaskingSampler {
    config: MaskingConfig,
    tokens: SpecialTokens,
    rng: ChaCha8Rng,
}

impl MaskingSampler {
    /// A sampler; the same seed gives the same samples for the same rows.
    pub fn new(config: MaskingConfig, tokens: SpecialTokens, seed: u64) -> Result<Self> {
        tokens.validate()?;
        config.validate(&tokens)?;
        Ok(Self {
            config,
            tokens,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The masking config.
    pub fn config(&self) -> &MaskingConfig {
        &self.config
    }

    /// The special ids.
    pub fn tokens(&self) -> &SpecialTokens {
        &self.tokens
    }

    /// Draws the choices for `row` following the official dispatch.
    pub fn draw(&mut self, row: &[i64]) -> Result<Choices> {
        let first = *row.first().ok_or_else(|| TrainError::InvalidRow("empty row".into()))?;
        if row.contains(&self.tokens.pad) {
            if self.rng.random::<f64>() < self.config.image_caption_ratio {
                let corners = index::sample(
                    &mut self.rng,
                    self.config.corner_count(&self.tokens),
                    self.config.patch_count(&self.tokens),
                )
                .into_vec();
                Ok(Choices::ImageToText { corners })
            } else {
                // The official code draws the coin only when the row has two texts.
                let parsed = TextImageRow::parse(row, &self.tokens, &self.config)?;
                let swap = parsed.second.is_some() && self.rng.random::<f64>() < 0.5;
                Ok(Choices::TextToImage { swap })
            }
        } else if first >= self.tokens.num_image_tokens {
            let poisson_draws: Vec<i64> = (0..self.config.poisson_draw_count(row.len()))
                .map(|_| poisson(&mut self.rng, self.config.poisson_rate))
                .collect();
            let lens = span_lengths(&poisson_draws, row.len(), self.config.mask_ratio)?;
            let free = row.len().saturating_sub(lens.iter().sum());
            if lens.len() > free {
                return Err(TrainError::InvalidRow(format!(
                    "text row of {} tokens is too short for {} spans",
                    row.len(),
                    lens.len()
                )));
            }
            let span_starts = index::sample(&mut self.rng, free, lens.len()).into_vec();
            Ok(Choices::TextInfilling {
                poisson_draws,
                span_starts,
            })
        } else {
            Err(TrainError::InvalidRow(format!(
                "row without <pad> starting with image code {first}: pure image rows are not supported (as officially)"
            )))
        }
    }

    /// Builds `row`'s sample from given choices.
    pub fn build(&self, row: &[i64], choices: &Choices) -> Result<Sample> {
        match choices {
            Choices::TextToImage { swap } => text_image_generation(row, &self.tokens, &self.config, *swap),
            Choices::ImageToText { corners } => image_text_understanding(row, &self.tokens, &self.config, corners),
            Choices::TextInfilling {
                poisson_draws,
                span_starts,
            } => text_infilling(row, &self.config, poisson_draws, span_starts),
        }
    }

    /// Draws choices and builds the sample.
    pub fn sample(&mut self, row: &[i64]) -> Result<Sample> {
        let choices = self.draw(row)?;
        self.build(row, &choices)
    }
}

/// A Poisson(λ) draw by Knuth's product of uniforms: exact, and fast for the small λ used here.
fn poisson(rng: &mut impl Rng, rate: f64) -> i64 {
    let limit = (-rate).exp();
    let mut k = 0;
    let mut p = rng.random::<f64>();
    while p > limit {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::SampleKind;

    #[test]
    fn poisson_draws_have_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mean = (0..n).map(|_| poisson(&mut rng, 3.0)).sum::<i64>() as f64 / n as f64;
        assert!((mean - 3.0).abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn dispatch_follows_the_row_kind_and_the_caption_ratio() {
        let tokens = SpecialTokens::icetk();
        let mut sampler = MaskingSampler::new(MaskingConfig::default(), tokens.clone(), 1).unwrap();
        let mut row: Vec<i64> = (0..20).map(|i| 30_000 + i).collect();
        row.extend([tokens.pad; 5]);
        row.extend((0..400).map(|i| i * 7 % 20_000));
        let n = 400;
        let captions = (0..n)
            .filter(|_| sampler.sample(&row).unwrap().kind == SampleKind::ImageToText)
            .count();
        let share = captions as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.08, "image→text share {share}");

        let text: Vec<i64> = (0..96).map(|i| 30_000 + i).collect();
        let s = sampler.sample(&text).unwrap();
        assert_eq!(s.kind, SampleKind::TextInfilling);
        assert!(s.loss_mask.iter().sum::<f32>() <= 0.15 * 96.0);

        let image_only: Vec<i64> = (0..96).collect();
        assert!(matches!(sampler.sample(&image_only), Err(TrainError::InvalidRow(_))));
        assert!(matches!(sampler.sample(&[]), Err(TrainError::InvalidRow(_))));
    }
}
