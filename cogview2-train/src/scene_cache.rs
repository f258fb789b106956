//! Encoded scenes on disk: encoding thousands of 96 px scenes through the VQ-VAE takes longer than a short SR
//! run, so DSR and ITERSR runs (and their resumes) share one encoding.
//!
//! Format: a safetensors file of four int64 tensors, one row per scene — `lowres` `[N, lo]`, `hires` `[N, hi]`,
//! `english` `[N, Le]` and `chinese` `[N, Lc]`, the captions right-padded with −1.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, TrainError};
use crate::scene_rows::SceneTokens;

/// Right padding of the caption tensors (never an id).
const PAD: i64 = -1;
const NAMES: [&str; 4] = ["lowres", "hires", "english", "chinese"];

/// Writes `scenes` to `path` (see the module docs). Every scene must have the same code counts.
pub fn write_scene_tokens(scenes: &[SceneTokens], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let fail = |reason: String| TrainError::Safetensors { path: path.to_path_buf(), reason };
    let first = scenes.first().ok_or_else(|| fail("no scenes to write".into()))?;
    if let Some(i) = scenes.iter().position(|s| s.lowres.len() != first.lowres.len() || s.hires.len() != first.hires.len()) {
        return Err(fail(format!("scene {i} has other grid sizes than scene 0")));
    }
    let columns: [Vec<&[i64]>; 4] = [
        scenes.iter().map(|s| s.lowres.as_slice()).collect(),
        scenes.iter().map(|s| s.hires.as_slice()).collect(),
        scenes.iter().map(|s| s.english.as_slice()).collect(),
        scenes.iter().map(|s| s.chinese.as_slice()).collect(),
    ];
    let encoded: Vec<(usize, Vec<u8>)> = columns
        .iter()
        .map(|rows| {
            let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
            let bytes = rows
                .iter()
                .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(PAD, width - r.len())))
                .flat_map(i64::to_le_bytes)
                .collect();
            (width, bytes)
        })
        .collect();
    let views = NAMES
        .iter()
        .zip(&encoded)
        .map(|(name, (width, bytes))| {
            TensorView::new(Dtype::I64, vec![scenes.len(), *width], bytes)
                .map(|view| (name.to_string(), view))
                .map_err(|e| fail(format!("{name}: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = safetensors::serialize(views, &None).map_err(|e| fail(format!("{e:?}")))?;
    // Written aside and renamed, so a stage waiting for the cache never reads half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, out).map_err(|source| TrainError::Io { path: partial.clone(), source })?;
    std::fs::rename(&partial, path).map_err(|source| TrainError::Io { path: path.to_path_buf(), source })
}

/// Reads a file written by [`write_scene_tokens`]; a missing or mis-typed tensor, differing scene counts or an id
/// below −1 is an error naming the file.
pub fn read_scene_tokens(path: impl AsRef<Path>) -> Result<Vec<SceneTokens>> {
    let path = path.as_ref();
    let fail = |reason: String| TrainError::Safetensors { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|source| TrainError::Io { path: path.to_path_buf(), source })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fail(format!("{e:?}")))?;
    let mut tables = HashMap::new();
    for name in NAMES {
        let view = st.tensor(name).map_err(|e| fail(format!("tensor `{name}`: {e:?}")))?;
        if view.dtype() != Dtype::I64 || view.shape().len() != 2 {
            return Err(fail(format!("`{name}` is {:?} {:?}, expected I64 [scenes, width]", view.dtype(), view.shape())));
        }
        let values: Vec<i64> =
            view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8-byte chunk"))).collect();
        if let Some(bad) = values.iter().find(|&&v| v < PAD) {
            return Err(fail(format!("`{name}` holds {bad}, not an id")));
        }
        tables.insert(name, (view.shape()[0], view.shape()[1], values));
    }
    let count = tables["lowres"].0;
    if let Some(name) = NAMES.iter().find(|n| tables[*n].0 != count) {
        return Err(fail(format!("`{name}` has {} scenes, `lowres` {count}", tables[name].0)));
    }
    let row = |name: &str, i: usize, strip: bool| -> Vec<i64> {
        let (_, width, values) = &tables[name];
        let r = &values[i * width..(i + 1) * width];
        if strip { r.iter().copied().take_while(|&v| v != PAD).collect() } else { r.to_vec() }
    };
    let scenes: Vec<SceneTokens> = (0..count)
        .map(|i| SceneTokens {
            lowres: row("lowres", i, false),
            hires: row("hires", i, false),
            english: row("english", i, true),
            chinese: row("chinese", i, true),
        })
        .collect();
    if let Some(i) = scenes.iter().position(|s| s.lowres.contains(&PAD) || s.hires.contains(&PAD)) {
        return Err(fail(format!("scene {i} has padding among its image codes")));
    }
    Ok(scenes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(k: i64, text_len: usize) -> SceneTokens {
        SceneTokens {
            english: (0..text_len as i64).map(|t| 500 + t + k).collect(),
            chinese: vec![600 + k; text_len + 2],
            lowres: vec![k; 4],
            hires: (0..9).map(|t| t * k).collect(),
        }
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cogview2-scene-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn scenes_round_trip_with_ragged_captions() {
        let scenes = vec![scene(1, 3), scene(2, 7), scene(3, 1)];
        let path = temp("round_trip.safetensors");
        write_scene_tokens(&scenes, &path).unwrap();
        assert_eq!(read_scene_tokens(&path).unwrap(), scenes);
    }

    #[test]
    fn bad_files_are_errors() {
        let path = temp("bad.safetensors");
        assert!(matches!(write_scene_tokens(&[], &path), Err(TrainError::Safetensors { .. })));
        let mut other = scene(2, 2);
        other.hires.pop();
        assert!(write_scene_tokens(&[scene(1, 2), other], &path).is_err(), "grids must agree");

        write_scene_tokens(&[scene(1, 2), scene(2, 2)], &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(matches!(read_scene_tokens(&path), Err(TrainError::Safetensors { .. })), "truncated");

        crate::scene_rows::write_safetensors_rows(&crate::data::InMemoryRows::new(vec![vec![1, 2]]).unwrap(), &path)
            .unwrap();
        let err = read_scene_tokens(&path).unwrap_err().to_string();
        assert!(err.contains("lowres"), "a rows file is not a scene cache: {err}");
    }
}
