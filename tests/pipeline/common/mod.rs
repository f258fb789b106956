//! The tiny model set shared by the end-to-end tests: the fixtures' seeded CogLM / DSR / ITERSR weights and cluster
//! table, a random-weight VQ-VAE with their codebook size, and a small tokenizer whose special ids land where the
//! fixture models expect them. Sizes come from the fixtures' configs.

// Each test file uses a different subset of these helpers.

use burn::tensor::{Int, Tensor};
use cogview2::core::{ClusterTable, CogLm};
use cogview2::icetk::IceTokenizer;
use cogview2::sr::{DsrModel, ItersrModel};
use cogview2::vqvae::{Hvqvae, HvqvaeConfig};
use cogview2::{CpuBackend as B, Pipeline, PipelineParts, Request};
use cogview2_fixtures as fx;

/// The fixture models' id space, with a few real pieces so prompts encode to words.
pub fn tokenizer(num_image_tokens: usize, start_of_image: usize) -> IceTokenizer {
    let mut pieces: Vec<&str> = "abcdefghijklmnopqrstuvwxyz".split("").filter(|p| !p.is_empty()).collect();
    pieces.extend(["▁", "▁a", "▁red", "▁blue", "▁circle", "▁square", "高", "清", "摄", "影", "隔", "绝"]);
    fx::tokenizer_for_id_space(num_image_tokens, start_of_image, &pieces)
}

/// The fixture VQ-VAE's config with its codebook resized to `n_embed` codes.
pub fn vqvae_config(n_embed: usize) -> HvqvaeConfig {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx::dir("vqvae").join("config.json")).unwrap()).unwrap();
    json["params"]["quantize_config"]["params"]["n_embed"] = n_embed.into();
    serde_json::from_value(json).unwrap()
}

/// The model set; `vqvae_codes` overrides the codebook size (to build inconsistent sets).
pub fn parts(vqvae_codes: Option<usize>) -> PipelineParts<B> {
    let device = Default::default();
    let (_, coglm) = CogLm::<B>::from_dir(fx::dir("coglm_forward"), &device).unwrap();
    let n = coglm.num_image_tokens;
    let soi = fx::config_usize(&fx::config("coglm_forward"), "start_of_image_id");
    PipelineParts {
        tokenizer: tokenizer(n, soi),
        vqvae: Hvqvae::new(&vqvae_config(vqvae_codes.unwrap_or(n)), &device).unwrap(),
        coglm,
        dsr: DsrModel::from_dir(fx::dir("dsr"), &device).unwrap(),
        itersr: ItersrModel::from_dir(fx::dir("itersr_lopar"), &device).unwrap(),
        clusters: ClusterTable::from_npy_file(fx::dir("official_format").join("cluster_label.npy")).unwrap(),
    }
}

/// The consistent tiny pipeline.
pub fn pipeline() -> Pipeline<B> {
    Pipeline::from_parts(parts(None), &Default::default()).unwrap()
}

/// A request of `batch_size` samples in chunks of 2.
pub fn request(prompt: &str, batch_size: usize, seed: u64) -> Request {
    Request { batch_size, max_inference_batch_size: 2, seed, ..Request::new(prompt) }
}

/// Tokens as a flat host vector.
pub fn token_vec(t: Tensor<B, 2, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().to_vec().unwrap()
}
