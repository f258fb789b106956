//! The tokenizer stage: a SentencePiece model (`ice_text.model`) for the scene captions, built with icetk's
//! [`UnigramVocabBuilder`] from captions in both languages over ALL combinations, held-out ones included, so that
//! evaluation prompts encode without `<unk>`.

use std::path::Path;

use cogview2_icetk::{UnigramVocabBuilder, LINEBREAK_PIECE};
use cogview2_scenes::{caption, lexicon, Colour, Combo, ComboSet, Language, LanguageMix, SamplerConfig, Scene, SceneObject, SceneSampler};

use crate::error::{Result, TrainError};

/// The pad piece the training rows use as separator (placed right after `<n>`).
pub const PAD_PIECE: &str = "<pad>";

/// Every single-object caption (each combination on each other background) in both languages, plus both captions
/// of `multi_object_scenes` seeded scenes with 2–3 objects drawn from all combinations.
pub fn caption_corpus(multi_object_scenes: usize, seed: u64) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for background in Colour::ALL {
        for combo in Combo::all().filter(|c| c.colour != background) {
            let scene = Scene::new(
                background,
                vec![SceneObject {
                    colour: combo.colour,
                    shape: combo.shape,
                    position: combo.position,
                    scale: 0.6,
                    offset: [0.0, 0.0],
                }],
            )?;
            out.push(caption(&scene, Language::English));
            out.push(caption(&scene, Language::Chinese));
        }
    }
    let mut sampler = SceneSampler::new(SamplerConfig {
        seed,
        size: 8,
        min_objects: 2,
        max_objects: 3,
        languages: LanguageMix::English,
        combos: ComboSet::All,
        ..SamplerConfig::default()
    })?;
    for _ in 0..multi_object_scenes {
        let scene = sampler.sample_scene()?;
        out.push(caption(&scene, Language::English));
        out.push(caption(&scene, Language::Chinese));
    }
    Ok(out)
}

/// The serialized SentencePiece model of `corpus`: `<n>` and `<pad>` as user-defined symbols, the Chinese scene
/// lexicon kept whole.
pub fn build_caption_vocab(corpus: &[String]) -> Result<Vec<u8>> {
    let mut builder = UnigramVocabBuilder::new()
        .user_defined_symbols([LINEBREAK_PIECE, PAD_PIECE])
        .lexicon(lexicon(Language::Chinese));
    builder.add_sentences(corpus);
    Ok(builder.build_bytes()?)
}

/// Builds the caption vocabulary ([`caption_corpus`] with `multi_object_scenes` scenes) and writes it to `path`.
pub fn write_caption_vocab(path: impl AsRef<Path>, multi_object_scenes: usize, seed: u64) -> Result<()> {
    let path = path.as_ref();
    let bytes = build_caption_vocab(&caption_corpus(multi_object_scenes, seed)?)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| TrainError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, &bytes).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::info!(path = %path.display(), bytes = bytes.len(), "caption vocabulary written");
    Ok(())
}
