//! Text normalisation exactly as SentencePiece applies it before segmentation (src/normalizer.cc,
//! `Normalizer::Normalize` and `NormalizePrefix`): user-defined symbols pass verbatim, otherwise the longest
//! rule of the precompiled charsmap that matches the input bytes is applied, otherwise one code point is
//! copied; then extra whitespace is removed, a dummy prefix added and spaces escaped as `▁`.
//!
//! The charsmap is not per-code-point NFKC: it also blanks control characters, turns tabs and newlines
//! into spaces and composes multi-code-point sequences, which is why it is read from the model file.

use crate::darts::DoubleArray;
use crate::error::{IcetkError, Result};
use crate::proto::NormalizerSpec;
use crate::trie::PieceTrie;

/// The whitespace meta symbol `▁` (U+2581).
pub const SPACE_SYMBOL: &str = "\u{2581}";

/// SentencePiece keeps only this many trie matches per position (`Normalizer::kMaxTrieResultsSize`).
const MAX_TRIE_RESULTS: usize = 32;

/// The precompiled charsmap: a darts-clone trie whose values are offsets of NUL-terminated replacements.
#[derive(Clone)]
struct Charsmap {
    trie: DoubleArray,
    /// All replacement strings, each terminated by NUL (checked to be UTF-8 at load).
    replacements: Vec<u8>,
}

impl Charsmap {
    /// Blob layout: u32 (LE) trie size in bytes, the trie units, then the replacement strings.
    fn parse(blob: &[u8]) -> Result<Self> {
        let broken =
            |why: &str| IcetkError::InvalidModel(format!("precompiled_charsmap is broken: {why}"));
        if blob.len() <= 4 {
            return Err(broken("shorter than its 4-byte header"));
        }
        let trie_size = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if trie_size >= blob.len() {
            return Err(broken("trie size exceeds the blob"));
        }
        let rest = &blob[4..];
        let (trie_bytes, replacements) = rest.split_at(trie_size.min(rest.len()));
        let trie = DoubleArray::from_le_bytes(trie_bytes);
        if trie.len() == 0 {
            return Err(broken("empty trie"));
        }
        std::str::from_utf8(replacements)
            .map_err(|e| broken(&format!("replacement strings are not UTF-8 ({e})")))?;
        let replacements = replacements.to_vec();
        Ok(Self { trie, replacements })
    }

    /// Longest rule matching a prefix of `input`: (bytes consumed, replacement).
    #[inline]
    fn longest_match(&self, input: &[u8]) -> Option<(usize, &[u8])> {
        let mut longest: Option<(usize, u32)> = None;
        self.trie
            .common_prefix_search(input, MAX_TRIE_RESULTS, |len, value| {
                if longest.is_none_or(|(l, _)| len > l) {
                    longest = Some((len, value));
                }
            });
        let (len, value) = longest?;
        // A value pointing outside the strings is a corrupt rule; ignore it.
        let tail = self.replacements.get(value as usize..)?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        Some((len, &tail[..end]))
    }
}

/// SentencePiece's normaliser for one model.
#[derive(Clone)]
pub struct Normalizer {
    charsmap: Option<Charsmap>,
    user_defined: PieceTrie,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl std::fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalizer")
            .field("charsmap", &self.charsmap.is_some())
            .field("add_dummy_prefix", &self.add_dummy_prefix)
            .field("remove_extra_whitespaces", &self.remove_extra_whitespaces)
            .field("escape_whitespaces", &self.escape_whitespaces)
            .finish()
    }
}

/// Byte length of the valid UTF-8 character at the start of `bytes`, if there is one.
#[inline]
fn char_len(bytes: &[u8]) -> Option<usize> {
    let n = match *bytes.first()? {
        0x00..=0x7f => return Some(1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let head = bytes.get(..n)?;
    std::str::from_utf8(head).ok().map(|_| n)
}

impl Normalizer {
    /// Builds the normaliser of `spec`; `user_defined` are the model's USER_DEFINED pieces.
    pub(crate) fn new<'a>(
        spec: &NormalizerSpec,
        user_defined: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        let charsmap = if spec.precompiled_charsmap.is_empty() {
            None
        } else {
            Some(Charsmap::parse(&spec.precompiled_charsmap)?)
        };
        Ok(Self {
            charsmap,
            user_defined: PieceTrie::build(user_defined.into_iter().map(|s| (s.as_bytes(), 0))),
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
        })
    }

    /// Normalised form (UTF-8 bytes) of the first unit of `input` and the number of input bytes consumed.
    #[inline]
    fn normalize_prefix<'s>(&'s self, input: &'s [u8]) -> (&'s [u8], usize) {
        if !self.user_defined.is_empty() {
            if let Some(len) = self.user_defined.longest_prefix(input) {
                return (&input[..len], len);
            }
        }
        if let Some(charsmap) = &self.charsmap {
            if let Some((len, replacement)) = charsmap.longest_match(input) {
                return (replacement, len);
            }
        }
        match char_len(input) {
            Some(len) => (&input[..len], len),
            // Malformed UTF-8 (only reachable when a rule ends inside a character): U+FFFD for one byte.
            None => ("\u{fffd}".as_bytes(), 1),
        }
    }

    /// Normalises `text` as SentencePiece does before segmentation (spaces become `▁` unless the model
    /// disables whitespace escaping). Empty when the text is empty or only whitespace.
    pub fn normalize(&self, text: &str) -> String {
        let mut input = text.as_bytes();
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (unit, consumed) = self.normalize_prefix(input);
                if unit != b" " {
                    break;
                }
                input = &input[consumed..];
            }
        }
        if input.is_empty() {
            return String::new();
        }
        let space = if self.escape_whitespaces {
            SPACE_SYMBOL.as_bytes()
        } else {
            b" "
        };
        let mut out: Vec<u8> = Vec::with_capacity(input.len() * 3 / 2 + 3);
        if self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut is_prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut unit, consumed) = self.normalize_prefix(input);
            if is_prev_space {
                while let [b' ', rest @ ..] = unit {
                    unit = rest;
                }
            }
            if let Some(&last) = unit.last() {
                if self.escape_whitespaces {
                    for &byte in unit {
                        if byte == b' ' {
                            out.extend_from_slice(SPACE_SYMBOL.as_bytes());
                        } else {
                            out.push(byte);
                        }
                    }
                } else {
                    out.extend_from_slice(unit);
                }
                is_prev_space = last == b' ';
            }
            input = &input[consumed..];
            if !self.remove_extra_whitespaces {
                is_prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        // Every unit is a whole input character, a user-defined symbol or a replacement string, all UTF-8;
        // only a corrupt charsmap offset could split a character, and that degrades to U+FFFD here.
        match String::from_utf8(out) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(user: &[&str]) -> Normalizer {
        Normalizer::new(&NormalizerSpec::default(), user.iter().copied()).unwrap()
    }

    #[test]
    fn whitespace_rules_without_charsmap() {
        let n = plain(&[]);
        assert_eq!(n.normalize("  a   b  "), "▁a▁b");
        assert_eq!(n.normalize("   "), "");
        assert_eq!(n.normalize(""), "");
        assert_eq!(n.normalize("a\tb"), "▁a\tb");
    }

    #[test]
    fn user_defined_symbols_pass_verbatim() {
        let n = plain(&["<n>"]);
        assert_eq!(n.normalize("a<n>b"), "▁a<n>b");
    }

    #[test]
    fn broken_charsmap_is_rejected() {
        let spec = NormalizerSpec {
            precompiled_charsmap: vec![9, 0, 0, 0, 1],
            ..Default::default()
        };
        assert!(matches!(
            Normalizer::new(&spec, []),
            Err(IcetkError::InvalidModel(_))
        ));
    }
}
