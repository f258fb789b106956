#!/usr/bin/env python3
"""Writes scene_captions_sentencepiece.json: what the official Python `sentencepiece` makes of
scene_captions.model (written by cogview2-icetk's UnigramVocabBuilder from the cogview2-scenes captions)
on the texts of scene_captions.txt (not committed: the JSON repeats them), for tests/vocab_builder.rs (`python_sentencepiece_agrees`).

Usage: COGVIEW2_WRITE_SCENE_VOCAB=$PWD/cogview2-icetk/tests/data cargo test --release -p cogview2-icetk \
           --test vocab_builder python   # writes the model and the texts
       pip install sentencepiece; python3 cogview2-icetk/tests/data/gen_scene_vocab.py
"""
import json
import os

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "scene_captions.model"))
    with open(os.path.join(HERE, "scene_captions.txt"), encoding="utf-8") as f:
        texts = f.read().split("\n")[:-1]
    cases = []
    for text in texts:
        ids = sp.encode(text)
        cases.append({"text": text, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids], "decoded": sp.decode(ids)})
    out = {"sentencepiece": spm.__version__, "vocab_size": sp.get_piece_size(), "cases": cases}
    # One case per line: small diffs when the data is regenerated.
    lines = [json.dumps(c, ensure_ascii=False) for c in cases]
    head = json.dumps({k: v for k, v in out.items() if k != "cases"}, ensure_ascii=False)[:-1]
    with open(os.path.join(HERE, "scene_captions_sentencepiece.json"), "w", encoding="utf-8") as f:
        f.write(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")


if __name__ == "__main__":
    main()
