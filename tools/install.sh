#!/usr/bin/env bash
# Installs the built `stride` (tools/build.sh first) with `cmake --install`:
# the binary into PREFIX/bin, the ready configs into PREFIX/share/stride/configs.
# PREFIX is $STRIDE_PREFIX, default /usr/local (on PATH on Debian); a prefix
# this user cannot write is installed with sudo. Where the default cannot be
# written at all (root on a read-only /usr/local, as on machines whose
# /usr/local holds a read-only CUDA, or no sudo) it falls back to ~/.local,
# whose bin/ Debian's login profile puts on PATH.
#   [STRIDE_PREFIX=DIR] tools/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${STRIDE_PREFIX:-/usr/local}"
writable() {  # writable PREFIX: PREFIX, or its nearest existing parent, and its bin/
  local probe="$1"
  while [ ! -e "$probe" ]; do probe="$(dirname "$probe")"; done
  [ -w "$probe" ] && { [ ! -e "$1/bin" ] || [ -w "$1/bin" ]; }
}
if [ -z "${STRIDE_PREFIX:-}" ] && ! writable "$prefix" && { [ "$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null; }; then
  echo "install.sh: $prefix cannot be written (read-only here); installing into $HOME/.local instead" >&2
  prefix="$HOME/.local"
fi
[ -f build/cmake_install.cmake ] || { echo "install.sh: build/ is not configured; run tools/build.sh first" >&2; exit 1; }
sudo=""
if ! writable "$prefix"; then
  command -v sudo >/dev/null || { echo "install.sh: cannot write $prefix and there is no sudo" >&2; exit 1; }
  sudo="sudo"
fi
$sudo cmake --install build --prefix "$prefix" >/dev/null
echo "install.sh: installed $prefix/bin/stride"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install.sh: $prefix/bin is not on PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
