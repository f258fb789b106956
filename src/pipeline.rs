//! The hierarchical text-to-image pipeline: CogLM (low-res tokens) → DSR (hi-res tokens in one pass) → ITERSR
//! (LoPAR refinement) → VQ-VAE decode.

use std::path::Path;

use burn::tensor::backend::Backend;
use cogview2_sr::LocalAttentionBackend;
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{
    caption_scores, generate_image_tokens, image_log_likelihood, rank_by_caption_score, ClusterTable, CogLm,
    CoreError, DeviceSampler, GenerationOptions, ImagePrompt, Sampler,
};
use cogview2_icetk::{IceTokenizer, SentencePieceModel, TextTokenizer};
use cogview2_sr::{dsr_sampler, DsrModel, ItersrModel, LoparPattern, LoparSchedule, LoparStep};
use cogview2_vqvae::{images_to_tensor, load_safetensors, tensor_to_images, CompressRate, Hvqvae, HvqvaeConfig};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::recipe::{Recipe, Style};

/// Pixels per image code at both levels (CogView2: 160 px ↔ 20×20, 480 px ↔ 60×60).
pub const COMPRESS_RATE: CompressRate = CompressRate::X8;

/// The official stage-1 limit: `len(text + <start_of_image>) ≤ 110`.
pub const STAGE1_MAX_TEXT_TOKENS: usize = 109;

/// The models of a pipeline, already loaded.
pub struct PipelineParts<B: Backend> {
    /// Text ↔ ids (its image-token count must be the models').
    pub tokenizer: IceTokenizer,
    /// Image codes ↔ pixels.
    pub vqvae: Hvqvae<B>,
    /// Stage 1.
    pub coglm: CogLm<B>,
    /// Direct super-resolution.
    pub dsr: DsrModel<B>,
    /// Iterative super-resolution.
    pub itersr: ItersrModel<B>,
    /// Grouping of image codes for cluster sampling.
    pub clusters: ClusterTable,
}

/// A stage of the pipeline, as reported to progress callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// CogLM draws the low-res tokens (`done`/`total` count tokens over the whole batch).
    Stage1,
    /// CogLM scores every candidate by the perplexity of the caption given the image (`done`/`total` count
    /// samples).
    PostSelection,
    /// CogLM re-draws the masked low-res cells of an edit (`done`/`total` count tokens over the whole batch).
    Completion,
    /// DSR draws every hi-res token in one pass (`done`/`total` count samples).
    DirectSuperResolution,
    /// One LoPAR iteration of ITERSR (`done`/`total` count iterations × samples).
    IterativeSuperResolution,
    /// The VQ-VAE turns tokens into pixels (`done`/`total` count samples).
    Decode,
}

/// Progress of a running request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stage running.
    pub stage: Stage,
    /// Units done in this stage.
    pub done: usize,
    /// Units in this stage.
    pub total: usize,
}

/// One text-to-image request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The prompt (English or Chinese).
    pub prompt: String,
    /// Template and recipe.
    pub style: Style,
    /// Images to make. Every one is returned (the official loops drop samples past a multiple of 4).
    pub batch_size: usize,
    /// Samples run through a model together (memory bound).
    pub max_inference_batch_size: usize,
    /// Seed of every random draw: equal requests give equal images.
    pub seed: u64,
    /// Stop after stage 1 and upscale its image (nearest) to the final size, as the official `--only-first-stage`.
    pub only_first_stage: bool,
    /// Overrides the model's recipe (`recipe.json`), else the style's.
    pub recipe: Option<Recipe>,
    /// Keep only the best `n` of the `batch_size` stage-1 candidates, ranked by caption score (CogLM's
    /// likelihood of the raw prompt given the image, the official `--inverse-prompt`), before super-resolution;
    /// the returned samples are best first. The official script computes this ranking but drops it when
    /// super-resolution runs; here it is always applied. `n ≤ batch_size`.
    pub post_select: Option<usize>,
}

impl Request {
    /// A request with the official defaults (style mainbody, seed 1234, 1 image).
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            style: Style::default(),
            batch_size: 1,
            max_inference_batch_size: 8,
            seed: 1234,
            only_first_stage: false,
            recipe: None,
            post_select: None,
        }
    }
}

/// `recipe.json` of a model directory, if it has one.
fn read_model_recipe(dir: &Path) -> Result<Option<Recipe>> {
    let path = dir.join("recipe.json");
    if !path.exists() {
        return Ok(None);
    }
    let bad = |reason: String| Error::ModelDir { dir: dir.to_path_buf(), reason: format!("recipe.json: {reason}") };
    let json = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&json).map(Some).map_err(|e| bad(e.to_string()))
}

/// Image tokens of a request, at each level.
#[derive(Debug, Clone)]
pub struct ImageTokens<B: Backend> {
    /// Stage-1 tokens `[batch, lo_rows·lo_cols]`.
    pub lowres: Tensor<B, 2, Int>,
    /// Super-resolved tokens `[batch, hi_rows·hi_cols]` (`None` with `only_first_stage`).
    pub hires: Option<Tensor<B, 2, Int>>,
    /// With `post_select`: the caption score of each returned sample, in the returned (best-first) order.
    pub caption_scores: Option<Vec<f32>>,
}

/// CogView2's hierarchical text-to-image system, ready to run.
pub struct Pipeline<B: Backend> {
    pub(crate) tokenizer: IceTokenizer,
    pub(crate) vqvae: Hvqvae<B>,
    pub(crate) coglm: CogLm<B>,
    pub(crate) dsr: DsrModel<B>,
    pub(crate) itersr: ItersrModel<B>,
    pub(crate) clusters: ClusterTable,
    /// The model directory's own sampling settings (`recipe.json`), used when a request names none.
    pub(crate) model_recipe: Option<Recipe>,
    pub(crate) device: B::Device,
}

impl<B: LocalAttentionBackend> Pipeline<B> {
    /// Checks that the models fit together (vocabularies, grids, special ids) and builds the pipeline.
    pub fn from_parts(parts: PipelineParts<B>, device: &B::Device) -> Result<Self> {
        let pipeline = Self {
            tokenizer: parts.tokenizer,
            vqvae: parts.vqvae,
            coglm: parts.coglm,
            dsr: parts.dsr,
            itersr: parts.itersr,
            clusters: parts.clusters,
            model_recipe: None,
            device: device.clone(),
        };
        pipeline.check_consistency()?;
        Ok(pipeline)
    }

    /// Loads a model directory (see `docs/model-dir.md`):
    /// `ice_text.model`, `cluster_label.npy`, and `coglm/`, `dsr/`, `itersr/`, `vqvae/`, each with `config.json`
    /// (`model_config.json` also accepted for CogLM) and `weights.safetensors`; optionally `recipe.json`, the
    /// sampling settings the model was tuned for (see [`Pipeline::with_model_recipe`]).
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let _span = tracing::info_span!("load_pipeline", dir = %dir.display()).entered();
        for entry in ["ice_text.model", "cluster_label.npy", "coglm", "dsr", "itersr", "vqvae"] {
            if !dir.join(entry).exists() {
                return Err(Error::ModelDir { dir: dir.to_path_buf(), reason: format!("{entry} is missing") });
            }
        }
        let model_recipe = read_model_recipe(dir)?;
        let (_, coglm) = CogLm::from_dir(dir.join("coglm"), device)?;
        let sp = SentencePieceModel::from_file(dir.join("ice_text.model"))?;
        let image_tokens = u32::try_from(coglm.num_image_tokens)
            .map_err(|_| Error::Inconsistent(format!("{} image tokens do not fit u32", coglm.num_image_tokens)))?;
        let tokenizer = IceTokenizer::from_text_tokenizer(TextTokenizer::new(sp, image_tokens)?)?;
        let vqvae_config = HvqvaeConfig::from_json_file(dir.join("vqvae/config.json"))?;
        let vqvae = load_safetensors(&vqvae_config, dir.join("vqvae/weights.safetensors"), device)?;
        let parts = PipelineParts {
            tokenizer,
            vqvae,
            coglm,
            dsr: DsrModel::from_dir(dir.join("dsr"), device)?,
            itersr: ItersrModel::from_dir(dir.join("itersr"), device)?,
            clusters: ClusterTable::from_npy_file(dir.join("cluster_label.npy"))?,
        };
        let mut pipeline = Self::from_parts(parts, device)?;
        pipeline.model_recipe = model_recipe;
        Ok(pipeline)
    }

    /// Sets the sampling settings of requests that name no recipe, in place of their style's official ones
    /// (the style's prompt template still applies). The official values are tuned for 20 000 codes in 500
    /// clusters; a small model ships its own.
    pub fn with_model_recipe(mut self, recipe: Recipe) -> Self {
        self.model_recipe = Some(recipe);
        self
    }

    /// The model's own sampling settings, if it has any.
    pub fn model_recipe(&self) -> Option<&Recipe> {
        self.model_recipe.as_ref()
    }

    /// The recipe a request runs with: its own, else the model's, else its style's official one.
    pub fn resolve_recipe(&self, requested: Option<&Recipe>, style: Style) -> Recipe {
        requested.or(self.model_recipe.as_ref()).cloned().unwrap_or_else(|| Recipe::for_style(style))
    }

    fn check_consistency(&self) -> Result<()> {
        let fail = |reason: String| Err(Error::Inconsistent(reason));
        let n = self.coglm.num_image_tokens;
        let dsr = self.dsr.config();
        let itersr = self.itersr.config();
        for (what, count) in [
            ("DSR", dsr.base.num_image_tokens),
            ("ITERSR", itersr.base.num_image_tokens),
            ("the VQ-VAE codebook", self.vqvae.quantize.embed.weight.dims()[0]),
            ("the tokenizer", self.tokenizer.num_image_tokens() as usize),
            ("the cluster table", self.clusters.num_tokens()),
        ] {
            if count != n {
                return fail(format!("CogLM has {n} image tokens but {what} has {count}"));
            }
        }
        if dsr.hi_grid != itersr.hi_grid {
            return fail(format!("DSR makes a {:?} grid but ITERSR refines {:?}", dsr.hi_grid, itersr.hi_grid));
        }
        let soi = i64::from(self.tokenizer.start_of_image());
        if dsr.start_of_image_id != soi || itersr.start_of_image_id != soi {
            return fail(format!(
                "<start_of_image> is {soi} in the tokenizer but {} in DSR and {} in ITERSR",
                dsr.start_of_image_id, itersr.start_of_image_id
            ));
        }
        let vocab = self.tokenizer.num_tokens() as usize;
        for (what, size) in [
            ("CogLM", self.coglm.vocab_size()),
            ("DSR", dsr.base.vocab_size),
            ("ITERSR", itersr.base.vocab_size),
        ] {
            if size < vocab {
                return fail(format!("the tokenizer has {vocab} ids but {what}'s vocabulary only {size}"));
            }
        }
        Ok(())
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &IceTokenizer {
        &self.tokenizer
    }

    /// Stage-1 CogLM.
    pub fn coglm(&self) -> &CogLm<B> {
        &self.coglm
    }

    /// Direct super-resolution.
    pub fn dsr(&self) -> &DsrModel<B> {
        &self.dsr
    }

    /// Iterative super-resolution.
    pub fn itersr(&self) -> &ItersrModel<B> {
        &self.itersr
    }

    /// The image codec.
    pub fn vqvae(&self) -> &Hvqvae<B> {
        &self.vqvae
    }

    /// The cluster table of the cluster samplers.
    pub fn clusters(&self) -> &ClusterTable {
        &self.clusters
    }

    /// The device the models live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Stage-1 grid `[rows, cols]` (DSR's low-res grid).
    pub fn lowres_grid(&self) -> [usize; 2] {
        self.dsr.config().lo_grid
    }

    /// Final grid `[rows, cols]`.
    pub fn hires_grid(&self) -> [usize; 2] {
        self.dsr.config().hi_grid
    }

    /// Side of the final images in pixels.
    pub fn image_size(&self) -> [usize; 2] {
        self.hires_grid().map(|g| g * self.vqvae.cell_size(COMPRESS_RATE))
    }

    /// The text ids of `prompt` under `style` (without `<start_of_image>`), checked against every model's limit
    /// before any compute: DSR's text region (95 tokens officially, where the official code fails late) and
    /// stage 1's 110.
    pub fn encode_prompt(&self, prompt: &str, style: Style) -> Result<Vec<i64>> {
        if prompt.trim().is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let ids: Vec<i64> = self.tokenizer.encode(&style.apply(prompt)).into_iter().map(i64::from).collect();
        self.check_text_len(ids.len())?;
        Ok(ids)
    }

    pub(crate) fn check_text_len(&self, tokens: usize) -> Result<()> {
        let (max, limit) = if self.dsr.config().max_text_len() < STAGE1_MAX_TEXT_TOKENS {
            (self.dsr.config().max_text_len(), "DSR's text region")
        } else {
            (STAGE1_MAX_TEXT_TOKENS, "CogLM's stage-1 limit")
        };
        match tokens {
            0 => Err(Error::EmptyPrompt),
            t if t > max => Err(Error::PromptTooLong { tokens: t, max, limit }),
            _ => Ok(()),
        }
    }

    /// Text → images, one per sample of the batch.
    pub fn text_to_image(&self, request: &Request) -> Result<Vec<RgbImage>> {
        self.text_to_image_with_progress(request, &mut |_| {})
    }

    /// [`text_to_image`](Self::text_to_image), reporting progress per stage.
    pub fn text_to_image_with_progress(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<RgbImage>> {
        let tokens = self.generate_tokens(request, progress)?;
        match tokens.hires {
            Some(hires) => self.decode(hires, self.hires_grid(), progress),
            None => {
                let lowres = self.decode(tokens.lowres, self.lowres_grid(), progress)?;
                let [h, w] = self.image_size();
                Ok(lowres
                    .iter()
                    .map(|image| image::imageops::resize(image, w as u32, h as u32, image::imageops::FilterType::Nearest))
                    .collect())
            }
        }
    }

    /// Text → image tokens at each level (stage 1, then DSR and ITERSR unless `only_first_stage`).
    pub fn generate_tokens(&self, request: &Request, progress: &mut dyn FnMut(Progress)) -> Result<ImageTokens<B>> {
        let text = self.encode_prompt(&request.prompt, request.style)?;
        self.generate_tokens_from_ids(&text, request, progress)
    }

    /// As [`generate_tokens`](Self::generate_tokens) for already encoded text ids (templated, without
    /// `<start_of_image>`); `request.style`'s template is not used, and `request.prompt` only as the raw caption
    /// that `post_select` scores.
    pub fn generate_tokens_from_ids(
        &self,
        text: &[i64],
        request: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImageTokens<B>> {
        if request.batch_size == 0 || request.max_inference_batch_size == 0 {
            return Err(Error::InvalidRequest("batch_size and max_inference_batch_size must be positive".into()));
        }
        self.check_text_len(text.len())?;
        // Checked before any compute: a bad post_select or caption must not cost a stage-1 run.
        let caption = match request.post_select {
            None => None,
            Some(n) if n == 0 || n > request.batch_size => {
                return Err(Error::InvalidRequest(format!(
                    "post_select keeps {n} of {} candidates: it must be between 1 and batch_size",
                    request.batch_size
                )))
            }
            Some(n) => Some((n, self.caption_ids(&request.prompt)?)),
        };
        let recipe = self.resolve_recipe(request.recipe.as_ref(), request.style);
        let lowres = self.stage1(text, request, &recipe, progress)?;
        let (lowres, caption_scores) = match caption {
            None => (lowres, None),
            Some((keep, ids)) => {
                let (lowres, scores) =
                    self.post_select(lowres, &ids, keep, request.max_inference_batch_size, progress)?;
                (lowres, Some(scores))
            }
        };
        if request.only_first_stage {
            return Ok(ImageTokens { lowres, hires: None, caption_scores });
        }
        let hires = self.super_resolve(text, lowres.clone(), request, &recipe, None, progress)?;
        Ok(ImageTokens { lowres, hires: Some(hires), caption_scores })
    }

    /// The ids of a raw caption for scoring (no style template; `<start_of_chinese>` is added by the layout).
    fn caption_ids(&self, text: &str) -> Result<Vec<i64>> {
        if text.trim().is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let ids: Vec<i64> = self.tokenizer.encode(text).into_iter().map(i64::from).collect();
        if ids.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        Ok(ids)
    }

    /// Caption score of each low-res image `[batch, lo_rows·lo_cols]`: the mean log-probability CogLM gives the raw
    /// `text` (no style template) after the image and `<start_of_chinese>`, as the official `--inverse-prompt`.
    /// Higher is better; one forward over the whole batch.
    pub fn caption_score(&self, image_tokens: Tensor<B, 2, Int>, text: &str) -> Result<Vec<f32>> {
        let ids = self.caption_ids(text)?;
        Ok(caption_scores(&self.coglm, image_tokens, &ids, i64::from(self.tokenizer.start_of_chinese()))?)
    }

    /// `log p(image | prompt)` of each low-res image `[batch, lo_rows·lo_cols]` under stage 1, in nats: the prompt
    /// templated by `style` as for generation, the text bias `attn_plus` of the recipe that would draw it. Scoring
    /// one image under prompts that differ in one word shows whether the model has learnt that word.
    pub fn image_log_likelihood(
        &self,
        prompt: &str,
        style: Style,
        image_tokens: Tensor<B, 2, Int>,
        attn_plus: f32,
    ) -> Result<Vec<f32>> {
        let [_, n] = image_tokens.dims();
        let [rows, cols] = self.lowres_grid();
        if n != rows * cols {
            return Err(Error::Core(CoreError::Shape(format!(
                "{n} image tokens per row; this model's stage-1 grid is {rows}×{cols}"
            ))));
        }
        let prompt = ImagePrompt {
            text_ids: self.encode_prompt(prompt, style)?,
            start_of_image_id: i64::from(self.tokenizer.start_of_image()),
        };
        Ok(image_log_likelihood(&self.coglm, &prompt, image_tokens, attn_plus)?)
    }

    /// Keeps the `keep` best-scored rows of `lowres`, best first; returns them with their scores.
    fn post_select(
        &self,
        lowres: Tensor<B, 2, Int>,
        caption: &[i64],
        keep: usize,
        chunk: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Tensor<B, 2, Int>, Vec<f32>)> {
        let [batch, _] = lowres.dims();
        let _span = tracing::info_span!("post_selection", batch, keep).entered();
        let soc = i64::from(self.tokenizer.start_of_chinese());
        let mut scores = Vec::with_capacity(batch);
        for start in (0..batch).step_by(chunk) {
            let end = (start + chunk).min(batch);
            let part = lowres.clone().slice([start..end, 0..lowres.dims()[1]]);
            scores.extend(caption_scores(&self.coglm, part, caption, soc)?);
            progress(Progress { stage: Stage::PostSelection, done: end, total: batch });
        }
        let order: Vec<usize> = rank_by_caption_score(&scores).into_iter().take(keep).collect();
        tracing::debug!(?scores, ?order, "caption scores");
        let index: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [keep]), &self.device);
        Ok((lowres.select(0, index), order.iter().map(|&i| scores[i]).collect()))
    }

    fn stage1(
        &self,
        text: &[i64],
        request: &Request,
        recipe: &Recipe,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tensor<B, 2, Int>> {
        let _span = tracing::info_span!("stage1", batch = request.batch_size).entered();
        let prompt = ImagePrompt {
            text_ids: text.to_vec(),
            start_of_image_id: i64::from(self.tokenizer.start_of_image()),
        };
        let options = GenerationOptions {
            batch_size: request.batch_size,
            max_inference_batch_size: request.max_inference_batch_size,
            seed: request.seed,
            sampler: self.stage1_sampler(recipe),
            attn_plus: recipe.attn_plus,
        };
        let [rows, cols] = self.lowres_grid();
        Ok(generate_image_tokens(&self.coglm, &prompt, rows * cols, &options, &self.device, &mut |done, total| {
            progress(Progress { stage: Stage::Stage1, done, total })
        })?)
    }

    /// The stage-1 (and completion) token rule of a recipe.
    pub(crate) fn stage1_sampler(&self, recipe: &Recipe) -> Sampler {
        if recipe.argmax {
            Sampler::Argmax
        } else {
            Sampler::Cluster {
                temperature: recipe.temperature,
                top_k_clusters: self.cap_clusters(recipe.top_k_clusters),
                cluster_temperature: recipe.cluster_temperature,
                table: self.clusters.clone(),
            }
        }
    }

    /// The DSR token rule of a recipe, on the device.
    pub(crate) fn dsr_sampler(&self, recipe: &Recipe) -> Result<DeviceSampler<B>> {
        let sampler = if recipe.argmax {
            Sampler::Argmax
        } else {
            dsr_sampler(
                self.clusters.clone(),
                self.cap_clusters(recipe.dsr_top_k_clusters),
                recipe.dsr_cluster_temperature,
            )
        };
        Ok(sampler.to_device::<B>(self.coglm.num_image_tokens, &self.device)?)
    }

    /// A recipe's cluster count, capped at the table's (small models have fewer clusters than the official 500).
    fn cap_clusters(&self, k: usize) -> usize {
        k.min(self.clusters.num_clusters())
    }

    /// DSR then ITERSR on low-res tokens `[batch, lo_rows·lo_cols]` → `[batch, hi_rows·hi_cols]`, in chunks of the
    /// request's `max_inference_batch_size`. `input_mask` (row-major over the hi-res grid) restricts ITERSR's
    /// re-sampling to a region (editing).
    pub fn super_resolve(
        &self,
        text: &[i64],
        lowres: Tensor<B, 2, Int>,
        request: &Request,
        recipe: &Recipe,
        input_mask: Option<&[bool]>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tensor<B, 2, Int>> {
        let [batch, n_lo] = lowres.dims();
        let dsr_sampler = self.dsr_sampler(recipe)?;
        let schedule = self.lopar_schedule(recipe)?;
        // Independent streams per stage, so changing one stage's settings leaves the others' draws alone.
        let mut dsr_rng = ChaCha8Rng::seed_from_u64(request.seed);
        dsr_rng.set_stream(1);
        let mut itersr_rng = ChaCha8Rng::seed_from_u64(request.seed);
        itersr_rng.set_stream(2);

        let chunk = request.max_inference_batch_size;
        let mut hires_chunks = Vec::new();
        for start in (0..batch).step_by(chunk) {
            let end = (start + chunk).min(batch);
            let part = lowres.clone().slice([start..end, 0..n_lo]);
            let hires = {
                let _span = tracing::info_span!("dsr", samples = end - start).entered();
                self.dsr.sample(text, part, &dsr_sampler, &mut dsr_rng)?
            };
            progress(Progress { stage: Stage::DirectSuperResolution, done: end, total: batch });
            let refined =
                self.iterative_super_resolve(text, hires, schedule.as_ref(), input_mask, &mut itersr_rng, |step| {
                    progress(Progress {
                        stage: Stage::IterativeSuperResolution,
                        done: start * step.iterations + step.iteration * (end - start),
                        total: batch * step.iterations,
                    })
                })?;
            hires_chunks.push(refined);
        }
        Ok(Tensor::cat(hires_chunks, 0))
    }

    /// ITERSR on DSR's tokens, or the tokens as they are when the recipe has no LoPAR iterations (`schedule` None).
    pub(crate) fn iterative_super_resolve(
        &self,
        text: &[i64],
        hires: Tensor<B, 2, Int>,
        schedule: Option<&LoparSchedule>,
        input_mask: Option<&[bool]>,
        rng: &mut ChaCha8Rng,
        mut on_step: impl FnMut(&LoparStep<'_, B>),
    ) -> Result<Tensor<B, 2, Int>> {
        match schedule {
            None => Ok(hires),
            Some(schedule) => Ok(self.itersr.refine(text, hires, schedule, input_mask, rng, &mut on_step)?),
        }
    }

    /// The recipe's LoPAR schedule; None when `itersr_top_k` is empty (DSR only).
    pub(crate) fn lopar_schedule(&self, recipe: &Recipe) -> Result<Option<LoparSchedule>> {
        if recipe.itersr_top_k.is_empty() {
            return Ok(None);
        }
        let n = self.coglm.num_image_tokens;
        let samplers = recipe
            .itersr_top_k
            .iter()
            .map(|&k| if recipe.argmax { Sampler::Argmax } else { Sampler::TopK { k: k.min(n), temperature: 1.0 } })
            .collect();
        Ok(Some(LoparSchedule::new(LoparPattern::official(), samplers)?))
    }

    /// An RGB image → its codes `[1, (height/8)·(width/8)]`, row-major (the codec's compress rate 8).
    pub fn encode_image(&self, image: &RgbImage) -> Result<Tensor<B, 2, Int>> {
        let pixels = images_to_tensor::<B>(std::slice::from_ref(image), &self.device)?;
        Ok(self.vqvae.encode(pixels, COMPRESS_RATE)?)
    }

    /// Image tokens `[batch, rows·cols]` of a `grid` → RGB images (`grid ×` the codec's cell size, 8 px officially).
    pub fn decode(
        &self,
        tokens: Tensor<B, 2, Int>,
        grid: [usize; 2],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<RgbImage>> {
        let [batch, n] = tokens.dims();
        if n != grid[0] * grid[1] {
            return Err(Error::InvalidRequest(format!("{n} tokens do not form a {grid:?} grid")));
        }
        let _span = tracing::info_span!("decode", batch).entered();
        let mut images = Vec::with_capacity(batch);
        // Announce the stage before any work, so that timing from the first report measures it.
        progress(Progress { stage: Stage::Decode, done: 0, total: batch });
        // One sample at a time: decoder activations at 480 px dominate memory.
        for i in 0..batch {
            let codes = tokens.clone().slice([i..i + 1, 0..n]).reshape([1, grid[0], grid[1]]);
            images.extend(tensor_to_images(self.vqvae.decode_grid(codes, COMPRESS_RATE)?)?);
            progress(Progress { stage: Stage::Decode, done: i + 1, total: batch });
        }
        Ok(images)
    }
}

/// Tiles same-sized images into one picture, `columns` per row (the official grid uses 3), no padding.
pub fn image_grid(images: &[RgbImage], columns: usize) -> Option<RgbImage> {
    let first = images.first()?;
    let columns = columns.clamp(1, images.len());
    let rows = images.len().div_ceil(columns);
    let (w, h) = first.dimensions();
    let mut grid = RgbImage::new(w * columns as u32, h * rows as u32);
    for (i, image) in images.iter().enumerate() {
        if image.dimensions() != (w, h) {
            return None;
        }
        let (x, y) = ((i % columns) as u32 * w, (i / columns) as u32 * h);
        image::imageops::replace(&mut grid, image, i64::from(x), i64::from(y));
    }
    Some(grid)
}
