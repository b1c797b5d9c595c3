#!/usr/bin/env bash
# Installs the built `stride` (tools/build.sh first) with `cmake --install`:
# the binary into PREFIX/bin, the ready configs into PREFIX/share/stride/configs.
# PREFIX is $STRIDE_PREFIX, default /usr/local (on PATH on Debian); a prefix
# this user cannot write is installed with sudo.
#   [STRIDE_PREFIX=DIR] tools/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${STRIDE_PREFIX:-/usr/local}"
[ -f build/cmake_install.cmake ] || { echo "install.sh: build/ is not configured; run tools/build.sh first" >&2; exit 1; }
sudo=""
probe="$prefix"
while [ ! -e "$probe" ]; do probe="$(dirname "$probe")"; done
if [ ! -w "$probe" ] || { [ -e "$prefix/bin" ] && [ ! -w "$prefix/bin" ]; }; then
  command -v sudo >/dev/null || { echo "install.sh: cannot write $prefix and there is no sudo" >&2; exit 1; }
  sudo="sudo"
fi
$sudo cmake --install build --prefix "$prefix" >/dev/null
echo "install.sh: installed $prefix/bin/stride"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install.sh: $prefix/bin is not on PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
