#!/usr/bin/env bash
# The bioimage.io suite: sparsecell's model packages checked by the official tools from PyPI. Installs
# bioimageio.spec, bioimageio.core and onnxruntime into a venv under the repo (.venv-bioimageio, gitignored;
# skipped when the pinned set is already there), writes one package per family with
# dist/scripts/bioimageio-packages.js, and runs test/bioimageio/python with pytest.
#
#   scripts/bioimageio-ci.sh [extra pytest args]        Env: PYTHON (default python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$REPO/.venv-bioimageio"
# pydantic < 2.12: bioimageio.spec 0.5.12's serializers fail on newer pydantic (package_file_descr_serializer)
REQS=("bioimageio.spec==0.5.12.0" "bioimageio.core==0.11.0" "pydantic>=2.10.3,<2.12" "onnxruntime>=1.17" "numpy" "pytest")
STAMP="$VENV/.sparsecell-reqs"

if [ ! -x "$VENV/bin/python" ]; then
  echo "bioimageio-ci.sh: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "${REQS[*]}" ]; then
  echo "bioimageio-ci.sh: pip install ${REQS[*]}"
  PIP_ROOT_USER_ACTION=ignore "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQS[@]}"
  echo "${REQS[*]}" > "$STAMP"
fi

if [ ! -f "$REPO/dist/scripts/bioimageio-packages.js" ]; then
  echo "bioimageio-ci.sh: building (npm run build)"
  (cd "$REPO" && npm run build --silent)
fi

OUT="$(mktemp -d "${TMPDIR:-/tmp}/sparsecell-bioimageio-XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
(cd "$REPO" && TF_CPP_MIN_LOG_LEVEL=2 node dist/scripts/bioimageio-packages.js "$OUT")

export SPARSECELL_BIOIMAGEIO_PACKAGES="$OUT"
export PYTHONDONTWRITEBYTECODE=1
export TF_CPP_MIN_LOG_LEVEL=2
cd "$REPO"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra test/bioimageio/python "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "bioimageio-ci.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
