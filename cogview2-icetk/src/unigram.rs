//! Unigram segmentation: SentencePiece's optimised Viterbi (src/unigram_model.cc, `Model::EncodeOptimized`),
//! which keeps only the best path ending at each byte position, so a text of n bytes costs O(n · k) for k the
//! longest piece.

use crate::proto::PieceType;
use crate::trie::PieceTrie;

/// Unknown characters score this much below the worst NORMAL piece (`kUnkPenalty`).
const UNK_PENALTY: f32 = 10.0;

/// One segment of the normalised text: byte range and piece id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: usize,
    pub end: usize,
    pub id: u32,
}

/// Best path ending at one byte position (`BestPathNode`, with the score in f64, see `segment`).
#[derive(Clone, Copy)]
struct BestPath {
    id: u32,
    score: f64,
    /// Start of the last piece, `usize::MAX` while no path ends here.
    starts_at: usize,
}

/// The lattice-free Viterbi segmenter of one model.
#[derive(Clone)]
pub(crate) struct Unigram {
    /// NORMAL, USER_DEFINED and UNUSED pieces (SentencePiece's `pieces_`), to their ids.
    trie: PieceTrie,
    scores: Vec<f32>,
    kinds: Vec<PieceType>,
    min_score: f32,
    max_score: f32,
    unk_id: u32,
}

/// Length in bytes of the UTF-8 character starting with `byte` (`string_util::OneCharLen`).
fn one_char_len(byte: u8) -> usize {
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4][usize::from(byte >> 4)]
}

impl Unigram {
    /// `trie` maps the encodable pieces to ids; `scores` and `kinds` are indexed by id; `unk_id` is the id of
    /// the UNKNOWN piece.
    pub(crate) fn new(
        trie: PieceTrie,
        scores: Vec<f32>,
        kinds: Vec<PieceType>,
        unk_id: u32,
    ) -> Self {
        // SentencePiece starts the maximum at FLT_MIN (the smallest positive float), not at -inf.
        let (mut min_score, mut max_score) = (f32::MAX, f32::MIN_POSITIVE);
        for (&score, &kind) in scores.iter().zip(&kinds) {
            if kind == PieceType::Normal {
                min_score = min_score.min(score);
                max_score = max_score.max(score);
            }
        }
        Self {
            trie,
            scores,
            kinds,
            min_score,
            max_score,
            unk_id,
        }
    }

    /// Best segmentation of `normalized` (ties keep the first path found), `<unk>` for characters no piece
    /// covers. Consecutive unknown segments are not merged here.
    pub(crate) fn segment(&self, normalized: &str) -> Vec<Segment> {
        let text = normalized.as_bytes();
        let size = text.len();
        if size == 0 {
            return Vec::new();
        }
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            BestPath {
                id: 0,
                score: 0.0,
                starts_at: usize::MAX
            };
            size + 1
        ];
        let mut starts_at = 0;
        while starts_at < size {
            let till_here = best[starts_at].score;
            let mblen = one_char_len(text[starts_at]).min(size - starts_at);
            let mut has_single_node = false;
            self.trie.for_each_prefix(&text[starts_at..], |length, id| {
                let kind = self.kinds[id as usize];
                if kind == PieceType::Unused {
                    return;
                }
                // Path scores are kept in f64: checked against sentencepiece 0.2.3 on 50 000 random strings
                // and a 1 MiB corpus, f32 path scores (as in older sources) pick different ties once the
                // total passes about 1e6, i.e. after some 100 000 pieces.
                let score = if kind == PieceType::UserDefined {
                    f64::from(length as f32 * self.max_score) - 0.1
                } else {
                    f64::from(self.scores[id as usize])
                };
                let candidate = score + till_here;
                let target = &mut best[starts_at + length];
                if target.starts_at == usize::MAX || candidate > target.score {
                    *target = BestPath {
                        id,
                        score: candidate,
                        starts_at,
                    };
                }
                if length == mblen {
                    has_single_node = true;
                }
            });
            if !has_single_node {
                let candidate = f64::from(unk_score) + till_here;
                let target = &mut best[starts_at + mblen];
                if target.starts_at == usize::MAX || candidate > target.score {
                    *target = BestPath {
                        id: self.unk_id,
                        score: candidate,
                        starts_at,
                    };
                }
            }
            starts_at += mblen;
        }
        let mut segments = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            // Every character boundary is reachable (a piece or `<unk>` covers each character); the guard
            // only keeps a logic error from looping.
            if node.starts_at >= end {
                break;
            }
            segments.push(Segment {
                start: node.starts_at,
                end,
                id: node.id,
            });
            end = node.starts_at;
        }
        segments.reverse();
        segments
    }
}
