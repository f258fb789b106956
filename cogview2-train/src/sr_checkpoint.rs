//! Checkpoints of the super-resolution trainers, and their export as pipeline model directories.
//!
//! A checkpoint directory IS a model directory (`config.json` + `weights.safetensors` under the official names, as
//! `DsrModel::from_dir` / `ItersrModel::from_dir` and `Pipeline::from_dir`'s `dsr/`, `itersr/` read them) plus
//! `optimizer.bin` (AdamW state keyed by parameter ordinal, see [`crate::checkpoint`]) and `sr_trainer.json`.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use cogview2_sr::{DsrConfig, DsrModel, ItersrConfig, ItersrModel};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_optimizer, read_json, save_optimizer, write_json, CONFIG_FILE, WEIGHTS_FILE};
use crate::error::{Result, TrainError};
use crate::export::export_sr_safetensors;
use crate::sr::ModuleTrainer;
use crate::trainer::TrainerConfig;

/// The JSON side file of an SR checkpoint.
pub const SR_STATE_FILE: &str = "sr_trainer.json";

/// Step and optimiser settings of an SR checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrTrainerState {
    /// Steps taken.
    pub step: usize,
    /// Optimiser settings and schedule.
    pub config: TrainerConfig,
}

/// An SR model that can be written to and read from a model directory.
pub trait SrModelDir<B: Backend>: Sized {
    /// Its configuration (the directory's `config.json`).
    type Config: Serialize;
    /// The configuration.
    fn dir_config(&self) -> &Self::Config;
    /// Loads `dir/config.json` and `dir/weights.safetensors`.
    fn load_dir(dir: &Path, device: &B::Device) -> Result<Self>;
}

impl<B: Backend> SrModelDir<B> for DsrModel<B> {
    type Config = DsrConfig;
    fn dir_config(&self) -> &DsrConfig {
        self.config()
    }
    fn load_dir(dir: &Path, device: &B::Device) -> Result<Self> {
        Ok(DsrModel::from_dir(dir, device)?)
    }
}

impl<B: Backend> SrModelDir<B> for ItersrModel<B> {
    type Config = ItersrConfig;
    fn dir_config(&self) -> &ItersrConfig {
        self.config()
    }
    fn load_dir(dir: &Path, device: &B::Device) -> Result<Self> {
        Ok(ItersrModel::from_dir(dir, device)?)
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `model` as a pipeline model directory: `config.json` and `weights.safetensors` (official names).
pub fn export_sr_dir<B: Backend, M: SrModelDir<B> + burn::module::Module<B>>(model: &M, dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    create_dir(dir)?;
    write_json(&dir.join(CONFIG_FILE), model.dir_config())?;
    export_sr_safetensors(model, dir.join(WEIGHTS_FILE))
}

impl<B: AutodiffBackend, M: AutodiffModule<B> + SrModelDir<B>> ModuleTrainer<B, M> {
    /// Writes the model directory plus `optimizer.bin` and `sr_trainer.json` to `dir`.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        export_sr_dir(&self.model, dir)?;
        save_optimizer(&self.optim, &self.model, dir)?;
        write_json(
            &dir.join(SR_STATE_FILE),
            &SrTrainerState {
                step: self.step,
                config: self.config.clone(),
            },
        )?;
        tracing::info!(dir = %dir.display(), step = self.step, "SR checkpoint saved");
        Ok(())
    }

    /// Restores a trainer saved by [`save_checkpoint`](Self::save_checkpoint): weights, AdamW moments, step and
    /// schedule.
    pub fn resume(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let state: SrTrainerState = read_json(&dir.join(SR_STATE_FILE))?;
        let model = M::load_dir(dir, device)?;
        let optim = load_optimizer(state.config.adamw(), &model, dir, device)?;
        let mut trainer = Self::new(model, state.config)?;
        trainer.optim = optim;
        trainer.step = state.step;
        tracing::info!(dir = %dir.display(), step = trainer.step, "SR checkpoint restored");
        Ok(trainer)
    }

    /// Writes just the model directory (`config.json`, `weights.safetensors`).
    pub fn export_dir(&self, dir: impl AsRef<Path>) -> Result<()> {
        export_sr_dir(&self.model, dir)
    }
}
