#!/usr/bin/env bash
# The README's demonstration: builds sjmp and runs the quick start (paper Fig. 4): one process
# builds a 100,000-node tree in a segment of a named VAS, a second walks the same pointers.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${SJMP_BUILD_DIR:-$here/build}
"$here/scripts/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target quickstart >/dev/null
"$build/examples/quickstart"
