//! Bad input gives typed errors, never a panic: weights files, images, sizes, ids, compress rates.


use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use cogview2_vqvae::{
    images_to_tensor, load_image, load_safetensors, CompressRate, Hvqvae, VqvaeError,
};
use crate::common::{config, fixture_dir, max_abs_diff, model, Io, B};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A scratch file path unique to this process and test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cogview2-vqvae-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The fixture weights as (name, dtype, shape, bytes), for editing.
fn fixture_tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fixture_dir().join("weights.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(name: &str, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> PathBuf {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let path = scratch(name);
    std::fs::write(&path, safetensors::serialize(views, &None).unwrap()).unwrap();
    path
}

fn load(path: &PathBuf) -> cogview2_vqvae::Result<Hvqvae<B>> {
    load_safetensors(&config(), path, &Default::default())
}

#[test]
fn missing_tensor_is_named() {
    let mut t = fixture_tensors();
    t.retain(|(n, ..)| n != "decs.1.up.2.block.0.nin_shortcut.weight");
    let path = write("missing.safetensors", &t);
    match load(&path) {
        Err(VqvaeError::MissingTensor { name, file }) => {
            assert_eq!(name, "decs.1.up.2.block.0.nin_shortcut.weight");
            assert!(file.ends_with("missing.safetensors"));
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn training_buffers_may_be_absent() {
    let mut t = fixture_tensors();
    t.retain(|(n, ..)| n != "quantize.cluster_size" && n != "quantize.embed_avg");
    load(&write("no_buffers.safetensors", &t)).unwrap();
}

#[test]
fn unexpected_tensor_is_named() {
    let mut t = fixture_tensors();
    t.push(("enc.extra.weight".into(), Dtype::F32, vec![1], vec![0; 4]));
    match load(&write("extra.safetensors", &t)) {
        Err(VqvaeError::UnexpectedTensors { count: 1, first, .. }) => assert_eq!(first, "enc.extra.weight"),
        other => panic!("expected UnexpectedTensors, got {other:?}"),
    }
}

#[test]
fn wrong_shape_is_named() {
    let mut t = fixture_tensors();
    let e = t.iter_mut().find(|(n, ..)| n == "quantize.embed.weight").unwrap();
    e.2 = vec![64, 64]; // same byte count, other shape
    match load(&write("shape.safetensors", &t)) {
        Err(VqvaeError::ShapeMismatch { name, found, expected, .. }) => {
            assert_eq!((name.as_str(), found, expected), ("quantize.embed.weight", vec![64, 64], vec![128, 32]));
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
}

#[test]
fn wrong_dtype_is_named() {
    let mut t = fixture_tensors();
    let e = t.iter_mut().find(|(n, ..)| n == "enc.conv_in.bias").unwrap();
    e.1 = Dtype::I32;
    match load(&write("dtype.safetensors", &t)) {
        Err(VqvaeError::UnsupportedDtype { name, .. }) => assert_eq!(name, "enc.conv_in.bias"),
        other => panic!("expected UnsupportedDtype, got {other:?}"),
    }
}

#[test]
fn truncated_file_is_rejected() {
    let bytes = std::fs::read(fixture_dir().join("weights.safetensors")).unwrap();
    let path = scratch("truncated.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(load(&path), Err(VqvaeError::InvalidWeightsFile { .. })));
    std::fs::write(&path, &bytes[..5]).unwrap();
    assert!(matches!(load(&path), Err(VqvaeError::InvalidWeightsFile { .. })));
    assert!(matches!(load(&scratch("absent.safetensors")), Err(VqvaeError::Io { .. })));
}

/// Half-precision checkpoints (the official ones are f16) are widened to f32.
#[test]
fn f16_and_bf16_weights_load() {
    let io = Io::read();
    let reference = model().decode(io.ids("token_ids_l1"), CompressRate::X8).unwrap();
    for (dtype, file) in [(Dtype::F16, "f16.safetensors"), (Dtype::BF16, "bf16.safetensors")] {
        let t: Vec<_> = fixture_tensors()
            .into_iter()
            .map(|(n, _, s, b)| {
                let halves: Vec<u8> = b
                    .chunks_exact(4)
                    .flat_map(|c| {
                        let v = f32::from_le_bytes(c.try_into().unwrap());
                        match dtype {
                            Dtype::F16 => half::f16::from_f32(v).to_le_bytes(),
                            _ => half::bf16::from_f32(v).to_le_bytes(),
                        }
                    })
                    .collect();
                (n, dtype, s, halves)
            })
            .collect();
        let m = load(&write(file, &t)).unwrap();
        let image = m.decode(io.ids("token_ids_l1"), CompressRate::X8).unwrap();
        // Rounded weights: only a loose agreement is meaningful.
        assert!(max_abs_diff(file, image, reference.clone()) < 0.1);
    }
}

#[test]
fn image_size_errors() {
    let m = model();
    let device = Default::default();
    let small = Tensor::<B, 4>::zeros([1, 3, 4, 4], &device);
    assert!(matches!(
        m.encode(small, CompressRate::X8),
        Err(VqvaeError::ImageTooSmall { width: 4, height: 4, cell: 8 })
    ));
    let odd = Tensor::<B, 4>::zeros([1, 3, 36, 40], &device);
    assert!(matches!(m.encode(odd, CompressRate::X8), Err(VqvaeError::NotDivisible { rate: 8, .. })));
    let grey = Tensor::<B, 4>::zeros([1, 1, 32, 32], &device);
    assert!(matches!(m.encode(grey, CompressRate::X8), Err(VqvaeError::BadShape { .. })));
    // Non-square grids are fine through encode (16×32 px → 2×4 codes).
    let wide = m.encode(Tensor::<B, 4>::zeros([2, 3, 16, 32], &device), CompressRate::X8).unwrap();
    assert_eq!(wide.dims(), [2, 8]);
}

#[test]
fn id_errors() {
    let m = model();
    let device = Default::default();
    for bad in [128i64, -1] {
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 1, 2, bad], [1, 4]), &device);
        match m.decode(ids, CompressRate::X8) {
            Err(VqvaeError::IdOutOfRange { id, n_embed: 128 }) => assert_eq!(id, bad),
            other => panic!("expected IdOutOfRange, got {other:?}"),
        }
    }
    let ids = Tensor::<B, 2, Int>::zeros([1, 15], &device);
    assert!(matches!(m.decode(ids, CompressRate::X4), Err(VqvaeError::NotSquare { len: 15 })));
    assert!(matches!(CompressRate::try_from(2), Err(VqvaeError::BadCompressRate(2))));
}

#[test]
fn image_file_errors() {
    assert!(matches!(load_image(scratch("nope.png")), Err(VqvaeError::Io { .. })));
    let junk = scratch("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert!(matches!(load_image(&junk), Err(VqvaeError::ImageDecode { .. })));
    let text = scratch("text.jpg");
    std::fs::write(&text, b"hello").unwrap();
    assert!(matches!(load_image(&text), Err(VqvaeError::ImageDecode { .. })));
    let empty = image::RgbImage::new(0, 0);
    assert!(matches!(images_to_tensor::<B>(&[empty], &Default::default()), Err(VqvaeError::EmptyImage { .. })));
    assert!(matches!(images_to_tensor::<B>(&[], &Default::default()), Err(VqvaeError::EmptyBatch)));
    let a = image::RgbImage::new(8, 8);
    let b = image::RgbImage::new(8, 16);
    assert!(matches!(
        images_to_tensor::<B>(&[a, b], &Default::default()),
        Err(VqvaeError::BatchSizeMismatch { index: 1, .. })
    ));
}

/// Any colour type reads as RGB: grey+alpha 16-bit PNG and a JPEG.
#[test]
fn colour_types_become_rgb() {
    let grey = image::ImageBuffer::<image::LumaA<u16>, Vec<u16>>::from_fn(9, 7, |x, _| image::LumaA([x as u16 * 7000, 65535]));
    let png = scratch("grey16.png");
    grey.save(&png).unwrap();
    let rgb = load_image(&png).unwrap();
    assert_eq!(rgb.dimensions(), (9, 7));
    assert_eq!(rgb.get_pixel(1, 0).0, [27, 27, 27]); // 7000/65535·255 ≈ 27.2
    let jpg = scratch("colour.jpg");
    image::RgbImage::from_pixel(10, 6, image::Rgb([200, 30, 90])).save(&jpg).unwrap();
    let back = load_image(&jpg).unwrap();
    assert_eq!(back.dimensions(), (10, 6));
    assert!(back.get_pixel(5, 3).0.iter().zip([200, 30, 90]).all(|(&a, b)| (a as i32 - b).abs() < 8));
}

/// Tensor → PNG → tensor keeps pixels: the `x·255 + 0.5` truncation inverts `/255` exactly.
#[test]
fn batch_png_round_trip() {
    let images: Vec<_> = (0..2u8)
        .map(|k| image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8 * 15, y as u8 * 30, k * 100])))
        .collect();
    let tensor = images_to_tensor::<B>(&images, &Default::default()).unwrap();
    assert_eq!(tensor.dims(), [2, 3, 8, 16]);
    let back = cogview2_vqvae::tensor_to_images(tensor).unwrap();
    for (i, img) in back.iter().enumerate() {
        let path = scratch(&format!("rt{i}.png"));
        cogview2_vqvae::save_png(img, &path).unwrap();
        assert_eq!(load_image(&path).unwrap(), images[i]);
    }
}
