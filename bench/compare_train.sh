#!/usr/bin/env bash
# Training throughput, Stride against PyTorch 2.x from PyPI (tools/setup.sh
# bench installs it into .venv-bench) on this machine, in one run: the seed
# CNN at batch 32 and 128 and vgg_bn at 64 and 128, the same network, batch,
# Adam and thread count on a synthetic 28x28x1 batch (the compute of a step),
# Stride and PyTorch alternating for each round. Debian's PyTorch 1.13 is a
# second column when the system Python has it.
#
# Both run under SCHED_FIFO (chrt) where the machine allows it: on a shared
# virtual machine other processes otherwise preempt one of the two threads
# mid-step and the figures measure the neighbours. Both get the same OpenMP
# environment: OMP_NUM_THREADS, and GOMP_SPINCOUNT=50000, the bounded spin
# Stride picks for itself on a machine that is not already busy (both
# bundle libgomp, which reads it).
#   bench/compare_train.sh [rounds=3] [threads=2]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
stride=build/tools/stride
peer=.venv-bench/bin/python3
[ -x "$stride" ] || { echo "compare_train.sh: build first (tools/build.sh)" >&2; exit 1; }
[ -x "$peer" ] || { echo "compare_train.sh: needs PyTorch 2.x in .venv-bench (tools/setup.sh bench)" >&2; exit 1; }
debian=""
/usr/bin/python3 -c 'import torch' 2>/dev/null && debian=/usr/bin/python3

run=()
if command -v chrt >/dev/null && chrt -f 50 true 2>/dev/null; then
  run=(chrt -f 50)
  echo "# scheduling: SCHED_FIFO priority 50 for both peers"
else
  echo "# scheduling: default (chrt -f not permitted here): expect noise from other processes"
fi
export OMP_NUM_THREADS=$threads GOMP_SPINCOUNT=50000
echo "# $("$peer" -c 'import re, torch; m = re.search(r"oneDNN v[0-9.]+", torch.__config__.show()); print("pytorch", torch.__version__, "with", m.group(0) if m else "oneDNN ?")')"
echo "# $(nproc) cpus, $threads threads, $(date -u +%Y-%m-%dT%H:%MZ)"

cases=("seed_cnn configs/seed_cnn_fashion.ini 32 300"
       "seed_cnn configs/seed_cnn_fashion.ini 128 100"
       "vgg_bn configs/vgg_bn_fashion.ini 64 40"
       "vgg_bn configs/vgg_bn_fashion.ini 128 25")
printf '%-9s %5s %5s  %12s  %13s  %5s' net batch round "stride img/s" "pytorch img/s" ratio
[ -n "$debian" ] && printf '  %15s' "torch1.13 img/s"
printf '\n'
for c in "${cases[@]}"; do
  read -r net config batch steps <<<"$c"
  for round in $(seq 1 "$rounds"); do
    ours=$("${run[@]}" "$stride" bench train --config "$config" --set "data.batch_size=$batch" --threads "$threads" \
             --steps "$steps" --warmup 10 --format json |
           "$peer" -c 'import json,sys; print(json.load(sys.stdin)[0]["images_per_s"])')
    theirs=$("${run[@]}" "$peer" bench/train_torch.py --net "$net" --batch "$batch" --threads "$threads" \
               --steps "$steps" --warmup 10 |
             "$peer" -c 'import json,sys; print(json.loads(sys.stdin.readline())["images_per_s"])')
    printf '%-9s %5s %5s  %12.0f  %13.0f  %5.2f' "$net" "$batch" "$round" "$ours" "$theirs" \
      "$("$peer" -c "print($ours / $theirs)")"
    if [ -n "$debian" ]; then
      old=$("${run[@]}" "$debian" bench/train_torch.py --net "$net" --batch "$batch" --threads "$threads" \
              --steps "$steps" --warmup 10 | "$debian" -c 'import json,sys; print(json.loads(sys.stdin.readline())["images_per_s"])')
      printf '  %15.0f' "$old"
    fi
    printf '\n'
  done
done
