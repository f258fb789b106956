//! Learning rate: linear warm-up, then cosine decay to a floor (the shape of SAT's `AnnealingLR` with
//! `lr_decay_style='cosine'`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Linear warm-up over `warmup_steps`, cosine decay from `peak_lr` to `min_lr` at `total_steps`, flat after.
///
/// ```
/// use cogview2_train::LrSchedule;
/// let s = LrSchedule { peak_lr: 1e-3, min_lr: 1e-5, warmup_steps: 10, total_steps: 110 };
/// assert!((s.lr(0) - 1e-4).abs() < 1e-12);      // first step already moves: (0 + 1) / 10 of the peak
/// assert!((s.lr(9) - 1e-3).abs() < 1e-12);      // warm-up reaches the peak
/// assert!((s.lr(60) - 0.505e-3).abs() < 1e-12); // half-way through the decay: the mean of peak and floor
/// assert!((s.lr(500) - 1e-5).abs() < 1e-12);    // the floor after the end
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Learning rate at the end of the warm-up.
    pub peak_lr: f64,
    /// Learning rate at and after `total_steps`.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// Step at which the cosine reaches `min_lr`.
    pub total_steps: usize,
}

impl LrSchedule {
    /// Checks that the rates are ordered and the steps consistent.
    pub fn validate(&self) -> Result<()> {
        if !(self.peak_lr > 0.0 && self.min_lr >= 0.0 && self.min_lr <= self.peak_lr) {
            return Err(TrainError::InvalidConfig(format!(
                "learning rates: need 0 ≤ min_lr ({}) ≤ peak_lr ({}), peak_lr > 0",
                self.min_lr, self.peak_lr
            )));
        }
        if self.warmup_steps > self.total_steps {
            return Err(TrainError::InvalidConfig(format!(
                "warmup_steps {} exceeds total_steps {}",
                self.warmup_steps, self.total_steps
            )));
        }
        Ok(())
    }

    /// Learning rate of the 0-based optimisation step `step`.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            // (step + 1): the first update is not a wasted zero-rate step.
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps);
        if decay == 0 {
            return self.peak_lr;
        }
        let progress = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> LrSchedule {
        LrSchedule {
            peak_lr: 2e-3,
            min_lr: 1e-4,
            warmup_steps: 20,
            total_steps: 220,
        }
    }

    #[test]
    fn warmup_is_linear_and_decay_monotone() {
        let s = schedule();
        s.validate().unwrap();
        for step in 0..20 {
            let want = 2e-3 * (step + 1) as f64 / 20.0;
            assert!((s.lr(step) - want).abs() < 1e-15, "step {step}");
        }
        let lrs: Vec<f64> = (19..=220).map(|k| s.lr(k)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "cosine part must not increase");
        assert!((s.lr(20) - 2e-3).abs() < 1e-15);
        assert!((s.lr(220) - 1e-4).abs() < 1e-15);
        assert!((s.lr(10_000) - 1e-4).abs() < 1e-15);
        // Quarter of the decay: min + (peak − min)·(1 + cos(π/4))/2.
        let want = 1e-4 + 1.9e-3 * 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2);
        assert!((s.lr(70) - want).abs() < 1e-15);
    }

    #[test]
    fn no_warmup_and_no_decay_are_allowed_and_bad_values_rejected() {
        let s = LrSchedule {
            warmup_steps: 0,
            total_steps: 0,
            ..schedule()
        };
        assert_eq!(s.lr(0), 2e-3);
        let bad = LrSchedule {
            min_lr: 1.0,
            ..schedule()
        };
        assert!(matches!(bad.validate(), Err(TrainError::InvalidConfig(_))));
        let bad = LrSchedule {
            warmup_steps: 300,
            ..schedule()
        };
        assert!(bad.validate().is_err());
    }
}
