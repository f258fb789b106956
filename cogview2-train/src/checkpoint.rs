//! Checkpoints that resume exactly: the weights as an official-name safetensors file (so inference code and
//! `CogLm::from_safetensors` read them directly), burn's record of the AdamW state, and the step and configs.
//!
//! burn keys optimizer state by `ParamId`, a random id given to each parameter when a model is built; a model
//! loaded from safetensors gets new ids. The state is therefore stored keyed by the parameter's ordinal in
//! module-visit order (fixed by the model structure) and re-keyed to the loaded model's ids on resume.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::AdamW;
use burn::optim::Optimizer;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use cogview2_core::{CogLm, CogLmConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::export::export_safetensors;
use crate::tokens::SpecialTokens;
use crate::trainer::{CogLmTrainer, TrainerConfig};

/// Weights under the official names.
pub const MODEL_FILE: &str = "model.safetensors";
/// burn's `BinFileRecorder` output (it appends `.bin`).
pub const OPTIMIZER_STEM: &str = "optimizer";
/// Step and configs.
pub const STATE_FILE: &str = "trainer.json";
/// A model directory's configuration (the pipeline layout).
pub const CONFIG_FILE: &str = "config.json";
/// A model directory's weights under the official names (the pipeline layout).
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// The JSON side file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Steps taken.
    pub step: usize,
    /// The model's configuration.
    pub model_config: CogLmConfig,
    /// Optimiser settings and schedule.
    pub config: TrainerConfig,
    /// Special ids.
    pub tokens: SpecialTokens,
}

/// Float parameter ids in visit order.
struct Ids(Vec<ParamId>);

impl<B: Backend> ModuleVisitor<B> for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.id);
    }
}

/// A module's float parameter ids in visit order.
pub fn param_ids<B: Backend, M: Module<B>>(module: &M) -> Vec<ParamId> {
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

fn recorder() -> BinFileRecorder<FullPrecisionSettings> {
    BinFileRecorder::<FullPrecisionSettings>::new()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl<B: AutodiffBackend> CogLmTrainer<B> {
    /// Writes `dir/model.safetensors`, `dir/optimizer.bin` and `dir/trainer.json`.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        export_safetensors(&self.model, dir.join(MODEL_FILE))?;

        save_optimizer(&self.optim, &self.model, dir)?;

        let state = TrainerState {
            step: self.step,
            model_config: self.model_config.clone(),
            config: self.config.clone(),
            tokens: self.tokens.clone(),
        };
        let state_path = dir.join(STATE_FILE);
        let json = serde_json::to_string_pretty(&state).map_err(|source| TrainError::Json {
            path: state_path.clone(),
            source,
        })?;
        std::fs::write(&state_path, json).map_err(io(&state_path))?;
        tracing::info!(dir = %dir.display(), step = self.step, "checkpoint saved");
        Ok(())
    }

    /// Restores a trainer saved by [`save_checkpoint`](Self::save_checkpoint).
    pub fn resume(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let state = read_state(dir)?;
        let model = CogLm::<B>::from_safetensors(&state.model_config, dir.join(MODEL_FILE), device)?;
        let optim = load_optimizer(state.config.adamw(), &model, dir, device)?;
        let mut trainer = Self::new(model, state.model_config, state.config, state.tokens)?;
        trainer.optim = optim;
        trainer.step = state.step;
        tracing::info!(dir = %dir.display(), step = trainer.step, "checkpoint restored");
        Ok(trainer)
    }
}

impl<B: AutodiffBackend> CogLmTrainer<B> {
    /// Writes a model directory `CogLm::from_dir` (and `Pipeline::from_dir`'s `coglm/`) loads: `config.json` and
    /// `weights.safetensors` under the official names.
    pub fn export_dir(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_json(&dir.join(CONFIG_FILE), &self.model_config)?;
        export_safetensors(&self.model, dir.join(WEIGHTS_FILE))
    }
}

/// Writes `value` as pretty JSON.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|source| TrainError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, json).map_err(io(path))
}

/// Reads JSON written by [`write_json`].
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|source| TrainError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Saves `optim`'s state as `dir/optimizer.bin`, keyed by parameter ordinal in `model`'s visit order.
pub(crate) fn save_optimizer<B: AutodiffBackend, M: AutodiffModule<B>>(
    optim: &OptimizerAdaptor<AdamW, M, B>,
    model: &M,
    dir: &Path,
) -> Result<()> {
    let mut record = optim.to_record();
    let by_ordinal: OptimRecord<B, M> = param_ids(model)
        .into_iter()
        .enumerate()
        .filter_map(|(k, id)| record.remove(&id).map(|r| (ParamId::from(k as u64), r)))
        .collect();
    let optim_path = dir.join(OPTIMIZER_STEM);
    Recorder::<B>::record(&recorder(), by_ordinal, optim_path.clone()).map_err(|e| TrainError::Recorder {
        path: optim_path,
        reason: format!("{e:?}"),
    })?;
    Ok(())
}

/// Loads `dir/optimizer.bin` into `optim`, re-keyed to `model`'s parameter ids.
pub(crate) fn load_optimizer<B: AutodiffBackend, M: AutodiffModule<B>>(
    optim: OptimizerAdaptor<AdamW, M, B>,
    model: &M,
    dir: &Path,
    device: &B::Device,
) -> Result<OptimizerAdaptor<AdamW, M, B>> {
    let ids = param_ids(model);
    let optim_path = dir.join(OPTIMIZER_STEM);
    let saved: OptimRecord<B, M> = Recorder::<B>::load(&recorder(), optim_path.clone(), device).map_err(|e| TrainError::Recorder {
        path: optim_path,
        reason: format!("{e:?}"),
    })?;
    let mut record = optim.to_record();
    for (ordinal, r) in saved {
        let id = ids.get(ordinal.val() as usize).ok_or_else(|| TrainError::CheckpointMismatch {
            path: dir.to_path_buf(),
            reason: format!("optimizer state for parameter #{} but the model has {}", ordinal.val(), ids.len()),
        })?;
        record.insert(*id, r);
    }
    Ok(optim.load_record(record))
}

type OptimRecord<B, M> = <OptimizerAdaptor<AdamW, M, B> as Optimizer<M, B>>::Record;

/// Reads `dir/trainer.json`.
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let path: PathBuf = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|source| TrainError::Json { path, source })
}
