"""Fixtures: one REAL sparsecell daemon per test session (node dist/server/main.js serve --port 0)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sparsecell import Client, start_daemon, synthetic_nuclei

REPO = Path(__file__).resolve().parents[3]
SERVER = REPO / "dist" / "server" / "main.js"
STRICT = os.environ.get("SPARSECELL_NAPARI_STRICT") == "1"  # set by scripts/ci.sh: never skip for setup


def skip_or_fail(reason: str) -> None:
    if STRICT:
        pytest.fail(reason + " (SPARSECELL_NAPARI_STRICT=1)")
    pytest.skip(reason, allow_module_level=True)


# tiny models: seconds per training on a CPU
TINY_CONFIG = {"unetDepth": 2, "unetFilters": 8}
TINY_OPTIONS = {"patchSize": 32, "batchSize": 2}


def node_and_server() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not on PATH: cannot start the sparsecell daemon")
    if not SERVER.exists():
        skip_or_fail(f"{SERVER} is missing: run `npm run build` in {REPO} first")
    return node, SERVER


def _start_with(tmp_path_factory, extra_args=(), env=None):
    node, server = node_and_server()
    return start_daemon(
        [node, str(server)],
        home=str(tmp_path_factory.mktemp("sparsecell-home")),
        cwd=str(REPO),
        extra_args=extra_args,
        env=env,
    )


def _start(tmp_path_factory):
    return _start_with(tmp_path_factory)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    """The daemon's URL. SPARSECELL_URL uses a running daemon instead of starting one."""
    url = os.environ.get("SPARSECELL_URL")
    if url:
        yield url
        return
    with _start(tmp_path_factory) as d:
        yield d.url


@pytest.fixture
def own_daemon(tmp_path_factory):
    """A daemon for one test (live mode keeps a training job running: keep it away from the others)."""
    with _start(tmp_path_factory) as d:
        yield d.url


@pytest.fixture(scope="session")
def starter_daemon(daemon, tmp_path_factory, nuclei):
    """A daemon whose models folder holds a "nuclei" StarDist-like starter: a tiny model trained here on the
    synthetic nuclei (model.export), written with its card (sha256) as `npm run pretrain` writes models/.
    Yields (url, archive path)."""
    img, inst = nuclei
    c = Client.connect(daemon)
    try:
        sid = c.session_create(name="starter", config=TINY_CONFIG)["sessionId"]
        iid = c.image_add(sid, img)["imageId"]
        c.labels_update(sid, iid, (inst + 1).astype(np.uint16), encoding="offset1")
        job = c.model_train(sid, steps=80, options=TINY_OPTIONS)["jobId"]
        assert c.wait_for_progress_end(job, timeout=120)["state"] == "done"
        archive = c.model_export_bytes(sid)
    finally:
        c.close()
    models = tmp_path_factory.mktemp("starter-models")
    path = models / "nuclei-stardist.scm"
    path.write_bytes(archive)
    card = {
        "name": "nuclei",
        "family": "stardist",
        "description": "napari test starter",
        "file": "models/nuclei-stardist.scm",
        "sha256": hashlib.sha256(archive).hexdigest(),
        "scores": {"accuracy05": 0.5, "f1": 0.6, "pq": 0.4},
    }
    (models / "nuclei-stardist.json").write_text(json.dumps(card))
    d = _start_with(tmp_path_factory, env={**os.environ, "SPARSECELL_MODELS_DIR": str(models)})
    try:
        yield d.url, str(path)
    finally:
        d.stop()


@pytest.fixture(scope="session")
def nuclei():
    """(image uint8 64x64, instances int32) with 6 nuclei."""
    return synthetic_nuclei((64, 64), n=6, radius=(5.0, 8.0), seed=1)
