#!/usr/bin/env bash
# Trains the default model shipped in model/ from scratch on CPU (the commands and step counts of the shipped
# model; docs/default-model.md has the times and results). Every stage writes checkpoints under $RUNS and can be
# continued with the stage's resume flag.
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
DSR_STEPS=${DSR_STEPS:-3500}
ITERSR_STEPS=${ITERSR_STEPS:-4000}

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
#    outline's codes mostly pair the object's colour with one background. Four stretches, each from the last one's
#    weights with a fresh optimiser: 3000 steps at lr 3e-3, 5000 more at 3e-3, 2500 more at 1e-3 on 6144 scenes,
#    then 2000 at 1e-3 on 8192 fresh ones (the first three see each scene 27 times; fresh scenes raised held-out
#    shape). A finished stretch (its export is there) is skipped on a rerun.
rows() { # seed, scenes, name
  [ -f "$RUNS/$3.safetensors" ] && return
  $T/train rows --tokenizer "$OUT/ice_text.model" --vqvae "$OUT/vqvae" --lo-grid 10 --scenes "$2" \
    --partial-captions 0.3 --object-scale 0.7,0.95 --plain-background 0.8 --seed "$1" --row-len 121 \
    --out "$RUNS/$3.safetensors" --tokens-out "$RUNS/tokens.json"
}
rows 1234 6144 rows
rows 4321 8192 rows-fresh
coglm_stretch() { # name, rows, steps, lr, warm-up, seed, then where its weights come from
  local name=$1 data=$2 steps=$3 lr=$4 warmup=$5 seed=$6
  shift 6
  [ -f "$RUNS/export/$name/weights.safetensors" ] && return
  $T/train coglm "$@" --tokens "$RUNS/tokens.json" --data "$RUNS/$data.safetensors" --steps "$steps" --batch-size 16 \
    --lr "$lr" --warmup "$warmup" --seed "$seed" --checkpoint-every 500 --out-dir "$RUNS/$name" \
    --export-dir "$RUNS/export/$name"
}
coglm_stretch coglm-1 rows 3000 3e-3 200 1234 --config "$CFG/coglm.json"
coglm_stretch coglm-2 rows 5000 3e-3 100 99 --init "$RUNS/export/coglm-1"
coglm_stretch coglm-3 rows 2500 1e-3 50 7 --init "$RUNS/export/coglm-2"
coglm_stretch coglm rows-fresh 2000 1e-3 50 13 --init "$RUNS/export/coglm-3"

# 5. DSR (10×10 → 30×30) and ITERSR (LoPAR re-masking on 30×30), side by side, both with their trunk initialised
#    from the third CogLM stretch (a fresh DSR trunk learns to ignore its low-res input), on 1024 scenes drawn as
#    the rows and encoded once (DSR writes the cache, ITERSR starts when it is there).
SR_CACHE="$RUNS/sr-scenes-1024.safetensors"
SR_SCENES=(--scenes 1024 --max-objects 1 --object-scale 0.7,0.95 --plain-background 0.8 --scene-cache "$SR_CACHE")
$T/train dsr --config $CFG/dsr.json --tokenizer "$OUT/ice_text.model" --vqvae "$OUT/vqvae" \
  --init-coglm "$RUNS/export/coglm-3" "${SR_SCENES[@]}" --steps "$DSR_STEPS" --warmup 200 --checkpoint-every 500 \
  --out-dir "$RUNS/dsr" --export-dir "$RUNS/export/dsr" &
dsr=$!
until [ -f "$SR_CACHE" ]; do kill -0 $dsr 2>/dev/null || { wait $dsr; exit 1; }; sleep 10; done
$T/train itersr --config $CFG/itersr.json --tokenizer "$OUT/ice_text.model" --vqvae "$OUT/vqvae" \
  --init-coglm "$RUNS/export/coglm-3" "${SR_SCENES[@]}" --steps "$ITERSR_STEPS" --warmup 200 --checkpoint-every 500 \
  --out-dir "$RUNS/itersr" --export-dir "$RUNS/export/itersr"
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
