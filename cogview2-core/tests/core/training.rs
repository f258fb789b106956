//! Every CogLM parameter is trainable on burn's Autodiff backend (no inference-only shortcuts), and a few Adam
//! steps (60) on a fixed batch lower the image-token cross-entropy.

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use cogview2_core::{CogLm, CogLmConfig, PbRelax, TextToImageLayout};

type B = Autodiff<NdArray>;

struct CountParams(usize);
impl<Bk: burn::tensor::backend::Backend> ModuleVisitor<Bk> for CountParams {
    fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<Bk, D>>) {
        self.0 += 1;
    }
}

fn loss(model: &CogLm<B>, layout: &TextToImageLayout, tokens: &Tensor<B, 2, Int>, targets: &Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let device = Default::default();
    let t = layout.txt_len;
    let logits = model
        .forward(tokens.clone(), layout.position_tensor(&device), &layout.bias_for_rows(0..layout.len(), &device))
        .unwrap();
    // Rows t .. t+n−1 predict image tokens 0 .. n−1.
    let [_, _, v] = logits.dims();
    let rows = logits.slice([0..1, t..t + layout.num_image, 0..v]).reshape([layout.num_image, v]);
    CrossEntropyLossConfig::new().init(&device).forward(rows, targets.clone())
}

#[test]
fn all_parameters_get_gradients_and_adam_lowers_the_loss() {
    for pb_relax in [None, Some(PbRelax::default())] {
        let device = Default::default();
        let mut config = CogLmConfig::new(2, 32, 4, 80, 600).with_dropout(0.0).with_pb_relax(pb_relax);
        config.num_image_tokens = 64;
        let mut model = CogLm::<B>::new(&config, &device).unwrap();
        let layout = TextToImageLayout::new(3, 16, 1.4);
        let image: Vec<i64> = (0..16).map(|i| (i * 5 % 64) as i64).collect();
        let seq: Vec<i64> = [70, 71, 72, 79].into_iter().chain(image.iter().copied()).collect();
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(seq, [1, 20]), &device);
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(image, [16]), &device);

        let first = loss(&model, &layout, &tokens, &targets);
        let grads = GradientsParams::from_grads(first.backward(), &model);
        let mut count = CountParams(0);
        model.visit(&mut count);
        assert_eq!(grads.len(), count.0, "every parameter tensor receives a gradient");

        let mut optim = AdamConfig::new().init();
        let mut current = f32::INFINITY;
        let start: f32 = loss(&model, &layout, &tokens, &targets).into_scalar();
        for _ in 0..60 {
            let l = loss(&model, &layout, &tokens, &targets);
            current = l.clone().into_scalar();
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
        assert!(current < 0.5 * start, "loss {start} → {current} after 60 Adam steps (pb_relax {pb_relax:?})");
    }
}
