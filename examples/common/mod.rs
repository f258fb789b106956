//! Shared by the pipeline examples: the default model directory and per-stage progress bars.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use anyhow::Context;
use cogview2::{Progress, Recipe, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// `--model-dir`, else the model shipped in the repository (`model/`).
pub fn model_dir(given: Option<&PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.clone());
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("model");
    if !shipped.join("coglm").exists() {
        bail!(
            "no --model-dir given and the repository has no default model at {} yet; pass a model directory \
             (layout: docs/model-dir.md)",
            shipped.display()
        );
    }
    Ok(shipped)
}

/// `--recipe FILE`: sampling settings as JSON (the fields of `cogview2::Recipe`), replacing the model's own.
pub fn recipe(path: Option<&PathBuf>) -> Result<Option<Recipe>> {
    let Some(path) = path else { return Ok(None) };
    let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&json).with_context(|| format!("parsing the recipe {}", path.display()))?))
}

/// One bar per stage, created when the stage first reports; per-stage wall times for `--bench`.
pub struct StageBars {
    multi: MultiProgress,
    current: Option<(Stage, ProgressBar, Instant)>,
    pub times: Vec<(Stage, f64)>,
    /// Seconds of each ITERSR (LoPAR) iteration report.
    pub lopar_laps: Vec<f64>,
    last_report: Instant,
}

impl StageBars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            current: None,
            times: Vec::new(),
            lopar_laps: Vec::new(),
            last_report: Instant::now(),
        }
    }

    pub fn update(&mut self, p: Progress) {
        if p.stage == Stage::IterativeSuperResolution {
            self.lopar_laps.push(self.last_report.elapsed().as_secs_f64());
        }
        self.last_report = Instant::now();
        if self.current.as_ref().map(|(s, ..)| *s) != Some(p.stage) {
            self.finish();
            let bar = self.multi.add(ProgressBar::new(p.total as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {elapsed_precise}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(match p.stage {
                Stage::Stage1 => "CogLM",
                Stage::PostSelection => "select",
                Stage::Completion => "complete",
                Stage::DirectSuperResolution => "DSR",
                Stage::IterativeSuperResolution => "ITERSR",
                Stage::Decode => "decode",
            });
            self.current = Some((p.stage, bar, Instant::now()));
        }
        if let Some((_, bar, _)) = &self.current {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        }
    }

    pub fn finish(&mut self) {
        if let Some((stage, bar, start)) = self.current.take() {
            bar.finish();
            self.times.push((stage, start.elapsed().as_secs_f64()));
        }
    }
}

