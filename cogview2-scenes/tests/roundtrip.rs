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
        ..SamplerConfig::default()
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
fn analyzer_recovers_every_scene_down_to_32() {
    for (size, seed) in [(32, 3), (48, 4), (64, 5)] {
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
fn analyzer_at_24_is_mostly_right() {
    // 24 px leaves objects of 3.6–6.8 px: colour and position stay exact, a few shapes are misread
    // (3 in 1 000 when measured).
    let mut s = sampler(6, 24, 1);
    let (mut shape_errors, n) = (0, 1000);
    for _ in 0..n {
        let scene = s.sample_scene().expect("scene");
        let read = analyze(&render(&scene, 24).expect("render")).expect("analysis");
        let want = scene.objects[0];
        assert_eq!(
            (read.colour, read.position, read.background),
            (want.colour, want.position, scene.background)
        );
        shape_errors += usize::from(read.shape != want.shape);
    }
    eprintln!("24 px: {shape_errors} shape errors in {n}");
    assert!(shape_errors * 50 < n, "{shape_errors} shape errors in {n}");
}

/// `image` with seeded uniform noise of ±`amplitude` per channel.
fn add_noise(image: &mut image::RgbImage, seed: u64, amplitude: i32) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for p in image.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (i32::from(*c) + rng.random_range(-amplitude..=amplitude)).clamp(0, 255) as u8;
        }
    }
}

/// 3×3 box blur (edges clamped), a stand-in for a decoder's soft edges.
fn box_blur(image: &image::RgbImage) -> image::RgbImage {
    let (w, h) = image.dimensions();
    image::RgbImage::from_fn(w, h, |x, y| {
        let mut sum = [0u32; 3];
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let sx = (i64::from(x) + dx).clamp(0, i64::from(w) - 1) as u32;
                let sy = (i64::from(y) + dy).clamp(0, i64::from(h) - 1) as u32;
                for (s, v) in sum.iter_mut().zip(image.get_pixel(sx, sy).0) {
                    *s += u32::from(v);
                }
            }
        }
        image::Rgb(sum.map(|s| ((s + 4) / 9) as u8))
    })
}

/// A faint tint (each channel 40 levels toward grey, well above the background tolerance) over a square of
/// `side` px centred in the 3×3 cell at `(row, col)`, as a codec leaves in a flat background.
fn tint_cell(image: &mut image::RgbImage, row: u32, col: u32, side: u32) {
    let cell = image.width() / 3;
    let (cx, cy) = (col * cell + cell / 2, row * cell + cell / 2);
    for y in cy - side / 2..cy + side / 2 {
        for x in cx - side / 2..cx + side / 2 {
            let p = image.get_pixel_mut(x, y);
            p.0 = p.0.map(|v| if v > 128 { v - 40 } else { v + 40 });
        }
    }
}

/// Shape moments come from around the object: a faint patch two cells away must not change what is read.
#[test]
fn analyzer_ignores_faint_tints_away_from_the_object() {
    let size = 96;
    let mut s = sampler(33, size, 1);
    for _ in 0..300 {
        let scene = s.sample_scene().expect("scene");
        let object = scene.objects[0];
        let (row, col) = (object.position.row() as u32, object.position.column() as u32);
        let (far_row, far_col) = if (row, col) == (1, 1) { (0, 0) } else { (2 - row, 2 - col) };
        let mut image = render(&scene, size).expect("render");
        tint_cell(&mut image, far_row, far_col, 12);
        let read = analyze(&image).expect("analysis");
        assert_eq!(read.combo(), object.combo(), "{scene:?} read as {read:?}");
    }
}

#[test]
fn analyzer_survives_noise_and_blur_at_64_and_160() {
    for size in [64, 160] {
        let mut s = sampler(21, size, 1);
        for i in 0..500 {
            let scene = s.sample_scene().expect("scene");
            let mut image = box_blur(&render(&scene, size).expect("render"));
            add_noise(&mut image, i, 12);
            let read = analyze(&image).expect("analysis");
            assert_eq!(
                read.combo(),
                scene.objects[0].combo(),
                "{scene:?} read as {read:?}"
            );
            assert_eq!(read.background, scene.background);
        }
    }
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
