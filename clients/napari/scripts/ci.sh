#!/usr/bin/env bash
# CI entry for the napari plugin: Debian packages for headless Qt + OpenGL, a virtual environment under
# clients/napari/.venv (gitignored; it sees the system's site-packages, so an installed napari/PyQt is reused,
# else pip takes them from PyPI), the Python client installed from this checkout (clients/python), the plugin with
# its test extras, pytest against a real daemon. Exit code = pytest's; "no tests collected" counts as a failure.
#
#   clients/napari/scripts/ci.sh [extra pytest args]
#
# Env: PYTHON (default python3, makes the venv), SPARSECELL_NAPARI_VENV (default clients/napari/.venv),
#      SPARSECELL_URL (use a running daemon instead of starting one).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # clients/napari
REPO="$(cd "$HERE/../.." && pwd)"
BASE_PYTHON="${PYTHON:-python3}"
VENV="${SPARSECELL_NAPARI_VENV:-$HERE/.venv}"

# Qt's offscreen platform renders widgets without a display, but napari's canvas needs an OpenGL context,
# which the offscreen plugin gets through GLX from an X server: Xvfb + Mesa's software rasteriser.
PKGS=(libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libglib2.0-0 libx11-6 libxext6 libxkbcommon-x11-0
      libdbus-1-3 libfontconfig1 xvfb xauth)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  echo "ci.sh: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${SPARSECELL_URL:-}" ] && [ ! -f "$REPO/dist/server/main.js" ]; then
  echo "ci.sh: building the daemon (npm run build)"
  (cd "$REPO" && npm run build --silent)
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "ci.sh: creating $VENV"
  "$BASE_PYTHON" -m venv --system-site-packages "$VENV"
fi
PYTHON="$VENV/bin/python"
# the client from this checkout first, so that the plugin's sparsecell-client dependency is the local one
PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check -e "$REPO/clients/python" -e "$HERE[test]"

export QT_QPA_PLATFORM=offscreen
export SPARSECELL_NAPARI_STRICT=1   # missing daemon / display = failure, not skip
export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
# Linters first (ruff check + ruff format --check; `ruff format . && ruff check --fix .` fixes them): a failure fails the suite.
lint=0
"$PYTHON" -m ruff check --quiet . || lint=1
"$PYTHON" -m ruff format --check --quiet . || { echo "ci.sh: Python formatting differs: run ruff format in clients/napari" >&2; lint=1; }
# default verbosity: the summary line "==== N passed in Xs ====" is what the project test command parses
cmd=("$PYTHON" -m pytest -p no:cacheprovider -ra "$@")
set +e
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  xvfb-run -a -s "-screen 0 1600x1200x24" "${cmd[@]}"
else
  "${cmd[@]}"
fi
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "ci.sh: pytest collected no tests" >&2
  exit 1
fi
if [ "$rc" -eq 0 ] && [ "$lint" -ne 0 ]; then rc=1; fi
exit "$rc"
