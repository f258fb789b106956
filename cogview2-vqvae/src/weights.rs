//! Strict loading of HVQVAE weights from safetensors under the official icetk parameter names.
//!
//! The module tree mirrors the checkpoint, so a parameter's path (`decs.1.up.2.block.0.norm1.weight`) is its key:
//! a [`ModuleMapper`] walks the tree, takes each tensor by path and checks its shape. Every parameter must be
//! filled and every tensor consumed; the EMA buffers (`quantize.cluster_size`, `quantize.embed_avg`) are loaded
//! when present but may be absent, since inference never reads them.
//!
//! [`save_safetensors`] is the inverse: every float parameter as F32 under its path, so a trained model
//! (EMA buffers included) reads back through [`load_safetensors`].

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::config::HvqvaeConfig;
use crate::error::{Result, VqvaeError};
use crate::model::Hvqvae;

/// Training-only buffers that a checkpoint may omit.
const OPTIONAL: [&str; 2] = ["quantize.cluster_size", "quantize.embed_avg"];

/// One tensor of a weights file, widened to f32 when its dtype is supported.
#[derive(Debug)]
struct Stored {
    shape: Vec<usize>,
    values: std::result::Result<Vec<f32>, Dtype>,
}

/// The tensors of one safetensors file by name, as f32 (F32, F16 and BF16 are accepted).
pub struct WeightFile {
    file: String,
    tensors: BTreeMap<String, Stored>,
}

impl std::fmt::Debug for WeightFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeightFile({}, {} tensors)", self.file, self.tensors.len())
    }
}

impl WeightFile {
    /// Reads and validates the whole file (header, offsets, length).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| VqvaeError::Io { path: path.into(), source })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses safetensors bytes; `file` names the source in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Self> {
        let parsed = SafeTensors::deserialize(bytes)
            .map_err(|e| VqvaeError::InvalidWeightsFile { file: file.to_string(), reason: e.to_string() })?;
        let tensors = parsed
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let stored = Stored { shape: view.shape().to_vec(), values: to_f32(view.dtype(), view.data()) };
                (name, stored)
            })
            .collect();
        Ok(Self { file: file.to_string(), tensors })
    }

    /// Number of tensors not yet consumed.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether every tensor has been consumed.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Takes one tensor out, checking its shape; `Ok(None)` when absent.
    fn take(&mut self, name: &str, expected: &[usize]) -> Result<Option<TensorData>> {
        let Some(stored) = self.tensors.remove(name) else {
            return Ok(None);
        };
        if stored.shape != expected {
            return Err(VqvaeError::ShapeMismatch {
                name: name.to_string(),
                file: self.file.clone(),
                found: stored.shape,
                expected: expected.to_vec(),
            });
        }
        match stored.values {
            Ok(values) => Ok(Some(TensorData::new(values, stored.shape))),
            Err(dtype) => Err(VqvaeError::UnsupportedDtype {
                name: name.to_string(),
                file: self.file.clone(),
                dtype: format!("{dtype:?}"),
            }),
        }
    }
}

/// Little-endian bytes → f32 values; `Err(dtype)` for dtypes that are not float weights we widen.
fn to_f32(dtype: Dtype, data: &[u8]) -> std::result::Result<Vec<f32>, Dtype> {
    // chunks_exact copies: safetensors data need not be 4-byte aligned.
    match dtype {
        Dtype::F32 => Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        Dtype::F16 => Ok(data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
        Dtype::BF16 => Ok(data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
        other => Err(other),
    }
}

/// Fills every float parameter of a module from a [`WeightFile`], by parameter path.
struct Filler<'a> {
    weights: &'a mut WeightFile,
    path: Vec<String>,
    error: Option<VqvaeError>,
}

impl<B: Backend> ModuleMapper<B> for Filler<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.join(".");
        // lazy_shape/lazy_device: no random initialisation of parameters about to be overwritten.
        let expected = param.lazy_shape().to_vec();
        match self.weights.take(&name, &expected) {
            Ok(Some(data)) => Param::initialized(param.id, Tensor::from_data(data, &param.lazy_device())),
            Ok(None) if OPTIONAL.contains(&name.as_str()) => {
                tracing::warn!(tensor = %name, file = %self.weights.file, "training buffer absent; left at zero");
                param
            }
            Ok(None) => {
                self.error = Some(VqvaeError::MissingTensor { name, file: self.weights.file.clone() });
                param
            }
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// Loads every parameter of `module` from `weights` by its path; fails on the first missing, mis-shaped or
/// unsupported tensor, and when tensors remain unused.
pub fn load_module<B: Backend, M: Module<B>>(module: M, mut weights: WeightFile) -> Result<M> {
    let mut filler = Filler { weights: &mut weights, path: Vec::new(), error: None };
    let module = module.map(&mut filler);
    if let Some(error) = filler.error {
        return Err(error);
    }
    if let Some(first) = weights.tensors.keys().next() {
        return Err(VqvaeError::UnexpectedTensors {
            file: weights.file.clone(),
            count: weights.tensors.len(),
            first: first.clone(),
        });
    }
    Ok(module)
}

/// Builds the model of `config` and fills it from the safetensors file at `path` (official icetk names).
pub fn load_safetensors<B: Backend>(
    config: &HvqvaeConfig,
    path: impl AsRef<Path>,
    device: &B::Device,
) -> Result<Hvqvae<B>> {
    let path = path.as_ref();
    let _span = tracing::info_span!("load_vqvae", file = %path.display()).entered();
    let weights = WeightFile::read(path)?;
    let model = Hvqvae::new(config, device)?;
    load_module(model, weights)
}

/// Collects every float parameter of a module as (path, shape, little-endian f32 bytes).
struct Collector {
    path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    error: Option<String>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let value = param.val();
        let shape = value.dims().to_vec();
        match value.into_data().convert::<f32>().into_vec::<f32>() {
            Ok(values) => {
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                self.tensors.push((name, shape, bytes));
            }
            Err(e) => self.error = Some(format!("{name}: {e:?}")),
        }
    }
}

/// Writes every float parameter of `module` to a safetensors file as F32, keyed by parameter path (for
/// [`Hvqvae`] these are the official icetk names, so [`load_safetensors`] reads the file back).
pub fn save_safetensors<B: Backend, M: Module<B>>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut collector = Collector { path: Vec::new(), tensors: Vec::new(), error: None };
    module.visit(&mut collector);
    let fail = |reason: String| VqvaeError::Checkpoint { path: path.into(), reason };
    if let Some(e) = collector.error {
        return Err(fail(format!("cannot read parameter {e}")));
    }
    let views = collector
        .tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| fail(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize_to_file(views, &None, path).map_err(|e| fail(format!("cannot write: {e}")))
}
