//! The `pretrain_masks` fixture (official `pretrain_coglm.py` builders, random draws recorded) is reproduced
//! exactly from its recorded choices, for all five samples.

use std::collections::HashMap;

use cogview2_fixtures::{config, tensors, Array};
use cogview2_train::{
    image_text_understanding, text_image_generation, text_infilling, MaskingConfig, Sample, SampleKind, SpecialTokens,
};

const FIXTURE: &str = "pretrain_masks";

fn setup() -> (SpecialTokens, MaskingConfig, HashMap<String, Array>) {
    let c = config(FIXTURE);
    let ids = &c["token_ids_stand_in"];
    let int = |v: &serde_json::Value| v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"));
    let float = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    let grid = &c["image_grid"];
    assert_eq!(grid[0], grid[1], "square grid");
    let tokens = SpecialTokens {
        pad: int(&ids["<pad>"]),
        start_of_image: int(&ids["<start_of_image>"]),
        start_of_english: int(&ids["<start_of_english>"]),
        start_of_chinese: int(&ids["<start_of_chinese>"]),
        num_image_tokens: int(&c["num_image_tokens"]),
        first_chinese_id: int(&c["english_below"]),
        image_grid: int(&grid[0]) as usize,
        ..SpecialTokens::icetk()
    };
    let masking = MaskingConfig {
        patch_size: int(&c["patch_size"]) as usize,
        pseudo_mask_ratio: float(&c["pseudo_mask_ratio"]),
        poisson_rate: float(&c["poisson_rate"]),
        mask_ratio: float(&c["mask_ratio"]),
        ..MaskingConfig::default()
    };
    (tokens, masking, tensors(FIXTURE, "io.safetensors"))
}

fn get<'a>(io: &'a HashMap<String, Array>, name: &str, field: &str) -> &'a Array {
    io.get(&format!("{name}.{field}"))
        .unwrap_or_else(|| panic!("fixture {FIXTURE} has no tensor {name}.{field}"))
}

fn assert_sample(name: &str, got: &Sample, io: &HashMap<String, Array>) {
    let len = got.len();
    for (field, values) in [("tokens", &got.tokens), ("position_ids", &got.position_ids), ("labels", &got.labels)] {
        let want = &get(io, name, field).i;
        if let Some(i) = (0..len.max(want.len())).find(|&i| values.get(i) != want.get(i)) {
            panic!("{name}.{field}[{i}]: got {:?}, want {:?}", values.get(i), want.get(i));
        }
    }
    let want_loss = &get(io, name, "loss_mask").i;
    assert_eq!(want_loss.len(), len, "{name}.loss_mask length");
    for (i, (&g, &w)) in got.loss_mask.iter().zip(want_loss).enumerate() {
        assert_eq!(g as i64, w, "{name}.loss_mask[{i}]");
    }
    let want_mask = get(io, name, "attention_mask");
    assert_eq!(want_mask.shape, vec![len, len], "{name}.attention_mask shape");
    let wrong: Vec<(usize, usize)> = (0..len * len)
        .filter(|&k| got.attention_mask[k] != want_mask.f[k])
        .map(|k| (k / len, k % len))
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}.attention_mask: {} entries differ, first (row, col) {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[test]
fn text_image_generation_single_language() {
    let (tokens, masking, io) = setup();
    let name = "tig_single_zh";
    let row = &get(&io, name, "input").i;
    // One text: no coin is drawn, either value must give the fixture.
    for swap in [false, true] {
        let s = text_image_generation(row, &tokens, &masking, swap).unwrap();
        assert_eq!(s.kind, SampleKind::TextToImage);
        assert_sample(name, &s, &io);
    }
}

#[test]
fn text_image_generation_two_languages_swapped() {
    let (tokens, masking, io) = setup();
    let name = "tig_two_lang";
    let coin = get(&io, name, "swap_coin").f[0];
    assert!(coin < 0.5, "the fixture documents the swapped branch");
    let s = text_image_generation(&get(&io, name, "input").i, &tokens, &masking, coin < 0.5).unwrap();
    assert_sample(name, &s, &io);
    // The other branch selects the other text: the test can tell them apart.
    let other = text_image_generation(&get(&io, name, "input").i, &tokens, &masking, false).unwrap();
    assert_ne!(other.attention_mask, s.attention_mask);
}

#[test]
fn image_text_understanding_two_languages() {
    let (tokens, masking, io) = setup();
    let name = "itu_two_lang";
    let corners: Vec<usize> = get(&io, name, "patch_corners").i.iter().map(|&c| c as usize).collect();
    assert_eq!(corners.len(), masking.patch_count(&tokens));
    let s = image_text_understanding(&get(&io, name, "input").i, &tokens, &masking, &corners).unwrap();
    assert_eq!(s.kind, SampleKind::ImageToText);
    assert_sample(name, &s, &io);
}

#[test]
fn text_infilling_both_lengths() {
    let (_, masking, io) = setup();
    for name in ["tu_96", "tu_160"] {
        let draws = &get(&io, name, "poisson_draws").i;
        let starts: Vec<usize> = get(&io, name, "span_starts_sampled").i.iter().map(|&c| c as usize).collect();
        let s = text_infilling(&get(&io, name, "input").i, &masking, draws, &starts).unwrap();
        assert_eq!(s.kind, SampleKind::TextInfilling);
        assert_sample(name, &s, &io);
    }
}
