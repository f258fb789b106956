//! LoPAR step kernel body: one unit per (batch, position). Masked positions draw a token from
//! `softmax(top_k(logits / T))` with a counter-based uniform; the others keep their token.

use cubecl::prelude::*;

/// The "lowbias32" hash of [`crate::lopar::mix32`], on the device (u32 arithmetic wraps on every target).
#[cube]
fn mix32(x: u32) -> u32 {
    let mut h = x ^ (x >> 16);
    h *= 0x7feb_352du32;
    h ^= h >> 15;
    h *= 0x846c_a68bu32;
    h ^ (h >> 16)
}

/// `out[b, n]` = drawn token if `mask[n] != 0`, else `tokens[b, n]`. `key` is the host-mixed (seed, iteration)
/// key; the draw index is `b·N + n`, as in the reference.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn lopar_kernel<F: Float, I: Int>(
    logits: &Tensor<F>,
    tokens: &Tensor<I>,
    mask: &Tensor<I>,
    out: &mut Tensor<I>,
    inv_temperature: f32,
    key: u32,
    #[comptime] top_k: usize,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let positions = logits.shape(1);
    let vocab = logits.shape(2);
    let pos = ABSOLUTE_POS;
    if pos >= logits.shape(0) * positions {
        terminate!();
    }
    let b = pos / positions;
    let n = pos % positions;
    let kept = tokens[b * tokens.stride(0) + n * tokens.stride(1)];
    if i32::cast_from(mask[n * mask.stride(0)]) == 0 {
        out[pos] = kept;
        terminate!();
    }
    let base = b * logits.stride(0) + n * logits.stride(1);
    let step = logits.stride(2);
    let inv_t = F::cast_from(inv_temperature);

    // The top_k largest scaled logits, descending (duplicates counted, so ties at the k-th value are kept).
    let mut top = Array::<F>::new(top_k);
    for i in 0..top_k {
        top[i] = F::min_value();
    }
    for v in 0..vocab {
        let x = logits[base + v * step] * inv_t;
        if x > top[top_k - 1] {
            // Replace the smallest kept value, then bubble it up to its place (descending order kept).
            top[top_k - 1] = x;
            for i in 1..top_k {
                let r = top_k - i;
                let below = top[r];
                let above = top[r - 1];
                if below > above {
                    top[r] = above;
                    top[r - 1] = below;
                }
            }
        }
    }
    let threshold = top[top_k - 1];
    let high = top[0];

    let mut total = F::new(0.0);
    for v in 0..vocab {
        let x = logits[base + v * step] * inv_t;
        if x >= threshold {
            total += F::exp(x - high);
        }
    }

    // Inverse CDF with u in (0, 1]: the first kept token whose running mass reaches u · total.
    let bits = mix32(u32::cast_from(pos) ^ key);
    let u = (F::cast_from(bits) + F::new(1.0)) / F::new(4294967296.0);
    let target = u * total;
    let mut acc = F::new(0.0);
    let mut token = 0usize;
    let mut found = false;
    for v in 0..vocab {
        let x = logits[base + v * step] * inv_t;
        if !found && x >= threshold {
            acc += F::exp(x - high);
            token = v;
            found = acc >= target;
        }
    }
    out[pos] = I::cast_from(token);
}
