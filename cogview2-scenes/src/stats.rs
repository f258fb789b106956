//! How much an evaluation's hit rates can be trusted: with a few dozen prompts one prompt is several points, so a
//! share is reported with its interval and a change between two scorings of the same prompts with a paired test.

/// Wilson score interval of `hits` out of `n` at about 95 % confidence (z = 1.96), as fractions in [0, 1]. Unlike
/// the normal approximation it stays inside [0, 1] and is not empty at 0 or `n` hits. `n == 0` gives `[0, 1]`
/// (nothing is known); `hits` above `n` counts as `n`.
pub fn wilson_interval(hits: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (hits.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// How one scoring of a set of prompts differs from another scoring of the same prompts (for example post-selected
/// pictures against first samples): the prompts only the second gets right, those only the first gets right, and
/// the exact two-sided sign-test (McNemar) p-value of that split. Prompts both get right or both get wrong carry
/// no information about the difference and are left out, as the test prescribes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedChange {
    /// Prompts the second scoring gets right and the first does not.
    pub gained: usize,
    /// Prompts the first scoring gets right and the second does not.
    pub lost: usize,
    /// Probability of a split at least this uneven if both scorings were equally good (1 when nothing differs).
    pub p_value: f64,
}

impl PairedChange {
    /// Compares per-prompt outcomes `(first right, second right)`.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (bool, bool)>) -> Self {
        let (mut gained, mut lost) = (0, 0);
        for (first, second) in pairs {
            gained += usize::from(second && !first);
            lost += usize::from(first && !second);
        }
        Self { gained, lost, p_value: sign_test(gained, lost) }
    }
}

/// Exact two-sided sign test: `2 · P(X ≤ min(a, b))` for X ~ Binomial(a + b, 1/2), capped at 1. Summed in log
/// space so that large counts do not underflow.
fn sign_test(a: usize, b: usize) -> f64 {
    let m = a + b;
    let tail_end = a.min(b);
    let ln_half_m = m as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0_f64; // ln C(m, 0)
    let mut tail = 0.0;
    for i in 0..=tail_end {
        if i > 0 {
            ln_choose += ((m - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose - ln_half_m).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_independently_computed_values() {
        // 20 of 44: [0.317052, 0.599338], the formula evaluated independently in Python.
        let [lo, hi] = wilson_interval(20, 44);
        assert!(close(lo, 0.317052, 1e-6) && close(hi, 0.599338, 1e-6), "{lo} {hi}");
        // All hits: the upper end is 1, the lower end n / (n + z²).
        let [lo, hi] = wilson_interval(44, 44);
        assert!(close(hi, 1.0, 1e-12) && close(lo, 44.0 / (44.0 + 1.959_964f64.powi(2)), 1e-6), "{lo} {hi}");
        let [lo, hi] = wilson_interval(0, 10);
        assert!(close(lo, 0.0, 1e-12) && close(hi, 0.277533, 1e-6), "{lo} {hi}");
        assert_eq!(wilson_interval(0, 0), [0.0, 1.0]);
    }

    #[test]
    fn wilson_narrows_with_more_prompts_and_contains_the_share() {
        let widths: Vec<f64> = [12, 44, 176, 704]
            .iter()
            .map(|&n| {
                let [lo, hi] = wilson_interval(n / 2, n);
                assert!(lo < 0.5 && 0.5 < hi);
                hi - lo
            })
            .collect();
        assert!(widths.windows(2).all(|w| w[1] < w[0]), "{widths:?}");
    }

    #[test]
    fn sign_test_matches_binomial_tails() {
        // 5 gained, 0 lost: 2 · 0.5^5 = 0.0625.
        assert!(close(sign_test(5, 0), 0.0625, 1e-12));
        // 9 against 1: 2 · (1 + 10) / 1024.
        assert!(close(sign_test(9, 1), 22.0 / 1024.0, 1e-12));
        // An even split, or nothing at all, is no evidence.
        assert_eq!(sign_test(4, 4), 1.0);
        assert_eq!(sign_test(0, 0), 1.0);
        // Large counts neither underflow nor lose the symmetry.
        let p = sign_test(700, 500);
        assert!(p > 0.0 && p < 1e-6 && close(p, sign_test(500, 700), 1e-18), "{p}");
    }

    #[test]
    fn paired_change_counts_only_discordant_prompts() {
        let pairs = [(false, true), (false, true), (true, false), (true, true), (false, false), (false, true)];
        let change = PairedChange::from_pairs(pairs);
        assert_eq!((change.gained, change.lost), (3, 1));
        assert!(close(change.p_value, 2.0 * 5.0 / 16.0, 1e-12));
    }
}
