#!/usr/bin/env bash
# CI entry for the Python client (package `sparsecell`, dist `sparsecell-client`): a virtual environment under
# clients/python/.venv (gitignored; PyPI only), pip install -e .[test], ruff, pytest against a real daemon.
# Exit code = pytest's; "no tests collected" counts as a failure.
#
#   clients/python/scripts/ci.sh [extra pytest args]
#
# Env: PYTHON (default python3, makes the venv), SPARSECELL_PY_VENV (default clients/python/.venv),
#      SPARSECELL_URL (use a running daemon instead of starting one).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # clients/python
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${SPARSECELL_PY_VENV:-$HERE/.venv}"

if [ -z "${SPARSECELL_URL:-}" ] && [ ! -f "$REPO/dist/server/main.js" ]; then
  echo "ci.sh: building the daemon (npm run build)"
  (cd "$REPO" && npm run build --silent)
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "ci.sh: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check -e "$HERE[test]"

export SPARSECELL_CLIENT_STRICT=1   # missing daemon = failure, not skip
export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
# Linters first (`ruff format . && ruff check --fix .` fixes them): a failure fails the suite.
lint=0
"$PY" -m ruff check --quiet . || lint=1
"$PY" -m ruff format --check --quiet . || { echo "ci.sh: Python formatting differs: run ruff format in clients/python" >&2; lint=1; }
set +e
"$PY" -m pytest -p no:cacheprovider -ra "$@"   # the summary line "==== N passed in Xs ====" is what npm test parses
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "ci.sh: pytest collected no tests" >&2
  exit 1
fi
if [ "$rc" -eq 0 ] && [ "$lint" -ne 0 ]; then rc=1; fi
exit "$rc"
