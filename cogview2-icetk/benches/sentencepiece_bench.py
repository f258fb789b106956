#!/usr/bin/env python3
"""Encode throughput of the Python `sentencepiece` package on the corpus of benches/encode.rs.

Builds the same deterministic mixed English/Chinese corpus (same word lists, same LCG, same sentence shapes
as benches/corpus.rs), loads the icetk_text fixture model with CogView2's three special tokens appended as
icetk does (score-0 pieces at the end of the proto), and times `encode` on the whole document and line by
line (one thread), reporting MiB/s as criterion does.
Usage: pip install sentencepiece; python3 cogview2-icetk/benches/sentencepiece_bench.py
Fixture root: COGVIEW2_FIXTURES (default ../shared/fixtures from the repository root).
"""
import os
import statistics
import time

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIALS = ["<start_of_image>", "<start_of_english>", "<start_of_chinese>"]
MASK64 = (1 << 64) - 1


def word_lists():
    en, zh, current = [], [], 0
    with open(os.path.join(HERE, "corpus_words.txt"), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if not line or line.startswith("#"):
                continue
            if line == "en":
                current = 1
            elif line == "zh":
                current = 2
            elif current == 1:
                en.append(line)
            else:
                zh.append(line)
    return en, zh


def build_corpus(target_bytes):
    en, zh = word_lists()
    state = 20_220_613

    def below(n):
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
        return (state >> 33) % n

    parts, size, sentence = [], 0, 0
    while size < target_bytes:
        n = 8 + below(12)
        if sentence % 2 == 0:
            s = " ".join(en[below(len(en))] for _ in range(n)) + ". "
        else:
            s = "".join(zh[below(len(zh))] for _ in range(n)) + "。"
        sentence += 1
        if sentence % 4 == 0:
            s += "\n"
        parts.append(s)
        size += len(s.encode("utf-8"))
    return "".join(parts)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def with_specials(model_bytes):
    """Appends pieces {piece, score: 0} as serialized ModelProto field-1 records (protobuf appends them)."""
    out = bytearray(model_bytes)
    for token in SPECIALS:
        t = token.encode("utf-8")
        inner = b"\x0a" + bytes([len(t)]) + t + b"\x15" + b"\x00" * 4
        out += b"\x0a" + bytes([len(inner)]) + inner
    return bytes(out)


def main():
    root = os.environ.get("COGVIEW2_FIXTURES", os.path.join(HERE, "..", "..", "..", "shared", "fixtures"))
    with open(os.path.join(root, "icetk_text", "ice_text.model"), "rb") as f:
        sp = spm.SentencePieceProcessor(model_proto=with_specials(f.read()))
    assert sp.piece_to_id("<start_of_image>") == sp.get_piece_size() - 3
    document = build_corpus(1 << 20)
    lines = document.split("\n")
    nbytes = len(document.encode("utf-8"))
    print(f"corpus: {nbytes} bytes, fnv1a64 {fnv1a64(document.encode('utf-8')):016x}")
    for name, run in [
        ("document_1MiB", lambda: sp.encode(document)),
        # One thread, as the Rust benchmark (batch encode would otherwise use every core).
        ("lines_1MiB", lambda: sum(len(x) for x in sp.encode(lines, num_threads=1))),
    ]:
        run()
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"sentencepiece {spm.__version__} {name}: {nbytes} bytes, median {med * 1e3:.1f} ms, "
              f"{nbytes / med / (1 << 20):.2f} MiB/s")


if __name__ == "__main__":
    main()
