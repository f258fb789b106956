//! A vocabulary builder for closed-domain corpora (synthetic captions, templated prompts): instead of
//! SentencePiece's EM training it keeps every word whole, so a small corpus gets a small, readable vocabulary
//! whose unigram segmentation is the word segmentation.
//!
//! Pieces, in id order: `<unk>` (0), `<s>` (1), `</s>` (2), the user-defined symbols (`<n>`, 3, as in
//! `ice_text.model`), then, by decreasing score, every whitespace-delimited word with its `▁` prefix (ASCII
//! punctuation split off as its own piece), every
//! lexicon word found in text without spaces (Chinese), and every single character seen (so any text of the
//! domain encodes without `<unk>`). Score = ln(count / total count) over a segmentation of the corpus: words
//! by whitespace, space-free scripts by greedy longest match against the lexicon; characters not otherwise
//! counted get a count of one. A word piece then always outscores spelling it with shorter pieces, so
//! Viterbi picks whole words.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{IcetkError, Result};
use crate::normalizer::{Normalizer, SPACE_SYMBOL};
use crate::proto::{ModelProto, ModelType, NormalizerSpec, PieceType, SentencePiece, TrainerSpec};
use crate::sentencepiece::SentencePieceModel;
use crate::text_tokenizer::LINEBREAK_PIECE;

/// Builds a unigram [`ModelProto`] from sentences (see the module docs for the rules).
///
/// ```
/// use cogview2_icetk::{TextTokenizer, UnigramVocabBuilder};
///
/// let mut builder = UnigramVocabBuilder::new().lexicon(["红色", "圆形"]);
/// builder.add_sentences(["a red circle", "a blue square", "红色圆形"]);
/// let tokenizer = TextTokenizer::from_bytes(&builder.build_bytes()?)?;
/// assert_eq!(tokenizer.tokenize("a red square"), ["▁a", "▁red", "▁square"]);
/// assert_eq!(tokenizer.tokenize("红色圆形"), ["▁", "红色", "圆形"]);
/// # Ok::<(), cogview2_icetk::IcetkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnigramVocabBuilder {
    user_defined: Vec<String>,
    lexicon: BTreeSet<String>,
    /// Distinct raw sentences and how often each was added.
    sentences: HashMap<String, u64>,
}

impl Default for UnigramVocabBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Characters of scripts written without spaces between words; they are segmented with the lexicon.
fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{303f}' // CJK punctuation (、。)
        | '\u{3040}'..='\u{30ff}' // kana
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{ff00}'..='\u{ffef}') // full-width forms (，)
}

impl UnigramVocabBuilder {
    /// A builder with `<n>` as the only user-defined symbol and an empty lexicon.
    pub fn new() -> Self {
        Self {
            user_defined: vec![LINEBREAK_PIECE.to_owned()],
            lexicon: BTreeSet::new(),
            sentences: HashMap::new(),
        }
    }

    /// Replaces the user-defined symbols (pieces matched verbatim and kept whole, placed right after `</s>`).
    pub fn user_defined_symbols<S: Into<String>>(
        mut self,
        symbols: impl IntoIterator<Item = S>,
    ) -> Self {
        self.user_defined = symbols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds words to keep whole inside text without spaces (Chinese words such as `红色`, `左上角`).
    /// Whitespace-delimited words need no entry: they are always kept whole.
    pub fn lexicon<S: Into<String>>(mut self, words: impl IntoIterator<Item = S>) -> Self {
        self.lexicon.extend(words.into_iter().map(Into::into));
        self
    }

    /// Adds one sentence of the corpus.
    pub fn add_sentence(&mut self, sentence: &str) {
        *self.sentences.entry(sentence.to_owned()).or_default() += 1;
    }

    /// Adds sentences of the corpus.
    pub fn add_sentences<S: AsRef<str>>(&mut self, sentences: impl IntoIterator<Item = S>) {
        for sentence in sentences {
            self.add_sentence(sentence.as_ref());
        }
    }

    /// The normaliser of the built model: no character mapping, SentencePiece's whitespace rules.
    fn normalizer_spec() -> NormalizerSpec {
        NormalizerSpec {
            name: "identity".into(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }

    /// Builds the model and checks that it loads.
    pub fn build(&self) -> Result<ModelProto> {
        if self.sentences.is_empty() {
            return Err(IcetkError::EmptyCorpus);
        }
        if let Some(i) = self.user_defined.iter().position(String::is_empty) {
            return Err(IcetkError::InvalidModel(format!(
                "user-defined symbol {i} is empty"
            )));
        }
        let spec = Self::normalizer_spec();
        let normalizer = Normalizer::new(&spec, self.user_defined.iter().map(String::as_str))?;
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut chars: BTreeSet<char> = BTreeSet::new();
        let longest = self
            .lexicon
            .iter()
            .map(|w| w.chars().count())
            .max()
            .unwrap_or(1);
        for (sentence, &times) in &self.sentences {
            let normalized = normalizer.normalize(sentence);
            for part in split_user_defined(&normalized, &self.user_defined) {
                chars.extend(part.chars());
                for piece in self.segment(part, longest) {
                    *counts.entry(piece.to_owned()).or_default() += times;
                }
            }
        }
        for c in chars {
            counts.entry(c.to_string()).or_insert(1);
        }
        for symbol in &self.user_defined {
            counts.remove(symbol);
        }
        for special in ["<unk>", "<s>", "</s>"] {
            counts.remove(special);
        }
        let total: u64 = counts.values().sum();
        // Sorted by score (count) descending, then by piece, so the output is deterministic.
        let mut ranked: BTreeMap<(std::cmp::Reverse<u64>, String), ()> = BTreeMap::new();
        for (piece, count) in counts {
            ranked.insert((std::cmp::Reverse(count), piece), ());
        }
        let special = |piece: &str, kind| SentencePiece {
            piece: piece.into(),
            score: 0.0,
            kind,
        };
        let mut pieces = vec![
            special("<unk>", PieceType::Unknown),
            special("<s>", PieceType::Control),
            special("</s>", PieceType::Control),
        ];
        pieces.extend(
            self.user_defined
                .iter()
                .map(|s| special(s, PieceType::UserDefined)),
        );
        pieces.extend(
            ranked
                .into_keys()
                .map(|(std::cmp::Reverse(count), piece)| SentencePiece {
                    piece,
                    score: (count as f64 / total as f64).ln() as f32,
                    kind: PieceType::Normal,
                }),
        );
        let vocab_size = i32::try_from(pieces.len()).map_err(|_| {
            IcetkError::InvalidModel(format!(
                "{} pieces do not fit an int32 vocab_size",
                pieces.len()
            ))
        })?;
        let proto = ModelProto {
            pieces,
            trainer_spec: TrainerSpec {
                model_type: ModelType::Unigram,
                vocab_size,
                ..TrainerSpec::default()
            },
            normalizer_spec: spec,
            denormalizer_spec: None,
        };
        // Rejects duplicate pieces (a user-defined symbol listed twice) exactly as loading would.
        SentencePieceModel::from_proto(proto.clone())?;
        tracing::debug!(
            sentences = self.sentences.len(),
            pieces = proto.pieces.len(),
            "built unigram vocabulary"
        );
        Ok(proto)
    }

    /// [`build`](Self::build), serialized in SentencePiece's `.model` format.
    pub fn build_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.build()?.encode())
    }

    /// Pieces of one normalised, symbol-free stretch of text: `▁`-prefixed words whole, unspaced runs by
    /// greedy longest lexicon match (single characters where nothing matches).
    fn segment<'t>(&self, text: &'t str, longest: usize) -> Vec<&'t str> {
        let mut out = Vec::new();
        for word in split_words(text) {
            let mut rest = word;
            while !rest.is_empty() {
                let first_unspaced = rest.find(is_unspaced).unwrap_or(rest.len());
                if first_unspaced > 0 {
                    // A spaced run (with its `▁`) is one piece, except that ASCII punctuation stands alone
                    // (`▁left,` → `▁left` `,`), so a word is one piece wherever it sits in a sentence.
                    let mut run = &rest[..first_unspaced];
                    while !run.is_empty() {
                        let cut = match run.find(|c: char| c.is_ascii_punctuation()) {
                            Some(0) => 1,
                            Some(i) => i,
                            None => run.len(),
                        };
                        out.push(&run[..cut]);
                        run = &run[cut..];
                    }
                    rest = &rest[first_unspaced..];
                    continue;
                }
                let run_end = rest
                    .char_indices()
                    .find(|&(_, c)| !is_unspaced(c))
                    .map_or(rest.len(), |(i, _)| i);
                let mut run = &rest[..run_end];
                while !run.is_empty() {
                    let first = run.chars().next().map_or(run.len(), char::len_utf8);
                    let ends: Vec<usize> = run
                        .char_indices()
                        .map(|(i, c)| i + c.len_utf8())
                        .take(longest)
                        .collect();
                    let end = ends
                        .into_iter()
                        .rev()
                        .find(|&e| self.lexicon.contains(&run[..e]))
                        .unwrap_or(first);
                    out.push(&run[..end]);
                    run = &run[end..];
                }
                rest = &rest[run_end..];
            }
        }
        out
    }
}

/// Splits `text` around user-defined symbols, dropping the symbols (they are pieces already).
fn split_user_defined<'t>(text: &'t str, symbols: &[String]) -> Vec<&'t str> {
    let mut parts = Vec::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (i, _) in rest.char_indices() {
            if let Some(symbol) = symbols.iter().find(|s| rest[i..].starts_with(s.as_str())) {
                parts.push(&rest[..i]);
                rest = &rest[i + symbol.len()..];
                continue 'outer;
            }
        }
        parts.push(rest);
        break;
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Words of normalised text: each starts at a `▁` (SentencePiece's `SplitIntoWords`).
fn split_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(SPACE_SYMBOL) {
        if i > start {
            words.push(&text[start..i]);
        }
        start = i;
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_rules() {
        let b = UnigramVocabBuilder::new().lexicon(["白色", "背景", "左上角"]);
        assert_eq!(
            b.segment("▁a▁red,▁白色背景上左上角!", 3),
            ["▁a", "▁red", ",", "▁", "白色", "背景", "上", "左上角", "!"]
        );
        assert_eq!(split_words("▁a▁▁b"), ["▁a", "▁", "▁b"]);
        assert_eq!(
            split_user_defined("▁a<n>▁b<n>", &["<n>".to_string()]),
            ["▁a", "▁b"]
        );
    }

    #[test]
    fn empty_corpus_is_an_error() {
        assert!(matches!(
            UnigramVocabBuilder::new().build(),
            Err(IcetkError::EmptyCorpus)
        ));
        let mut b = UnigramVocabBuilder::new().user_defined_symbols(["<n>", "<n>"]);
        b.add_sentence("a");
        assert!(matches!(b.build(), Err(IcetkError::InvalidModel(_))));
    }
}
