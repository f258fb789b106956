//! Text-guided completion against the official-code fixture `completion`, plus a property test on random masks.
//! Tolerance: abs 1e-4 on step logits (the fixture's README), exact on ids, layouts and masks.

use cogview2_core::{complete, complete_with, CogLm, CogLmConfig, CompletionLayout, CompletionSlot, CoreError, Sampler};
use cogview2_fixtures as fx;

use crate::common::{floats, int_tensor, ints, load, B, TOL};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn completion_matches_official_layout_step_logits_and_tokens() {
    let name = "completion";
    let model = load(name);
    let cfg = fx::config(name);
    let io = fx::tensors(name, "io.safetensors");
    let grid = cfg["grid"].as_array().unwrap();
    let grid = [grid[0].as_u64().unwrap() as usize, grid[1].as_u64().unwrap() as usize];
    let n = grid[0] * grid[1];
    let soi = fx::config_usize(&cfg, "start_of_image_id") as i64;
    let prompt = &io["txt_tokens"].i;
    let image = &io["image_tokens"].i;
    let mask: Vec<bool> = io["mask"].i.iter().map(|&m| m != 0).collect();
    assert_eq!(prompt.len(), fx::config_usize(&cfg, "text_len_incl_template_soi"));

    let layout = CompletionLayout::new(prompt, image, &mask, grid, soi).unwrap();
    let len = layout.len();
    assert_eq!(layout.seq, io["seq"].i);
    assert_eq!(layout.position_ids, io["position_ids"].i);
    assert_eq!(layout.attention_mask, io["attention_mask"].f);
    assert_eq!(layout.log_attention_weights, io["log_attention_weights"].f);
    assert_eq!(layout.context_length, fx::config_usize(&cfg, "context_length_mask_fn"));
    assert_eq!(layout.first_generated(), fx::config_usize(&cfg, "context_length_filling_sequence"));
    assert_eq!(layout.num_generated(), fx::config_usize(&cfg, "n_generated"));
    let generated: Vec<i64> = layout.seq.iter().map(|&t| i64::from(t < 0)).collect();
    assert_eq!(generated, io["generated"].i);

    // KV-cached decoding with argmax, recording the logits of every generated cell.
    let mut steps = Vec::new();
    let grid_tokens = int_tensor(image, [1, n]);
    let completed = complete_with(&model, &layout, grid_tokens.clone(), 1, &mut |logits| {
        steps.extend(floats(logits.clone()));
        logits.argmax(1).reshape([1])
    })
    .unwrap();
    fx::assert_close("step_logits", &steps, &io["step_logits"].f, TOL);
    eprintln!("completion step_logits max |diff|: {:e}", fx::max_abs_diff(&steps, &io["step_logits"].f));
    let completed = ints(completed);
    assert_eq!(completed, io["completed_image_tokens"].i);

    // The official output sequence: the layout's sequence with each −1 replaced by its cell's token.
    let mut output = layout.seq.clone();
    for (k, &cell) in layout.cells.iter().enumerate() {
        output[layout.txt_len + 1 + k] = completed[cell];
    }
    assert_eq!(output, io["output_sequence"].i);
    assert_eq!(output.len(), len);

    // The public sampler path, batch 2 (the prefill cache is expanded): both rows equal the greedy result.
    let sampler = Sampler::Argmax.to_device::<B>(model.num_image_tokens, &Default::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batch = complete(&model, &layout, grid_tokens, &sampler, &mut rng, 2).unwrap();
    assert_eq!(batch.dims(), [2, n]);
    let batch = ints(batch);
    assert_eq!(&batch[..n], &completed[..]);
    assert_eq!(&batch[n..], &completed[..]);
}

#[test]
fn completion_rejects_bad_inputs() {
    let model = load("completion");
    let grid = [2, 3];
    let image = [1, 2, 3, 4, 5, 6];
    let mask = [false, true, false, false, false, false];
    assert!(matches!(CompletionLayout::new(&[300], &image, &[false; 6], grid, 597), Err(CoreError::EmptyMask { .. })));
    assert!(matches!(CompletionLayout::new(&[300], &image[..5], &mask, grid, 597), Err(CoreError::Shape(_))));
    assert!(matches!(CompletionLayout::new(&[], &image, &mask, grid, 597), Err(CoreError::InvalidPrompt(_))));
    assert!(matches!(CompletionLayout::new(&[300], &[-1, 2, 3, 4, 5, 6], &mask, grid, 597), Err(CoreError::InvalidPrompt(_))));
    // A masked cell's old token may be anything, even −1.
    assert!(CompletionLayout::new(&[300], &[1, -1, 3, 4, 5, 6], &mask, grid, 597).is_ok());

    let layout = CompletionLayout::new(&[300], &image, &mask, grid, 597).unwrap();
    let sampler = Sampler::Argmax.to_device::<B>(model.num_image_tokens, &Default::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // Another grid than the layout's, a wrong width, a batch-3 grid for batch 2, batch 0.
    let other = int_tensor(&[9, 2, 3, 4, 5, 6], [1, 6]);
    assert!(matches!(complete(&model, &layout, other, &sampler, &mut rng, 1), Err(CoreError::Shape(_))));
    assert!(complete(&model, &layout, int_tensor(&image[..4], [1, 4]), &sampler, &mut rng, 1).is_err());
    let three = int_tensor(&image.repeat(3), [3, 6]);
    assert!(complete(&model, &layout, three, &sampler, &mut rng, 2).is_err());
    assert!(complete(&model, &layout, int_tensor(&image, [1, 6]), &sampler, &mut rng, 0).is_err());
}

/// Tokens outside the mask are never changed, for random grids, masks, prompts, batches and sampled draws on a
/// random tiny model; generated cells hold image codes.
#[test]
fn completion_never_changes_cells_outside_the_mask() {
    let device = Default::default();
    let mut config = CogLmConfig::new(1, 16, 2, 48, 1024).with_dropout(0.0);
    config.num_image_tokens = 32;
    let model = CogLm::<B>::new(&config, &device).unwrap();
    let sampler = Sampler::TopK { k: 8, temperature: 1.0 }.to_device::<B>(32, &device).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for case in 0..24 {
        let grid = [rng.random_range(1..=5), rng.random_range(1..=6)];
        let n = grid[0] * grid[1];
        let density = rng.random_range(0.1..0.9);
        let mut mask: Vec<bool> = (0..n).map(|_| rng.random_bool(density)).collect();
        let forced = rng.random_range(0..n);
        mask[forced] = true;
        let image: Vec<i64> = (0..n).map(|_| rng.random_range(0..32)).collect();
        let prompt: Vec<i64> = (0..rng.random_range(1..5)).map(|_| rng.random_range(32..47)).collect();
        let layout = CompletionLayout::new(&prompt, &image, &mask, grid, 47).unwrap();

        // Layout invariants: every cell once; context first; the generation part in raster order.
        let mut cells = layout.cells.clone();
        cells.sort_unstable();
        assert_eq!(cells, (0..n).collect::<Vec<_>>(), "case {case}");
        let n_context = layout.slots.iter().filter(|&&s| s == CompletionSlot::Context).count();
        assert_eq!(layout.context_length, layout.txt_len + 1 + n_context);
        assert!(layout.slots[..n_context].iter().all(|&s| s == CompletionSlot::Context));
        assert!(layout.cells[n_context..].windows(2).all(|w| w[0] < w[1]));
        for (&cell, &slot) in layout.cells.iter().zip(&layout.slots) {
            assert_eq!(slot == CompletionSlot::Generated, mask[cell]);
        }

        let batch = rng.random_range(1..=3);
        let out = complete(&model, &layout, int_tensor(&image, [1, n]), &sampler, &mut rng, batch).unwrap();
        assert_eq!(out.dims(), [batch, n]);
        for (i, &t) in ints(out).iter().enumerate() {
            let cell = i % n;
            if mask[cell] {
                assert!((0..32).contains(&t), "case {case}: generated {t} is not an image code");
            } else {
                assert_eq!(t, image[cell], "case {case}: kept cell {cell} changed");
            }
        }
    }
}
