//! Sampler determinism, held-out exclusion and coverage, config errors.

use std::collections::HashSet;

use cogview2_scenes::{
    held_out_combos, is_held_out, training_combos, Colour, Combo, ComboSet, LanguageMix, Position,
    SamplerConfig, Scene, SceneSampler, ScenesError, Shape, MAX_SCALE, MIN_SCALE,
};

fn config(seed: u64) -> SamplerConfig {
    SamplerConfig {
        seed,
        size: 32,
        min_objects: 1,
        max_objects: 3,
        languages: LanguageMix::Mixed { chinese: 0.5 },
        combos: ComboSet::Training,
        object_scale: [MIN_SCALE, MAX_SCALE],
        plain_background: 0.0,
    }
}

#[test]
fn same_seed_same_items_other_seed_other_items() {
    let items = |seed| {
        SceneSampler::new(config(seed))
            .expect("config")
            .take(50)
            .map(|i| i.expect("item"))
            .map(|i| (i.scene, i.caption, i.image.into_raw()))
            .collect::<Vec<_>>()
    };
    assert_eq!(items(42), items(42));
    assert_ne!(items(42), items(43));
}

#[test]
fn training_sampler_never_emits_held_out_combos() {
    let mut sampler = SceneSampler::new(config(9)).expect("config");
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        let scene = sampler.sample_scene().expect("scene");
        for o in &scene.objects {
            assert!(!is_held_out(o.combo()), "{:?}", o.combo());
            seen.insert(o.combo());
        }
    }
    // And it reaches every training combination.
    assert_eq!(seen.len(), training_combos().len());
}

#[test]
fn held_out_sampler_emits_only_held_out_combos() {
    let mut sampler = SceneSampler::new(SamplerConfig {
        combos: ComboSet::HeldOut,
        ..config(10)
    })
    .expect("config");
    for _ in 0..2000 {
        for o in sampler.sample_scene().expect("scene").objects {
            assert!(is_held_out(o.combo()));
        }
    }
}

#[test]
fn held_out_set_is_about_ten_percent_and_spread() {
    let held = held_out_combos();
    let train = training_combos();
    assert_eq!(held.len() + train.len(), 216);
    assert_eq!(held.len(), 22);
    for set in [&held, &train] {
        assert!(Colour::ALL
            .iter()
            .all(|c| set.iter().any(|x| x.colour == *c)));
        assert!(Shape::ALL.iter().all(|s| set.iter().any(|x| x.shape == *s)));
        assert!(Position::ALL
            .iter()
            .all(|p| set.iter().any(|x| x.position == *p)));
    }
    // Every pair of attribute values of a held-out combo still occurs in training.
    for h in &held {
        let pairs = |t: &&Combo| {
            [
                t.colour == h.colour && t.shape == h.shape,
                t.colour == h.colour && t.position == h.position,
                t.shape == h.shape && t.position == h.position,
            ]
        };
        for k in 0..3 {
            assert!(train.iter().any(|t| pairs(&t)[k]), "{h:?} pair {k}");
        }
    }
}

#[test]
fn bad_configs_are_typed_errors() {
    for (min, max) in [(0, 1), (2, 1), (1, 4)] {
        let err = SceneSampler::new(SamplerConfig {
            min_objects: min,
            max_objects: max,
            ..config(0)
        })
        .unwrap_err();
        assert!(matches!(err, ScenesError::ObjectCount { .. }), "{err}");
    }
    let err = SceneSampler::new(SamplerConfig {
        size: 0,
        ..config(0)
    })
    .unwrap_err();
    assert_eq!(err, ScenesError::ZeroSize);
    let err = SceneSampler::new(SamplerConfig {
        languages: LanguageMix::Mixed { chinese: 1.5 },
        ..config(0)
    })
    .unwrap_err();
    assert!(matches!(err, ScenesError::Probability { .. }));
    for plain_background in [-0.1, 1.5, f32::NAN] {
        let err = SceneSampler::new(SamplerConfig {
            plain_background,
            ..config(0)
        })
        .unwrap_err();
        assert!(matches!(err, ScenesError::Probability { .. }), "{plain_background}: {err}");
    }
    for object_scale in [[0.9, 0.8], [0.05, 0.5], [0.5, 1.2], [f32::NAN, 0.9], [0.5, f32::NAN]] {
        let err = SceneSampler::new(SamplerConfig {
            object_scale,
            ..config(0)
        })
        .unwrap_err();
        assert!(matches!(err, ScenesError::ObjectScale { .. }), "{object_scale:?}: {err}");
    }
}

#[test]
fn object_scales_stay_in_the_configured_range() {
    for object_scale in [[0.7, 0.95], [0.6, 0.6], [0.9, 1.0]] {
        let mut sampler = SceneSampler::new(SamplerConfig {
            object_scale,
            ..config(3)
        })
        .expect("config");
        let scales: Vec<f32> = (0..500)
            .flat_map(|_| sampler.sample_scene().expect("scene").objects)
            .map(|o| o.scale)
            .collect();
        assert!(scales.iter().all(|s| (object_scale[0]..=object_scale[1]).contains(s)), "{object_scale:?}");
        // The draws cover the range rather than sitting at one end.
        let span = scales.iter().fold(f32::MIN, |a, &b| a.max(b)) - scales.iter().fold(f32::MAX, |a, &b| a.min(b));
        assert!(span >= 0.9 * (object_scale[1] - object_scale[0]), "{object_scale:?}: span {span}");
    }
}

#[test]
fn plain_backgrounds_take_their_share() {
    let scenes = |plain_background| {
        let mut sampler = SceneSampler::new(SamplerConfig {
            plain_background,
            ..config(5)
        })
        .expect("config");
        (0..2000).map(|_| sampler.sample_scene().expect("scene")).collect::<Vec<_>>()
    };
    let is_plain = |s: &Scene| s.background == Scene::plain_background(s.objects[0].colour);
    // Share 0 is the sampler as it was: a uniform background, plain for about one scene in eight.
    let uniform = scenes(0.0);
    let share = |v: &[Scene]| v.iter().filter(|s| is_plain(s)).count() as f64 / v.len() as f64;
    assert!((0.08..0.18).contains(&share(&uniform)), "{}", share(&uniform));
    for (p, lo, hi) in [(0.5, 0.5, 0.62), (1.0, 1.0, 1.0)] {
        let v = scenes(p);
        assert!((lo..=hi).contains(&share(&v)), "share {p}: {}", share(&v));
        // Every scene still obeys the rules, white objects (on black) included.
        assert!(v.iter().all(|s| s.validate().is_ok()));
        assert!(v.iter().any(|s| s.objects[0].colour == Colour::White && s.background == Colour::Black));
    }
}

#[test]
fn language_mix_is_respected() {
    for (mix, chinese) in [(LanguageMix::English, false), (LanguageMix::Chinese, true)] {
        let mut s = SceneSampler::new(SamplerConfig {
            languages: mix,
            ..config(1)
        })
        .expect("config");
        for _ in 0..20 {
            let item = s.next_item().expect("item");
            assert_eq!(
                item.caption.chars().any(|c| c > '\u{2e80}'),
                chinese,
                "{}",
                item.caption
            );
        }
    }
}
