//! Parity with the official icetk HVQVAE on the `vqvae` fixture (tiny config, official names).
//! Tolerance: abs 1e-4 on floats, token ids exact (fixture README).


use burn::tensor::Tensor;
use cogview2_vqvae::{CompressRate, Hvqvae};
use crate::common::{ids_vec, max_abs_diff, model, Io, B, TOL};

fn run(model: &Hvqvae<B>, io: &Io) -> Tensor<B, 4> {
    model.normalize(io.float::<4>("image"))
}

#[test]
fn normalized_image() {
    let (model, io) = (model(), Io::read());
    assert!(max_abs_diff("normalized_image", run(&model, &io), io.float("normalized_image")) <= TOL);
}

#[test]
fn encoder_outputs_and_quantisation() {
    let (model, io) = (model(), Io::read());
    let enc = model.encoder(run(&model, &io));
    assert!(max_abs_diff("encoder_output", enc.clone(), io.float("encoder_output")) <= TOL);
    let enc_l1 = model.down_sample_to_level(enc, 1);
    assert!(max_abs_diff("encoder_output_l1", enc_l1.clone(), io.float("encoder_output_l1")) <= TOL);
    let quant = model.quantize(enc_l1).quant;
    assert!(max_abs_diff("quant_l1", quant, io.float("quant_l1")) <= TOL);
}

#[test]
fn token_ids_at_all_levels() {
    let (model, io) = (model(), Io::read());
    for (rate, name) in [(4, "token_ids_l0"), (8, "token_ids_l1"), (16, "token_ids_l2")] {
        let ids = model.encode(io.float("image"), CompressRate::try_from(rate).unwrap()).unwrap();
        assert_eq!(ids_vec(ids), ids_vec(io.ids::<2>(name)), "{name}");
    }
}

#[test]
fn decoded_images() {
    let (model, io) = (model(), Io::read());
    for (ids, expected) in
        [("token_ids_l1", "decoded_from_ids_l1"), ("random_codes_l1", "decoded_from_random_codes_l1")]
    {
        let image = model.decode(io.ids(ids), CompressRate::X8).unwrap();
        assert!(max_abs_diff(expected, image, io.float(expected)) <= TOL);
    }
    let raw = model.single_decode_code(io.ids::<2>("token_ids_l0").reshape([1, 8, 8]), 0).unwrap();
    assert!(max_abs_diff("decoded_raw_from_ids_l0", raw, io.float("decoded_raw_from_ids_l0")) <= TOL);
}
