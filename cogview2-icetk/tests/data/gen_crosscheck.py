#!/usr/bin/env python3
"""Writes sentencepiece_crosscheck.json: outputs of the official Python `sentencepiece` on the icetk_text
fixture model (with CogView2's special tokens appended as icetk does) for 1 000 seeded random hostile
strings, plus the id count and FNV-1a hash of the 1 MiB benchmark corpus, for tests/crosscheck.rs.

Usage: pip install sentencepiece; python3 cogview2-icetk/tests/data/gen_crosscheck.py
"""
import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "benches"))
import sentencepiece as spm  # noqa: E402
from sentencepiece_bench import build_corpus, fnv1a64, with_specials  # noqa: E402


def main():
    root = os.environ.get("COGVIEW2_FIXTURES", os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures"))
    with open(os.path.join(root, "icetk_text", "ice_text.model"), "rb") as f:
        sp = spm.SentencePieceProcessor(model_proto=with_specials(f.read()))
    vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    chars = sorted({c for p in vocab for c in p.replace("\u2581", "")})
    rng = random.Random(1234)
    specials = ["<n>", "<start_of_image>", "<start_of_english>", "<start_of_chinese>", "<unk>", "<s>", "</s>"]
    blanks = [" ", "  ", "\t", "\n", "\r", "\u3000", "\u00a0", "\u2002", "\u200b", "\u200d", "\u061c", "\ufeff",
              "\x0b", "\x0c", "\x85"]
    marks = ["\u0301", "\u0308", "\u0327", "\u20dd", "\u3099", "\u309a"]

    def code_point():
        while True:
            r = rng.random()
            lo, hi = ((0x20, 0x250) if r < 0.3 else (0x3000, 0xA000) if r < 0.5 else (0xFF00, 0xFFF0) if r < 0.6
                      else (0x1F300, 0x1FA00) if r < 0.7 else (0, 0x20) if r < 0.8 else (0x2000, 0x3000) if r < 0.9
                      else (0, 0x110000))
            c = rng.randrange(lo, hi)
            if not 0xD800 <= c < 0xE000:
                return chr(c)

    def text():
        out = []
        for _ in range(rng.randrange(0, 30)):
            r = rng.random()
            out.append(rng.choice(chars) if r < 0.5 else rng.choice(blanks) if r < 0.65 else rng.choice(marks)
                       if r < 0.72 else rng.choice(specials) if r < 0.78
                       else rng.choice(vocab).replace("\u2581", " ") if r < 0.82 else code_point())
        return "".join(out)

    cases = []
    for _ in range(1000):
        t = text()
        ids = sp.encode(t)
        cases.append({"text": t, "ids": ids, "pieces": sp.encode_as_pieces(t), "decoded": sp.decode(ids),
                      "normalized": sp.normalize(t)})
    corpus = build_corpus(1 << 20)
    corpus_ids = sp.encode(corpus)
    out = {
        "sentencepiece_version": spm.__version__,
        "corpus": {
            "bytes": len(corpus.encode("utf-8")),
            "fnv1a64": f"{fnv1a64(corpus.encode('utf-8')):016x}",
            "num_ids": len(corpus_ids),
            "ids_fnv1a64": f"{fnv1a64(b''.join(struct.pack('<I', i) for i in corpus_ids)):016x}",
        },
        "cases": cases,
    }
    # One case per line keeps the file small and its diffs readable.
    head = json.dumps({k: v for k, v in out.items() if k != "cases"}, ensure_ascii=False)[:-1]
    body = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases)
    with open(os.path.join(HERE, "sentencepiece_crosscheck.json"), "w", encoding="utf-8") as f:
        f.write(f'{head}, "cases": [\n{body}\n]}}\n')


if __name__ == "__main__":
    main()
