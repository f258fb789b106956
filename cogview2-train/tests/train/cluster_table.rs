//! The cluster table stage: k-means++ over codebook vectors, written as `cluster_label.npy` and read back by the
//! core crate.

use cogview2_core::ClusterTable;
use cogview2_train::{kmeans, write_cluster_table, KMeansConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `per` points around each of `centres` (±0.5 uniform noise), interleaved so blobs are not contiguous.
fn blobs(centres: &[[f32; 4]], per: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..per {
        for c in centres {
            out.extend(c.iter().map(|v| v + rng.random_range(-0.5..0.5)));
        }
    }
    out
}

#[test]
fn separated_blobs_are_recovered_and_round_trip_through_npy() {
    let centres = [[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0], [0.0, 10.0, 0.0, 0.0], [0.0, 0.0, 10.0, 10.0]];
    let points = blobs(&centres, 25, 3);
    let config = KMeansConfig { k: 4, max_iters: 50, seed: 7 };
    let path = std::env::temp_dir().join(format!("cogview2-train-clusters-{}.npy", std::process::id()));
    let labels = write_cluster_table(&points, 4, &config, &path).unwrap();
    assert_eq!(labels.len(), 100);
    // Point i belongs to blob i % 4: one label per blob, four distinct labels.
    let blob_label: Vec<i64> = (0..4).map(|b| labels[b]).collect();
    for (i, &l) in labels.iter().enumerate() {
        assert_eq!(l, blob_label[i % 4], "point {i}");
    }
    let mut distinct = blob_label.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);

    let table = ClusterTable::from_npy_file(&path).unwrap();
    assert_eq!(table.labels(), &labels[..]);
    assert_eq!(table.num_clusters(), 4);
    assert_eq!(table.num_tokens(), 100);
    std::fs::remove_file(&path).unwrap();

    // Deterministic in the seed.
    assert_eq!(kmeans(&points, 4, &config).unwrap(), labels);
}

#[test]
fn every_cluster_is_used_even_with_duplicate_points() {
    // 40 points on only 3 distinct locations, 5 clusters: k-means++ must still fill every cluster.
    let mut points = Vec::new();
    for i in 0..40 {
        points.extend([(i % 3) as f32, 0.0]);
    }
    let labels = kmeans(&points, 2, &KMeansConfig { k: 5, max_iters: 20, seed: 1 }).unwrap();
    for c in 0..5 {
        assert!(labels.contains(&c), "cluster {c} empty: {labels:?}");
    }
    assert!(kmeans(&points, 2, &KMeansConfig { k: 41, max_iters: 20, seed: 1 }).is_err());
    assert!(kmeans(&points[..3], 2, &KMeansConfig { k: 1, max_iters: 20, seed: 1 }).is_err());
}
