#!/usr/bin/env bash
# Seed CNN training throughput, Stride against PyTorch on this machine, in one
# run: same model, batch (32), Adam, synthetic 28x28x1 batches, per thread
# count. Prints both figures and their ratio.
#   bench/compare_train.sh [threads=1,2] [steps=300]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1,2}
steps=${2:-300}
stride=build/tools/stride
[ -x "$stride" ] || { echo "compare_train.sh: build first (tools/build.sh)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "compare_train.sh: needs python3-torch (tools/setup.sh bench)" >&2; exit 1; }
ours=$("$stride" bench train --config configs/seed_cnn_fashion.ini --threads "$threads" --steps "$steps" --format json)
peer=$(/usr/bin/python3 bench/seed_cnn_torch.py --threads "$threads" --steps "$steps")
/usr/bin/python3 - "$ours" "$peer" <<'PY'
import json, sys
ours = {r["threads"]: r for r in json.loads(sys.argv[1])}
peer = {json.loads(l)["threads"]: json.loads(l) for l in sys.argv[2].splitlines()}
print(f"{'threads':>7}  {'stride img/s':>12}  {'pytorch img/s':>13}  {'ratio':>5}")
for t in sorted(ours):
    s, p = ours[t]["images_per_s"], peer[t]["images_per_s"]
    print(f"{t:>7}  {s:>12.0f}  {p:>13.0f}  {s / p:>5.2f}")
PY
