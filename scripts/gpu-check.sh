#!/usr/bin/env bash
# The GPU check: does sparsecell train on this machine's NVIDIA GPU, and how fast next to Keras on the same GPU?
#   scripts/gpu-check.sh [--quick]               run it here: a built checkout, or an unpacked bundle (below)
#   scripts/gpu-check.sh --bundle FILE.tar.xz    pack what a bare Linux GPU machine without network needs
# Writes bench/results/gpu-check.json (train-step ratio vs Keras, live-mode latency, devices, verdict).
#
# What the machine must already have: an NVIDIA driver and a pip TensorFlow with CUDA
# (`pip install 'tensorflow[and-cuda]==2.21.0'`, also used for the Keras reference). libtensorflow with CUDA is
# ~1.1 GB and NVIDIA's CUDA/cuDNN libraries ~3 GB more, so they cannot travel in the 64 MiB bundle; without them
# the check runs the CPU path and says so. The bundle carries the Node binary, the built project, the production
# npm packages pruned to what Node loads, the tfjs-node binding (TensorFlow's C API, found through
# LD_LIBRARY_PATH at run time) and one DSB2018 image for the live bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
node=${NODE:-$root/bin/node}
[ -x "$node" ] || node=$(command -v node)
if [ "${1:-}" = --bundle ]; then
  [ -n "${2:-}" ] || { echo "usage: $0 --bundle FILE.tar.xz" >&2; exit 2; }
  exec "$node" "$root/scripts/gpu-bundle.mjs" "$2"
fi
# The pip TensorFlow of this machine: a bundled binding finds libtensorflow there; a checkout without a
# built binding builds one against it when it can.
py=${PYTHON:-python3}
tfdir=$("$py" -c 'import importlib.util as u; s = u.find_spec("tensorflow"); print(s.submodule_search_locations[0] if s else "")' 2>/dev/null || true)
if [ -n "$tfdir" ]; then
  export LD_LIBRARY_PATH="$tfdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ! ls "$root"/node_modules/@tensorflow/tfjs-node/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1 && [ -f "$root/scripts/setup-native.mjs" ]; then
    (cd "$root" && "$node" scripts/setup-native.mjs) || echo "gpu-check: could not build the native binding; the check runs on wasm" >&2
  fi
else
  echo "gpu-check: no pip TensorFlow here (pip install 'tensorflow[and-cuda]'): the daemon runs on wasm and there is no Keras reference" >&2
fi
cd "$root"
exec "$node" dist/bench/run.js gpu-check "$@"
