//! The deterministic mixed English/Chinese benchmark corpus, shared with `sentencepiece_bench.py` (same word
//! lists, same 64-bit LCG, same sentence shapes), so both benchmarks encode byte-identical text.

const WORDS: &str = include_str!("corpus_words.txt");

/// Knuth's MMIX LCG; the high bits are used because the low bits of an LCG are weak.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn word_lists() -> (Vec<&'static str>, Vec<&'static str>) {
    let (mut en, mut zh, mut current) = (Vec::new(), Vec::new(), 0);
    for line in WORDS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line {
            "en" => current = 1,
            "zh" => current = 2,
            word if current == 1 => en.push(word),
            word => zh.push(word),
        }
    }
    (en, zh)
}

/// About `target_bytes` of text: alternating English sentences (space-separated words, ". ") and Chinese
/// sentences (no spaces, "。"), 8–19 words each, a newline after every fourth sentence.
pub fn build(target_bytes: usize) -> String {
    let (en, zh) = word_lists();
    let mut rng = Lcg(20_220_613);
    let mut out = String::with_capacity(target_bytes + 256);
    let mut sentence = 0usize;
    while out.len() < target_bytes {
        let n = 8 + rng.below(12);
        if sentence.is_multiple_of(2) {
            let words: Vec<&str> = (0..n).map(|_| en[rng.below(en.len())]).collect();
            out.push_str(&words.join(" "));
            out.push_str(". ");
        } else {
            for _ in 0..n {
                out.push_str(zh[rng.below(zh.len())]);
            }
            out.push('。');
        }
        sentence += 1;
        if sentence.is_multiple_of(4) {
            out.push('\n');
        }
    }
    out
}

/// FNV-1a 64-bit hash, to check that the Rust and Python corpora are byte-identical.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}
