//! Writes a module's parameters as safetensors under their module paths, which for CogLM (and the SR models
//! built on it) are the official SwissArmyTransformer names, in the official layouts: burn's `Linear` stores its
//! weight `[in, out]`, the checkpoints (and the core loader) use PyTorch's `[out, in]`, so Linear weights are
//! transposed back here.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Result, TrainError};

/// One exported tensor: f32 values in the official layout.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Shape in the official layout.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Collects every float parameter with its dotted path; Linear weights transposed to `[out, in]`.
#[derive(Default)]
struct Collector {
    path: Vec<String>,
    containers: Vec<String>,
    tensors: BTreeMap<String, NamedTensor>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let tensor = param.val();
        let mut shape = tensor.dims().to_vec();
        let mut values: Vec<f32> = tensor.into_data().iter::<f32>().collect();
        // The derive enters a field with its owner's type: a Linear's weight arrives as ("weight", "Struct:Linear").
        let owner = self.containers.last().map(String::as_str);
        let is_linear_weight = owner == Some("Struct:Linear") && self.path.last().map(String::as_str) == Some("weight");
        if is_linear_weight && D == 2 {
            let (d_in, d_out) = (shape[0], shape[1]);
            let mut out_in = vec![0.0f32; values.len()];
            for i in 0..d_in {
                for o in 0..d_out {
                    out_in[o * d_in + i] = values[i * d_out + o];
                }
            }
            values = out_in;
            shape = vec![d_out, d_in];
        }
        self.tensors.insert(name, NamedTensor { shape, values });
    }
}

/// Every float parameter of `module` by official name, in the official layout.
pub fn named_tensors<B: Backend, M: Module<B>>(module: &M) -> BTreeMap<String, NamedTensor> {
    let mut collector = Collector::default();
    module.visit(&mut collector);
    collector.tensors
}

/// Serialises named tensors as an f32 safetensors buffer.
pub fn to_safetensors_bytes(tensors: &BTreeMap<String, NamedTensor>, label: &Path) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.shape.clone(), t.values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| TrainError::Safetensors {
                    path: label.to_path_buf(),
                    reason: format!("{name}: {e:?}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &None).map_err(|e| TrainError::Safetensors {
        path: label.to_path_buf(),
        reason: format!("{e:?}"),
    })
}

/// Writes `module`'s parameters to `path` (official names and layouts, f32), loadable with
/// `CogLm::from_safetensors`.
pub fn export_safetensors<B: Backend, M: Module<B>>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    write_tensors(&named_tensors(module), path.as_ref())
}

/// Like [`export_safetensors`] for the SR models, whose CogLM trunk sits in a field `coglm`: the official
/// checkpoints (and `DsrModel`/`ItersrModel::from_safetensors`) name it `transformer.*` at the top level.
pub fn export_sr_safetensors<B: Backend, M: Module<B>>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    let renamed = named_tensors(module)
        .into_iter()
        .map(|(name, t)| (name.strip_prefix("coglm.").map(str::to_string).unwrap_or(name), t))
        .collect();
    write_tensors(&renamed, path.as_ref())
}

fn write_tensors(tensors: &BTreeMap<String, NamedTensor>, path: &Path) -> Result<()> {
    let bytes = to_safetensors_bytes(tensors, path)?;
    std::fs::write(path, bytes).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::info!(path = %path.display(), "exported weights");
    Ok(())
}
