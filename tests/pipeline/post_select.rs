//! Post-selection by caption score on the tiny model set of `common`.

use cogview2::core::rank_by_caption_score;
use cogview2::{Error, Progress, Request, Stage};
use crate::common::{pipeline, request, token_vec};

#[test]
fn post_selection_keeps_the_best_scored_candidates_best_first() {
    let pipeline = pipeline();
    let n_lo = pipeline.lowres_grid().iter().product::<usize>();
    let prompt = "a red circle";
    // Stage 1 alone, unselected: the candidates post-selection ranks (stage 1 draws do not depend on it).
    let plain = Request { only_first_stage: true, ..request(prompt, 5, 11) };
    let candidates = pipeline.generate_tokens(&plain, &mut |_| {}).unwrap();
    assert!(candidates.caption_scores.is_none());
    let all = token_vec(candidates.lowres.clone());
    let scores = pipeline.caption_score(candidates.lowres, prompt).unwrap();
    assert_eq!(scores.len(), 5);
    assert!(scores.iter().all(|s| s.is_finite() && *s <= 0.0), "{scores:?}");
    let order = rank_by_caption_score(&scores);

    // Keep 3 of 5, through the whole pipeline.
    let mut stages = Vec::new();
    let selected = Request { post_select: Some(3), ..request(prompt, 5, 11) };
    let tokens = pipeline.generate_tokens(&selected, &mut |p: Progress| stages.push(p)).unwrap();
    let kept = tokens.caption_scores.clone().unwrap();
    assert_eq!(kept, order[..3].iter().map(|&i| scores[i]).collect::<Vec<_>>());
    assert!(kept.windows(2).all(|w| w[0] >= w[1]), "best first: {kept:?}");
    let expected: Vec<i64> = order[..3].iter().flat_map(|&i| all[i * n_lo..(i + 1) * n_lo].iter().copied()).collect();
    assert_eq!(token_vec(tokens.lowres.clone()), expected);
    let hi = pipeline.hires_grid().iter().product::<usize>();
    assert_eq!(tokens.hires.unwrap().dims(), [3, hi]);
    let last = stages.iter().rev().find(|p| p.stage == Stage::PostSelection).copied().unwrap();
    assert_eq!((last.done, last.total), (5, 5));
    // Scoring happens between stage 1 and super-resolution.
    let first = |stage| stages.iter().position(|p| p.stage == stage).unwrap();
    assert!(first(Stage::Stage1) < first(Stage::PostSelection));
    assert!(first(Stage::PostSelection) < first(Stage::DirectSuperResolution));

    // Keeping every candidate only re-orders them.
    let images = pipeline.text_to_image(&Request { post_select: Some(5), ..request(prompt, 5, 11) }).unwrap();
    assert_eq!(images.len(), 5);
}

#[test]
fn bad_post_selection_is_a_typed_error() {
    let pipeline = pipeline();
    for keep in [0, 3] {
        let req = Request { post_select: Some(keep), ..request("a red circle", 2, 0) };
        assert!(matches!(pipeline.generate_tokens(&req, &mut |_| {}), Err(Error::InvalidRequest(_))), "{keep}");
    }
    let tokens =
        pipeline.generate_tokens(&Request { only_first_stage: true, ..request("a blue square", 1, 0) }, &mut |_| {});
    assert!(matches!(pipeline.caption_score(tokens.unwrap().lowres, "  "), Err(Error::EmptyPrompt)));
}
