//! Strict safetensors loading under the official parameter names.
//!
//! Every model builds its parameters by *taking* tensors by name from a [`SafetensorsWeights`]; [`finish`]
//! then fails on any tensor nobody took. So "every parameter filled, every tensor consumed" holds by construction,
//! and each failure names the tensor and the file.
//!
//! [`finish`]: SafetensorsWeights::finish

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorInfo};

use crate::error::{CoreError, Result};

/// A parsed safetensors file whose tensors are handed out once each.
pub struct SafetensorsWeights {
    file: String,
    bytes: Vec<u8>,
    data_start: usize,
    remaining: BTreeMap<String, TensorInfo>,
}

impl std::fmt::Debug for SafetensorsWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsWeights")
            .field("file", &self.file)
            .field("bytes", &self.bytes.len())
            .field("remaining", &self.remaining.len())
            .finish()
    }
}

impl SafetensorsWeights {
    /// Reads and validates a safetensors file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(bytes, path.display().to_string())
    }

    /// Validates an in-memory safetensors buffer; `label` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, label: impl Into<String>) -> Result<Self> {
        let file = label.into();
        let invalid = |e: safetensors::SafeTensorError| CoreError::InvalidWeightsFile {
            file: file.clone(),
            reason: format!("{e:?}"),
        };
        // `deserialize` checks the header and that every offset lies inside the buffer (catches truncation).
        SafeTensors::deserialize(&bytes).map_err(invalid)?;
        let (header_len, metadata) = SafeTensors::read_metadata(&bytes).map_err(invalid)?;
        let remaining = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, info.clone()))
            .collect();
        Ok(Self {
            file,
            bytes,
            data_start: 8 + header_len,
            remaining,
        })
    }

    /// The file these weights came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Whether a tensor of this name is still available.
    pub fn contains(&self, name: &str) -> bool {
        self.remaining.contains_key(name)
    }

    /// Names not taken yet, sorted.
    pub fn remaining_names(&self) -> impl Iterator<Item = &str> {
        self.remaining.keys().map(String::as_str)
    }

    /// Shape of a tensor not taken yet.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.remaining.get(name).map(|info| info.shape.as_slice())
    }

    /// Takes a float tensor as f32 values, checking its shape.
    pub fn take_f32(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let info = self.remaining.remove(name).ok_or_else(|| CoreError::MissingTensor {
            name: name.to_string(),
            file: self.file.clone(),
        })?;
        if info.shape != expected {
            return Err(CoreError::ShapeMismatch {
                name: name.to_string(),
                file: self.file.clone(),
                expected: expected.to_vec(),
                found: info.shape,
            });
        }
        let raw = &self.bytes[self.data_start + info.data_offsets.0..self.data_start + info.data_offsets.1];
        let values = match info.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("chunk of 8")) as f32)
                .collect(),
            other => {
                return Err(CoreError::UnsupportedDtype {
                    name: name.to_string(),
                    file: self.file.clone(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        Ok(values)
    }

    /// Takes a float tensor onto `device`, checking its shape.
    pub fn take<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let values = self.take_f32(name, &expected)?;
        Ok(Tensor::from_data(TensorData::new(values, expected), device))
    }

    /// Takes `<prefix>.weight` (PyTorch layout `[d_out, d_in]`) and `<prefix>.bias` into a burn [`Linear`]
    /// (layout `[d_in, d_out]`).
    pub fn take_linear<B: Backend>(
        &mut self,
        prefix: &str,
        d_input: usize,
        d_output: usize,
        device: &B::Device,
    ) -> Result<Linear<B>> {
        let out_in = self.take_f32(&format!("{prefix}.weight"), &[d_output, d_input])?;
        // Transposed on the host so the parameter is contiguous: a transposed view would be re-laid out by some
        // backends on every matmul.
        let mut in_out = vec![0.0f32; out_in.len()];
        for (o, row) in out_in.chunks_exact(d_input.max(1)).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                in_out[i * d_output + o] = w;
            }
        }
        let weight = Tensor::<B, 2>::from_data(TensorData::new(in_out, [d_input, d_output]), device);
        let bias: Tensor<B, 1> = self.take(&format!("{prefix}.bias"), [d_output], device)?;
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// Takes `<prefix>.weight` `[rows, dim]` into an [`Embedding`].
    pub fn take_embedding<B: Backend>(
        &mut self,
        prefix: &str,
        rows: usize,
        dim: usize,
        device: &B::Device,
    ) -> Result<Embedding<B>> {
        let weight: Tensor<B, 2> = self.take(&format!("{prefix}.weight"), [rows, dim], device)?;
        Ok(Embedding {
            weight: Param::from_tensor(weight),
        })
    }

    /// Fails if any tensor was not taken: the file belongs to another model or config.
    pub fn finish(self) -> Result<()> {
        match self.remaining.keys().next() {
            None => Ok(()),
            Some(first) => Err(CoreError::UnexpectedTensors {
                file: self.file.clone(),
                count: self.remaining.len(),
                first: first.clone(),
            }),
        }
    }
}
