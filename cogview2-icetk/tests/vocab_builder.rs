//! A closed-domain vocabulary built from every scene caption (English and Chinese), written in
//! SentencePiece's format and loaded back through the same paths as the official `ice_text.model`.

mod common;

use cogview2_icetk::{
    IceTokenizer, ModelProto, ModelType, PieceType, SentencePieceModel, TextTokenizer,
    UnigramVocabBuilder, COGVIEW2_SPECIAL_TOKENS,
};
use cogview2_scenes::{
    caption, lexicon, Colour, Combo, ComboSet, Language, LanguageMix, SamplerConfig, Scene,
    SceneObject, SceneSampler,
};

/// Every single-object caption in both languages plus seeded multi-object captions.
fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    for background in Colour::ALL {
        for combo in Combo::all().filter(|c| c.colour != background) {
            let scene = Scene {
                background,
                objects: vec![SceneObject {
                    colour: combo.colour,
                    shape: combo.shape,
                    position: combo.position,
                    scale: 0.6,
                    offset: [0.0, 0.0],
                }],
            };
            out.push(caption(&scene, Language::English));
            out.push(caption(&scene, Language::Chinese));
        }
    }
    let mut sampler = SceneSampler::new(SamplerConfig {
        seed: 3,
        size: 8,
        min_objects: 2,
        max_objects: 3,
        languages: LanguageMix::Mixed { chinese: 0.5 },
        combos: ComboSet::All,
        ..SamplerConfig::default()
    })
    .expect("sampler");
    for _ in 0..3000 {
        let scene = sampler.sample_scene().expect("scene");
        out.push(caption(&scene, Language::English));
        out.push(caption(&scene, Language::Chinese));
    }
    out
}

fn builder(corpus: &[String]) -> UnigramVocabBuilder {
    let mut builder = UnigramVocabBuilder::new().lexicon(lexicon(Language::Chinese));
    builder.add_sentences(corpus);
    builder
}

#[test]
fn captions_encode_without_unk_and_decode_exactly() {
    let corpus = corpus();
    let bytes = builder(&corpus).build_bytes().expect("build");
    let text = TextTokenizer::from_bytes(&bytes).expect("load as TextTokenizer");
    let ice = IceTokenizer::from_bytes(&bytes).expect("load as IceTokenizer");
    let unk = text.token_to_id("<unk>").expect("unk id");
    for sentence in &corpus {
        for ids in [text.encode(sentence), ice.encode(sentence)] {
            assert!(!ids.contains(&unk), "{sentence}: {ids:?}");
            assert_eq!(text.decode(&ids).expect("decode"), *sentence);
        }
    }
    // CogView2's special tokens still append after the built vocabulary and encode whole.
    let n = text.num_text_tokens();
    assert_eq!(ice.start_of_image(), 20_000 + n);
    let ids = ice.encode(&format!("{}{}", corpus[0], COGVIEW2_SPECIAL_TOKENS[0]));
    assert_eq!(ids.last(), Some(&ice.start_of_image()));
}

#[test]
fn words_are_single_pieces() {
    let corpus = corpus();
    let model = SentencePieceModel::from_bytes(&builder(&corpus).build_bytes().expect("build"))
        .expect("load");
    let pieces = |s: &str| -> Vec<String> {
        model
            .encode_pieces(s)
            .into_iter()
            .map(|p| p.piece)
            .collect()
    };
    assert_eq!(
        pieces("a red circle at the top left on a white background"),
        [
            "▁a",
            "▁red",
            "▁circle",
            "▁at",
            "▁the",
            "▁top",
            "▁left",
            "▁on",
            "▁a",
            "▁white",
            "▁background"
        ]
    );
    assert_eq!(
        pieces("白色背景上左上角的红色圆形和下方的蓝色方形"),
        [
            "▁",
            "白色",
            "背景",
            "上",
            "左上角",
            "的",
            "红色",
            "圆形",
            "和",
            "下方",
            "的",
            "蓝色",
            "方形"
        ]
    );
    assert_eq!(
        pieces("橙色背景上上方的紫色三角形"),
        ["▁", "橙色", "背景", "上", "上方", "的", "紫色", "三角形"]
    );
    assert_eq!(
        pieces("a red circle at the top left, a blue square on the left and an orange triangle in the center"),
        ["▁a", "▁red", "▁circle", "▁at", "▁the", "▁top", "▁left", ",", "▁a", "▁blue", "▁square", "▁on", "▁the",
         "▁left", "▁and", "▁an", "▁orange", "▁triangle", "▁in", "▁the", "▁center"]
    );
    for word in lexicon(Language::English) {
        assert_eq!(pieces(word), [format!("▁{word}")], "{word}");
    }
    for word in lexicon(Language::Chinese) {
        assert_eq!(pieces(word)[1..], [word.to_string()], "{word}");
    }
    // Unseen text from the domain's characters still encodes without <unk>, letter by letter.
    let unk = model.unk_id();
    assert!(!model.encode("a crab").contains(&unk));
    assert!(model.encode("zebra").contains(&unk));
}

#[test]
fn written_file_round_trips_through_the_reader() {
    let corpus = corpus();
    let b = builder(&corpus);
    let proto = b.build().expect("build");
    let bytes = proto.encode();
    let read = ModelProto::decode(&bytes).expect("decode");
    assert_eq!(read, proto);
    assert_eq!(read.encode(), bytes);
    // Layout as the official model: <unk> 0, <s> 1, </s> 2, <n> 3, then normal pieces by decreasing score.
    let kinds: Vec<(&str, PieceType)> = read.pieces[..4]
        .iter()
        .map(|p| (p.piece.as_str(), p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("<unk>", PieceType::Unknown),
            ("<s>", PieceType::Control),
            ("</s>", PieceType::Control),
            ("<n>", PieceType::UserDefined)
        ]
    );
    assert!(read.pieces[4..]
        .iter()
        .all(|p| p.kind == PieceType::Normal && p.score < 0.0));
    assert!(read.pieces[4..]
        .windows(2)
        .all(|w| w[0].score >= w[1].score));
    assert_eq!(read.trainer_spec.model_type, ModelType::Unigram);
    assert_eq!(read.trainer_spec.vocab_size as usize, read.pieces.len());
    assert_eq!(
        (
            read.trainer_spec.unk_id,
            read.trainer_spec.bos_id,
            read.trainer_spec.eos_id,
            read.trainer_spec.pad_id
        ),
        (0, 1, 2, -1)
    );
    assert_eq!(read.normalizer_spec.name, "identity");
    assert!(read.normalizer_spec.precompiled_charsmap.is_empty());
    // Deterministic: the same corpus in another order gives the same bytes.
    let mut reversed = corpus.clone();
    reversed.reverse();
    assert_eq!(builder(&reversed).build_bytes().expect("build"), bytes);
    // Small: the domain has a few dozen words and characters.
    assert!(read.pieces.len() < 200, "{}", read.pieces.len());
    // `<n>` still works as in icetk.
    let text = TextTokenizer::from_bytes(&bytes).expect("load");
    let ids = text.encode_with("a red circle\na blue square", false);
    assert_eq!(
        text.decode(&ids).expect("decode"),
        "a red circle\na blue square"
    );
}

/// Captions of the cross-check with Python `sentencepiece`: every ninth single-object caption (both
/// languages), the first 200 multi-object ones of [`corpus`], and text outside the corpus.
fn crosscheck_texts(corpus: &[String]) -> Vec<String> {
    let singles = 2 * 8 * 189;
    let mut texts: Vec<String> = corpus[..singles].iter().step_by(9).cloned().collect();
    texts.extend(corpus[singles..].iter().take(200).cloned());
    texts.extend(
        [
            "a red circle",
            "红色圆形",
            "a crab on the left",
            "zebra 斑马 at   the top",
            "左上角<n>右下角",
            "  a blue square ,and a green circle  ",
        ]
        .map(String::from),
    );
    texts
}

#[test]
fn python_sentencepiece_agrees() {
    // Regenerate with: COGVIEW2_WRITE_SCENE_VOCAB=$PWD/cogview2-icetk/tests/data cargo test --release
    // -p cogview2-icetk --test vocab_builder python, then python3 cogview2-icetk/tests/data/gen_scene_vocab.py
    let corpus = corpus();
    let bytes = builder(&corpus).build_bytes().expect("build");
    let texts = crosscheck_texts(&corpus);
    if let Ok(dir) = std::env::var("COGVIEW2_WRITE_SCENE_VOCAB") {
        std::fs::write(format!("{dir}/scene_captions.model"), &bytes).expect("write model");
        std::fs::write(format!("{dir}/scene_captions.txt"), texts.join("\n") + "\n")
            .expect("write texts");
    }
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let committed = std::fs::read(format!("{data}/scene_captions.model")).expect("committed model");
    assert_eq!(
        bytes, committed,
        "the builder's output changed; regenerate the cross-check data"
    );
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{data}/scene_captions_sentencepiece.json"))
            .expect("json"),
    )
    .expect("parse json");
    let model = SentencePieceModel::from_bytes(&bytes).expect("load");
    let cases = expected["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), texts.len());
    for (case, text) in cases.iter().zip(&texts) {
        assert_eq!(case["text"].as_str(), Some(text.as_str()));
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(model.encode(text), ids, "{text}");
        assert_eq!(
            model.decode(&ids).expect("decode"),
            case["decoded"].as_str().expect("decoded"),
            "{text}"
        );
    }
}

#[test]
fn official_fixture_model_round_trips_through_the_writer() {
    let bytes = common::model_bytes();
    let model = ModelProto::decode(&bytes).expect("decode fixture");
    let rewritten = model.encode();
    assert_eq!(
        ModelProto::decode(&rewritten).expect("decode rewritten"),
        model
    );
    // And it tokenizes identically (charsmap included).
    let a = TextTokenizer::from_bytes(&bytes).expect("load");
    let b = TextTokenizer::from_bytes(&rewritten).expect("load rewritten");
    for text in ["a cute cat", "一只可爱的猫 ２０２２ café", "x\u{200b}y  z"] {
        assert_eq!(a.encode(text), b.encode(text), "{text}");
    }
}
