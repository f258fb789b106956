//! Stage-1 generation: KV-cached autoregressive sampling of the image tokens (SAT `filling_sequence`).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::attention::AttentionBias;
use crate::cache::KvCache;
use crate::error::{CoreError, Result};
use crate::layout::{TextToImageLayout, DEFAULT_ATTN_PLUS, IMAGE_POSITION_OFFSET};
use crate::sampling::Sampler;
use crate::transformer::CogLm;

/// A stage-1 prompt: text ids, then `<start_of_image>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePrompt {
    /// Text token ids (icetk ids, without `<start_of_image>`).
    pub text_ids: Vec<i64>,
    /// Id of `<start_of_image>` (150 000 in the released vocabulary).
    pub start_of_image_id: i64,
}

/// Options of [`generate_image_tokens`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    /// Samples to draw for the prompt.
    pub batch_size: usize,
    /// Samples decoded together (memory bound); `batch_size` is split into chunks of at most this many.
    pub max_inference_batch_size: usize,
    /// Seed of the sampling RNG: equal seeds give equal tokens.
    pub seed: u64,
    /// How each token is drawn.
    pub sampler: Sampler,
    /// Log-attention bias on the text columns.
    pub attn_plus: f32,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        Self {
            batch_size: 1,
            max_inference_batch_size: 8,
            seed: 1234,
            sampler: Sampler::Argmax,
            attn_plus: DEFAULT_ATTN_PLUS,
        }
    }
}

/// One KV-cached decoding run over the stage-1 layout: a prefill of `text + <start_of_image>`, then one image token
/// per step. Exposed so callers can drive decoding with their own token choices.
pub struct Stage1Decoder<'m, B: Backend> {
    model: &'m CogLm<B>,
    layout: TextToImageLayout,
    log_weights: Tensor<B, 2>,
    prompt: Tensor<B, 2, Int>,
    cache: KvCache<B>,
    next_row: usize,
    device: B::Device,
}

impl<'m, B: Backend> Stage1Decoder<'m, B> {
    /// Checks the prompt against the model and prepares the layout for `num_image` image tokens.
    pub fn new(model: &'m CogLm<B>, prompt: &ImagePrompt, num_image: usize, attn_plus: f32, device: &B::Device) -> Result<Self> {
        let txt_len = prompt.text_ids.len();
        if txt_len == 0 {
            return Err(CoreError::InvalidPrompt("the prompt has no text tokens".into()));
        }
        if txt_len > IMAGE_POSITION_OFFSET {
            return Err(CoreError::InvalidPrompt(format!(
                "{txt_len} text tokens do not fit before the image positions (at most {IMAGE_POSITION_OFFSET})"
            )));
        }
        let last_position = IMAGE_POSITION_OFFSET + num_image;
        if last_position >= model.max_sequence_length() {
            return Err(CoreError::PositionOutOfRange {
                id: last_position as i64,
                rows: model.max_sequence_length(),
            });
        }
        let vocab = model.vocab_size();
        let ids: Vec<i64> = prompt.text_ids.iter().copied().chain([prompt.start_of_image_id]).collect();
        if let Some((index, &id)) = ids.iter().enumerate().find(|(_, &id)| id < 0 || id as u64 >= vocab as u64) {
            return Err(CoreError::TokenOutOfRange { id, index, vocab_size: vocab });
        }
        let layout = TextToImageLayout::new(txt_len, num_image, attn_plus);
        let len = layout.len();
        let log_weights = Tensor::from_data(TensorData::new(layout.log_attention_weights.clone(), [len, len]), device);
        let prompt = Tensor::from_data(TensorData::new(ids, [1, txt_len + 1]), device);
        Ok(Self {
            model,
            layout,
            log_weights,
            prompt,
            cache: KvCache::new(model.num_layers()),
            next_row: 0,
            device: device.clone(),
        })
    }

    /// The layout being decoded.
    pub fn layout(&self) -> &TextToImageLayout {
        &self.layout
    }

    /// Image tokens generated so far (0 right after the prefill).
    pub fn generated(&self) -> usize {
        self.next_row.saturating_sub(self.layout.txt_len + 1)
    }

    /// Runs the prompt (batch 1) and returns the logits for image token 0, `[1, num_image_tokens]`.
    pub fn prefill(&mut self) -> Result<Tensor<B, 2>> {
        let _span = tracing::debug_span!("stage1_prefill", txt_len = self.layout.txt_len).entered();
        self.cache = KvCache::new(self.model.num_layers());
        let n = self.layout.txt_len + 1;
        let bias = self.layout.bias_for_rows(0..n, &self.device);
        let positions = Tensor::from_data(TensorData::new(self.layout.position_ids[..n].to_vec(), [1, n]), &self.device);
        let (x, _) = self.model.run_layers(self.model.embed(self.prompt.clone(), positions), &bias, Some(&mut self.cache), false);
        self.next_row = n;
        Ok(self.last_logits(x))
    }

    /// Feeds the previous image token of each row, `[batch]`, and returns the logits of the next one,
    /// `[batch, num_image_tokens]`. The batch-1 prefill cache is repeated to `batch` on the first step.
    pub fn step(&mut self, tokens: Tensor<B, 1, Int>) -> Result<Tensor<B, 2>> {
        if self.next_row == 0 {
            return Err(CoreError::InvalidPrompt("step called before prefill".into()));
        }
        // The last image token is never fed: there is nothing after it to predict.
        if self.next_row + 1 >= self.layout.len() {
            return Err(CoreError::InvalidPrompt(format!(
                "all {} image tokens are already generated",
                self.layout.num_image
            )));
        }
        let [b] = tokens.dims();
        self.cache.expand_batch(b);
        let row = self.next_row;
        let positions = Tensor::<B, 2, Int>::full([b, 1], self.layout.position_ids[row], &self.device);
        // A single new row sees every cached position: the official loop skips masking here.
        let bias = AttentionBias {
            mask: None,
            log_weights: Some(self.log_weights.clone().slice([row..row + 1, 0..row + 1])),
        };
        let x = self.model.embed(tokens.reshape([b, 1]), positions);
        let (x, _) = self.model.run_layers(x, &bias, Some(&mut self.cache), false);
        self.next_row += 1;
        Ok(self.last_logits(x))
    }

    fn last_logits(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, s, h] = x.dims();
        let last = x.slice([0..b, s - 1..s, 0..h]);
        let hidden = self.model.transformer.final_layernorm.forward(last);
        let [b, _, n] = [b, 1, self.model.num_image_tokens];
        self.model.image_logits(hidden).reshape([b, n])
    }
}

/// Generates `num_image` image tokens for a prompt, `[batch_size, num_image]`.
///
/// Samples are decoded in chunks of `max_inference_batch_size`; unlike the official loop, a batch that is not a
/// multiple of the chunk size is still returned whole. `progress(done, total)` is called after every token.
pub fn generate_image_tokens<B: Backend>(
    model: &CogLm<B>,
    prompt: &ImagePrompt,
    num_image: usize,
    options: &GenerationOptions,
    device: &B::Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor<B, 2, Int>> {
    if options.batch_size == 0 || options.max_inference_batch_size == 0 {
        return Err(CoreError::InvalidPrompt(
            "batch_size and max_inference_batch_size must be positive".into(),
        ));
    }
    if num_image == 0 {
        return Err(CoreError::InvalidPrompt("num_image must be positive".into()));
    }
    let sampler = options.sampler.to_device::<B>(model.num_image_tokens, device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let total = options.batch_size * num_image;
    let mut done = 0;
    let mut chunks = Vec::new();
    let mut remaining = options.batch_size;
    while remaining > 0 {
        let b = remaining.min(options.max_inference_batch_size);
        remaining -= b;
        let _span = tracing::info_span!("stage1_chunk", batch = b).entered();
        let mut decoder = Stage1Decoder::new(model, prompt, num_image, options.attn_plus, device)?;
        let logits = decoder.prefill()?.repeat_dim(0, b);
        let mut token = sampler.sample(logits, &mut rng);
        let mut tokens = vec![token.clone()];
        done += b;
        progress(done, total);
        for _ in 1..num_image {
            token = sampler.sample(decoder.step(token)?, &mut rng);
            tokens.push(token.clone());
            done += b;
            progress(done, total);
        }
        chunks.push(Tensor::stack::<2>(tokens, 1));
    }
    Ok(Tensor::cat(chunks, 0))
}
