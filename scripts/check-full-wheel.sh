#!/usr/bin/env bash
# The native backend built against the full `tensorflow` wheel (the one with CUDA support that NVIDIA users
# install) loads, trains and predicts, and falls back to the CPU on a machine without a GPU.
#   scripts/check-full-wheel.sh [WORKDIR]      (default: a fresh temporary directory, removed afterwards)
# Downloads tensorflow==2.21.0 from PyPI (~600 MB; 1.9 GB unpacked; no NVIDIA packages: --no-deps) into
# WORKDIR/site, copies this checkout to WORKDIR/project, runs `npm ci` there with SPARSECELL_TENSORFLOW_DIR
# pointing at it (the install step builds the binding), then the backend and e2e model suites on it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-}
if [ -z "$work" ]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work/project"
[ -f "$work/site/tensorflow/libtensorflow_cc.so.2" ] || python3 -m pip install -q --no-deps --target "$work/site" 'tensorflow==2.21.0'
tfdir="$work/site/tensorflow"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$work/project"
cd "$work/project"
out=$(SPARSECELL_TENSORFLOW_DIR="$tfdir" npm ci --no-audit --no-fund 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep '\[sparsecell install\]'
echo "$out" | grep -q "backend built against $tfdir" || { echo "full-wheel check: the install step did not build the binding"; exit 1; }
npx tsc -p tsconfig.json
# The backend suite asserts server.info.backend.name = tensorflow and gpu = false (no GPU here).
SPARSECELL_EXPECT_NATIVE=1 MOCHA_SPEC=dist/test/tensor/backend-selection.test.js,dist/test/e2e/model.test.js npx mocha
