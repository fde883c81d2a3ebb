#!/usr/bin/env bash
# The GPU checks of the issues in one prepared script (about 5-8 minutes on one H100).
#
#   bash scripts/gpu_check.sh [OUTDIR]        (default OUTDIR: bench/gpu_check)
#
# Runs, each writing a log (and a CSV where the tool writes one) into OUTDIR:
#   1. amos bench speed --variant full: whole loop vs raw step per baseline (issue 4's >= 90% target),
#      peak memory, inference s/case;
#   2. amos bench pipeline --variant full: MONAI per-sample chains vs PatchSampler at 96^3, batch 2,
#      side by side (issue 4; the training-loop ratio is step 1's);
#   3. amos bench predict: one AMOS-sized CT (512x512x100, 0.7x0.7x5 mm), fast vs plain MONAI path,
#      stage times and label agreement (issue 5's <= 2 s target);
#   4. amos bench models --mode train --amp bf16: params, s/step, peak memory at the recommended patch
#      of every model, CoTr and nnFormer included (issue 7).
# Needs a CUDA machine with the project installed (or its wheels on PYTHONPATH). A failing step is
# reported and the next one still runs; the exit code says whether any failed.
set -uo pipefail
out="${1:-bench/gpu_check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 AMOS_CACHE_DIR="${AMOS_CACHE_DIR:-$out/cache}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device')" || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
failed=0
step() {  # step NAME COMMAND...: run, log to OUTDIR/NAME.log, remember failures
  local name=$1; shift
  echo "== $name: $*"
  local start=$SECONDS
  if ! "$@" 2>&1 | tee "$out/$name.log"; then failed=1; echo "== $name FAILED"; fi
  echo "== $name took $((SECONDS - start)) s"
}
step speed python -m amos_tutorial.cli bench speed --variant full --device cuda --iterations 30 \
  --models unet,nnunet,segresnet,vnet,unetr,swinunetr,cotr,nnformer --out "$out/speed.csv"
step pipeline python -m amos_tutorial.cli bench pipeline --variant full --patch-size 96,96,96 --batch-size 2 \
  --iterations 20 --device cuda --out "$out/pipeline.csv"
step predict python -m amos_tutorial.cli bench predict --device cuda
step models python -m amos_tutorial.cli bench models --mode train --amp bf16 --device cuda --out "$out/models.csv"
exit $failed
