#!/usr/bin/env bash
# Trials per minute of hpfw's default task (MLP on digits, 20 epochs) for vmapped
# groups of 1 to 1024 trials, and achieved FLOP/s against the device's float32
# matmul peak measured in the same run. On one H100/H200 it takes 2-3 minutes.
#
#   bash benchmarks/gpu.sh                      # on a machine with a GPU
#   SIZES=1,8 EPOCHS=2 MIXED_SIZES=4 bash benchmarks/gpu.sh   # a small setting for the CPU
#
# It also runs one plain `hpfw` run, whose log says which device auto picked, and
# benchmarks/gpu_profile.py (docs/benchmarks.md, issue 14, "Eleventh session").
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1,8,32,128,512,1024}
EPOCHS=${EPOCHS:-20}
PYTHON=${PYTHON:-python3}
OUT_DIR=${OUT:-outputs}
mkdir -p "$OUT_DIR"
export HPFW_CACHE_DIR=${HPFW_CACHE_DIR:-/tmp/hpfw-jax-cache}
"$PYTHON" -m hpfw trainer.epochs="$EPOCHS" hydra.run.dir="$OUT_DIR/gpu_single_run"
"$PYTHON" benchmarks/bench_groups.py --sizes "$SIZES" --epochs "$EPOCHS" \
    --json "$OUT_DIR/gpu_groups.json"
# Mixed architectures in one envelope (hidden 64-512, 1-4 layers, batch 32-128, 10-30
# epochs, sgd/adam/adamw): one vmapped program per group (target: >= 20,000 trials/min
# for 1024 trials on one H200; the default task above: >= 100,000 trials/min).
"$PYTHON" benchmarks/bench_groups.py --mixed --sizes "${MIXED_SIZES:-128,1024}" \
    --json "$OUT_DIR/gpu_mixed_groups.json"
# Where a 1024-trial group's time goes: host against device, the memory floor, a
# profile, one-change variants and the cost model's fit points (about 4 minutes).
"$PYTHON" benchmarks/gpu_profile.py --out "$OUT_DIR/gpu_profile" \
    --trials "${PROFILE_TRIALS:-1024}" --epochs "$EPOCHS"
