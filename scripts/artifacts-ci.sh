#!/usr/bin/env bash
# The `artifacts` suite of `npm test`: the npm tarball and the Python wheels tested as installed
# (test/artifacts/test_installed.py). Runs pytest in the Python client's venv (clients/python/.venv, made here when
# missing; PyPI only). Needs the npm registry and PyPI for the packages' dependencies. Takes a few minutes.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${SPARSECELL_PY_VENV:-$REPO/clients/python/.venv}"
if [ ! -f "$REPO/dist/server/main.js" ]; then (cd "$REPO" && npm run build --silent); fi
if [ ! -x "$VENV/bin/python" ]; then "$PYTHON" -m venv "$VENV"; fi
PIP_ROOT_USER_ACTION=ignore "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$REPO/clients/python[test]"
export PYTHONDONTWRITEBYTECODE=1
cd "$REPO"
lint=0
"$VENV/bin/python" -m ruff check --quiet test/artifacts || lint=1
"$VENV/bin/python" -m ruff format --check --quiet test/artifacts || { echo "artifacts-ci.sh: run ruff format test/artifacts" >&2; lint=1; }
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra --rootdir test/artifacts test/artifacts "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "artifacts-ci.sh: pytest collected no tests" >&2; exit 1; fi
if [ "$rc" -eq 0 ] && [ "$lint" -ne 0 ]; then rc=1; fi
exit "$rc"
