"""Fixtures: one REAL sparsecell daemon per test session (node dist/server/main.js serve --port 0)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sparsecell import Client, start_daemon, synthetic_nuclei

REPO = Path(__file__).resolve().parents[3]
SERVER = REPO / "dist" / "server" / "main.js"
STRICT = os.environ.get("SPARSECELL_CLIENT_STRICT") == "1"  # set by scripts/ci.sh: never skip for setup

# tiny models: seconds per training on a CPU
TINY_CONFIG = {"unetDepth": 2, "unetFilters": 8}
TINY_OPTIONS = {"patchSize": 32, "batchSize": 2}


def skip_or_fail(reason: str) -> None:
    if STRICT:
        pytest.fail(reason + " (SPARSECELL_CLIENT_STRICT=1)")
    pytest.skip(reason, allow_module_level=True)


def start_test_daemon(tmp_path_factory, extra_args=(), env=None):
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not on PATH: cannot start the sparsecell daemon")
    if not SERVER.exists():
        skip_or_fail(f"{SERVER} is missing: run `npm run build` in {REPO} first")
    return start_daemon(
        [node, str(SERVER)],
        home=str(tmp_path_factory.mktemp("sparsecell-home")),
        cwd=str(REPO),
        extra_args=extra_args,
        env=env,
    )


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    """The daemon's URL. SPARSECELL_URL uses a running daemon instead of starting one."""
    url = os.environ.get("SPARSECELL_URL")
    if url:
        yield url
        return
    with start_test_daemon(tmp_path_factory) as d:
        yield d.url


@pytest.fixture
def own_daemon(tmp_path_factory):
    """A daemon for one test (live mode keeps a training job running: keep it away from the others)."""
    with start_test_daemon(tmp_path_factory) as d:
        yield d.url


@pytest.fixture
def client(daemon):
    """A client that validates every params / result against the generated protocol types."""
    c = Client.connect(daemon, validate=True)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def nuclei():
    """(image uint8 64x64, instances int32) with 6 nuclei."""
    return synthetic_nuclei((64, 64), n=6, radius=(5.0, 8.0), seed=1)


def sparse_offset1(inst: np.ndarray, cols: int = 40) -> np.ndarray:
    """offset1 sparse labels: the left ``cols`` columns annotated (background 1, objects k+1), rest unlabeled."""
    lab = np.zeros(inst.shape, np.uint16)
    lab[:, :cols] = inst[:, :cols] + 1
    return lab
