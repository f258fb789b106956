//! Property tests: encoding never panics, pieces always concatenate to the normalised text, ids stay in the
//! text range, and for text without unknown characters decode(encode(s)) equals the normalised text (with
//! `▁` as a space, the dummy prefix dropped and `<n>` as a newline).
//!
//! 2 000 cases by default; `PROPTEST_CASES=100000 cargo test --release -p cogview2-icetk --test properties`
//! runs the long campaign.

use std::sync::OnceLock;
use std::time::Instant;

use cogview2_icetk::{IceTokenizer, SPACE_SYMBOL};
use proptest::prelude::*;

mod common;

fn tokenizer() -> &'static IceTokenizer {
    static TOKENIZER: OnceLock<IceTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(common::ice_tokenizer)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Characters that are whole pieces of the vocabulary (after dropping `▁`), so text made of them is known.
fn known_chars() -> Vec<char> {
    let sp = tokenizer().text_tokenizer().sentencepiece();
    let mut chars: Vec<char> = sp
        .proto()
        .pieces
        .iter()
        .filter_map(|p| {
            let mut it = p.piece.chars();
            match (it.next(), it.next()) {
                (Some(c), None) if p.piece != SPACE_SYMBOL => Some(c),
                _ => None,
            }
        })
        .filter(|c| sp.normalize(&c.to_string()) == format!("{SPACE_SYMBOL}{c}"))
        .collect();
    chars.sort_unstable();
    chars
}

/// Text from known characters, whitespace of several kinds, special tokens and, rarely, anything at all.
fn text_strategy() -> impl Strategy<Value = String> {
    let known = known_chars();
    let unit = prop_oneof![
        12 => proptest::sample::select(known).prop_map(String::from),
        3 => proptest::sample::select(vec![" ", "  ", "\t", "\n", "\u{3000}", "\r\n"]).prop_map(String::from),
        1 => proptest::sample::select(vec!["<n>", "<start_of_image>", "<start_of_english>", "<start_of_chinese>"])
            .prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(unit, 0..40).prop_map(|units| units.concat())
}

/// What decoding a fully known encoding of `text` yields: the normalised text with `▁` as spaces, the
/// dummy-prefix space dropped, and icetk's `<n>` → newline.
fn expected_roundtrip(tok: &IceTokenizer, text: &str) -> String {
    let spaced = tok
        .text_tokenizer()
        .normalize(text)
        .replace(SPACE_SYMBOL, " ");
    spaced
        .strip_prefix(' ')
        .unwrap_or(&spaced)
        .replace("<n>", "\n")
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let tok = tokenizer();
    let unk = tok.token_to_id("<unk>").expect("<unk>");
    for ignore_linebreak in [true, false] {
        let ids = tok.encode_with(text, ignore_linebreak);
        prop_assert!(ids
            .iter()
            .all(|&id| id >= tok.num_image_tokens() && id < tok.num_tokens()));
        let decoded = tok.decode(&ids).expect("decode of encode output");
        let source = if ignore_linebreak {
            text.to_owned()
        } else {
            text.replace('\n', "<n>")
        };
        if !ids.contains(&unk) {
            prop_assert_eq!(decoded, expected_roundtrip(tok, &source));
        }
    }
    let pieces = tok.tokenize(text);
    prop_assert_eq!(pieces.concat(), tok.text_tokenizer().normalize(text));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mixed_text_roundtrips(text in text_strategy()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }
}

#[test]
fn known_alphabet_is_large() {
    // Guards the round-trip property against silently testing only unknown text.
    assert!(
        known_chars().len() > 100,
        "only {} known characters",
        known_chars().len()
    );
}

#[test]
fn hostile_inputs_do_not_panic() {
    for text in [
        "\u{0}\u{1}\u{7}\u{1b}[31m\u{7f}\u{9f}",
        "\u{301}\u{301}\u{301}a\u{308}",
        "👨‍👩‍👧‍👦🏳️‍🌈🇨🇳",
        "\u{feff}\u{200b}\u{200d}\u{2028}\u{2029}",
        "\u{fffd}\u{10ffff}\u{e000}",
        "<n<n>><start_of_image",
    ] {
        check(text).unwrap();
    }
}

/// One megabyte of each kind of text must encode in linear time; the bound is loose because the machine is
/// shared (a quadratic Viterbi would take minutes). `cargo bench` reports the real throughput.
#[test]
fn one_megabyte_inputs_are_fast() {
    let tok = tokenizer();
    let mixed: String = "A cute cat 一只可爱的猫 in the garden 😀 \u{301}\u{7} ☃☃ ｆｕｌｌ\n"
        .chars()
        .cycle()
        .take(400_000)
        .collect();
    let inputs = [
        ("mixed", mixed),
        ("one unknown char", "x".repeat(1 << 20)),
        ("one known char", "哈".repeat(350_000)),
        ("spaces", " ".repeat(1 << 20)),
        ("combining marks", "\u{301}".repeat(500_000)),
        ("linebreak pieces", "<n>".repeat(350_000)),
    ];
    for (name, text) in inputs {
        let start = Instant::now();
        let ids = tok.encode(&text);
        let elapsed = start.elapsed();
        eprintln!(
            "{name}: {} bytes -> {} ids in {elapsed:?}",
            text.len(),
            ids.len()
        );
        assert!(
            elapsed.as_secs_f64() < 5.0,
            "{name}: {elapsed:?} for {} bytes",
            text.len()
        );
    }
}
