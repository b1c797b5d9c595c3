#!/usr/bin/env bash
# Regenerates fuzz/corpus/ from a fuzz build (tools/fuzz.sh builds one):
#   fuzz/make_corpus.sh [BUILD_DIR]      (default build-asan-ubsan)
# fuzz/regressions/ (inputs of earlier findings) is not touched.
# Binary seeds come from fuzz_make_corpus (the real writers); the config seeds
# are the ready configs plus a few that reach the grid and spec syntax.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan-ubsan}
rm -rf fuzz/corpus
"$build"/fuzz/fuzz_make_corpus fuzz/corpus
mkdir -p fuzz/corpus/config
cp configs/*.ini fuzz/corpus/config/
cat >fuzz/corpus/config/spec_syntax.ini <<'INI'
[experiment]
name = spec
[model]
layers = conv(8,3,stride=2,padding=same,bias=false) bn relu dropout(0.25) residual(16,stride=2) gap flatten dense(10)
input_shape = 32x32x3
[train]
epochs = 1
INI
cat >fuzz/corpus/config/grid_overrides.ini <<'INI'
[experiment]
name = grid
[data]
batch_size = 16
drop_last = true
[model]
arch = resnet9
[grid]
train.lr = 0.001, 0.01
model.layers = conv(4,3) relu flatten dense(10), conv(8,3) relu gap dense(10)
pruner = median
INI
