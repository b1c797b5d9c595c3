#!/usr/bin/env bash
# The demo: sets up, builds and installs Stride (`stride` on PATH, see
# tools/install.sh), prepares Fashion-MNIST, trains the seed CNN for three
# epochs on the CPU, then prints the trial leaderboard and the trial's report
# from the experiment store (runs/stride.db). Every step runs the installed
# `stride`, as a user types it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh demo
tools/build.sh
# install.sh says where it installed (/usr/local, or ~/.local where that is read-only).
install_log=$(tools/install.sh)
echo "$install_log"
prefix=$(sed -n 's|^install.sh: installed \(.*\)/bin/stride$|\1|p' <<<"$install_log")
export PATH="$prefix/bin:$PATH"
if [ "$(command -v stride)" != "$prefix/bin/stride" ]; then
  echo "demo.sh: 'stride' on PATH is $(command -v stride), not the one just installed in $prefix/bin" >&2
  exit 1
fi
if [ ! -f data/fashion-mnist/manifest.json ]; then
  stride prepare fashion-mnist --from /usr/share/datasets/fashion-mnist --out data/fashion-mnist
fi
stride summary --config configs/seed_cnn_fashion.ini
stride train --config configs/seed_cnn_fashion.ini --db runs/stride.db
stride report trials --db runs/stride.db --experiment seed_cnn_fashion
stride report trial "$(stride report latest --db runs/stride.db --experiment seed_cnn_fashion --field id)" \
  --db runs/stride.db
