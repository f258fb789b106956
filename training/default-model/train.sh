#!/usr/bin/env bash
# Trains the default model shipped in model/ from scratch on CPU (the commands and step counts of the shipped
# model; docs/default-model.md has the times and results). Every stage writes checkpoints under $RUNS; a rerun skips
# finished stages and continues an interrupted one from its checkpoint.
#
#   bash training/default-model/train.sh            # writes model/ and runs/default-model/
#   OUT=/tmp/model RUNS=/tmp/runs bash training/default-model/train.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-model}
RUNS=${RUNS:-runs/default-model}
CFG=training/default-model
VQ_AE_STEPS=${VQ_AE_STEPS:-1200}
VQ_PHASE1_STEPS=${VQ_PHASE1_STEPS:-1400}
VQ_STEPS=${VQ_STEPS:-3000}
VQ_DECODER_STEPS=${VQ_DECODER_STEPS:-900}
COGLM_STEPS=${COGLM_STEPS:-9600}
DSR_STEPS=${DSR_STEPS:-10000}
ITERSR_STEPS=${ITERSR_STEPS:-10000}

cargo build --release -p cogview2-vqvae --example train_vqvae
cargo build --release -p cogview2-train --example train
T=target/release/examples
mkdir -p "$OUT/vqvae" "$RUNS"

# 1. Caption tokenizer over every scene caption (English and Chinese).
$T/train tokenizer --out "$OUT/ice_text.model"

# 2. VQ-VAE (HvqvaeConfig::small with 8 norm groups, 512 codes), rate 8, single-object scenes. Phase 1: whole
#    32 px scenes, the first VQ_AE_STEPS as a plain autoencoder; phase 2: half of each batch are object close-ups
#    (the object's 32 px cell of a 96 px scene), the scale the final images decode at. Both phases resume.
vq_resume() { if [ -f "$RUNS/vqvae/checkpoint/trainer.json" ]; then echo --resume; fi; }
$T/train_vqvae $(vq_resume) --size 32 --steps "$VQ_PHASE1_STEPS" --batch-size 8 --n-embed 512 --max-objects 1 \
  --lr 1e-4 --norm-groups 8 --ae-warmup-steps "$VQ_AE_STEPS" --out-dir "$RUNS/vqvae" --save-every 100
$T/train_vqvae --resume --object-crops --size 32 --steps "$VQ_STEPS" --batch-size 8 --max-objects 1 \
  --out-dir "$RUNS/vqvae" --save-every 100
$T/train_vqvae --size 96 --max-objects 1 --out-dir "$RUNS/vqvae" --eval --eval-images 64
cp "$RUNS/vqvae/checkpoint/config.json" "$OUT/vqvae/config.json"
$T/train to-f16 --input "$RUNS/vqvae/checkpoint/weights.safetensors" --out "$OUT/vqvae/weights.safetensors"

# 2b. The decoder alone, at the scale the final images decode at: 80 px scenes (stage 1) and the 80 px object cells
#     of 240 px scenes, drawn as the CogLM rows below. Encoder and codebook stay frozen, so every image keeps its
#     codes (what follows may run before or after this step); the codec above drew black as dark purple at 240 px.
if [ -f "$RUNS/vqvae-decoder/checkpoint/trainer.json" ]; then
  dec_start=(--resume)
else
  dec_start=(--init "$OUT/vqvae" --decoder-only --seed 5 --lr 2e-4)
fi
$T/train_vqvae "${dec_start[@]}" --size 80 --batch-size 8 --crops-per-batch 6 --max-objects 1 --object-scale 0.7,0.95 \
  --plain-background 0.8 --steps "$VQ_DECODER_STEPS" --final-lr 2e-5 --decay-from 0 --out-dir "$RUNS/vqvae-decoder" \
  --save-every 100 --eval-images 64
$T/train to-f16 --input "$RUNS/vqvae-decoder/checkpoint/weights.safetensors" --out "$OUT/vqvae/weights.safetensors"

# 3. Cluster table over the codebook (k-means, as the official 500-cluster table over 20 000 codes).
$T/train clusters --codebook "$RUNS/vqvae/checkpoint/weights.safetensors" --tensor quantize.embed.weight --k 16 \
  --out "$OUT/cluster_label.npy"

# 4. CogLM on 10×10-code rows of single-object scenes with the pretraining masking strategy. 30 % of the captions
#    leave out the position, the background or both, so that prompts such as "a red circle" are known; 80 % of the
#    scenes are on the plain background (white; black behind a white object) that such prompts get, so that an
#    outline's codes mostly pair the object's colour with one background. One run from scratch over four row sets
#    (38 912 scenes, each seen about four times: fresh scenes raised held-out shape more than repeats did).
rows() { # seed, scenes, name
  [ -f "$RUNS/$3.safetensors" ] && return
  $T/train rows --tokenizer "$OUT/ice_text.model" --vqvae "$OUT/vqvae" --lo-grid 10 --scenes "$2" \
    --partial-captions 0.3 --object-scale 0.7,0.95 --plain-background 0.8 --seed "$1" --row-len 121 \
    --out "$RUNS/$3.safetensors" --tokens-out "$RUNS/tokens.json"
}
rows 1234 6144 rows-1234
rows 4321 8192 rows-4321
rows 5678 12288 rows-5678
rows 8765 12288 rows-8765
# Steps a stage has left: all of them, or what its checkpoint's "step" leaves (an interrupted run resumes).
left() { # checkpoint json, total steps
  local done=0
  if [ -f "$1" ]; then done=$(sed -n 's/^  "step": \([0-9]*\),$/\1/p' "$1"); fi
  echo $(($2 - done))
}
if [ ! -f "$RUNS/export/coglm/weights.safetensors" ]; then
  start=(--config "$CFG/coglm.json")
  if [ -f "$RUNS/coglm/trainer.json" ]; then start=(--resume "$RUNS/coglm"); fi
  $T/train coglm "${start[@]}" --tokens "$RUNS/tokens.json" --data "$RUNS/rows-1234.safetensors" \
    --data "$RUNS/rows-4321.safetensors" --data "$RUNS/rows-5678.safetensors" --data "$RUNS/rows-8765.safetensors" \
    --steps "$(left "$RUNS/coglm/trainer.json" "$COGLM_STEPS")" --batch-size 16 --lr 3e-3 --warmup 200 --seed 1234 \
    --checkpoint-every 500 --out-dir "$RUNS/coglm" --export-dir "$RUNS/export/coglm"
fi

# 5. DSR (10×10 → 30×30) and ITERSR (LoPAR re-masking on 30×30), side by side, both with their trunk initialised
#    from the CogLM (a fresh DSR trunk learns to ignore its low-res input), on 1024 scenes drawn as the rows and
#    encoded once (DSR writes the cache, ITERSR starts when it is there).
SR_CACHE="$RUNS/sr-scenes-1024.safetensors"
SR_SCENES=(--scenes 1024 --max-objects 1 --object-scale 0.7,0.95 --plain-background 0.8 --scene-cache "$SR_CACHE")
sr_stage() { # dsr or itersr, steps
  [ -f "$RUNS/export/$1/weights.safetensors" ] && return
  local start=(--config "$CFG/$1.json" --init-coglm "$RUNS/export/coglm")
  if [ -f "$RUNS/$1/sr_trainer.json" ]; then start=(--resume "$RUNS/$1"); fi
  $T/train "$1" "${start[@]}" --tokenizer "$OUT/ice_text.model" --vqvae "$OUT/vqvae" "${SR_SCENES[@]}" \
    --steps "$(left "$RUNS/$1/sr_trainer.json" "$2")" --warmup 200 --checkpoint-every 500 --out-dir "$RUNS/$1" \
    --export-dir "$RUNS/export/$1"
}
sr_stage dsr "$DSR_STEPS" &
dsr=$!
until [ -f "$SR_CACHE" ]; do kill -0 $dsr 2>/dev/null || { wait $dsr; exit 1; }; sleep 10; done
sr_stage itersr "$ITERSR_STEPS"
wait $dsr

# 6. Ship f16 copies of the transformer weights.
for stage in coglm dsr itersr; do
  mkdir -p "$OUT/$stage"
  cp "$RUNS/export/$stage/config.json" "$OUT/$stage/config.json"
  $T/train to-f16 --input "$RUNS/export/$stage/weights.safetensors" --out "$OUT/$stage/weights.safetensors"
done
# 7. The model's sampling recipe: the official one with every top-k scaled to the same share of 512 codes in 16
#    clusters (Recipe::scaled_to), and attn_plus 0 (the 10×10 stage 1 draws positions better without it).
cp $CFG/recipe.json "$OUT/recipe.json"
du -sh "$OUT"
