//! Where token rows come from. The official data are fixed-length int64 rows (512 tokens): text–image rows
//! `text1 <pad> [text2 <pad>] <pad>* image` and pure text rows. A dataset crate plugs in by implementing
//! [`RowSource`].

use std::ops::Range;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

use crate::error::{Result, TrainError};
use crate::tokens::SpecialTokens;

/// A finite, indexable set of token rows.
pub trait RowSource {
    /// Number of rows.
    fn len(&self) -> usize;

    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `index` (every row of a source has the same length).
    fn row(&self, index: usize) -> Result<Vec<i64>>;
}

/// Rows held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct InMemoryRows {
    rows: Vec<Vec<i64>>,
}

impl InMemoryRows {
    /// Wraps rows; they must all have the same, non-zero length.
    pub fn new(rows: Vec<Vec<i64>>) -> Result<Self> {
        if let Some(first) = rows.first() {
            if first.is_empty() || rows.iter().any(|r| r.len() != first.len()) {
                return Err(TrainError::InvalidRow("rows must be non-empty and of equal length".into()));
            }
        }
        Ok(Self { rows })
    }

    /// Joins row sets end to end (rows of several files, say); they must share one row length.
    pub fn concat(sets: impl IntoIterator<Item = InMemoryRows>) -> Result<Self> {
        let mut rows = Vec::new();
        for set in sets {
            if let (Some(have), Some(next)) = (rows.first().map(Vec::len), set.rows.first().map(Vec::len)) {
                if have != next {
                    return Err(TrainError::InvalidRow(format!("cannot join rows of {have} and {next} tokens")));
                }
            }
            rows.extend(set.rows);
        }
        Self::new(rows)
    }

    /// Random rows in the official layouts: a `text_share` of pure text rows, the others text–image rows with one
    /// or two captions (English ids `[first_english_id, first_chinese_id)`, Chinese `[first_chinese_id,
    /// end_chinese_id)`) and uniformly random image codes.
    pub fn synthetic(count: usize, len: usize, text_share: f64, tokens: &SpecialTokens, seed: u64) -> Result<Self> {
        tokens.validate()?;
        let n_img = tokens.image_len();
        if len < n_img + 4 {
            return Err(TrainError::InvalidRow(format!(
                "synthetic rows of {len} tokens cannot hold a caption and {n_img} image codes"
            )));
        }
        let english = tokens.first_english_id..tokens.first_chinese_id;
        let chinese = tokens.first_chinese_id..tokens.end_chinese_id;
        if english.is_empty() || chinese.is_empty() {
            return Err(TrainError::InvalidConfig("synthetic rows need non-empty English and Chinese id ranges".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draw = |rng: &mut ChaCha8Rng, range: &Range<i64>, n: usize| -> Vec<i64> {
            (0..n).map(|_| rng.random_range(range.clone())).collect()
        };
        let rows = (0..count)
            .map(|_| {
                if rng.random::<f64>() < text_share {
                    return draw(&mut rng, &english, len);
                }
                let text_room = len - n_img;
                let mut row = Vec::with_capacity(len);
                let two = text_room >= 5 && rng.random::<bool>();
                let first_len = rng.random_range(1..=(text_room - if two { 3 } else { 1 }).min(text_room / 2).max(1));
                let first_lang = if rng.random::<bool>() { &english } else { &chinese };
                row.extend(draw(&mut rng, first_lang, first_len));
                row.push(tokens.pad);
                if two {
                    let second_len = rng.random_range(1..=(text_room - first_len - 2).max(1));
                    let second_lang = if std::ptr::eq(first_lang, &english) { &chinese } else { &english };
                    row.extend(draw(&mut rng, second_lang, second_len));
                    row.push(tokens.pad);
                }
                row.resize(text_room, tokens.pad);
                row.extend(draw(&mut rng, &(0..tokens.num_image_tokens), n_img));
                row
            })
            .collect();
        Self::new(rows)
    }
}

impl RowSource for InMemoryRows {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn row(&self, index: usize) -> Result<Vec<i64>> {
        self.rows
            .get(index)
            .cloned()
            .ok_or_else(|| TrainError::InvalidRow(format!("row {index} of {}", self.rows.len())))
    }
}

/// Rows from an int64 `[rows, len]` tensor named `rows` in a safetensors file.
pub fn safetensors_rows(path: impl AsRef<Path>) -> Result<InMemoryRows> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let fail = |reason: String| TrainError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fail(format!("{e:?}")))?;
    let view = st.tensor("rows").map_err(|e| fail(format!("tensor `rows`: {e:?}")))?;
    let shape = view.shape();
    if view.dtype() != Dtype::I64 || shape.len() != 2 {
        return Err(fail(format!("`rows` must be I64 [rows, len], found {:?} {shape:?}", view.dtype())));
    }
    let values: Vec<i64> = view
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    InMemoryRows::new(values.chunks(shape[1].max(1)).map(<[i64]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::MaskingConfig;
    use crate::sampler::MaskingSampler;

    #[test]
    fn safetensors_rows_round_trip_and_reject_floats() {
        let path = std::env::temp_dir().join(format!("cogview2-train-rows-{}.safetensors", std::process::id()));
        let values: Vec<i64> = (0..12).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(Dtype::I64, vec![3, 4], &bytes).unwrap();
        std::fs::write(&path, safetensors::serialize([("rows", view)], &None).unwrap()).unwrap();
        let rows = safetensors_rows(&path).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.row(2).unwrap(), vec![8, 9, 10, 11]);
        assert!(rows.row(3).is_err());

        let floats: Vec<u8> = [0.0f32; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![1, 4], &floats).unwrap();
        std::fs::write(&path, safetensors::serialize([("rows", view)], &None).unwrap()).unwrap();
        assert!(matches!(safetensors_rows(&path), Err(TrainError::Safetensors { .. })));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn concat_keeps_order_and_rejects_mixed_lengths() {
        let a = InMemoryRows::new(vec![vec![1, 2], vec![3, 4]]).unwrap();
        let b = InMemoryRows::new(vec![vec![5, 6]]).unwrap();
        let joined = InMemoryRows::concat([a.clone(), InMemoryRows::new(vec![]).unwrap(), b]).unwrap();
        assert_eq!(joined.len(), 3);
        assert_eq!(joined.row(2).unwrap(), vec![5, 6]);
        let c = InMemoryRows::new(vec![vec![7, 8, 9]]).unwrap();
        assert!(matches!(InMemoryRows::concat([a, c]), Err(TrainError::InvalidRow(_))));
    }

    #[test]
    fn synthetic_rows_are_accepted_by_the_sampler() {
        let tokens = SpecialTokens::icetk();
        let rows = InMemoryRows::synthetic(30, 512, 0.3, &tokens, 3).unwrap();
        let mut sampler = MaskingSampler::new(MaskingConfig::default(), tokens, 4).unwrap();
        for i in 0..rows.len() {
            let s = sampler.sample(&rows.row(i).unwrap()).unwrap();
            assert_eq!(s.len(), 512);
        }
    }
}
