//! Post-selection by caption perplexity against the official-code fixture `inverse_prompt`.
//! Tolerance: abs 1e-4 on floats (the fixture's README), exact on ids, layouts and order.

use burn::tensor::activation::log_softmax;
use cogview2_core::{
    caption_logits, caption_scores, caption_scores_chunked, caption_token_log_probs, rank_by_caption_score, CaptionLayout,
    CoreError,
};
use cogview2_fixtures as fx;

use crate::common::{floats, int_tensor, load, TOL};

#[test]
fn inverse_prompt_matches_official_layout_logits_and_scores() {
    let name = "inverse_prompt";
    let model = load(name);
    let cfg = fx::config(name);
    let io = fx::tensors(name, "io.safetensors");
    let soc = fx::config_usize(&cfg, "start_of_chinese_id") as i64;
    let grid = cfg["image_grid"].as_array().unwrap();
    let n_img = (grid[0].as_u64().unwrap() * grid[1].as_u64().unwrap()) as usize;
    let raw = &io["raw_text_ids"].i;

    // Candidates: only their last n_img tokens (the image) are scored.
    let cand = &io["candidate_sequences"];
    let (batch, cand_len) = (cand.shape[0], cand.shape[1]);
    let images: Vec<i64> = cand.i.chunks(cand_len).flat_map(|row| row[cand_len - n_img..].to_vec()).collect();

    let layout = CaptionLayout::new(n_img, raw, soc).unwrap();
    let len = layout.len();
    assert_eq!(io["image_text_seq"].shape, [batch, len]);
    let seqs: Vec<i64> = images.chunks(n_img).flat_map(|im| layout.sequence(im).unwrap()).collect();
    assert_eq!(seqs, io["image_text_seq"].i);
    assert_eq!(layout.position_ids, io["position_ids"].i);
    assert_eq!(layout.attention_mask, io["attention_mask"].f);
    assert_eq!(layout.loss_mask, io["loss_mask"].i);

    let image_tokens = int_tensor(&images, [batch, n_img]);
    let logits = caption_logits(&model, &layout, image_tokens.clone()).unwrap();
    assert_eq!(logits.dims(), [batch, len, model.vocab_size()]);
    let (logits_f, log_probs) = (floats(logits.clone()), floats(log_softmax(logits, 2)));
    fx::assert_close("logits", &logits_f, &io["logits"].f, TOL);
    fx::assert_close("log_probs", &log_probs, &io["log_probs"].f, TOL);

    // token_scores[b, j] = log p(seq[j+1]) · loss_mask[j+1]: zero before the caption, ours after.
    let per_token = floats(caption_token_log_probs(&model, &layout, image_tokens.clone()).unwrap());
    let t = layout.num_targets();
    let rows = layout.scored_rows();
    let mut token_scores = vec![0.0f32; batch * (len - 1)];
    for b in 0..batch {
        for (k, j) in rows.clone().enumerate() {
            token_scores[b * (len - 1) + j] = per_token[b * t + k];
        }
    }
    fx::assert_close("token_scores", &token_scores, &io["token_scores"].f, TOL);

    let scores = caption_scores(&model, image_tokens.clone(), raw, soc).unwrap();
    fx::assert_close("scores", &scores, &io["scores"].f, TOL);
    let chunked = caption_scores_chunked(&model, image_tokens, raw, soc, 3).unwrap();
    fx::assert_close("scores (chunks of 3)", &chunked, &scores, 1e-5);
    eprintln!(
        "inverse_prompt max |diff|: logits {:e}, log_probs {:e}, token_scores {:e}, scores {:e}",
        fx::max_abs_diff(&logits_f, &io["logits"].f),
        fx::max_abs_diff(&log_probs, &io["log_probs"].f),
        fx::max_abs_diff(&token_scores, &io["token_scores"].f),
        fx::max_abs_diff(&scores, &io["scores"].f)
    );
    let order: Vec<i64> = rank_by_caption_score(&scores).into_iter().map(|i| i as i64).collect();
    assert_eq!(order, io["order"].i);
}

#[test]
fn caption_scoring_rejects_bad_inputs() {
    let model = load("inverse_prompt");
    let images = int_tensor(&[1, 2, 3, 4], [1, 4]);
    assert!(matches!(caption_scores(&model, images.clone(), &[], 599), Err(CoreError::InvalidPrompt(_))));
    assert!(matches!(caption_scores(&model, images.clone(), &[700], 599), Err(CoreError::TokenOutOfRange { .. })));
    assert!(caption_scores_chunked(&model, images, &[300], 599, 0).is_err());
    let layout = CaptionLayout::new(4, &[300], 599).unwrap();
    assert!(matches!(layout.sequence(&[1, 2, 3]), Err(CoreError::Shape(_))));
}
