//! How likely given image tokens are under a stage-1 prompt: `log p(image | text)`, teacher-forced.
//!
//! The stage-1 counterpart of caption scoring (which reads the image first and scores the text): one forward of
//! `text + <start_of_image> + image` over the generation layout, each image token scored by the distribution the
//! sampler draws from (the image-code head). Comparing prompts that differ in one word on the same image shows
//! whether the model has learnt what that word draws, without the noise of sampling.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

use crate::error::{CoreError, Result};
use crate::generation::ImagePrompt;
use crate::layout::TextToImageLayout;
use crate::transformer::CogLm;

/// `log p(token k | text, tokens before k)` for every image token, `[batch, num_image]` (fp32 log-softmax over the
/// image codes, with `attn_plus` on the text columns as in generation).
pub fn image_token_log_probs<B: Backend>(
    model: &CogLm<B>,
    prompt: &ImagePrompt,
    image_tokens: Tensor<B, 2, Int>,
    attn_plus: f32,
) -> Result<Tensor<B, 2>> {
    let device = image_tokens.device();
    let [b, n] = image_tokens.dims();
    let txt_len = prompt.text_ids.len();
    if txt_len == 0 || n == 0 || b == 0 {
        return Err(CoreError::InvalidPrompt(format!(
            "scoring needs text and image tokens: {txt_len} text tokens, image tokens of shape [{b}, {n}]"
        )));
    }
    let num_codes = model.num_image_tokens as i64;
    let codes: Vec<i64> = image_tokens.clone().into_data().convert::<i64>().to_vec().map_err(|e| {
        CoreError::Shape(format!("cannot read the image tokens: {e:?}"))
    })?;
    if let Some((index, &id)) = codes.iter().enumerate().find(|(_, &c)| !(0..num_codes).contains(&c)) {
        return Err(CoreError::TokenOutOfRange { id, index, vocab_size: model.num_image_tokens });
    }
    let layout = TextToImageLayout::new(txt_len, n, attn_plus);
    let prefix: Vec<i64> = prompt.text_ids.iter().copied().chain([prompt.start_of_image_id]).collect();
    let prefix = Tensor::<B, 2, Int>::from_data(TensorData::new(prefix, [1, txt_len + 1]), &device).repeat_dim(0, b);
    // The last image token is only a target: nothing is predicted from it.
    let inputs = Tensor::cat(vec![prefix, image_tokens.clone().slice([0..b, 0..n - 1])], 1);
    let len = layout.len() - 1;
    let positions = layout.position_tensor::<B>(&device).slice([0..1, 0..len]).repeat_dim(0, b);
    let hidden = model.forward_hidden(inputs, positions, &layout.bias_for_rows(0..len, &device), None)?;
    let h = model.hidden_size();
    let logits = model.image_logits(hidden.slice([0..b, txt_len..len, 0..h])).cast(FloatDType::F32);
    Ok(log_softmax(logits, 2).gather(2, image_tokens.unsqueeze_dim(2)).reshape([b, n]))
}

/// `log p(image | text)` of each row of `image_tokens` (the sum of [`image_token_log_probs`]); higher is better.
///
/// # Shapes
/// - image tokens `[batch, num_image]` → `batch` log-likelihoods in nats.
pub fn image_log_likelihood<B: Backend>(
    model: &CogLm<B>,
    prompt: &ImagePrompt,
    image_tokens: Tensor<B, 2, Int>,
    attn_plus: f32,
) -> Result<Vec<f32>> {
    image_token_log_probs(model, prompt, image_tokens, attn_plus)?
        .sum_dim(1)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| CoreError::Shape(format!("cannot read the log-likelihoods back: {e:?}")))
}
