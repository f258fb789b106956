//! Encode throughput (MB/s of UTF-8 input) on a deterministic mixed English/Chinese corpus.
//! Run: `cargo bench -p cogview2-icetk --bench encode`; compare with `python3 benches/sentencepiece_bench.py`.
//! Fixture root from COGVIEW2_FIXTURES (default ../shared/fixtures from the repository root).

use std::hint::black_box;
use std::time::Duration;

use cogview2_icetk::IceTokenizer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod corpus;

fn model_path() -> String {
    let root = std::env::var("COGVIEW2_FIXTURES").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures").to_string()
    });
    format!("{root}/icetk_text/ice_text.model")
}

fn bench_encode(c: &mut Criterion) {
    let tokenizer = IceTokenizer::from_file(model_path()).expect("icetk_text fixture model");
    let mut group = c.benchmark_group("icetk_encode");
    group
        .measurement_time(Duration::from_secs(8))
        .sample_size(20);
    // Whole-document encode (one long normalise + Viterbi) and line-by-line encode (many short prompts).
    let document = corpus::build(1 << 20);
    // Same line as sentencepiece_bench.py prints: proves both benchmarks encode the same bytes.
    eprintln!(
        "corpus: {} bytes, fnv1a64 {:016x}",
        document.len(),
        corpus::fnv1a64(document.as_bytes())
    );
    group.throughput(Throughput::Bytes(document.len() as u64));
    group.bench_function("document_1MiB", |b| {
        b.iter(|| black_box(tokenizer.encode(black_box(&document))))
    });
    let lines: Vec<&str> = document.lines().collect();
    group.bench_function("lines_1MiB", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| tokenizer.encode(black_box(l)).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
