#!/usr/bin/env bash
# The demo: sets up and builds Stride, prepares Fashion-MNIST, trains the seed
# CNN for three epochs on the CPU, then prints the trial leaderboard and the
# trial's report from the experiment store (runs/stride.db).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh demo
tools/build.sh
stride=build/tools/stride
if [ ! -f data/fashion-mnist/manifest.json ]; then
  "$stride" prepare fashion-mnist --from /usr/share/datasets/fashion-mnist --out data/fashion-mnist
fi
"$stride" summary --config configs/seed_cnn_fashion.ini
"$stride" train --config configs/seed_cnn_fashion.ini --db runs/stride.db
"$stride" report trials --db runs/stride.db --experiment seed_cnn_fashion
trial=$("$stride" report trials --db runs/stride.db --experiment seed_cnn_fashion --sort id --format csv | awk -F, 'NR > 1 { id = $1 } END { print id }')
"$stride" report trial "$trial" --db runs/stride.db
