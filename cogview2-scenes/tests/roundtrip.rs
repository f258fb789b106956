//! Render → analyze and caption → parse round trips on seeded random scenes.

use cogview2_scenes::{
    analyze, caption, parse_prompt, render, ComboSet, Language, LanguageMix, Mention,
    SamplerConfig, SceneSampler,
};

fn sampler(seed: u64, size: u32, max_objects: usize) -> SceneSampler {
    SceneSampler::new(SamplerConfig {
        seed,
        size,
        min_objects: 1,
        max_objects,
        languages: LanguageMix::Mixed { chinese: 0.5 },
        combos: ComboSet::All,
    })
    .expect("valid config")
}

/// Number of scenes of `n` at `size` whose analysis differs from the scene.
fn analysis_failures(seed: u64, size: u32, n: usize) -> Vec<String> {
    let mut s = sampler(seed, size, 1);
    let mut failures = Vec::new();
    for _ in 0..n {
        let scene = s.sample_scene().expect("scene");
        let image = render(&scene, size).expect("render");
        let read = analyze(&image).expect("analysis");
        let want = scene.objects[0];
        if read.combo() != want.combo() || read.background != scene.background {
            failures.push(format!("{scene:?} read as {read:?}"));
        }
    }
    failures
}

#[test]
fn analyzer_recovers_every_scene_at_160_and_480() {
    for (size, seed) in [(160, 1), (480, 2)] {
        let failures = analysis_failures(seed, size, 1000);
        assert!(
            failures.is_empty(),
            "{size}px: {} failures, first {:?}",
            failures.len(),
            failures.first()
        );
    }
}

#[test]
fn analyzer_recovers_every_scene_down_to_48() {
    for (size, seed) in [(48, 3), (64, 4)] {
        let failures = analysis_failures(seed, size, 1000);
        assert!(
            failures.is_empty(),
            "{size}px: {} failures, first {:?}",
            failures.len(),
            failures.first()
        );
    }
}

#[test]
fn analyzer_at_32_is_mostly_right() {
    // 32 px leaves objects of 5–9 px: colour and position stay exact, the shape is sometimes misread.
    let mut s = sampler(5, 32, 1);
    let (mut shape_errors, n) = (0, 1000);
    for _ in 0..n {
        let scene = s.sample_scene().expect("scene");
        let read = analyze(&render(&scene, 32).expect("render")).expect("analysis");
        let want = scene.objects[0];
        assert_eq!(
            (read.colour, read.position, read.background),
            (want.colour, want.position, scene.background)
        );
        shape_errors += usize::from(read.shape != want.shape);
    }
    assert!(shape_errors * 10 < n, "{shape_errors} shape errors in {n}");
}

#[test]
fn captions_parse_back_in_both_languages() {
    let mut s = sampler(11, 8, 3);
    for _ in 0..2000 {
        let scene = s.sample_scene().expect("scene");
        for language in [Language::English, Language::Chinese] {
            let text = caption(&scene, language);
            let parsed = parse_prompt(&text);
            let want: Vec<Mention> = scene
                .objects
                .iter()
                .map(|o| Mention {
                    colour: Some(o.colour),
                    shape: Some(o.shape),
                    position: Some(o.position),
                })
                .collect();
            assert_eq!(parsed.objects, want, "{text}");
            assert_eq!(parsed.background, Some(scene.background), "{text}");
        }
    }
}

#[test]
fn multi_object_scenes_render_in_distinct_cells() {
    let mut s = sampler(12, 96, 3);
    let mut seen_three = false;
    for _ in 0..300 {
        let item = s.next_item().expect("item");
        let n = item.scene.objects.len();
        assert!((1..=3).contains(&n));
        seen_three |= n == 3;
        let mut cells: Vec<_> = item.scene.objects.iter().map(|o| o.position).collect();
        cells.sort();
        cells.dedup();
        assert_eq!(cells.len(), n);
        assert!(item
            .scene
            .objects
            .iter()
            .all(|o| o.colour != item.scene.background));
        // Every object's centre pixel is (close to) its colour.
        for o in &item.scene.objects {
            let ([x, y], _) = o.geometry(96);
            let p = item.image.get_pixel(x as u32, y as u32).0;
            assert_eq!(cogview2_scenes::Colour::nearest(p), o.colour);
        }
    }
    assert!(seen_three);
}
